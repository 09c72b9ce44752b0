//! What `tinct serve` runs in the background for its roles: the worker pool (`worker`), the
//! leader-elected scheduler (`scheduler`), and the queue-depth gauges autoscalers read (every
//! role: each instance's `/metrics` shows the cluster's backlog).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::JobKinds;
use super::scheduler::{Scheduler, SchedulerConfig};
use super::worker::{WorkerConfig, WorkerPool};
use crate::config::Config;
use crate::services::Services;

/// How often the queue-depth gauges are refreshed.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Shared by the shutdown sequence (which drains it) and `serve` (which stops it).
pub struct JobRuntime {
    worker: Mutex<Option<WorkerPool>>,
    scheduler: Mutex<Option<Scheduler>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl JobRuntime {
    pub fn start(
        services: &Arc<Services>,
        kinds: &Arc<JobKinds>,
        config: &Config,
    ) -> Result<JobRuntime, String> {
        let mut tasks = vec![tokio::spawn(sample_queues(services.clone()))];
        let worker = if config.has_role("worker") {
            if let Some(url) = config
                .database_url
                .as_deref()
                .filter(|u| crate::app::is_postgres(u))
            {
                tasks.push(tinct_platform::wake_on_enqueue(
                    url,
                    services.jobs_wake.clone(),
                ));
            }
            let queues = config.worker_queue_weights().map_err(|e| e.to_string())?;
            for def in kinds.iter() {
                if !queues.iter().any(|(name, _)| *name == def.queue) {
                    tracing::warn!(
                        kind = %def.kind,
                        queue = %def.queue,
                        "this worker does not serve the queue of this job kind (worker_queues); make sure another worker does"
                    );
                }
            }
            Some(WorkerPool::start(
                services.queue.clone(),
                kinds.clone(),
                services.jobs_wake.clone(),
                WorkerConfig {
                    name: services.instance.clone(),
                    queues,
                    concurrency: config.worker_concurrency as usize,
                    lease: Duration::from_millis(config.job_lease_ms),
                    poll: Duration::from_millis(config.job_poll_ms),
                },
            ))
        } else {
            None
        };
        let scheduler = if config.has_role("scheduler") {
            Some(Scheduler::start(
                services.clone(),
                kinds.clone(),
                SchedulerConfig {
                    instance: services.instance.clone(),
                    ttl: Duration::from_millis(config.leader_ttl_ms),
                    schedules: config.schedules.clone(),
                },
            )?)
        } else {
            None
        };
        Ok(JobRuntime {
            worker: Mutex::new(worker),
            scheduler: Mutex::new(scheduler),
            tasks: Mutex::new(tasks),
        })
    }

    /// Takes no new jobs from now on (running ones go on until `shutdown`).
    pub fn drain(&self) {
        if let Some(worker) = lock(&self.worker).as_ref() {
            worker.drain();
        }
    }

    /// Gives running jobs `grace` to finish, hands the rest back, and gives up leadership. Once:
    /// later calls find nothing left to stop.
    pub async fn shutdown(&self, grace: Duration) {
        let scheduler = lock(&self.scheduler).take();
        if let Some(scheduler) = scheduler {
            scheduler.shutdown().await;
        }
        let worker = lock(&self.worker).take();
        if let Some(worker) = worker {
            worker.shutdown(grace).await;
        }
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// The lock, even if a panic poisoned it (what it guards stays usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps `tinct_queue_depth` and `tinct_queue_oldest_job_seconds` per queue up to date; a queue
/// that empties reads 0 rather than its last value.
async fn sample_queues(services: Arc<Services>) {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    loop {
        match services.queue.stats().await {
            Ok(stats) => {
                let now: BTreeSet<String> = stats.iter().map(|s| s.queue.clone()).collect();
                for gone in seen.difference(&now) {
                    metrics::gauge!("tinct_queue_depth", "queue" => gone.clone()).set(0.0);
                    metrics::gauge!("tinct_queue_oldest_job_seconds", "queue" => gone.clone())
                        .set(0.0);
                }
                for s in &stats {
                    metrics::gauge!("tinct_queue_depth", "queue" => s.queue.clone())
                        .set(s.available as f64);
                    metrics::gauge!("tinct_queue_oldest_job_seconds", "queue" => s.queue.clone())
                        .set(s.oldest_available_ms as f64 / 1000.0);
                }
                seen = now;
            }
            Err(e) => tracing::debug!(error = %e, "could not sample queue depth"),
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}
