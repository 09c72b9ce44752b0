//! The registry: every surface calls `Registry::execute` and nothing else.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command_metrics::{CommandMetrics, Measured};
use crate::context::{Context, ProducedHandle};
use crate::data::Data;
use crate::definition::{CommandDef, CommandInfo};
use crate::envelope::{CommandResult, ErrorBody, Metadata};
use crate::error::{CommandError, ErrorCode};
use crate::middleware::{Advance, Call, Middleware, Next};

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
    metrics: Option<Arc<CommandMetrics>>,
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

    /// Measures every call of a known command, around the whole chain.
    pub fn metrics(&mut self, metrics: Arc<CommandMetrics>) -> &mut Self {
        self.metrics = Some(metrics);
        self
    }

    /// Names this process in every envelope (`metadata.instance`).
    pub fn instance(&mut self, instance: impl Into<String>) -> &mut Self {
        self.instance = instance.into();
        self
    }

    pub fn build(self) -> Arc<Registry> {
        Arc::new(Registry {
            by_name: self
                .commands
                .iter()
                .map(|(name, def)| (name.clone(), Arc::clone(def)))
                .collect(),
            commands: self.commands,
            chain: self.chain,
            metrics: self.metrics,
            instance: self.instance,
        })
    }
}

pub struct Registry {
    /// In name order, for listings.
    commands: BTreeMap<String, Arc<CommandDef>>,
    /// The same commands for lookups on every call: a hash of the name instead of a string
    /// comparison at each level of the tree. Names come from the catalogue, so a fast hash is
    /// safe (lookups of other names insert nothing).
    by_name: HashMap<String, Arc<CommandDef>, foldhash::fast::RandomState>,
    chain: Vec<Arc<dyn Middleware>>,
    metrics: Option<Arc<CommandMetrics>>,
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
        self.by_name.get(name)
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
    ///
    /// A call the chain answers at once (an L1 cache hit) is answered without awaiting anything;
    /// what a slower call waits for is one boxed future, so this future stays small: every
    /// surface layer that moves it copies all of it.
    pub async fn execute(&self, name: &str, input: Value, ctx: Context) -> CommandResult {
        let started = Instant::now();
        let mut record = Record {
            name,
            started,
            version: None,
            // The context goes down the chain; what it produced and its trace id stay here.
            produced: ctx.produced(),
            trace_id: ctx.trace_id.clone(),
            measured: None,
        };
        let Some(command) = self.get(name) else {
            return self.conclude(record, Err(self.unknown_command(name)));
        };
        record.version = Some(command.version);
        record.measured = self
            .metrics
            .as_deref()
            .map(|metrics| metrics.start(&command.name, ctx.surface, ctx.deadline, started));
        let deadline = ctx.deadline;
        let call = Call {
            command: Arc::clone(command),
            input,
            ctx,
        };
        let chain = Next::new(&self.chain);
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| chain.advance(call))) {
            Ok(Ok(Advance::Answered(data))) => Ok(data),
            Ok(Ok(Advance::Waiting(future))) => wait(future, deadline, &record.trace_id).await,
            Ok(Err(e)) => Err(e),
            Err(panic) => Err(panicked(&record.trace_id, panic.as_ref())),
        };
        self.conclude(record, outcome)
    }

    /// The envelope around a call's outcome; records its metrics.
    fn conclude(&self, record: Record<'_>, outcome: Result<Data, CommandError>) -> CommandResult {
        let (warnings, revision, cache) = record.produced.take();
        let elapsed = record.started.elapsed();
        if let Some(measured) = record.measured {
            let code = outcome.as_ref().map_or_else(|e| e.code.as_str(), |_| "OK");
            measured.finish(code, cache, elapsed);
        }
        let (data, error) = match outcome {
            Ok(data) => (Some(data), None),
            Err(e) => {
                if e.code == ErrorCode::InternalError {
                    tracing::error!(trace_id = %record.trace_id, command = record.name, error = %e.message, "command failed");
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
                command: record.name.to_owned(),
                trace_id: record.trace_id,
                duration_ms: elapsed.as_secs_f64() * 1000.0,
                instance: self.instance.clone(),
                cache,
                revision,
                command_version: record.version,
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

/// What `execute` keeps beside the chain for the envelope and the metrics.
struct Record<'a> {
    name: &'a str,
    started: Instant,
    version: Option<u32>,
    produced: ProducedHandle,
    trace_id: String,
    measured: Option<Measured<'a>>,
}

/// Waits for the rest of a call, up to its deadline, catching a panic in it.
async fn wait(
    future: BoxFuture<'_, Result<Data, CommandError>>,
    deadline: Option<Instant>,
    trace_id: &str,
) -> Result<Data, CommandError> {
    let run = AssertUnwindSafe(future).catch_unwind();
    let caught = match deadline {
        None => run.await,
        Some(deadline) => match tokio::time::timeout_at(deadline.into(), run).await {
            Ok(caught) => caught,
            Err(_) => {
                return Err(CommandError::new(
                    ErrorCode::Timeout,
                    "the command did not finish before its deadline",
                )
                .suggest(
                    "Retry; if it keeps timing out, narrow the request or raise the timeout.",
                ));
            }
        },
    };
    caught.unwrap_or_else(|panic| Err(panicked(trace_id, panic.as_ref())))
}

/// A panic in the chain as `INTERNAL_ERROR`, logged with the trace id.
fn panicked(trace_id: &str, panic: &(dyn std::any::Any + Send)) -> CommandError {
    let reason = panic_reason(panic);
    tracing::error!(trace_id = %trace_id, %reason, "handler panicked");
    CommandError::internal(format!(
        "internal error (trace id {trace_id}); nothing was changed unless the command reported success"
    ))
    .suggest(format!(
        "This is a bug in tinct. Report it with trace id {trace_id}."
    ))
}

/// The message a panic carried (`panic!("…")` payloads are `&str` or `String`).
pub fn panic_reason(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
