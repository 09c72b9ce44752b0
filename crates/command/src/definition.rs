//! A command is data plus a handler. Definitions are built from typed Rust functions; the input and
//! output JSON Schemas come from the same types, so validation, docs and OpenAPI cannot drift.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::Context;
use crate::data::Data;
use crate::error::CommandError;

/// Whether a read's result may be served from the command cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CachePolicy {
    /// Always run the handler (mutations, health, anything time-dependent).
    Never,
    /// Cache by command and input until a mutation that `invalidates` it commits.
    UntilInvalidated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Example {
    pub title: String,
    pub input: Value,
}

pub(crate) type Handler =
    Arc<dyn Fn(Value, Context) -> BoxFuture<'static, Result<Data, CommandError>> + Send + Sync>;

pub struct CommandDef {
    pub name: String,
    pub description: String,
    pub version: u32,
    pub input_schema: Value,
    pub output_schema: Value,
    pub mutation: bool,
    pub invalidates: Vec<String>,
    pub cache: CachePolicy,
    pub scopes: Vec<String>,
    pub tags: Vec<String>,
    pub examples: Vec<Example>,
    pub(crate) handler: Handler,
    pub(crate) validator: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for CommandDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandDef")
            .field("name", &self.name)
            .field("mutation", &self.mutation)
            .finish_non_exhaustive()
    }
}

impl CommandDef {
    /// A command named `name` whose handler takes `I` and returns `O`.
    ///
    /// Reads default to `CachePolicy::UntilInvalidated` and the `tokens:read` scope; call
    /// [`CommandDef::mutation`] for writes.
    pub fn new<I, O, F, Fut>(name: &str, description: &str, handler: F) -> Self
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + 'static,
        F: Fn(I, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, CommandError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self::encoded::<I, O, _, _>(name, description, move |input: I, ctx: Context| {
            let handler = Arc::clone(&handler);
            async move {
                let output = handler(input, ctx).await?;
                Data::encode(&output)
                    .map_err(|e| CommandError::internal(format!("could not encode output: {e}")))
            }
        })
    }

    /// Like [`CommandDef::new`], for a handler that answers with its output already encoded (an
    /// answer kept in the store, say); `O` describes that output (its JSON Schema).
    pub fn encoded<I, O, F, Fut>(name: &str, description: &str, handler: F) -> Self
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        O: JsonSchema + 'static,
        F: Fn(I, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Data, CommandError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |input: Value, ctx: Context| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let input: I = serde_json::from_value(input)
                    .map_err(|e| CommandError::validation(format!("invalid input: {e}")))?;
                handler(input, ctx).await
            })
        });
        CommandDef {
            name: name.to_owned(),
            description: description.to_owned(),
            version: 1,
            input_schema: schema_of::<I>(),
            output_schema: schema_of::<O>(),
            mutation: false,
            invalidates: Vec::new(),
            cache: CachePolicy::UntilInvalidated,
            scopes: vec!["tokens:read".to_owned()],
            tags: Vec::new(),
            examples: Vec::new(),
            handler: erased,
            validator: None,
        }
    }

    /// Marks a write: never cached, `tokens:write` scope, clears the caches of `invalidates`.
    pub fn mutation(mut self, invalidates: &[&str]) -> Self {
        self.mutation = true;
        self.cache = CachePolicy::Never;
        self.scopes = vec!["tokens:write".to_owned()];
        self.invalidates = invalidates.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn cache(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn tags(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn example(mut self, title: &str, input: Value) -> Self {
        self.examples.push(Example {
            title: title.to_owned(),
            input,
        });
        self
    }

    /// Names of the top-level input fields, for "valid fields are …" suggestions.
    pub fn input_fields(&self) -> Vec<String> {
        self.input_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| props.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// The JSON Schema of `T` as a value (draft 2020-12, as schemars writes it).
pub fn schema_of<T: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Bool(true))
}

/// The public, serialisable description of a command (catalogue, OpenAPI, MCP tools).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandInfo {
    pub name: String,
    pub description: String,
    pub version: u32,
    pub mutation: bool,
    pub invalidates: Vec<String>,
    pub cache: CachePolicy,
    pub scopes: Vec<String>,
    pub tags: Vec<String>,
    pub examples: Vec<Example>,
    pub input_schema: Value,
    pub output_schema: Value,
}

impl From<&CommandDef> for CommandInfo {
    fn from(d: &CommandDef) -> Self {
        CommandInfo {
            name: d.name.clone(),
            description: d.description.clone(),
            version: d.version,
            mutation: d.mutation,
            invalidates: d.invalidates.clone(),
            cache: d.cache,
            scopes: d.scopes.clone(),
            tags: d.tags.clone(),
            examples: d.examples.clone(),
            input_schema: d.input_schema.clone(),
            output_schema: d.output_schema.clone(),
        }
    }
}
