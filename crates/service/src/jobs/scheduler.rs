//! The scheduler: every process with the `scheduler` role competes for one leader lease; the
//! leader fires due cron schedules, hands the jobs of dead workers back (`rescue_expired`) and
//! keeps configured schedules in step. Firing is safe even with two leaders (a paused old leader
//! and its successor): `Schedules::fire` advances the schedule's last firing and enqueues the job
//! in one transaction, only if no one fired that time yet, and the job carries the unique key
//! `schedule:{name}:{fire time}`.

use std::sync::Arc;
use std::time::Duration;

use tinct_platform::{Leadership, NewJob, NewSchedule, Schedule, ScheduleSource};
use tokio::task::JoinHandle;

use super::JobKinds;
use super::cron::CronExpr;
use crate::config::ScheduleConfig;
use crate::services::Services;

/// The lease every scheduler competes for.
pub const LEASE_NAME: &str = "scheduler";
/// How often the leader looks for due firings and expired job leases.
const TICK: Duration = Duration::from_secs(1);
/// A `skip` schedule still fires when found this late (a tick or two); later, it is skipped.
const SKIP_GRACE_MS: i64 = 5_000;
/// The built-in cleanup runs hourly unless configuration has a schedule of that name.
const CLEANUP_KIND: &str = "maintenance.cleanup";
const CLEANUP_CRON: &str = "17 * * * *";

pub struct SchedulerConfig {
    pub instance: String,
    pub ttl: Duration,
    pub schedules: Vec<ScheduleConfig>,
}

pub struct Scheduler {
    leadership: Leadership,
    task: JoinHandle<()>,
}

impl Scheduler {
    /// Checks the configured schedules (a bad one stops start-up with what to fix) and starts
    /// competing for leadership.
    pub fn start(
        services: Arc<Services>,
        kinds: Arc<JobKinds>,
        mut config: SchedulerConfig,
    ) -> Result<Scheduler, String> {
        if kinds.get(CLEANUP_KIND).is_some()
            && !config.schedules.iter().any(|s| s.name == CLEANUP_KIND)
        {
            config.schedules.push(ScheduleConfig {
                name: CLEANUP_KIND.to_owned(),
                cron: CLEANUP_CRON.to_owned(),
                kind: CLEANUP_KIND.to_owned(),
                args: serde_json::json!({}),
                missed: tinct_platform::MissedPolicy::CatchUp,
            });
        }
        let configured = config
            .schedules
            .iter()
            .map(|s| checked(&kinds, s))
            .collect::<Result<Vec<_>, String>>()?;
        let leadership = Leadership::start(
            services.lease.clone(),
            LEASE_NAME,
            &config.instance,
            config.ttl,
        )
        .map_err(|e| format!("the scheduler cannot compete for leadership: {e}"))?;
        let task = tokio::spawn(lead(services, kinds, configured, leadership.watch()));
        Ok(Scheduler { leadership, task })
    }

    /// Stops leading (releasing the lease, so another scheduler takes over at once).
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
        self.leadership.shutdown().await;
    }
}

/// A configured schedule as it is stored, or what is wrong with it.
fn checked(kinds: &JobKinds, s: &ScheduleConfig) -> Result<NewSchedule, String> {
    let context = |e: String| format!("schedule '{}' in the configuration: {e}", s.name);
    check_name(&s.name).map_err(context)?;
    CronExpr::parse(&s.cron).map_err(context)?;
    kinds
        .schedulable(&s.kind, s.args.clone())
        .map_err(|e| context(e.message))?;
    Ok(NewSchedule {
        name: s.name.clone(),
        cron: s.cron.clone(),
        kind: s.kind.clone(),
        args: s.args.clone(),
        missed: s.missed,
        source: ScheduleSource::Config,
    })
}

/// Schedule names: 1–100 characters of letters, digits, `.`, `_` and `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "schedule name '{name}' is not valid; use 1–100 letters, digits, '.', '_' or '-' \
             (e.g. \"nightly-snapshot\")"
        ))
    }
}

async fn lead(
    services: Arc<Services>,
    kinds: Arc<JobKinds>,
    configured: Vec<NewSchedule>,
    mut leading: tokio::sync::watch::Receiver<Option<tinct_platform::Epoch>>,
) {
    loop {
        while leading.borrow_and_update().is_none() {
            if leading.changed().await.is_err() {
                return;
            }
        }
        let epoch = *leading.borrow();
        tracing::info!(?epoch, "leading the scheduler");
        metrics::gauge!("tinct_scheduler_leader").set(1.0);
        sync_configured(&services, &configured).await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => leader_tick(&services, &kinds).await,
                changed = leading.changed() => {
                    if changed.is_err() || leading.borrow().is_none() {
                        break;
                    }
                }
            }
        }
        metrics::gauge!("tinct_scheduler_leader").set(0.0);
        tracing::info!("stopped leading the scheduler");
    }
}

/// Stores the configured schedules and removes configured ones no longer there.
async fn sync_configured(services: &Services, configured: &[NewSchedule]) {
    for schedule in configured {
        if let Err(e) = services.schedules.upsert(schedule).await {
            tracing::warn!(schedule = %schedule.name, error = %e, "could not store a configured schedule");
        }
    }
    let stored = match services.schedules.list().await {
        Ok(stored) => stored,
        Err(e) => return tracing::warn!(error = %e, "could not list schedules"),
    };
    for gone in stored.iter().filter(|s| {
        s.source == ScheduleSource::Config && !configured.iter().any(|c| c.name == s.name)
    }) {
        tracing::info!(schedule = %gone.name, "removing a schedule no longer in the configuration");
        let _ = services.schedules.delete(&gone.name).await;
    }
}

async fn leader_tick(services: &Services, kinds: &JobKinds) {
    match services.queue.rescue_expired().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "handed back jobs whose worker stopped renewing"),
        Err(e) => tracing::warn!(error = %e, "could not rescue expired jobs"),
    }
    let (now, schedules) = match (
        services.schedules.now().await,
        services.schedules.list().await,
    ) {
        (Ok(now), Ok(schedules)) => (now, schedules),
        (Err(e), _) | (_, Err(e)) => {
            return tracing::warn!(error = %e, "could not read schedules");
        }
    };
    let mut fired = false;
    for schedule in &schedules {
        fired |= fire_due(services, kinds, schedule, now).await;
    }
    if fired {
        services.jobs_wake.notify_one();
    }
}

/// Fires `schedule` if a firing is due at `now`; true when a job was enqueued.
async fn fire_due(services: &Services, kinds: &JobKinds, schedule: &Schedule, now: i64) -> bool {
    let Ok(cron) = CronExpr::parse(&schedule.cron) else {
        tracing::warn!(schedule = %schedule.name, cron = %schedule.cron, "stored schedule has an invalid cron expression");
        return false;
    };
    let after = schedule.last_fire_at.unwrap_or(schedule.created_at);
    let Some(next) = cron.next_after(after).filter(|next| *next <= now) else {
        return false;
    };
    // The most recent due firing; any before it were missed (no leader ran then).
    let latest = cron.latest_until(now).unwrap_or(next).max(next);
    if latest > next {
        tracing::warn!(schedule = %schedule.name, policy = schedule.missed.as_str(), "firings were missed while no scheduler led");
    }
    let on_time = now - latest <= SKIP_GRACE_MS;
    if schedule.missed == tinct_platform::MissedPolicy::Skip && !on_time {
        let _ = services.schedules.skip_to(&schedule.name, latest).await;
        metrics::counter!("tinct_schedule_firings_total", "schedule" => schedule.name.clone(), "outcome" => "skipped").increment(1);
        return false;
    }
    let job = match kinds.get(&schedule.kind) {
        Some(_) => match kinds.job(&schedule.kind, schedule.args.clone()) {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(schedule = %schedule.name, error = %e.message, "schedule's args do not fit its job kind; firing skipped");
                let _ = services.schedules.skip_to(&schedule.name, latest).await;
                return false;
            }
        },
        // A kind only a newer version knows (a rolling deploy): enqueue it anyway; workers that
        // know it run it, the others hand it on.
        None => NewJob::new(schedule.kind.clone(), schedule.args.clone()),
    }
    .unique(format!("schedule:{}:{latest}", schedule.name))
    .run_at(latest)
    .trace(tinct_command::new_trace_id());
    match services.schedules.fire(&schedule.name, latest, &job).await {
        Ok(Some(enqueued)) => {
            tracing::info!(schedule = %schedule.name, fire_at = latest, job = enqueued.id, trace_id = job.trace_id.as_deref().unwrap_or_default(), "schedule fired");
            metrics::counter!("tinct_schedule_firings_total", "schedule" => schedule.name.clone(), "outcome" => "fired").increment(1);
            true
        }
        // Someone fired it first.
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(schedule = %schedule.name, error = %e, "could not fire a schedule");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_names_are_checked() {
        assert!(check_name("nightly-snapshot.v2_a").is_ok());
        for bad in ["", "has space", "ünï", &"x".repeat(101)] {
            let err = check_name(bad).unwrap_err();
            assert!(err.contains("nightly-snapshot"), "{err}");
        }
    }
}
