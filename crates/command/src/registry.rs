//! The registry: every surface calls `Registry::execute` and nothing else.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::Context;
use crate::data::Data;
use crate::definition::{CommandDef, CommandInfo};
use crate::envelope::{CommandResult, ErrorBody, Metadata};
use crate::error::{CommandError, ErrorCode};
use crate::middleware::{Call, Middleware, Next};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("command {0} is registered twice")]
    Duplicate(String),
    #[error("command {name} has an input schema the validator rejects: {reason}")]
    BadSchema { name: String, reason: String },
}

#[derive(Default)]
pub struct RegistryBuilder {
    commands: BTreeMap<String, Arc<CommandDef>>,
    chain: Vec<Arc<dyn Middleware>>,
    instance: String,
}

impl RegistryBuilder {
    pub fn register(&mut self, mut def: CommandDef) -> Result<&mut Self, RegistryError> {
        if self.commands.contains_key(&def.name) {
            return Err(RegistryError::Duplicate(def.name));
        }
        if def.mutation {
            crate::middleware::augment_schema(&mut def.input_schema);
        }
        let validator =
            jsonschema::validator_for(&def.input_schema).map_err(|e| RegistryError::BadSchema {
                name: def.name.clone(),
                reason: e.to_string(),
            })?;
        def.validator = Some(validator);
        self.commands.insert(def.name.clone(), Arc::new(def));
        Ok(self)
    }

    /// Appends a middleware; the first one added is the outermost.
    pub fn middleware(&mut self, m: Arc<dyn Middleware>) -> &mut Self {
        self.chain.push(m);
        self
    }

    /// Names this process in every envelope (`metadata.instance`).
    pub fn instance(&mut self, instance: impl Into<String>) -> &mut Self {
        self.instance = instance.into();
        self
    }

    pub fn build(self) -> Arc<Registry> {
        Arc::new(Registry {
            commands: self.commands,
            chain: self.chain,
            instance: self.instance,
        })
    }
}

pub struct Registry {
    commands: BTreeMap<String, Arc<CommandDef>>,
    chain: Vec<Arc<dyn Middleware>>,
    instance: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BatchItem {
    pub command: String,
    #[serde(default)]
    pub input: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    /// True when every item ran and succeeded.
    pub success: bool,
    pub results: Vec<CommandResult>,
    /// Indexes of items not run because an earlier one failed with `stopOnError`.
    pub skipped: Vec<usize>,
}

impl Registry {
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn get(&self, name: &str) -> Option<&Arc<CommandDef>> {
        self.commands.get(name)
    }

    /// All commands, in name order.
    pub fn list(&self) -> impl Iterator<Item = &CommandDef> {
        self.commands.values().map(Arc::as_ref)
    }

    pub fn describe(&self, name: &str) -> Option<CommandInfo> {
        self.get(name).map(|d| CommandInfo::from(d.as_ref()))
    }

    /// Runs one command through the chain and wraps the outcome in the envelope. Never panics:
    /// a panicking handler becomes `INTERNAL_ERROR` carrying the trace id.
    pub async fn execute(&self, name: &str, input: Value, ctx: Context) -> CommandResult {
        let started = Instant::now();
        let def = self.commands.get(name).cloned();
        let version = def.as_ref().map(|d| d.version);
        // The context goes down the chain; what it produced and its trace id stay here.
        let produced = ctx.produced();
        let trace_id = ctx.trace_id.clone();
        let outcome = match def {
            None => Err(self.unknown_command(name)),
            Some(command) => self.run_chain(command, input, ctx, &trace_id).await,
        };
        let (warnings, revision, cache) = produced.take();
        let (data, error) = match outcome {
            Ok(data) => (Some(data), None),
            Err(e) => {
                if e.code == ErrorCode::InternalError {
                    tracing::error!(trace_id = %trace_id, command = name, error = %e.message, "command failed");
                }
                (None, Some(ErrorBody::from(e)))
            }
        };
        CommandResult {
            success: error.is_none(),
            data,
            error,
            warnings,
            metadata: Metadata {
                command: name.to_owned(),
                trace_id,
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                instance: self.instance.clone(),
                cache,
                revision,
                command_version: version,
            },
        }
    }

    /// Runs items in order; with `stop_on_error`, the first failure skips the rest.
    pub async fn execute_batch(
        &self,
        items: Vec<BatchItem>,
        stop_on_error: bool,
        ctx: Context,
    ) -> BatchResult {
        let mut results = Vec::with_capacity(items.len());
        let mut skipped = Vec::new();
        let mut failed = false;
        for (index, item) in items.into_iter().enumerate() {
            if failed && stop_on_error {
                skipped.push(index);
                continue;
            }
            let result = self.execute(&item.command, item.input, ctx.child()).await;
            failed |= !result.success;
            results.push(result);
        }
        BatchResult {
            success: !failed,
            results,
            skipped,
        }
    }

    async fn run_chain(
        &self,
        command: Arc<CommandDef>,
        input: Value,
        ctx: Context,
        trace_id: &str,
    ) -> Result<Data, CommandError> {
        let deadline = ctx.deadline;
        let call = Call {
            command,
            input,
            ctx,
        };
        let run = AssertUnwindSafe(Next::new(&self.chain).run(call)).catch_unwind();
        let caught = match deadline {
            None => run.await,
            Some(deadline) => {
                match tokio::time::timeout_at(deadline.into(), run).await {
                    Ok(caught) => caught,
                    Err(_) => {
                        return Err(CommandError::new(
                        ErrorCode::Timeout,
                        "the command did not finish before its deadline",
                    )
                    .suggest("Retry; if it keeps timing out, narrow the request or raise the timeout."));
                    }
                }
            }
        };
        caught.unwrap_or_else(|panic| {
            let reason = panic_reason(panic.as_ref());
            tracing::error!(trace_id = %trace_id, %reason, "handler panicked");
            Err(CommandError::internal(format!(
                "internal error (trace id {trace_id}); nothing was changed unless the command reported success"
            ))
            .suggest(format!(
                "This is a bug in tinct. Report it with trace id {trace_id}."
            )))
        })
    }

    fn unknown_command(&self, name: &str) -> CommandError {
        let mut close: Vec<&str> = self
            .commands
            .keys()
            .map(String::as_str)
            .filter(|known| {
                let prefix = name.split('.').next().unwrap_or(name);
                known.starts_with(prefix) || strsim::levenshtein(known, name) <= 3
            })
            .collect();
        close.sort_by_key(|known| strsim::levenshtein(known, name));
        close.truncate(3);
        let suggestion = if close.is_empty() {
            "List the commands with `tinct commands` or GET /v1/commands.".to_owned()
        } else {
            format!(
                "Did you mean {}? List all with `tinct commands`.",
                close.join(", ")
            )
        };
        CommandError::new(
            ErrorCode::CommandNotFound,
            format!("no command named '{name}'"),
        )
        .suggest(suggestion)
    }
}

/// The message a panic carried (`panic!("…")` payloads are `&str` or `String`).
pub fn panic_reason(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
