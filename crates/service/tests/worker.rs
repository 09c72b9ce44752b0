//! The worker pool on a real (embedded) queue: outcomes of handlers that succeed, fail, panic,
//! run past their kind's timeout or get cancelled; unknown kinds; weighted queues; a graceful
//! stop that hands unfinished jobs back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use tinct_platform::{Job, JobFilter, JobState, NewJob, Queue, SqliteQueue, SqliteStore};
use tinct_service::jobs::worker::{WorkerConfig, WorkerPool};
use tinct_service::jobs::{JobDef, JobFailure, JobKinds};
use tokio::sync::Notify;

#[derive(Deserialize)]
struct Args {
    #[serde(default)]
    ms: u64,
}

fn kinds(ran: Arc<AtomicUsize>) -> Arc<JobKinds> {
    let counted = ran.clone();
    Arc::new(JobKinds::new([
        JobDef::new("ok", "{}", move |_: Args, _| {
            let ran = counted.clone();
            async move {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }),
        JobDef::new("fails", "{}", |_: Args, ctx| async move {
            Err(JobFailure::new(format!(
                "attempt {} went wrong",
                ctx.attempt
            )))
        })
        .max_attempts(2),
        JobDef::new("panics", "{}", |_: Args, _| async move {
            if true {
                panic!("handler bug");
            }
            Ok(())
        })
        .max_attempts(1),
        JobDef::new("slow", "{\"ms\": n}", |args: Args, _| async move {
            tokio::time::sleep(Duration::from_millis(args.ms)).await;
            Ok(())
        })
        .timeout(Duration::from_millis(300))
        .max_attempts(1),
        JobDef::new("long", "{\"ms\": n}", |args: Args, _| async move {
            tokio::time::sleep(Duration::from_millis(args.ms)).await;
            Ok(())
        })
        .timeout(Duration::from_secs(60)),
    ]))
}

struct Fixture {
    queue: Arc<dyn Queue>,
    wake: Arc<Notify>,
    ran: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db"))
        .await
        .unwrap();
    Fixture {
        queue: Arc::new(SqliteQueue::new(&store)),
        wake: Arc::new(Notify::new()),
        ran: Arc::default(),
        _dir: dir,
    }
}

impl Fixture {
    fn start(&self, queues: &[(&str, u32)], concurrency: usize) -> WorkerPool {
        WorkerPool::start(
            self.queue.clone(),
            kinds(self.ran.clone()),
            self.wake.clone(),
            WorkerConfig {
                name: "test-worker".into(),
                queues: queues.iter().map(|(q, w)| ((*q).to_owned(), *w)).collect(),
                concurrency,
                lease: Duration::from_millis(600),
                poll: Duration::from_millis(50),
            },
        )
    }

    async fn enqueue(&self, job: NewJob) -> i64 {
        self.queue.enqueue(&job).await.unwrap().id
    }

    async fn get(&self, id: i64) -> Job {
        self.queue.get(id).await.unwrap().unwrap()
    }

    /// Waits until job `id` satisfies `done`, failing after a generous while.
    async fn until(&self, id: i64, what: &str, done: impl Fn(&Job) -> bool) -> Job {
        let start = Instant::now();
        loop {
            let job = self.get(id).await;
            if done(&job) {
                return job;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{what}: {job:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn outcomes_are_recorded_for_every_way_a_handler_ends() {
    let f = fixture().await;
    let pool = f.start(&[("default", 1)], 4);
    let ok = f.enqueue(NewJob::new("ok", json!({}))).await;
    let panics = f
        .enqueue(NewJob::new("panics", json!({})).max_attempts(1))
        .await;
    let slow = f
        .enqueue(NewJob::new("slow", json!({"ms": 5_000})).max_attempts(1))
        .await;
    let unknown = f
        .enqueue(NewJob::new("from-the-future", json!({})).max_attempts(1))
        .await;
    let fails = f
        .enqueue(NewJob::new("fails", json!({})).max_attempts(1))
        .await;
    f.wake.notify_one();

    let job = f.until(ok, "ok completes", |j| j.state.is_finished()).await;
    assert_eq!((job.state, job.attempt), (JobState::Completed, 1));
    assert_eq!(f.ran.load(Ordering::SeqCst), 1);

    let job = f
        .until(panics, "panic recorded", |j| j.state.is_finished())
        .await;
    assert_eq!(job.state, JobState::Discarded);
    assert!(
        job.errors[0].error.contains("panicked: handler bug"),
        "{job:?}"
    );

    let job = f
        .until(slow, "timeout recorded", |j| j.state.is_finished())
        .await;
    assert_eq!(job.state, JobState::Discarded);
    assert!(
        job.errors[0].error.contains("timed out after 0.3 s"),
        "{job:?}"
    );

    let job = f
        .until(unknown, "unknown kind", |j| j.state.is_finished())
        .await;
    assert_eq!(job.state, JobState::Discarded);
    assert!(
        job.errors[0]
            .error
            .contains("no job kind 'from-the-future'"),
        "{job:?}"
    );

    let job = f.until(fails, "failure", |j| j.state.is_finished()).await;
    assert_eq!(job.errors[0].error, "attempt 1 went wrong");
    pool.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_backoff_until_out_of_attempts() {
    let f = fixture().await;
    let pool = f.start(&[("default", 1)], 2);
    let id = f
        .enqueue(NewJob::new("fails", json!({})).max_attempts(2))
        .await;
    f.wake.notify_one();
    let job = f
        .until(id, "first attempt fails", |j| {
            j.state == JobState::Retryable
        })
        .await;
    // The first retry waits about a second (±20 %), by the database's clock.
    let wait = job.run_at - job.errors[0].at;
    assert!((700..=1_300).contains(&wait), "backoff {wait} ms: {job:?}");
    let job = f
        .until(id, "second attempt", |j| j.state.is_finished())
        .await;
    assert_eq!((job.state, job.attempt), (JobState::Discarded, 2));
    let errors: Vec<&str> = job.errors.iter().map(|e| e.error.as_str()).collect();
    assert_eq!(errors, ["attempt 1 went wrong", "attempt 2 went wrong"]);
    pool.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_running_job_sees_its_cancel_at_the_next_heartbeat() {
    let f = fixture().await;
    let pool = f.start(&[("default", 1)], 1);
    let id = f.enqueue(NewJob::new("long", json!({"ms": 30_000}))).await;
    f.wake.notify_one();
    f.until(id, "it runs", |j| j.state == JobState::Running)
        .await;
    f.queue.cancel(id).await.unwrap();
    let job = f.until(id, "it stops", |j| j.state.is_finished()).await;
    assert_eq!(job.state, JobState::Cancelled, "{job:?}");
    pool.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_graceful_stop_finishes_short_jobs_and_hands_long_ones_back() {
    let f = fixture().await;
    let pool = f.start(&[("default", 1)], 2);
    let short = f.enqueue(NewJob::new("long", json!({"ms": 300}))).await;
    let long = f.enqueue(NewJob::new("long", json!({"ms": 30_000}))).await;
    f.wake.notify_one();
    f.until(long, "both run", |j| j.state == JobState::Running)
        .await;
    f.until(short, "both run", |j| j.state == JobState::Running)
        .await;
    pool.shutdown(Duration::from_millis(1_000)).await;
    assert_eq!(f.get(short).await.state, JobState::Completed);
    let job = f.get(long).await;
    assert_eq!(
        (job.state, job.attempt),
        (JobState::Available, 0),
        "handed back, its attempt not counted: {job:?}"
    );
    assert!(job.locked_by.is_none());
}

#[tokio::test]
async fn busy_queues_share_the_workers_by_weight() {
    let f = fixture().await;
    for _ in 0..60 {
        f.enqueue(NewJob::new("long", json!({"ms": 60_000})).queue("critical"))
            .await;
        f.enqueue(NewJob::new("long", json!({"ms": 60_000})).queue("low"))
            .await;
    }
    // Ten slots over queues weighted 6:3:1, one of them empty: its share goes to the others.
    let pool = f.start(&[("critical", 6), ("default", 3), ("low", 1)], 10);
    let running = JobFilter {
        state: Some(JobState::Running),
        ..JobFilter::default()
    };
    let start = Instant::now();
    let jobs = loop {
        let jobs = f.queue.list(&running, None, 100).await.unwrap();
        if jobs.len() == 10 {
            break jobs;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{jobs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let critical = jobs.iter().filter(|j| j.queue == "critical").count();
    let low = jobs.iter().filter(|j| j.queue == "low").count();
    assert!(critical > low && low >= 1, "critical {critical}, low {low}");
    pool.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn free_slots_go_to_a_queue_that_had_no_share_this_round() {
    let f = fixture().await;
    for _ in 0..5 {
        f.enqueue(NewJob::new("long", json!({"ms": 60_000})).queue("low"))
            .await;
    }
    // Two slots split 6:3:1 give "low" nothing in the first round; the empty queues' slots must
    // still reach it.
    let pool = f.start(&[("critical", 6), ("default", 3), ("low", 1)], 2);
    let running = JobFilter {
        state: Some(JobState::Running),
        ..JobFilter::default()
    };
    let start = Instant::now();
    loop {
        let jobs = f.queue.list(&running, None, 100).await.unwrap();
        if jobs.len() == 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{jobs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.shutdown(Duration::ZERO).await;
}
