//! The Queue conformance suite: the SQLite and PostgreSQL adapters pass the same checks, and on
//! PostgreSQL concurrent fetchers on separate pools complete every job exactly once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tinct_platform::{
    Claim, Heartbeat, JOBS_CHANNEL, Job, JobFilter, JobState, LEASE_EXPIRED, NewEvent, NewJob,
    NewNode, PgQueue, PgStore, Queue, QueueError, SqliteQueue, SqliteStore, Store,
};

const LEASE: Duration = Duration::from_secs(60);

/// The claim of attempt `attempt` of job `id` by `worker`.
fn claim(id: i64, worker: &str, attempt: i32) -> Claim {
    Claim::new(id, worker, attempt)
}

fn queues(name: &str) -> Vec<String> {
    vec![name.to_owned()]
}

/// Polls `check` until it yields a value (the condition holds), failing after a generous timeout.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not so after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn get(queue: &dyn Queue, id: i64) -> Job {
    queue.get(id).await.unwrap().expect("the job exists")
}

async fn enqueue(queue: &dyn Queue, job: NewJob) -> i64 {
    let done = queue.enqueue(&job).await.unwrap();
    assert!(!done.duplicate);
    done.id
}

/// Fetches exactly one job of `name` for `worker`.
async fn fetch_one(queue: &dyn Queue, worker: &str, name: &str) -> Job {
    let mut jobs = queue.fetch(worker, &queues(name), 5, LEASE).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.remove(0)
}

async fn run(queue: &dyn Queue, store: &dyn Store) {
    delays_and_priorities_order_fetching(queue).await;
    partitions_share_a_batch_by_turns(queue, store).await;
    priority_wins_over_turns_across_partitions(queue).await;
    keyless_jobs_are_one_partition_of_their_queue(queue).await;
    batches_follow_the_documented_order_on_a_random_backlog(queue, store).await;
    unique_keys_dedupe_while_pending(queue).await;
    heartbeat_renews_and_reports_cancellation(queue).await;
    released_jobs_run_again_without_losing_an_attempt(queue).await;
    failures_retry_then_discard(queue).await;
    cancel_and_retry_transitions(queue).await;
    expired_leases_are_rescued(queue).await;
    a_rescued_attempt_cannot_touch_the_next_one(queue).await;
    the_enqueuing_trace_is_kept(queue).await;
    finished_jobs_are_pruned(queue).await;
    stats_count_due_jobs_per_queue(queue).await;
    transactional_enqueue_commits_with_the_mutation(queue, store).await;
    bad_input_is_refused_and_changes_nothing(queue, store).await;
}

async fn delays_and_priorities_order_fetching(queue: &dyn Queue) {
    let low = enqueue(queue, NewJob::new("k", json!({"n": 1})).queue("order")).await;
    let high = enqueue(
        queue,
        NewJob::new("k", json!({"n": 2})).queue("order").priority(5),
    )
    .await;
    // Same priority, due long ago: runs before `high`.
    let high_older = enqueue(
        queue,
        NewJob::new("k", json!({"n": 3}))
            .queue("order")
            .priority(5)
            .run_at(1),
    )
    .await;
    let later = enqueue(
        queue,
        NewJob::new("k", json!({}))
            .queue("order")
            .priority(9)
            .delay(Duration::from_secs(3600)),
    )
    .await;
    let job = get(queue, later).await;
    assert_eq!(job.state, JobState::Scheduled);
    assert!(job.run_at >= job.created_at + 3_600_000, "{job:?}");
    assert_eq!(get(queue, low).await.state, JobState::Available);
    assert_eq!(get(queue, low).await.queue, "order");

    let fetched = queue
        .fetch("w1", &queues("order"), 10, LEASE)
        .await
        .unwrap();
    let ids: Vec<i64> = fetched.iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![high_older, high, low], "scheduled job not due");
    for job in &fetched {
        assert_eq!(job.state, JobState::Running);
        assert_eq!(job.attempt, 1);
        assert_eq!(job.locked_by.as_deref(), Some("w1"));
        assert!(job.locked_until.unwrap() > job.attempted_at.unwrap());
    }
    assert_eq!(fetched[2].args, json!({"n": 1}));
    assert!(
        queue
            .fetch("w1", &queues("order"), 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );

    // Across queues, priority still orders the batch.
    let a = enqueue(queue, NewJob::new("k", json!({})).queue("mq-a").priority(1)).await;
    let b = enqueue(queue, NewJob::new("k", json!({})).queue("mq-b").priority(3)).await;
    let c = enqueue(queue, NewJob::new("k", json!({})).queue("mq-a").priority(2)).await;
    let both = vec!["mq-a".to_owned(), "mq-b".to_owned()];
    let first: Vec<i64> = queue
        .fetch("w1", &both, 2, LEASE)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(first, vec![b, c]);
    let rest: Vec<i64> = queue
        .fetch("w1", &both, 2, LEASE)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(rest, vec![a]);

    // `limit` caps a fetch; a short delay becomes due by itself.
    for n in 0..3 {
        enqueue(queue, NewJob::new("k", json!(n)).queue("limit")).await;
    }
    assert_eq!(
        queue
            .fetch("w1", &queues("limit"), 2, LEASE)
            .await
            .unwrap()
            .len(),
        2
    );
    let soon = enqueue(
        queue,
        NewJob::new("k", json!({}))
            .queue("delay")
            .delay(Duration::from_millis(300)),
    )
    .await;
    assert_eq!(get(queue, soon).await.state, JobState::Scheduled);
    let due = wait_for("the delayed job is fetched", || async {
        let jobs = queue.fetch("w1", &queues("delay"), 5, LEASE).await.unwrap();
        jobs.into_iter().next()
    })
    .await;
    assert_eq!(due.id, soon);
    assert!(due.attempted_at.unwrap() >= due.run_at);
}

/// Enqueues `n` due jobs of `partition` in `queue` in one transaction, the first due at
/// `first_run_at` and each next one a millisecond later; returns their ids in that order.
async fn enqueue_due(
    store: &dyn Store,
    queue: &str,
    partition: Option<&str>,
    n: usize,
    first_run_at: i64,
) -> Vec<i64> {
    let tx = store.begin().await.unwrap();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut job = NewJob::new("k", json!({"i": i}))
            .queue(queue)
            .run_at(first_run_at + i as i64);
        if let Some(key) = partition {
            job = job.partition(key);
        }
        let done = tx.enqueue(&job).await.unwrap();
        assert!(!done.duplicate);
        ids.push(done.id);
    }
    tx.commit().await.unwrap();
    ids
}

async fn fetch_ids(queue: &dyn Queue, names: &[&str], limit: u32) -> Vec<i64> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    queue
        .fetch("w-fair", &names, limit, LEASE)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect()
}

async fn partitions_share_a_batch_by_turns(queue: &dyn Queue, store: &dyn Store) {
    // The busy partition's jobs are all older: by age alone they would fill every batch.
    let busy = enqueue_due(store, "fair", Some("busy"), 1_000, 1_000).await;
    let a = enqueue_due(store, "fair", Some("small-a"), 5, 10_000).await;
    let b = enqueue_due(store, "fair", Some("small-b"), 5, 20_000).await;

    let first = queue
        .fetch("w-fair", &queues("fair"), 9, LEASE)
        .await
        .unwrap();
    let partitions: Vec<&str> = first
        .iter()
        .map(|j| j.partition_key.as_deref().unwrap())
        .collect();
    assert_eq!(
        partitions,
        ["busy", "small-a", "small-b"].repeat(3),
        "turn by turn, oldest partition head first"
    );
    let ids: Vec<i64> = first.iter().map(|j| j.id).collect();
    assert_eq!(
        ids,
        vec![
            busy[0], a[0], b[0], busy[1], a[1], b[1], busy[2], a[2], b[2]
        ],
        "each partition's oldest jobs"
    );
    assert!(first.iter().all(|j| j.state == JobState::Running));

    // Two small jobs left in each: they go in turns 1 and 2, the busy partition fills the rest.
    let second = fetch_ids(queue, &["fair"], 9).await;
    assert_eq!(
        second,
        vec![
            busy[3], a[3], b[3], busy[4], a[4], b[4], busy[5], busy[6], busy[7]
        ]
    );
    let third = fetch_ids(queue, &["fair"], 9).await;
    assert_eq!(
        third,
        busy[8..17].to_vec(),
        "only the busy partition is left"
    );

    // Queues are told apart: the same key in two queues is two partitions.
    let q1 = enqueue_due(store, "fair-q1", Some("tenant"), 4, 1_000).await;
    let q2 = enqueue_due(store, "fair-q2", Some("tenant"), 4, 2_000).await;
    let both = fetch_ids(queue, &["fair-q1", "fair-q2"], 4).await;
    assert_eq!(both, vec![q1[0], q2[0], q1[1], q2[1]]);
}

async fn priority_wins_over_turns_across_partitions(queue: &dyn Queue) {
    let job = |partition: &str, priority: i32, run_at: i64| {
        NewJob::new("k", json!({}))
            .queue("fair-prio")
            .partition(partition)
            .priority(priority)
            .run_at(run_at)
    };
    let mut old_low = Vec::new();
    for i in 0..3 {
        old_low.push(enqueue(queue, job("a", 0, 1_000 + i)).await);
    }
    let mut high = Vec::new();
    for i in 0..3 {
        high.push(enqueue(queue, job("b", 5, 5_000 + i)).await);
    }
    // Partition a's own higher-priority job goes before the older jobs of its partition.
    let a_high = enqueue(queue, job("a", 5, 9_000)).await;
    let keyless_top = enqueue(
        queue,
        NewJob::new("k", json!({}))
            .queue("fair-prio")
            .priority(9)
            .run_at(9_500),
    )
    .await;

    // Priority 9, then priority 5 in turns (b's oldest, then a's only one, then b's others),
    // and only then priority 0: partition b's third priority-5 job is not left behind for
    // partition a's first priority-0 one.
    let batch = fetch_ids(queue, &["fair-prio"], 6).await;
    assert_eq!(
        batch,
        vec![keyless_top, high[0], a_high, high[1], high[2], old_low[0]]
    );
    let rest = fetch_ids(queue, &["fair-prio"], 6).await;
    assert_eq!(rest, old_low[1..].to_vec());
}

async fn keyless_jobs_are_one_partition_of_their_queue(queue: &dyn Queue) {
    let job = |run_at: i64| {
        NewJob::new("k", json!({}))
            .queue("fair-keyless")
            .run_at(run_at)
    };
    let mut keyless = Vec::new();
    for i in 0..4 {
        keyless.push(enqueue(queue, job(1_000 + i)).await);
    }
    let mut keyed = Vec::new();
    for i in 0..4 {
        keyed.push(enqueue(queue, job(2_000 + i).partition("x")).await);
    }
    let batch = fetch_ids(queue, &["fair-keyless"], 4).await;
    assert_eq!(batch, vec![keyless[0], keyed[0], keyless[1], keyed[1]]);
    let rest = fetch_ids(queue, &["fair-keyless"], 10).await;
    assert_eq!(rest, vec![keyless[2], keyed[2], keyless[3], keyed[3]]);
}

/// The order `Queue::fetch` documents, computed the slow way over every due job: priority,
/// then the job's turn among its partition's due jobs of that priority, then `run_at`, id.
fn reference_batch(due: &[Job], limit: usize) -> Vec<i64> {
    let mut keyed: Vec<_> = due
        .iter()
        .map(|j| {
            let turn = due
                .iter()
                .filter(|o| {
                    o.queue == j.queue
                        && o.partition_key == j.partition_key
                        && o.priority == j.priority
                        && (o.run_at, o.id) <= (j.run_at, j.id)
                })
                .count();
            (std::cmp::Reverse(j.priority), turn, j.run_at, j.id)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().take(limit).map(|k| k.3).collect()
}

async fn batches_follow_the_documented_order_on_a_random_backlog(
    queue: &dyn Queue,
    store: &dyn Store,
) {
    let names = ["rand-1".to_owned(), "rand-2".to_owned()];
    // A fixed-seed generator, so a failure replays.
    let mut seed: u64 = 0x5eed_fa1e;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let tx = store.begin().await.unwrap();
    for i in 0..400 {
        let mut job = NewJob::new("k", json!({"i": i}))
            .queue(&names[next(2) as usize])
            .priority(next(3) as i32)
            .run_at(1_000 + next(500) as i64);
        match next(10) {
            0 | 1 => {}
            n => job = job.partition(format!("p{}", n % 6)),
        }
        if next(10) == 0 {
            job = job.delay(Duration::from_secs(3600));
            job.run_at = None;
        }
        tx.enqueue(&job).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut fetched = 0;
    for limit in [1u32, 7, 23, 50].into_iter().cycle() {
        let mut due = Vec::new();
        for name in &names {
            let filter = JobFilter {
                queue: Some(name.clone()),
                state: Some(JobState::Available),
                ..JobFilter::default()
            };
            due.extend(queue.list(&filter, None, 1_000).await.unwrap());
        }
        let expected = reference_batch(&due, limit as usize);
        let got: Vec<i64> = queue
            .fetch("w-rand", &names, limit, LEASE)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(got, expected, "limit {limit} after {fetched} fetched");
        if got.is_empty() {
            break;
        }
        fetched += got.len();
    }
    assert!(fetched > 300, "{fetched}: most of the backlog was due");
}

async fn unique_keys_dedupe_while_pending(queue: &dyn Queue) {
    let job = NewJob::new("snapshot", json!({}))
        .queue("unique")
        .unique("s1@t0");
    let first = queue.enqueue(&job).await.unwrap();
    assert!(!first.duplicate);
    let again = queue.enqueue(&job).await.unwrap();
    assert_eq!((again.id, again.duplicate), (first.id, true));
    // Another key is another job.
    let other = queue.enqueue(&job.clone().unique("s1@t1")).await.unwrap();
    assert!(!other.duplicate);
    assert_ne!(other.id, first.id);

    let running = queue
        .fetch("w1", &queues("unique"), 1, LEASE)
        .await
        .unwrap();
    assert_eq!(running[0].id, first.id);
    let while_running = queue.enqueue(&job).await.unwrap();
    assert_eq!(
        (while_running.id, while_running.duplicate),
        (first.id, true)
    );

    assert!(queue.complete(&claim(first.id, "w1", 1)).await.unwrap());
    assert_eq!(get(queue, first.id).await.state, JobState::Completed);
    let after = queue.enqueue(&job).await.unwrap();
    assert!(!after.duplicate, "a completed job frees its key");
    assert_ne!(after.id, first.id);
    assert_eq!(
        get(queue, after.id).await.unique_key.as_deref(),
        Some("s1@t0")
    );
}

async fn heartbeat_renews_and_reports_cancellation(queue: &dyn Queue) {
    let id = enqueue(queue, NewJob::new("k", json!({})).queue("beat")).await;
    let job = queue
        .fetch("w1", &queues("beat"), 1, Duration::from_secs(30))
        .await
        .unwrap()
        .remove(0);
    let first_lease = job.locked_until.unwrap();
    assert_eq!(
        queue
            .heartbeat(&claim(id, "w1", 1), Duration::from_secs(600))
            .await
            .unwrap(),
        Heartbeat::Held
    );
    assert!(get(queue, id).await.locked_until.unwrap() > first_lease + 500_000);
    assert_eq!(
        queue.heartbeat(&claim(id, "w2", 1), LEASE).await.unwrap(),
        Heartbeat::Lost,
        "not w2's job"
    );
    assert!(!queue.complete(&claim(id, "w2", 1)).await.unwrap());
    assert_eq!(
        queue.fail(&claim(id, "w2", 1), "x", LEASE).await.unwrap(),
        None
    );

    let cancelled = queue.cancel(id).await.unwrap();
    assert_eq!(
        cancelled.state,
        JobState::Running,
        "a running job finishes its step"
    );
    assert!(cancelled.cancel_requested);
    assert_eq!(
        queue.heartbeat(&claim(id, "w1", 1), LEASE).await.unwrap(),
        Heartbeat::CancelRequested
    );
    assert_eq!(
        queue
            .fail(&claim(id, "w1", 1), "stopped: cancelled", Duration::ZERO)
            .await
            .unwrap(),
        Some(JobState::Cancelled)
    );
    let job = get(queue, id).await;
    assert_eq!(job.state, JobState::Cancelled);
    assert!(job.finished_at.is_some() && job.locked_by.is_none());
    assert_eq!(
        queue.heartbeat(&claim(id, "w1", 1), LEASE).await.unwrap(),
        Heartbeat::Lost
    );
}

async fn released_jobs_run_again_without_losing_an_attempt(queue: &dyn Queue) {
    let id = enqueue(
        queue,
        NewJob::new("k", json!({})).queue("release").max_attempts(1),
    )
    .await;
    fetch_one(queue, "w1", "release").await;
    assert!(
        !queue.release(&claim(id, "w2", 1)).await.unwrap(),
        "not w2's job"
    );
    assert!(queue.release(&claim(id, "w1", 1)).await.unwrap());
    let job = get(queue, id).await;
    assert_eq!((job.state, job.attempt), (JobState::Available, 0));
    assert!(job.locked_by.is_none() && job.errors.is_empty());
    let again = fetch_one(queue, "w2", "release").await;
    assert_eq!((again.id, again.attempt), (id, 1));
    assert!(
        !queue.release(&claim(id, "w1", 1)).await.unwrap(),
        "w1 let it go"
    );

    // A job with a cancel request is not handed back: it ends cancelled.
    queue.cancel(id).await.unwrap();
    assert!(queue.release(&claim(id, "w2", 1)).await.unwrap());
    let job = get(queue, id).await;
    assert_eq!(job.state, JobState::Cancelled);
    assert!(job.finished_at.is_some());
}

async fn failures_retry_then_discard(queue: &dyn Queue) {
    // A failure is retried after the backoff it is given, with its error kept.
    let id = enqueue(queue, NewJob::new("k", json!({})).queue("fail")).await;
    let job = fetch_one(queue, "w1", "fail").await;
    let backoff = Duration::from_secs(3600);
    assert_eq!(
        queue
            .fail(&claim(id, "w1", 1), "boom", backoff)
            .await
            .unwrap(),
        Some(JobState::Retryable)
    );
    let failed = get(queue, id).await;
    assert_eq!(failed.state, JobState::Retryable);
    assert!(
        failed.run_at >= job.attempted_at.unwrap() + 3_600_000,
        "{failed:?}"
    );
    assert_eq!(failed.errors.len(), 1);
    assert_eq!(failed.errors[0].attempt, 1);
    assert_eq!(failed.errors[0].error, "boom");
    assert!(failed.finished_at.is_none() && failed.locked_by.is_none());
    assert!(
        queue
            .fetch("w1", &queues("fail"), 5, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "not due before its backoff"
    );

    // Out of attempts: discarded, every attempt's error kept.
    let id = enqueue(
        queue,
        NewJob::new("k", json!({})).queue("exhaust").max_attempts(2),
    )
    .await;
    fetch_one(queue, "w1", "exhaust").await;
    assert_eq!(
        queue
            .fail(&claim(id, "w1", 1), "first", Duration::ZERO)
            .await
            .unwrap(),
        Some(JobState::Retryable)
    );
    let second = wait_for("the retry is due", || async {
        queue
            .fetch("w2", &queues("exhaust"), 5, LEASE)
            .await
            .unwrap()
            .into_iter()
            .next()
    })
    .await;
    assert_eq!((second.id, second.attempt), (id, 2));
    assert_eq!(
        queue
            .fail(&claim(id, "w2", 2), "second", Duration::ZERO)
            .await
            .unwrap(),
        Some(JobState::Discarded)
    );
    let job = get(queue, id).await;
    assert_eq!(job.state, JobState::Discarded);
    assert!(job.finished_at.is_some());
    let errors: Vec<(i32, &str)> = job
        .errors
        .iter()
        .map(|e| (e.attempt, e.error.as_str()))
        .collect();
    assert_eq!(errors, vec![(1, "first"), (2, "second")]);
    assert!(
        queue
            .fetch("w1", &queues("exhaust"), 5, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn cancel_and_retry_transitions(queue: &dyn Queue) {
    let id = enqueue(queue, NewJob::new("k", json!({})).queue("cancel")).await;
    let scheduled = enqueue(
        queue,
        NewJob::new("k", json!({}))
            .queue("cancel")
            .delay(Duration::from_secs(3600)),
    )
    .await;
    for id in [id, scheduled] {
        let job = queue.cancel(id).await.unwrap();
        assert_eq!(job.state, JobState::Cancelled);
        assert!(job.finished_at.is_some());
    }
    assert!(
        queue
            .fetch("w1", &queues("cancel"), 5, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    match queue.cancel(id).await {
        Err(QueueError::WrongState { id: got, state, .. }) => {
            assert_eq!((got, state), (id, JobState::Cancelled));
        }
        other => panic!("expected WrongState, got {other:?}"),
    }

    let retried = queue.retry(id).await.unwrap();
    assert_eq!(retried.state, JobState::Available);
    assert!(retried.finished_at.is_none());
    let job = fetch_one(queue, "w1", "cancel").await;
    assert_eq!(job.id, id);
    assert!(queue.complete(&claim(id, "w1", 1)).await.unwrap());
    let err = queue.retry(id).await.unwrap_err();
    assert!(
        matches!(
            err,
            QueueError::WrongState {
                state: JobState::Completed,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("discarded or cancelled"), "{err}");
    assert!(matches!(
        queue.retry(i64::MAX).await,
        Err(QueueError::NotFound(_))
    ));
    assert!(matches!(
        queue.cancel(i64::MAX).await,
        Err(QueueError::NotFound(_))
    ));

    // A discarded job gets one more attempt when retried.
    let id = enqueue(
        queue,
        NewJob::new("k", json!({})).queue("cancel").max_attempts(1),
    )
    .await;
    fetch_one(queue, "w1", "cancel").await;
    assert_eq!(
        queue
            .fail(&claim(id, "w1", 1), "bad", Duration::ZERO)
            .await
            .unwrap(),
        Some(JobState::Discarded)
    );
    let retried = queue.retry(id).await.unwrap();
    assert_eq!(
        (retried.state, retried.max_attempts),
        (JobState::Available, 2)
    );
    let job = fetch_one(queue, "w1", "cancel").await;
    assert_eq!(job.attempt, 2);
    assert!(queue.complete(&claim(id, "w1", 2)).await.unwrap());

    // Retrying must not make a second pending job with a held unique key.
    let keyed = NewJob::new("k", json!({}))
        .queue("cancel-u")
        .unique("only-one");
    let first = queue.enqueue(&keyed).await.unwrap().id;
    queue.cancel(first).await.unwrap();
    let second = queue.enqueue(&keyed).await.unwrap();
    assert!(!second.duplicate, "a cancelled job frees its key");
    let err = queue.retry(first).await.unwrap_err();
    assert!(
        matches!(err, QueueError::UniqueTaken(ref k) if k == "only-one"),
        "{err}"
    );
    assert_eq!(
        get(queue, first).await.state,
        JobState::Cancelled,
        "unchanged"
    );
}

async fn expired_leases_are_rescued(queue: &dyn Queue) {
    let retried = enqueue(
        queue,
        NewJob::new("k", json!({})).queue("rescue").max_attempts(3),
    )
    .await;
    let last = enqueue(
        queue,
        NewJob::new("k", json!({}))
            .queue("rescue")
            .max_attempts(1)
            .run_at(1),
    )
    .await;
    let cancelled = enqueue(queue, NewJob::new("k", json!({})).queue("rescue").run_at(2)).await;
    let fetched = queue
        .fetch("dead", &queues("rescue"), 5, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(fetched.len(), 3);
    assert!(queue.cancel(cancelled).await.unwrap().cancel_requested);
    let rescued = AtomicU64::new(0);
    wait_for("the expired leases are rescued", || {
        let rescued = &rescued;
        async move {
            let now = queue.rescue_expired().await.unwrap();
            (rescued.fetch_add(now, Ordering::SeqCst) + now >= 3).then_some(())
        }
    })
    .await;
    assert_eq!(rescued.into_inner(), 3);
    let job = get(queue, cancelled).await;
    assert_eq!(job.state, JobState::Cancelled, "its cancel request holds");
    assert!(job.finished_at.is_some());
    let job = get(queue, retried).await;
    assert_eq!(job.state, JobState::Retryable);
    assert!(job.locked_by.is_none() && job.finished_at.is_none());
    assert_eq!(job.errors.len(), 1);
    assert_eq!(job.errors[0].error, LEASE_EXPIRED);
    let job = get(queue, last).await;
    assert_eq!(job.state, JobState::Discarded, "out of attempts");
    assert_eq!(job.errors[0].error, LEASE_EXPIRED);

    // The dead worker can no longer finish it; another worker runs it.
    assert!(!queue.complete(&claim(retried, "dead", 1)).await.unwrap());
    assert_eq!(
        queue
            .heartbeat(&claim(retried, "dead", 1), LEASE)
            .await
            .unwrap(),
        Heartbeat::Lost
    );
    let job = fetch_one(queue, "w2", "rescue").await;
    assert_eq!((job.id, job.attempt), (retried, 2));
    assert!(queue.complete(&claim(retried, "w2", 2)).await.unwrap());
    // A live lease is not rescued.
    assert_eq!(queue.rescue_expired().await.unwrap(), 0);
}

/// The same worker fetches a job again after its first attempt was rescued: the stalled first
/// attempt (its claim) can no longer renew, finish, fail or release the second.
async fn a_rescued_attempt_cannot_touch_the_next_one(queue: &dyn Queue) {
    let id = enqueue(queue, NewJob::new("k", json!({})).queue("fence")).await;
    let stalled = queue
        .fetch("w1", &queues("fence"), 1, Duration::from_millis(1))
        .await
        .unwrap()
        .remove(0);
    wait_for("the stalled attempt is rescued", || async {
        (queue.rescue_expired().await.unwrap() > 0).then_some(())
    })
    .await;
    let current = wait_for("the retry is fetched by the same worker", || async {
        queue
            .fetch("w1", &queues("fence"), 1, LEASE)
            .await
            .unwrap()
            .into_iter()
            .next()
    })
    .await;
    assert_eq!((current.id, current.attempt), (id, 2));
    let old = stalled.claim();
    assert_eq!(old, claim(id, "w1", 1));
    assert_eq!(queue.heartbeat(&old, LEASE).await.unwrap(), Heartbeat::Lost);
    assert!(!queue.complete(&old).await.unwrap());
    assert_eq!(queue.fail(&old, "late", LEASE).await.unwrap(), None);
    assert!(!queue.release(&old).await.unwrap());
    let job = get(queue, id).await;
    assert_eq!((job.state, job.attempt), (JobState::Running, 2), "{job:?}");
    // Completing in a batch is fenced the same way: only the live claim counts.
    assert!(queue.complete_many(&[]).await.unwrap().is_empty());
    assert_eq!(
        queue.complete_many(&[old, current.claim()]).await.unwrap(),
        [id]
    );
    assert_eq!(get(queue, id).await.state, JobState::Completed);
}

async fn the_enqueuing_trace_is_kept(queue: &dyn Queue) {
    let traced = enqueue(
        queue,
        NewJob::new("k", json!({})).queue("trace").trace("4bf92f35"),
    )
    .await;
    let untraced = enqueue(queue, NewJob::new("k", json!({})).queue("trace")).await;
    assert_eq!(
        get(queue, traced).await.trace_id.as_deref(),
        Some("4bf92f35")
    );
    assert_eq!(get(queue, untraced).await.trace_id, None);
    let fetched = queue.fetch("w1", &queues("trace"), 2, LEASE).await.unwrap();
    let traces: Vec<Option<&str>> = fetched.iter().map(|j| j.trace_id.as_deref()).collect();
    assert!(
        traces.contains(&Some("4bf92f35")) && traces.contains(&None),
        "{traces:?}"
    );
    for job in &fetched {
        assert!(queue.complete(&job.claim()).await.unwrap());
    }
}

async fn finished_jobs_are_pruned(queue: &dyn Queue) {
    let done = enqueue(queue, NewJob::new("k", json!({})).queue("prune")).await;
    fetch_one(queue, "w1", "prune").await;
    assert!(queue.complete(&claim(done, "w1", 1)).await.unwrap());
    let pending = enqueue(queue, NewJob::new("k", json!({})).queue("prune")).await;
    assert_eq!(
        queue.prune(Duration::from_secs(3600)).await.unwrap(),
        0,
        "too recent"
    );
    assert!(queue.get(done).await.unwrap().is_some());
    wait_for("the finished job is pruned", || async {
        queue.prune(Duration::ZERO).await.unwrap();
        queue.get(done).await.unwrap().is_none().then_some(())
    })
    .await;
    assert_eq!(get(queue, pending).await.state, JobState::Available, "kept");

    // More than one batch of finished jobs goes in one call.
    let many = 1_100;
    for n in 0..many {
        enqueue(queue, NewJob::new("k", json!(n)).queue("prune-many")).await;
    }
    let jobs = queue
        .fetch("w1", &queues("prune-many"), 2_000, LEASE)
        .await
        .unwrap();
    assert_eq!(jobs.len(), many);
    for job in &jobs {
        assert!(queue.complete(&job.claim()).await.unwrap());
    }
    let mut finished = Vec::with_capacity(jobs.len());
    for job in &jobs {
        finished.push(get(queue, job.id).await.finished_at.unwrap());
    }
    let last_finished = finished.into_iter().max().unwrap();
    // Once the database clock has passed the last finish, one call removes them all.
    wait_for("the database clock passes the last finish", || async {
        let probe = enqueue(queue, NewJob::new("k", json!({})).queue("probe")).await;
        (get(queue, probe).await.created_at > last_finished).then_some(())
    })
    .await;
    let pruned = queue.prune(Duration::ZERO).await.unwrap();
    assert!(pruned >= many as u64, "{pruned}");
    let in_queue = JobFilter {
        queue: Some("prune-many".into()),
        ..JobFilter::default()
    };
    assert!(queue.list(&in_queue, None, 10).await.unwrap().is_empty());
}

async fn stats_count_due_jobs_per_queue(queue: &dyn Queue) {
    for _ in 0..3 {
        enqueue(
            queue,
            NewJob::new("k", json!({})).queue("stats").run_at(1_000),
        )
        .await;
    }
    enqueue(
        queue,
        NewJob::new("k", json!({}))
            .queue("stats")
            .delay(Duration::from_secs(3600)),
    )
    .await;
    let stats = queue.stats().await.unwrap();
    let row = stats
        .iter()
        .find(|s| s.queue == "stats")
        .expect("stats row");
    assert_eq!(row.available, 3, "the delayed job is not due");
    assert!(row.oldest_available_ms > 1_000_000_000, "{row:?}");
    fetch_one_batch(queue, "stats", 3).await;
    let stats = queue.stats().await.unwrap();
    assert!(stats.iter().all(|s| s.queue != "stats"), "{stats:?}");
}

async fn fetch_one_batch(queue: &dyn Queue, name: &str, n: usize) {
    let jobs = queue.fetch("w1", &queues(name), 10, LEASE).await.unwrap();
    assert_eq!(jobs.len(), n);
    for job in jobs {
        assert!(queue.complete(&job.claim()).await.unwrap());
    }
}

async fn transactional_enqueue_commits_with_the_mutation(queue: &dyn Queue, store: &dyn Store) {
    let in_tx = JobFilter {
        queue: Some("tx".into()),
        ..JobFilter::default()
    };
    let node = |id: &str| NewNode {
        id: id.to_owned(),
        parent: None,
        name: id.to_owned(),
        description: None,
    };
    let tx = store.begin().await.unwrap();
    tx.insert_node(&node("tx-rolled-back")).await.unwrap();
    let job = NewJob::new("webhook.deliver", json!({"node": "tx-rolled-back"})).queue("tx");
    tx.enqueue(&job).await.unwrap();
    drop(tx);
    assert!(queue.list(&in_tx, None, 10).await.unwrap().is_empty());
    assert!(store.node("tx-rolled-back").await.unwrap().is_none());

    let tx = store.begin().await.unwrap();
    tx.insert_node(&node("tx-committed")).await.unwrap();
    tx.emit(&NewEvent {
        node: "tx-committed".into(),
        kind: "node.created".into(),
        paths: vec![],
        actor: "test".into(),
        trace_id: "t".into(),
    })
    .await
    .unwrap();
    let job = NewJob::new("webhook.deliver", json!({"node": "tx-committed"}))
        .queue("tx")
        .unique("deliver:tx-committed");
    let first = tx.enqueue(&job).await.unwrap();
    let again = tx.enqueue(&job).await.unwrap();
    assert_eq!((again.id, again.duplicate), (first.id, true));
    tx.commit().await.unwrap();
    let jobs = queue.list(&in_tx, None, 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, first.id);
    assert_eq!(jobs[0].args, json!({"node": "tx-committed"}));
    assert!(store.node("tx-committed").await.unwrap().is_some());

    // Listing filters and pages.
    let by_kind = JobFilter {
        kind: Some("webhook.deliver".into()),
        state: Some(JobState::Available),
        ..JobFilter::default()
    };
    assert_eq!(queue.list(&by_kind, None, 10).await.unwrap().len(), 1);
    assert!(
        queue
            .list(&by_kind, Some(first.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all = queue.list(&JobFilter::default(), None, 1000).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let page = queue
        .list(&JobFilter::default(), Some(all[0].id), 2)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![all[1].id, all[2].id]
    );
}

async fn bad_input_is_refused_and_changes_nothing(queue: &dyn Queue, store: &dyn Store) {
    let before = queue
        .list(&JobFilter::default(), None, 10_000)
        .await
        .unwrap()
        .len();
    let ok = NewJob::new("k", json!({})).queue("bad");
    for (job, says) in [
        (NewJob::new("", json!({})), "kind is empty"),
        (ok.clone().max_attempts(0), "at least 1"),
        (ok.clone().priority(-1), "negative"),
        (ok.clone().queue(" "), "queue name is empty"),
        (ok.clone().partition(""), "partition key is empty"),
    ] {
        let err = queue.enqueue(&job).await.unwrap_err();
        assert!(matches!(err, QueueError::Invalid(_)), "{err}");
        assert!(err.to_string().contains(says), "{err}");
        let tx = store.begin().await.unwrap();
        let err = tx.enqueue(&job).await.unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        tx.commit().await.unwrap();
    }
    let err = queue.fetch("w1", &[], 1, LEASE).await.unwrap_err();
    assert!(err.to_string().contains("at least one queue"), "{err}");
    let err = queue
        .fetch("w1", &queues("bad"), 0, LEASE)
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Invalid(_)), "{err}");
    let err = queue
        .heartbeat(&claim(1, "w1", 1), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Invalid(_)), "{err}");
    let err = "bogus".parse::<JobState>().unwrap_err();
    assert!(
        err.to_string().contains("unknown job state 'bogus'"),
        "{err}"
    );
    let after = queue
        .list(&JobFilter::default(), None, 10_000)
        .await
        .unwrap()
        .len();
    assert_eq!(before, after, "nothing was written");
}

#[tokio::test]
async fn sqlite_queue_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db"))
        .await
        .unwrap();
    let queue = SqliteQueue::new(&store);
    run(&queue, &store).await;
}

#[tokio::test]
async fn postgres_queue_passes_the_conformance_suite() {
    let pg = tinct_testkit::Postgres::start();
    let store = PgStore::open_primary(&pg.url(), 4).await.unwrap();
    let queue = PgQueue::new(&store);
    run(&queue, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_fetchers_complete_each_of_10000_jobs_exactly_once() {
    const JOBS: usize = 10_000;
    let pg = tinct_testkit::Postgres::start();
    let store = Arc::new(PgStore::open_primary(&pg.url(), 8).await.unwrap());
    let producer = Arc::new(PgQueue::new(&store));
    let mut producers = Vec::new();
    for p in 0..8 {
        let producer = producer.clone();
        producers.push(tokio::spawn(async move {
            for n in (p..JOBS).step_by(8) {
                let job = NewJob::new("noop", json!({"n": n})).queue("bulk");
                producer.enqueue(&job).await.unwrap();
            }
        }));
    }
    for p in producers {
        p.await.unwrap();
    }

    let completions: Arc<Mutex<HashMap<i64, u32>>> = Arc::default();
    // A pool of its own per fetcher, as separate worker processes would have.
    let mut pools = Vec::new();
    for _ in 0..3 {
        pools.push(PgStore::open_primary(&pg.url(), 2).await.unwrap());
    }
    let mut workers = Vec::new();
    for (w, own) in pools.into_iter().enumerate() {
        let completions = completions.clone();
        workers.push(tokio::spawn(async move {
            let queue = PgQueue::new(&own);
            let worker = format!("worker-{w}");
            let mut done = 0usize;
            loop {
                let jobs = queue
                    .fetch(&worker, &queues("bulk"), 50, LEASE)
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    return done;
                }
                for job in jobs {
                    assert_eq!(job.attempt, 1, "fetched twice: {job:?}");
                    assert!(queue.complete(&job.claim()).await.unwrap());
                    *completions.lock().unwrap().entry(job.id).or_default() += 1;
                    done += 1;
                }
            }
        }));
    }
    let mut per_worker = Vec::new();
    for w in workers {
        per_worker.push(w.await.unwrap());
    }
    let completions = completions.lock().unwrap().clone();
    assert_eq!(completions.len(), JOBS, "every job completed");
    assert!(completions.values().all(|&n| n == 1), "each exactly once");
    assert_eq!(per_worker.iter().sum::<usize>(), JOBS);
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "all fetchers shared: {per_worker:?}"
    );
    let completed = producer
        .list(
            &JobFilter {
                state: Some(JobState::Completed),
                ..JobFilter::default()
            },
            None,
            u32::try_from(JOBS + 1).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(completed.len(), JOBS);
    assert!(completed.iter().all(|j| j.attempt == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_fetchers_share_partitions_fairly_and_complete_each_job_once() {
    const BUSY: usize = 1_500;
    const SMALL: usize = 20;
    const EACH: usize = 25;
    let pg = tinct_testkit::Postgres::start();
    let store = PgStore::open_primary(&pg.url(), 4).await.unwrap();
    // The busy tenant's jobs are older: by age alone, every small job would wait for all of them.
    enqueue_due(&store, "tenants", Some("busy"), BUSY, 1_000).await;
    let mut small = Vec::new();
    for t in 0..SMALL {
        let key = format!("small-{t:02}");
        let first = 100_000 + 1_000 * t as i64;
        small.extend(enqueue_due(&store, "tenants", Some(&key), EACH, first).await);
    }
    let total = BUSY + SMALL * EACH;

    // Each fetcher records the order in which claims came back, under one counter.
    let claimed: Arc<Mutex<Vec<i64>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..3 {
        let own = PgStore::open_primary(&pg.url(), 2).await.unwrap();
        let claimed = claimed.clone();
        workers.push(tokio::spawn(async move {
            let queue = PgQueue::new(&own);
            let worker = format!("fair-{w}");
            loop {
                let jobs = queue
                    .fetch(&worker, &queues("tenants"), 20, LEASE)
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    return;
                }
                claimed.lock().unwrap().extend(jobs.iter().map(|j| j.id));
                for job in jobs {
                    assert_eq!(job.attempt, 1, "fetched twice: {job:?}");
                    assert!(queue.complete(&job.claim()).await.unwrap());
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let claimed = claimed.lock().unwrap().clone();
    assert_eq!(claimed.len(), total, "every job claimed once");
    let mut unique = claimed.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), total, "no job claimed twice");
    // With turns, 21 partitions share each batch: the small ones are done after about
    // 21 × 25 claims, long before the busy backlog (FIFO would put them after all 1,500).
    let small: std::collections::HashSet<i64> = small.into_iter().collect();
    let last_small = claimed.iter().rposition(|id| small.contains(id)).unwrap();
    assert!(
        last_small < 1_000,
        "the last small-tenant job was claimed {last_small}th of {total}"
    );
}

#[tokio::test]
async fn postgres_enqueue_notifies_waiting_workers_at_commit() {
    let pg = tinct_testkit::Postgres::start();
    let store = PgStore::open_primary(&pg.url(), 4).await.unwrap();
    let queue = PgQueue::new(&store);
    let mut listener = sqlx::postgres::PgListener::connect(&pg.url())
        .await
        .unwrap();
    listener.listen(JOBS_CHANNEL).await.unwrap();

    queue
        .enqueue(&NewJob::new("k", json!({})).queue("wake"))
        .await
        .unwrap();
    let note = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a wake-up")
        .unwrap();
    assert_eq!(note.payload(), "wake");

    // In a transaction the wake-up comes with the commit, never before it.
    let tx = store.begin().await.unwrap();
    tx.enqueue(&NewJob::new("k", json!({})).queue("wake-tx"))
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(200), listener.recv()).await;
    assert!(early.is_err(), "notified before commit: {early:?}");
    tx.commit().await.unwrap();
    let note = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a wake-up")
        .unwrap();
    assert_eq!(note.payload(), "wake-tx");
}
