//! The Schedules port: cron schedules kept in the database, and the one operation that makes a
//! firing happen at most once however many schedulers run: `fire` advances the schedule's last
//! firing and enqueues its job in one transaction, only if no one fired that time already.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::queue::{Enqueued, NewJob, QueueResult};

/// What to do with firings that fell in a time no scheduler ran (no leader, or all stopped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedPolicy {
    /// Run the most recent missed firing once, late; older missed ones are skipped.
    #[default]
    CatchUp,
    /// Skip missed firings; run the next one on time.
    Skip,
}

impl MissedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MissedPolicy::CatchUp => "catch_up",
            MissedPolicy::Skip => "skip",
        }
    }

    pub fn parse(text: &str) -> Option<MissedPolicy> {
        match text {
            "catch_up" => Some(MissedPolicy::CatchUp),
            "skip" => Some(MissedPolicy::Skip),
            _ => None,
        }
    }
}

/// Where a schedule was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleSource {
    /// `[[schedules]]` in the leader's configuration (kept in step by the leader).
    Config,
    /// `schedule.create`.
    Api,
}

impl ScheduleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleSource::Config => "config",
            ScheduleSource::Api => "api",
        }
    }
}

/// A schedule to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    pub name: String,
    pub cron: String,
    pub kind: String,
    pub args: Value,
    pub missed: MissedPolicy,
    pub source: ScheduleSource,
}

/// A stored schedule. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub name: String,
    pub cron: String,
    pub kind: String,
    pub args: Value,
    pub missed: MissedPolicy,
    pub source: ScheduleSource,
    /// The fire time of the last firing enqueued (or skipped); firings are counted after it.
    pub last_fire_at: Option<i64>,
    pub created_at: i64,
}

#[async_trait]
pub trait Schedules: Send + Sync {
    /// Stores a new schedule; `Ok(None)` when the name is taken.
    async fn create(&self, schedule: &NewSchedule) -> QueueResult<Option<Schedule>>;
    /// Creates or updates (cron, kind, args, policy) a schedule, keeping its last firing when the
    /// cron is unchanged; a changed cron counts firings from now (a time the old cron already
    /// fired is never fired again).
    async fn upsert(&self, schedule: &NewSchedule) -> QueueResult<Schedule>;
    async fn get(&self, name: &str) -> QueueResult<Option<Schedule>>;
    /// Every schedule, by name.
    async fn list(&self) -> QueueResult<Vec<Schedule>>;
    /// False when there was no such schedule.
    async fn delete(&self, name: &str) -> QueueResult<bool>;
    /// Fires `name` at `fire_at`: in one transaction, advances its last firing to `fire_at` —
    /// only if it is still before `fire_at` — and enqueues `job`. `None` when the firing was
    /// already made (by this or another scheduler) or the schedule is gone.
    async fn fire(&self, name: &str, fire_at: i64, job: &NewJob) -> QueueResult<Option<Enqueued>>;
    /// Advances the last firing to `fire_at` without enqueueing (missed firings skipped); false
    /// when it was there already.
    async fn skip_to(&self, name: &str, fire_at: i64) -> QueueResult<bool>;
    /// The database's clock, milliseconds since the Unix epoch (every scheduler agrees on it).
    async fn now(&self) -> QueueResult<i64>;
}
