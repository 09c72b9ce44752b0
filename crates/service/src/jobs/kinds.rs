//! Job kinds: what a worker can run, and the checks an enqueue makes before anything is stored.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tinct_command::{CommandError, ErrorCode};
use tinct_platform::{DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE, Job, NewJob};

/// Why an attempt failed; the worker records it and retries with backoff until the job is out of
/// attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure(pub String);

impl JobFailure {
    pub fn new(message: impl Into<String>) -> Self {
        JobFailure(message.into())
    }
}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for JobFailure {
    fn from(e: E) -> Self {
        JobFailure(e.to_string())
    }
}

/// The args of a kind that takes none: `{}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// What a handler knows about the attempt it runs.
#[derive(Debug, Clone)]
pub struct JobCtx {
    pub id: i64,
    pub kind: String,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub max_attempts: i32,
    /// The worker running it (`instance/slot`).
    pub worker: String,
    /// Ties the attempt's logs and anything it calls to one trace.
    pub trace_id: String,
}

type Run = Arc<dyn Fn(Value, JobCtx) -> BoxFuture<'static, Result<(), JobFailure>> + Send + Sync>;
type Check = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

/// One kind of job. Build with [`JobDef::new`] and the setters.
#[derive(Clone)]
pub struct JobDef {
    pub kind: String,
    pub description: String,
    /// The queue its jobs go to unless the enqueue names another.
    pub queue: String,
    /// One attempt gets this long; then it fails ("timed out") and is retried with backoff.
    pub timeout: Duration,
    pub max_attempts: i32,
    /// Whether schedules may enqueue it (internal kinds, such as webhook deliveries, are only
    /// enqueued by tinct itself).
    pub schedulable: bool,
    run: Run,
    check: Check,
}

impl std::fmt::Debug for JobDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobDef")
            .field("kind", &self.kind)
            .field("queue", &self.queue)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl JobDef {
    /// A kind whose `args` deserialise into `A` (checked at enqueue, so a stored job always has
    /// arguments its handler accepts).
    pub fn new<A, F, Fut>(kind: &str, description: &str, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(A, JobCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobFailure>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        JobDef {
            kind: kind.to_owned(),
            description: description.to_owned(),
            queue: DEFAULT_QUEUE.to_owned(),
            timeout: Duration::from_secs(60),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            schedulable: true,
            run: Arc::new(move |args, ctx| {
                let handler = handler.clone();
                Box::pin(async move {
                    let args: A = serde_json::from_value(args).map_err(|e| {
                        JobFailure::new(format!("the job's args do not fit its kind: {e}"))
                    })?;
                    handler(args, ctx).await
                })
            }),
            check: Arc::new(|args| {
                serde_json::from_value::<A>(args.clone())
                    .map(drop)
                    .map_err(|e| e.to_string())
            }),
        }
    }

    pub fn queue(mut self, queue: &str) -> Self {
        self.queue = queue.to_owned();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn max_attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Only tinct itself enqueues it: schedules may not.
    pub fn internal(mut self) -> Self {
        self.schedulable = false;
        self
    }

    /// Runs one attempt (the worker adds the timeout, heartbeat and cancellation around it).
    pub fn run(&self, job: &Job, ctx: JobCtx) -> BoxFuture<'static, Result<(), JobFailure>> {
        (self.run)(job.args.clone(), ctx)
    }
}

/// Every kind this process knows, by name.
#[derive(Debug, Clone, Default)]
pub struct JobKinds {
    kinds: BTreeMap<String, JobDef>,
}

impl JobKinds {
    pub fn new(defs: impl IntoIterator<Item = JobDef>) -> Self {
        let mut kinds = BTreeMap::new();
        for def in defs {
            let kind = def.kind.clone();
            assert!(
                kinds.insert(kind.clone(), def).is_none(),
                "job kind {kind} is defined twice"
            );
        }
        JobKinds { kinds }
    }

    pub fn get(&self, kind: &str) -> Option<&JobDef> {
        self.kinds.get(kind)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = &JobDef> {
        self.kinds.values()
    }

    /// A job of `kind` with `args`, on the kind's queue with its attempts, checked: an unknown
    /// kind or args the kind does not accept is a VALIDATION_ERROR that names what to send.
    pub fn job(&self, kind: &str, args: Value) -> Result<NewJob, CommandError> {
        let def = self.get(kind).ok_or_else(|| self.unknown(kind))?;
        (def.check)(&args).map_err(|e| {
            CommandError::new(
                ErrorCode::ValidationError,
                format!("args for job kind '{kind}' are invalid: {e}"),
            )
            .suggest(format!(
                "Send args of the shape '{kind}' takes: {}",
                def.description
            ))
        })?;
        Ok(NewJob::new(kind, args)
            .queue(def.queue.clone())
            .max_attempts(def.max_attempts))
    }

    /// [`JobKinds::job`] for a schedule: internal kinds are refused.
    pub fn schedulable(&self, kind: &str, args: Value) -> Result<NewJob, CommandError> {
        if self.get(kind).is_some_and(|def| !def.schedulable) {
            let allowed: Vec<&str> = self
                .iter()
                .filter(|d| d.schedulable)
                .map(|d| d.kind.as_str())
                .collect();
            return Err(CommandError::new(
                ErrorCode::ValidationError,
                format!("job kind '{kind}' is internal: only tinct itself enqueues it"),
            )
            .suggest(format!("Schedule one of: {}.", allowed.join(", ")))
            .details(serde_json::json!({"field": "kind", "schedulable": allowed})));
        }
        self.job(kind, args)
    }

    /// The error for a kind this process does not know.
    pub fn unknown(&self, kind: &str) -> CommandError {
        let known: Vec<&str> = self.names().collect();
        CommandError::new(
            ErrorCode::ValidationError,
            format!("unknown job kind '{kind}'"),
        )
        .suggest(format!("Use one of: {}.", known.join(", ")))
        .details(serde_json::json!({"field": "kind", "known": known}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        #[allow(dead_code)]
        node: String,
    }

    fn kinds() -> JobKinds {
        JobKinds::new([
            JobDef::new("probe", "{\"node\": \"<id>\"}", |_: Args, _| async {
                Ok(())
            })
            .queue("low")
            .max_attempts(3),
        ])
    }

    #[test]
    fn a_known_kind_with_good_args_becomes_a_job_on_its_queue() {
        let job = kinds().job("probe", json!({"node": "acme"})).unwrap();
        assert_eq!((job.kind.as_str(), job.queue.as_str()), ("probe", "low"));
        assert_eq!(job.max_attempts, 3);
    }

    #[test]
    fn unknown_kinds_and_bad_args_are_refused_with_what_to_send() {
        let err = kinds().job("bogus", json!({})).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationError);
        assert!(err.message.contains("unknown job kind 'bogus'"), "{err:?}");
        assert!(err.suggestion.as_deref().unwrap().contains("probe"));
        let err = kinds().job("probe", json!({"nod": 1})).unwrap_err();
        assert!(err.message.contains("args for job kind 'probe'"), "{err:?}");
    }
}
