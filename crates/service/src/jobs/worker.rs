//! The worker pool: fetches due jobs from weighted queues, runs each under its kind's timeout with
//! a heartbeat that renews its lease and notices cancellation, and records the outcome. A graceful
//! stop lets running jobs finish for a while, then hands the rest back to the queue.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tinct_platform::{Claim, Heartbeat, Job, Queue, backoff};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use super::{JobCtx, JobKinds};

/// How a worker pool runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This process's name; each job's lease names `{name}` as its holder.
    pub name: String,
    /// Queues with relative weights: when every queue has work, a pool's slots go to them in
    /// these proportions.
    pub queues: Vec<(String, u32)>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// A running job's lease, renewed every third of it.
    pub lease: Duration,
    /// How often an idle pool looks for due jobs without being woken.
    pub poll: Duration,
}

/// A running worker pool; `shutdown` stops it.
pub struct WorkerPool {
    stop: watch::Sender<Stop>,
    task: JoinHandle<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Run,
    /// Fetch no more; running jobs go on.
    Draining,
    /// Hand running jobs back now.
    Release,
}

impl WorkerPool {
    /// Starts fetching. `wake` is poked when jobs may have been enqueued (a local commit, or a
    /// NOTIFY from another instance); without it the pool polls every `poll`.
    pub fn start(
        queue: Arc<dyn Queue>,
        kinds: Arc<JobKinds>,
        wake: Arc<Notify>,
        config: WorkerConfig,
    ) -> WorkerPool {
        let (stop, stopping) = watch::channel(Stop::Run);
        let task = tokio::spawn(fetch_loop(queue, kinds, wake, config, stopping));
        WorkerPool { stop, task }
    }

    /// Fetches no more jobs; running ones go on.
    pub fn drain(&self) {
        let _ = self.stop.send(Stop::Draining);
    }

    /// Fetches no more jobs; gives running ones `grace` to finish, then releases the rest to the
    /// queue (their attempt not counted) and returns once every job is accounted for.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(Stop::Draining);
        let release = self.stop.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = release.send(Stop::Release);
        });
        let _ = self.task.await;
        timer.abort();
    }
}

async fn fetch_loop(
    queue: Arc<dyn Queue>,
    kinds: Arc<JobKinds>,
    wake: Arc<Notify>,
    config: WorkerConfig,
    stop: watch::Receiver<Stop>,
) {
    let mut running: JoinSet<()> = JoinSet::new();
    let mut shares = WeightedShares::new(&config.queues);
    let mut stopping = stop.clone();
    let (finished, to_complete) = mpsc::unbounded_channel();
    let completer = tokio::spawn(complete_in_batches(queue.clone(), to_complete));
    // Queues that came back short: left out of the weighted pass until the next poll interval.
    let mut short = vec![false; config.queues.len()];
    let mut short_since = Instant::now();
    // While busy, refill once a few slots are free rather than one query per finished job.
    let refill_at = config.concurrency.div_ceil(4).max(1);
    tracing::info!(
        worker = %config.name,
        queues = ?config.queues,
        concurrency = config.concurrency,
        "worker started"
    );
    loop {
        if *stop.borrow() != Stop::Run {
            break;
        }
        while running.try_join_next().is_some() {}
        let free = config.concurrency.saturating_sub(running.len());
        if short_since.elapsed() >= config.poll {
            short.fill(false);
            short_since = Instant::now();
        }
        let mut fetched = 0;
        let mut failed = false;
        let worth_a_fetch = free >= refill_at || running.is_empty();
        if free > 0 && worth_a_fetch {
            match fetch(&*queue, &config, &mut shares, &mut short, free).await {
                Ok(jobs) => {
                    fetched = jobs.len();
                    for job in jobs {
                        running.spawn(run_job(
                            queue.clone(),
                            kinds.clone(),
                            job,
                            config.lease,
                            stop.clone(),
                            finished.clone(),
                        ));
                    }
                }
                Err(e) => {
                    failed = true;
                    tracing::warn!(error = %e, "could not fetch jobs; trying again shortly");
                }
            }
        }
        // Drained (or failing): wait for a wake-up or the poll. Busy: wait for a slot.
        let idle = (worth_a_fetch && fetched < free) || failed;
        tokio::select! {
            changed = stopping.changed() => {
                // The pool's handle is gone without a shutdown: stop as if drained.
                if changed.is_err() {
                    break;
                }
            }
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = wake.notified(), if idle && !failed => {}
            _ = tokio::time::sleep(config.poll), if idle => {}
        }
    }
    let left = running.len();
    if left > 0 {
        tracing::info!(jobs = left, "worker stopping: waiting for running jobs");
    }
    while running.join_next().await.is_some() {}
    // Every job task has ended: the completer records what is left and stops.
    drop(finished);
    let _ = completer.await;
    tracing::info!(worker = %config.name, "worker stopped");
}

/// Fetches up to `free` jobs: first each queue's weighted share, then what is left over from every
/// queue that did not come back short (queues that had no share this round included), so no slot
/// idles while any queue has work.
async fn fetch(
    queue: &dyn Queue,
    config: &WorkerConfig,
    shares: &mut WeightedShares,
    short: &mut [bool],
    free: usize,
) -> tinct_platform::QueueResult<Vec<Job>> {
    let wanted = shares.split(free);
    let mut jobs = Vec::with_capacity(free);
    let mut may_have_more = Vec::new();
    for (i, ((name, _), share)) in config.queues.iter().zip(wanted).enumerate() {
        if share == 0 || short[i] {
            // Its share (if any) goes to the remainder pass below.
            may_have_more.push(name.clone());
            continue;
        }
        let got = fetch_from(queue, config, std::slice::from_ref(name), share).await?;
        if got.len() == share {
            may_have_more.push(name.clone());
        } else {
            short[i] = true;
        }
        jobs.extend(got);
    }
    let left = free - jobs.len();
    if left > 0 && !may_have_more.is_empty() {
        // One query over every queue that may have more, in priority then age order.
        jobs.extend(fetch_from(queue, config, &may_have_more, left).await?);
    }
    Ok(jobs)
}

async fn fetch_from(
    queue: &dyn Queue,
    config: &WorkerConfig,
    queues: &[String],
    limit: usize,
) -> tinct_platform::QueueResult<Vec<Job>> {
    queue
        .fetch(
            &config.name,
            queues,
            u32::try_from(limit).unwrap_or(u32::MAX),
            config.lease,
        )
        .await
}

/// A finished attempt waiting to be recorded as completed.
struct Finished {
    claim: Claim,
    kind: String,
    started: Instant,
}

/// Most completions recorded in one statement.
const COMPLETE_BATCH: usize = 200;

/// Records completions in batches: whatever finished while the previous batch was written goes
/// in the next statement, so a busy worker writes one statement per batch, not per job. A batch
/// lost to a crash before it is written is run again after its leases expire (at least once).
async fn complete_in_batches(
    queue: Arc<dyn Queue>,
    mut finished: mpsc::UnboundedReceiver<Finished>,
) {
    let mut batch = Vec::with_capacity(COMPLETE_BATCH);
    while let Some(first) = finished.recv().await {
        batch.push(first);
        while batch.len() < COMPLETE_BATCH {
            match finished.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let claims: Vec<Claim> = batch.iter().map(|f| f.claim.clone()).collect();
        match queue.complete_many(&claims).await {
            Ok(done) => {
                let done: std::collections::HashSet<i64> = done.into_iter().collect();
                for f in batch.drain(..) {
                    if done.contains(&f.claim.id) {
                        finish_metrics(&f.kind, "completed", f.started);
                    } else {
                        tracing::warn!(id = f.claim.id, kind = %f.kind, "job finished after its lease was lost; not recorded");
                    }
                }
            }
            Err(e) => {
                // Left running: their leases run out and the leader hands them back for a retry.
                tracing::warn!(error = %e, jobs = batch.len(), "could not record finished jobs as completed");
                batch.clear();
            }
        }
    }
}

/// Splits a number of free slots across queues by weight, smoothly: over many splits each queue
/// gets its weight's proportion even when one split has fewer slots than queues.
struct WeightedShares {
    weights: Vec<i64>,
    current: Vec<i64>,
}

impl WeightedShares {
    fn new(queues: &[(String, u32)]) -> Self {
        WeightedShares {
            weights: queues.iter().map(|(_, w)| i64::from(*w)).collect(),
            current: vec![0; queues.len()],
        }
    }

    /// Slots per queue, in configuration order (smooth weighted round-robin, one slot at a time).
    fn split(&mut self, slots: usize) -> Vec<usize> {
        let total: i64 = self.weights.iter().sum();
        let mut out = vec![0; self.weights.len()];
        for _ in 0..slots {
            for (c, w) in self.current.iter_mut().zip(&self.weights) {
                *c += w;
            }
            let Some((pick, _)) = self
                .current
                .iter()
                .enumerate()
                .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
            else {
                break;
            };
            self.current[pick] -= total;
            out[pick] += 1;
        }
        out
    }
}

/// How one attempt ended.
enum Ended {
    Done(Result<(), super::JobFailure>),
    TimedOut,
    Panicked(String),
    Cancelled,
    Lost,
    /// Heartbeats failed for most of the lease: stopped before another worker takes the job.
    Unrenewed,
    Released,
}

/// Runs one attempt: the handler under the kind's timeout, a heartbeat every third of the lease,
/// and the outcome recorded in the queue (fenced by the attempt's claim).
async fn run_job(
    queue: Arc<dyn Queue>,
    kinds: Arc<JobKinds>,
    job: Job,
    lease: Duration,
    stop: watch::Receiver<Stop>,
    finished: mpsc::UnboundedSender<Finished>,
) {
    // The enqueuing request's trace, so a change and the work it caused read as one story.
    let trace_id = job
        .trace_id
        .clone()
        .unwrap_or_else(tinct_command::new_trace_id);
    let span = tracing::info_span!(
        "job",
        id = job.id,
        kind = %job.kind,
        attempt = job.attempt,
        trace_id = %trace_id
    );
    run_attempt(queue, kinds, job, lease, stop, trace_id, finished)
        .instrument(span)
        .await;
}

async fn run_attempt(
    queue: Arc<dyn Queue>,
    kinds: Arc<JobKinds>,
    job: Job,
    lease: Duration,
    mut stop: watch::Receiver<Stop>,
    trace_id: String,
    finished: mpsc::UnboundedSender<Finished>,
) {
    let claim = job.claim();
    let started = Instant::now();
    let Some(def) = kinds.get(&job.kind) else {
        // Enqueued by a newer (or older) version of tinct: another worker may know it.
        let error = format!(
            "no job kind '{}' on worker {} (known: {}); it is retried in case another worker knows it",
            job.kind,
            claim.worker,
            kinds.names().collect::<Vec<_>>().join(", ")
        );
        tracing::warn!(%error, "unknown job kind");
        fail(&*queue, &job, error, started).await;
        return;
    };
    let ctx = JobCtx {
        id: job.id,
        kind: job.kind.clone(),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
        worker: claim.worker.clone(),
        trace_id,
    };
    // The handler runs as its own task, so a slow heartbeat never pauses it; it is aborted when
    // the attempt ends any other way.
    let mut work = tokio::spawn(AssertUnwindSafe(def.run(&job, ctx)).catch_unwind());
    let deadline = tokio::time::sleep(def.timeout);
    tokio::pin!(deadline);
    let beat_every = (lease / 3).max(Duration::from_millis(10));
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + beat_every, beat_every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The lease was taken at fetch; past two thirds of it without a renewal, another worker may
    // soon be handed the job, so this attempt stops rather than run twice.
    let mut renewed = Instant::now();
    let give_up_after = lease.mul_f64(2.0 / 3.0);
    let ended = loop {
        tokio::select! {
            result = &mut work => break match result {
                Ok(Ok(done)) => Ended::Done(done),
                Ok(Err(panic)) => Ended::Panicked(panic_message(&*panic)),
                Err(e) => Ended::Panicked(e.to_string()),
            },
            _ = &mut deadline => break Ended::TimedOut,
            _ = beat.tick() => {
                match tokio::time::timeout(beat_every, queue.heartbeat(&claim, lease)).await {
                    Ok(Ok(Heartbeat::Held)) => renewed = Instant::now(),
                    Ok(Ok(Heartbeat::CancelRequested)) => break Ended::Cancelled,
                    Ok(Ok(Heartbeat::Lost)) => break Ended::Lost,
                    Ok(Err(e)) => tracing::warn!(error = %e, "heartbeat failed"),
                    Err(_) => tracing::warn!("heartbeat took longer than its interval"),
                }
                if renewed.elapsed() >= give_up_after {
                    break Ended::Unrenewed;
                }
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() == Stop::Release {
                    break Ended::Released;
                }
            }
        }
    };
    work.abort();
    let outcome = match ended {
        Ended::Done(Ok(())) => Ok(()),
        Ended::Done(Err(failure)) => Err(failure.0),
        Ended::TimedOut => Err(format!(
            "timed out after {} s (the '{}' kind's limit)",
            def.timeout.as_secs_f64(),
            job.kind
        )),
        Ended::Panicked(message) => Err(format!("the handler panicked: {message}")),
        Ended::Cancelled => {
            let state = queue.fail(&claim, "cancelled", Duration::ZERO).await;
            finish_metrics(&job.kind, "cancelled", started);
            tracing::info!(?state, "job cancelled while running");
            return;
        }
        Ended::Lost => {
            finish_metrics(&job.kind, "lost", started);
            tracing::warn!("job's lease was lost (it ran too long without a heartbeat); stopped");
            return;
        }
        Ended::Unrenewed => {
            finish_metrics(&job.kind, "lost", started);
            tracing::warn!(
                "could not renew the job's lease for two thirds of it; stopped so it cannot run twice (the leader hands it back when the lease runs out)"
            );
            return;
        }
        Ended::Released => {
            let released = queue.release(&claim).await;
            finish_metrics(&job.kind, "released", started);
            tracing::info!(?released, "job handed back at shutdown");
            return;
        }
    };
    match outcome {
        Ok(()) => {
            let done = Finished {
                claim: job.claim(),
                kind: job.kind.clone(),
                started,
            };
            // The completer is gone only if the pool is: the lease then runs out and it is
            // retried.
            let _ = finished.send(done);
        }
        Err(error) => fail(&*queue, &job, error, started).await,
    }
}

/// Fails the attempt with a backoff before the next.
async fn fail(queue: &dyn Queue, job: &Job, error: String, started: Instant) {
    match queue.fail(&job.claim(), &error, backoff(job.attempt)).await {
        Ok(Some(state)) => {
            tracing::warn!(%error, %state, "job attempt failed");
            finish_metrics(&job.kind, state.as_str(), started);
        }
        Ok(None) => tracing::warn!(%error, "job failed after its lease was lost"),
        Err(e) => tracing::warn!(error = %e, "could not record the job's failure"),
    }
}

fn finish_metrics(kind: &str, outcome: &'static str, started: Instant) {
    metrics::counter!("tinct_jobs_total", "kind" => kind.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("tinct_job_duration_seconds", "kind" => kind.to_owned())
        .record(started.elapsed().as_secs_f64());
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(spec: &[(&str, u32)]) -> Vec<(String, u32)> {
        spec.iter().map(|(n, w)| ((*n).to_owned(), *w)).collect()
    }

    #[test]
    fn slots_follow_the_weights() {
        let mut shares =
            WeightedShares::new(&queues(&[("critical", 6), ("default", 3), ("low", 1)]));
        assert_eq!(shares.split(10), [6, 3, 1]);
        // One slot at a time still adds up to the weights over a round.
        let mut totals = [0; 3];
        for _ in 0..20 {
            for (t, n) in totals.iter_mut().zip(shares.split(1)) {
                *t += n;
            }
        }
        assert_eq!(totals, [12, 6, 2]);
        assert_eq!(shares.split(0), [0, 0, 0]);
    }
}
