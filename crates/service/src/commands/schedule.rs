//! schedule.create / schedule.list / schedule.delete: cron schedules that enqueue a job kind at
//! each firing (the leader-elected scheduler fires them; see `jobs/scheduler.rs`).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tinct_command::{CachePolicy, CommandDef, CommandError, Context, ErrorCode};
use tinct_platform::{MissedPolicy, NewSchedule, Schedule, ScheduleSource};

use crate::errors::from_queue;
use crate::jobs::JobKinds;
use crate::jobs::cron::CronExpr;
use crate::jobs::scheduler::check_name;
use crate::services::Services;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIn {
    /// 1–100 letters, digits, '.', '_' or '-'.
    pub name: String,
    /// Cron expression in UTC: five fields (minute hour day month weekday) or six with seconds
    /// first.
    pub cron: String,
    /// The job kind each firing enqueues (e.g. `snapshot`).
    pub kind: String,
    /// The job's arguments, as the kind takes them.
    #[serde(default)]
    pub args: Value,
    /// `catch_up` (default: a firing missed while no scheduler ran is run once, late) or `skip`.
    #[serde(default)]
    pub missed: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameIn {
    pub name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListIn {}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    pub name: String,
    pub cron: String,
    pub kind: String,
    pub args: Value,
    /// `catch_up` or `skip`.
    pub missed: String,
    /// `api` (made with schedule.create) or `config` (from the leader's configuration).
    pub source: String,
    /// When it last fired (or skipped a firing), milliseconds since the Unix epoch.
    pub last_fire_at: Option<i64>,
    /// When it fires next, milliseconds since the Unix epoch.
    pub next_fire_at: Option<i64>,
}

impl From<Schedule> for ScheduleView {
    fn from(s: Schedule) -> Self {
        let next_fire_at = CronExpr::parse(&s.cron)
            .ok()
            .and_then(|c| c.next_after(s.last_fire_at.unwrap_or(s.created_at)));
        ScheduleView {
            missed: s.missed.as_str().to_owned(),
            source: s.source.as_str().to_owned(),
            name: s.name,
            cron: s.cron,
            kind: s.kind,
            args: s.args,
            last_fire_at: s.last_fire_at,
            next_fire_at,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ListOut {
    pub schedules: Vec<ScheduleView>,
}

#[derive(Serialize, JsonSchema)]
pub struct DeleteOut {
    pub deleted: String,
}

fn invalid(field: &str, message: String, suggestion: &str) -> CommandError {
    CommandError::validation(message)
        .suggest(suggestion)
        .details(json!({"field": field}))
}

pub fn defs(s: &Arc<Services>, kinds: &Arc<JobKinds>) -> Vec<CommandDef> {
    let (c, l, d) = (s.clone(), s.clone(), s.clone());
    let kinds = kinds.clone();
    vec![
        CommandDef::new(
            "schedule.create",
            "Create a cron schedule: at every time `cron` names (UTC), the job `kind` with `args` is enqueued — exactly once per firing however many instances run.",
            move |i: CreateIn, _ctx: Context| {
                let (s, kinds) = (c.clone(), kinds.clone());
                async move {
                    check_name(&i.name).map_err(|e| {
                        invalid("name", e, "Pick a name such as nightly-snapshot.")
                    })?;
                    CronExpr::parse(&i.cron).map_err(|e| {
                        invalid("cron", e, "Fix the cron expression; five fields, UTC.")
                    })?;
                    let missed = match i.missed.as_deref() {
                        None => MissedPolicy::CatchUp,
                        Some(text) => MissedPolicy::parse(text).ok_or_else(|| {
                            invalid(
                                "missed",
                                format!("missed policy '{text}' is not known"),
                                "Use catch_up (run a missed firing once, late) or skip.",
                            )
                        })?,
                    };
                    let args = if i.args.is_null() { json!({}) } else { i.args };
                    kinds.schedulable(&i.kind, args.clone())?;
                    let created = s
                        .schedules
                        .create(&NewSchedule {
                            name: i.name.clone(),
                            cron: i.cron,
                            kind: i.kind,
                            args,
                            missed,
                            source: ScheduleSource::Api,
                        })
                        .await
                        .map_err(from_queue)?;
                    created.map(ScheduleView::from).ok_or_else(|| {
                        CommandError::new(
                            ErrorCode::AlreadyExists,
                            format!("a schedule named '{}' exists already", i.name),
                        )
                        .suggest("Pick another name, or delete the existing schedule first (schedule.delete).")
                    })
                }
            },
        )
        .mutation(&[])
        .tags(&["jobs"])
        .example(
            "a nightly snapshot",
            json!({"name": "nightly-snapshot", "cron": "0 3 * * *", "kind": "snapshot", "args": {"node": "acme", "formats": ["css"]}}),
        ),
        CommandDef::new(
            "schedule.list",
            "Every cron schedule, with when it last fired and fires next.",
            move |_: ListIn, _ctx: Context| {
                let s = l.clone();
                async move {
                    let schedules = s.schedules.list().await.map_err(from_queue)?;
                    Ok(ListOut {
                        schedules: schedules.into_iter().map(ScheduleView::from).collect(),
                    })
                }
            },
        )
        .cache(CachePolicy::Never)
        .tags(&["jobs"])
        .example("all schedules", json!({})),
        CommandDef::new(
            "schedule.delete",
            "Delete a schedule made with schedule.create (jobs it already enqueued still run).",
            move |i: NameIn, _ctx: Context| {
                let s = d.clone();
                async move {
                    let existing = s.schedules.get(&i.name).await.map_err(from_queue)?;
                    match existing {
                        None => Err(CommandError::new(
                            ErrorCode::NotFound,
                            format!("no schedule named '{}'", i.name),
                        )
                        .suggest("List the schedules with schedule.list.")),
                        Some(found) if found.source == ScheduleSource::Config => {
                            Err(CommandError::new(
                                ErrorCode::Conflict,
                                format!("schedule '{}' is defined in the configuration", i.name),
                            )
                            .suggest("Remove it from [[schedules]] in tinct.toml and restart the scheduler instances."))
                        }
                        Some(_) => {
                            s.schedules.delete(&i.name).await.map_err(from_queue)?;
                            Ok(DeleteOut { deleted: i.name })
                        }
                    }
                }
            },
        )
        .mutation(&[])
        .tags(&["jobs"])
        .example("a schedule", json!({"name": "nightly-snapshot"})),
    ]
}
