//! The Queue port: durable background jobs kept in the database, so nothing enqueued is lost and
//! every instance sees the same jobs.
//!
//! A job is `available` (due now) or `scheduled` (due later) when enqueued; `fetch` claims due jobs
//! (`available`, or `scheduled`/`retryable` whose `run_at` has passed) and makes them `running`
//! under a lease the worker renews by heartbeat. A running job ends `completed`, `retryable` (after
//! a backoff) or `discarded` (out of attempts), or `cancelled`. A worker that dies leaves its lease
//! to expire; `rescue_expired` hands such jobs back for retry. Times are milliseconds since the
//! Unix epoch by the database's clock, so every instance agrees on what is due.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::error::StoreError;

pub type QueueResult<T> = std::result::Result<T, QueueError>;

/// What can go wrong with a queue operation.
#[derive(Debug, Error)]
pub enum QueueError {
    /// The caller passed something the queue refuses; nothing was changed.
    #[error("invalid job request: {0}")]
    Invalid(String),
    #[error("job {0} does not exist")]
    NotFound(i64),
    /// The job is not in a state the operation applies to.
    #[error("job {id} is {state}; {action} applies only to {allowed} jobs")]
    WrongState {
        id: i64,
        state: JobState,
        action: &'static str,
        allowed: &'static str,
    },
    /// Retrying would make a second pending job with a unique key another job holds.
    #[error("another pending job holds unique key '{0}'; wait for it to finish or cancel it")]
    UniqueTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for QueueError {
    fn from(e: sqlx::Error) -> Self {
        QueueError::Store(e.into())
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Available,
    Scheduled,
    Running,
    Retryable,
    Completed,
    Discarded,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Available,
        JobState::Scheduled,
        JobState::Running,
        JobState::Retryable,
        JobState::Completed,
        JobState::Discarded,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Retryable => "retryable",
            JobState::Completed => "completed",
            JobState::Discarded => "discarded",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Pending or running: a unique key is held while a job is in one of these states.
    pub fn is_active(self) -> bool {
        !self.is_finished()
    }

    /// Completed, discarded or cancelled: the job will not run again unless retried by hand.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Discarded | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = QueueError;
    fn from_str(s: &str) -> QueueResult<Self> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                QueueError::Invalid(format!(
                    "unknown job state '{s}'; use one of available, scheduled, running, \
                     retryable, completed, discarded, cancelled"
                ))
            })
    }
}

/// The queue a job goes to when none is named.
pub const DEFAULT_QUEUE: &str = "default";
/// Attempts a job gets when none is named.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 20;

/// A job to enqueue. Build it with [`NewJob::new`] and the setters.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub args: Value,
    pub queue: String,
    /// Higher runs first; 0 or more.
    pub priority: i32,
    /// When to run: `None` means now plus `delay`, by the database's clock.
    pub run_at: Option<i64>,
    pub delay: Duration,
    pub max_attempts: i32,
    /// While a job with this key is pending or running, enqueueing another returns that job.
    pub unique_key: Option<String>,
    /// Groups jobs for fair fetching (e.g. the design system).
    pub partition_key: Option<String>,
    /// The trace of the request that enqueued it; the worker logs the job's attempts under it.
    pub trace_id: Option<String>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, args: Value) -> Self {
        NewJob {
            kind: kind.into(),
            args,
            queue: DEFAULT_QUEUE.to_owned(),
            priority: 0,
            run_at: None,
            delay: Duration::ZERO,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            unique_key: None,
            partition_key: None,
            trace_id: None,
        }
    }

    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Runs at this time (milliseconds since the Unix epoch) rather than after a delay.
    pub fn run_at(mut self, at_ms: i64) -> Self {
        self.run_at = Some(at_ms);
        self
    }

    pub fn max_attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    pub fn trace(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }

    pub fn partition(mut self, key: impl Into<String>) -> Self {
        self.partition_key = Some(key.into());
        self
    }

    /// Refuses what the queue cannot run; adapters call it before writing anything.
    pub fn validate(&self) -> QueueResult<()> {
        if self.kind.trim().is_empty() {
            return Err(QueueError::Invalid(
                "the job kind is empty; name the kind of work".into(),
            ));
        }
        if self.queue.trim().is_empty() {
            return Err(QueueError::Invalid(format!(
                "the queue name is empty; use a name such as '{DEFAULT_QUEUE}'"
            )));
        }
        if self.priority < 0 {
            return Err(QueueError::Invalid(format!(
                "priority {} is negative; use 0 or more (higher runs first)",
                self.priority
            )));
        }
        if self.max_attempts < 1 {
            return Err(QueueError::Invalid(format!(
                "max attempts is {}; a job needs at least 1",
                self.max_attempts
            )));
        }
        if self.unique_key.as_deref().is_some_and(str::is_empty) {
            return Err(QueueError::Invalid(
                "the unique key is empty; leave it out or give a key".into(),
            ));
        }
        // The adapters group keyless jobs under '' (so one index serves both); an empty key
        // would silently join them.
        if self.partition_key.as_deref().is_some_and(str::is_empty) {
            return Err(QueueError::Invalid(
                "the partition key is empty; leave it out (no partition) or give a key".into(),
            ));
        }
        Ok(())
    }
}

/// What `enqueue` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    pub id: i64,
    /// The unique key was held by a pending or running job; `id` is that job's.
    pub duplicate: bool,
}

/// One failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AttemptError {
    pub attempt: i32,
    pub error: String,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
}

/// A stored job. Times are milliseconds since the Unix epoch, by the database's clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub args: Value,
    pub queue: String,
    pub priority: i32,
    pub state: JobState,
    pub run_at: i64,
    /// Attempts started so far (the running one included).
    pub attempt: i32,
    pub max_attempts: i32,
    pub unique_key: Option<String>,
    pub partition_key: Option<String>,
    pub trace_id: Option<String>,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    /// A cancel arrived while the job ran; its worker sees it at the next heartbeat.
    pub cancel_requested: bool,
    pub errors: Vec<AttemptError>,
    pub created_at: i64,
    pub attempted_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// One attempt of one job, as a worker holds it: the job id, the worker and the attempt number
/// together fence every later call, so an attempt that was rescued and fetched again (even by the
/// same worker) can no longer heartbeat, complete, fail or release the new attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    pub worker: String,
    pub attempt: i32,
}

impl Claim {
    pub fn new(id: i64, worker: impl Into<String>, attempt: i32) -> Self {
        Claim {
            id,
            worker: worker.into(),
            attempt,
        }
    }
}

impl Job {
    /// The claim of a job `fetch` returned (its worker and attempt).
    pub fn claim(&self) -> Claim {
        Claim::new(
            self.id,
            self.locked_by.clone().unwrap_or_default(),
            self.attempt,
        )
    }
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease is renewed; keep working.
    Held,
    /// The lease is renewed but the job was cancelled: stop and report it failed (it ends cancelled).
    CancelRequested,
    /// The job is no longer this worker's (its lease expired and it was rescued): stop, report nothing.
    Lost,
}

/// Which jobs `list` returns; every given field must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    pub queue: Option<String>,
}

/// One queue's backlog, for metrics and autoscalers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub queue: String,
    /// Jobs due now and waiting for a worker.
    pub available: u64,
    /// How long the oldest due job has waited (since its `run_at`); zero when none waits.
    pub oldest_available_ms: i64,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues outside any transaction (see `StoreTx::enqueue` to commit with a mutation).
    async fn enqueue(&self, job: &NewJob) -> QueueResult<Enqueued>;
    /// Claims up to `limit` due jobs from `queues`: each becomes `running`, leased to `worker`
    /// for `lease`, with its attempt counted. Returned in the order they were chosen.
    ///
    /// The order is fair between partitions, but priority always wins:
    ///
    /// 1. A higher priority comes first, across queues and partitions: no job is ever left
    ///    behind for one of lower priority (one partition's priority-9 jobs all go before any
    ///    other partition's priority-0 job).
    /// 2. Among jobs of the same priority, the partitions of each queue take turns: a job's
    ///    turn is its place among its partition's due jobs of that priority (oldest `run_at`,
    ///    then id, first), and turn 1 of every partition comes before turn 2 of any. A
    ///    partition is the jobs of one queue with the same `partition_key`; the jobs without a
    ///    key form one partition of their queue. So a tenant with 1,000 due jobs and two with 5
    ///    each share a batch of 9 three ways.
    /// 3. Within a turn, older `run_at`, then lower id, first.
    ///
    /// Fetchers running at the same moment skip each other's jobs (they never wait and never
    /// take the same job); the order then holds for the jobs each one sees. The cost grows with
    /// the number of partitions holding pending jobs and with `limit`, not with the backlog:
    /// one index probe per such partition, and up to `limit` index entries for each of the
    /// (at most `limit`) partitions whose oldest due job could be in the batch.
    async fn fetch(
        &self,
        worker: &str,
        queues: &[String],
        limit: u32,
        lease: Duration,
    ) -> QueueResult<Vec<Job>>;
    /// Renews the lease of the attempt `claim` holds.
    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> QueueResult<Heartbeat>;
    /// Marks the claimed attempt completed; false when the claim no longer holds.
    async fn complete(&self, claim: &Claim) -> QueueResult<bool>;
    /// [`Queue::complete`] for many attempts in one statement (a worker's finished jobs, batched);
    /// returns the ids whose claim still held, in no particular order.
    async fn complete_many(&self, claims: &[Claim]) -> QueueResult<Vec<i64>>;
    /// Hands an unfinished claimed attempt back at once, the attempt not counted (a graceful
    /// stop); a job with a cancel request ends cancelled. False when the claim no longer holds.
    async fn release(&self, claim: &Claim) -> QueueResult<bool>;
    /// Records a failed attempt: `retryable` after `retry_in` (see [`backoff`]), `discarded`
    /// when out of attempts, `cancelled` when a cancel was requested. Returns the new state, or
    /// `None` when the claim no longer holds.
    async fn fail(
        &self,
        claim: &Claim,
        error: &str,
        retry_in: Duration,
    ) -> QueueResult<Option<JobState>>;
    /// Cancels a pending job at once; a running one gets a cancel request its worker sees at the
    /// next heartbeat.
    async fn cancel(&self, id: i64) -> QueueResult<Job>;
    /// Makes a discarded or cancelled job available again (with at least one attempt left).
    async fn retry(&self, id: i64) -> QueueResult<Job>;
    async fn get(&self, id: i64) -> QueueResult<Option<Job>>;
    /// Jobs in id order after `after`.
    async fn list(
        &self,
        filter: &JobFilter,
        after: Option<i64>,
        limit: u32,
    ) -> QueueResult<Vec<Job>>;
    /// Running jobs whose lease ran out go back to `retryable` (or `discarded` when out of
    /// attempts, `cancelled` when a cancel was requested), with "lease expired" as the attempt's
    /// error. Returns how many.
    async fn rescue_expired(&self) -> QueueResult<u64>;
    /// Deletes completed, discarded and cancelled jobs that finished more than `retention` ago.
    async fn prune(&self, retention: Duration) -> QueueResult<u64>;
    /// Per queue with due jobs: how many wait and for how long the oldest has.
    async fn stats(&self) -> QueueResult<Vec<QueueStats>>;
}

/// The error recorded when a lease runs out.
pub const LEASE_EXPIRED: &str = "lease expired";

/// A fetch scans each named queue on its own; this bounds the statement.
pub const MAX_FETCH_QUEUES: usize = 100;

/// Checks the arguments of `fetch`.
pub(crate) fn check_fetch(queues: &[String], limit: u32, lease: Duration) -> QueueResult<()> {
    if queues.is_empty() || queues.iter().any(|q| q.trim().is_empty()) {
        return Err(QueueError::Invalid(
            "name at least one queue to fetch from, none of them empty".into(),
        ));
    }
    if queues.len() > MAX_FETCH_QUEUES {
        return Err(QueueError::Invalid(format!(
            "{} queues named; fetch from at most {MAX_FETCH_QUEUES} at once",
            queues.len()
        )));
    }
    if limit == 0 {
        return Err(QueueError::Invalid("fetch at least 1 job".into()));
    }
    check_lease(lease)
}

pub(crate) fn check_lease(lease: Duration) -> QueueResult<()> {
    if lease < Duration::from_millis(1) {
        return Err(QueueError::Invalid(
            "the lease is shorter than a millisecond; give a lease of a few seconds".into(),
        ));
    }
    Ok(())
}

/// Puts a fetched batch in the order [`Queue::fetch`] documents: priority first, then each job's
/// turn within its partition at that priority, then `run_at` and id. The batch is a prefix of
/// every partition's due jobs, so turns counted within it are the turns the adapters chose by.
pub(crate) fn fair_order(mut jobs: Vec<Job>) -> Vec<Job> {
    jobs.sort_by_key(|j| (j.run_at, j.id));
    let mut turns: HashMap<(String, Option<String>, i32), u32> = HashMap::new();
    let mut keyed: Vec<_> = jobs
        .into_iter()
        .map(|j| {
            let turn = turns
                .entry((j.queue.clone(), j.partition_key.clone(), j.priority))
                .or_default();
            *turn += 1;
            ((Reverse(j.priority), *turn, j.run_at, j.id), j)
        })
        .collect();
    keyed.sort_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, job)| job).collect()
}

/// Finished jobs deleted per statement by `prune`.
pub(crate) const PRUNE_BATCH: i64 = 1000;

/// Whole milliseconds, as the time columns hold them.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The first retry waits this long; each further attempt doubles it.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// No retry waits longer than this (before jitter).
const BACKOFF_CAP: Duration = Duration::from_secs(3600);
/// Each delay is spread ±this fraction so retries of jobs that failed together do not return
/// together.
const JITTER: f64 = 0.2;

/// The wait before retrying after `attempt` failed (1 for the first): 1 s, 2 s, 4 s, … up to an
/// hour, each ±20 % at random.
pub fn backoff(attempt: i32) -> Duration {
    // A fresh RandomState is randomly keyed: enough randomness for jitter without a crate.
    let bits = std::hash::RandomState::new().build_hasher().finish();
    backoff_with(attempt, (bits >> 11) as f64 / (1u64 << 53) as f64)
}

/// [`backoff`] with the random draw `unit` (in [0, 1)) given.
pub fn backoff_with(attempt: i32, unit: f64) -> Duration {
    let doublings = attempt.clamp(1, 32) - 1;
    let base = BACKOFF_BASE
        .saturating_mul(1u32 << doublings.min(31))
        .min(BACKOFF_CAP);
    let factor = 1.0 + JITTER * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_cap() {
        assert_eq!(backoff_with(1, 0.5), Duration::from_secs(1));
        assert_eq!(backoff_with(2, 0.5), Duration::from_secs(2));
        assert_eq!(backoff_with(5, 0.5), Duration::from_secs(16));
        assert_eq!(backoff_with(40, 0.5), BACKOFF_CAP);
        assert_eq!(backoff_with(0, 0.5), Duration::from_secs(1), "clamped");
        assert_eq!(backoff_with(-3, 0.5), Duration::from_secs(1), "clamped");
    }

    #[test]
    fn backoff_jitter_stays_within_twenty_percent() {
        assert_eq!(backoff_with(3, 0.0), Duration::from_millis(3200));
        assert_eq!(backoff_with(3, 1.0), Duration::from_millis(4800));
        let low = Duration::from_millis(3200);
        let high = Duration::from_millis(4800);
        let draws: Vec<Duration> = (0..50).map(|_| backoff(3)).collect();
        assert!(draws.iter().all(|d| (low..=high).contains(d)), "{draws:?}");
        assert!(draws.iter().any(|d| *d != draws[0]), "jitter varies");
    }

    #[test]
    fn bad_jobs_are_refused_with_a_reason() {
        let ok = NewJob::new("export", serde_json::json!({}));
        assert!(ok.validate().is_ok());
        for (job, says) in [
            (NewJob::new(" ", Value::Null), "kind is empty"),
            (ok.clone().max_attempts(0), "at least 1"),
            (ok.clone().priority(-1), "negative"),
            (ok.clone().queue(""), "queue name is empty"),
            (ok.clone().unique(""), "unique key is empty"),
            (ok.clone().partition(""), "partition key is empty"),
        ] {
            let err = job.validate().unwrap_err();
            assert!(matches!(err, QueueError::Invalid(_)));
            assert!(err.to_string().contains(says), "{err}");
        }
        let err = "bogus".parse::<JobState>().unwrap_err();
        assert!(
            err.to_string().contains("unknown job state 'bogus'"),
            "{err}"
        );
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>().unwrap(), state);
        }
        assert!(check_fetch(&[], 1, Duration::from_secs(1)).is_err());
        assert!(check_fetch(&["default".into()], 0, Duration::from_secs(1)).is_err());
        let many: Vec<String> = (0..=MAX_FETCH_QUEUES).map(|i| format!("q{i}")).collect();
        assert!(check_fetch(&many, 1, Duration::from_secs(1)).is_err());
        assert!(check_fetch(&["default".into()], 1, Duration::ZERO).is_err());
    }
}
