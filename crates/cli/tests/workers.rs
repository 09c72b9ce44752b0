//! Background work on real processes: `tinct serve --role …` worker and scheduler instances on a
//! real PostgreSQL (and the embedded store), driven through the queue and the REST surface.
//! Invariants: every job runs exactly once however many workers fetch; a killed worker's job is
//! retried after its lease; one scheduler leads and no firing is doubled or lost across a
//! failover; bad schedules get clear errors and change nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tinct_platform::{JobFilter, JobState, NewJob, PgQueue, PgStore, Queue};
use tinct_testkit::{Postgres, TinctServer, eventually, post_command};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

/// A `tinct serve` on `pg` with `roles` and quick job timings.
fn instance(pg: &Postgres, name: &str, roles: &str, extra: &[(&str, &str)]) -> TinctServer {
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let mut env = vec![
        ("TINCT_DATABASE_URL", url.as_str()),
        ("TINCT_INSTANCE", name),
        ("TINCT_ROLES", roles),
        ("TINCT_JOB_POLL_MS", "100"),
        ("TINCT_JOB_LEASE_MS", "1500"),
        ("TINCT_LEADER_TTL_MS", "1200"),
    ];
    env.extend_from_slice(extra);
    let server = TinctServer::start_in(Path::new(BIN), dir.path(), &env);
    // The data dir is unused on PostgreSQL; keep it alive as long as the process anyway.
    std::mem::forget(dir);
    server
}

async fn queue(pg: &Postgres) -> PgQueue {
    PgQueue::new(&PgStore::open_primary(&pg.url(), 4).await.unwrap())
}

async fn jobs(queue: &PgQueue, filter: JobFilter) -> Vec<tinct_platform::Job> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = queue.list(&filter, after, 1000).await.unwrap();
        let Some(last) = page.last() else {
            return all;
        };
        after = Some(last.id);
        all.extend(page);
    }
}

/// The sum of a counter's samples with these labels on an instance's `/metrics`.
async fn counter(base: &str, name: &str, labels: &[&str]) -> f64 {
    let text = tinct_testkit::metrics_text(base).await;
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_jobs_over_three_worker_processes_each_run_exactly_once() {
    let pg = Postgres::start();
    // Migrates the database before the bulk enqueue.
    let queue = queue(&pg).await;
    for n in 0..10_000 {
        queue
            .enqueue(&NewJob::new("noop", json!({})).priority(n % 3))
            .await
            .unwrap();
    }
    let workers: Vec<TinctServer> = (0..3)
        .map(|i| {
            instance(
                &pg,
                &format!("worker-{i}"),
                "worker",
                &[("TINCT_WORKER_CONCURRENCY", "20")],
            )
        })
        .collect();
    let completed = JobFilter {
        state: Some(JobState::Completed),
        ..JobFilter::default()
    };
    let mut waited = 0;
    while jobs(&queue, completed.clone()).await.len() < 10_000 {
        waited += 1;
        assert!(waited < 600, "10,000 jobs not completed within 5 minutes");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let done = jobs(&queue, JobFilter::default()).await;
    assert_eq!(done.len(), 10_000);
    // Every fetch counts an attempt, so attempt 1 means fetched (and run) once.
    let twice: Vec<_> = done.iter().filter(|j| j.attempt != 1).collect();
    assert!(twice.is_empty(), "jobs run more than once: {twice:?}");
    // Each run is counted by the worker that ran it; the three counts add up to 10,000.
    let mut runs = Vec::new();
    for worker in &workers {
        runs.push(
            counter(
                &worker.url,
                "tinct_jobs_total",
                &["kind=\"noop\"", "outcome=\"completed\""],
            )
            .await,
        );
    }
    assert_eq!(
        runs.iter().sum::<f64>(),
        10_000.0,
        "runs per worker: {runs:?}"
    );
    assert!(
        runs.iter().filter(|r| **r > 0.0).count() >= 2,
        "the work was shared: {runs:?}"
    );
    // A worker-only instance serves health and metrics, not the API.
    let api = post_command(&workers[0].url, "node.list", json!({})).await;
    assert_eq!(api["success"], json!(false), "{api}");
    let health = reqwest::get(format!("{}/health/ready", workers[0].url))
        .await
        .unwrap();
    assert!(health.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_worker_is_killed_runs_again_after_its_lease() {
    let pg = Postgres::start();
    let queue = queue(&pg).await;
    let doomed = instance(&pg, "doomed", "worker", &[]);
    let id = queue
        .enqueue(&NewJob::new("sleep", json!({"ms": 1500})))
        .await
        .unwrap()
        .id;
    let mut running = false;
    for _ in 0..200 {
        let job = queue.get(id).await.unwrap().unwrap();
        if job.state == JobState::Running {
            assert_eq!(job.locked_by.as_deref(), Some("doomed"));
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(running, "the job never started on the doomed worker");
    doomed.kill();
    // A worker that also leads: it rescues the expired lease and runs the retry.
    let survivor = instance(&pg, "survivor", "worker,scheduler", &[]);
    let mut finished = None;
    for _ in 0..400 {
        let job = queue.get(id).await.unwrap().unwrap();
        if job.state.is_finished() {
            finished = Some(job);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job = finished.expect("the job finished after the crash");
    assert_eq!(job.state, JobState::Completed, "{job:?}");
    assert_eq!(
        job.attempt, 2,
        "one lost attempt, one that finished: {job:?}"
    );
    assert_eq!(job.errors.len(), 1, "{job:?}");
    assert_eq!(job.errors[0].error, tinct_platform::LEASE_EXPIRED);
    drop(survivor);
}

/// The fire times of `schedule`'s jobs, from their unique keys.
async fn firings(queue: &PgQueue, schedule: &str) -> Vec<i64> {
    let prefix = format!("schedule:{schedule}:");
    let mut times: Vec<i64> = jobs(queue, JobFilter::default())
        .await
        .iter()
        .filter_map(|j| j.unique_key.as_deref()?.strip_prefix(&prefix)?.parse().ok())
        .collect();
    times.sort_unstable();
    times
}

async fn leader_of(instances: &[&TinctServer]) -> Option<usize> {
    for (i, server) in instances.iter().enumerate() {
        let text = reqwest::get(format!("{}/metrics", server.url))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        if text.lines().any(|l| l == "tinct_scheduler_leader 1") {
            return Some(i);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_one_leads_and_no_firing_is_doubled_or_lost_across_a_failover() {
    let pg = Postgres::start();
    let queue = queue(&pg).await;
    // Schedulers only: fired jobs stay in the queue to be counted.
    let a = instance(&pg, "sched-a", "api,scheduler", &[]);
    let b = instance(&pg, "sched-b", "api,scheduler", &[]);
    let made = post_command(
        &a.url,
        "schedule.create",
        json!({"name": "tick", "cron": "*/3 * * * * *", "kind": "noop"}),
    )
    .await;
    assert_eq!(made["success"], json!(true), "{made}");
    let mut leader = None;
    for _ in 0..100 {
        leader = leader_of(&[&a, &b]).await;
        if leader.is_some() && firings(&queue, "tick").await.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let leader = leader.expect("one scheduler leads");
    let (dead, alive) = if leader == 0 { (a, b) } else { (b, a) };
    let before = firings(&queue, "tick").await;
    assert!(before.len() >= 2, "{before:?}");
    dead.kill();
    let mut after = Vec::new();
    for _ in 0..150 {
        after = firings(&queue, "tick").await;
        if after.len() >= before.len() + 3 && leader_of(&[&alive]).await == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(leader_of(&[&alive]).await, Some(0), "the survivor leads");
    assert!(
        after.len() >= before.len() + 3,
        "firings went on: {after:?}"
    );
    let distinct: BTreeSet<i64> = after.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        after.len(),
        "a firing was doubled: {after:?}"
    );
    let gaps: Vec<i64> = after.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g == 3_000),
        "a firing was lost (steps in ms): {gaps:?}"
    );
    let listed = post_command(&alive.url, "schedule.list", json!({})).await;
    let tick = listed["data"]["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == json!("tick"))
        .unwrap_or_else(|| panic!("tick is listed: {listed}"));
    assert!(tick["lastFireAt"].as_i64().unwrap() >= *after.last().unwrap());
    assert!(tick["nextFireAt"].as_i64().unwrap() > tick["lastFireAt"].as_i64().unwrap());
    // No worker runs here: the fired jobs wait, and autoscalers see them.
    let alive_url = alive.url.clone();
    eventually("the queue depth reaches /metrics", || {
        let url = alive_url.clone();
        async move {
            let text = tinct_testkit::metrics_text(&url).await;
            text.lines().any(|l| {
                l.starts_with("tinct_queue_depth{queue=\"default\"}")
                    && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) >= Some(3.0)
            }) && text.contains("tinct_queue_oldest_job_seconds{queue=\"default\"}")
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_can_lead_through_a_redis_lease() {
    let redis = tinct_testkit::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let server = TinctServer::start_in(
        Path::new(BIN),
        dir.path(),
        &[
            ("TINCT_LEADER_LEASE", "redis"),
            ("TINCT_REDIS_URL", url.as_str()),
            ("TINCT_JOB_POLL_MS", "100"),
        ],
    );
    let made = call(
        &server.url,
        "schedule.create",
        json!({"name": "each-second", "cron": "* * * * * *", "kind": "noop"}),
    )
    .await;
    assert_eq!(made["success"], json!(true), "{made}");
    let base = server.url.clone();
    eventually("the Redis-leased scheduler fires", || {
        let base = base.clone();
        async move { counter(&base, "tinct_schedule_firings_total", &["each-second"]).await >= 2.0 }
    })
    .await;
    assert_eq!(leader_of(&[&server]).await, Some(0));
    // Without a Redis URL the setting is refused at start-up, saying what is missing.
    let out = tinct_testkit::tinct_command(Path::new(BIN), dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TINCT_LEADER_LEASE", "redis")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TINCT_LEADER_LEASE=redis needs TINCT_REDIS_URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn cleanup_prunes_finished_jobs_after_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let server = TinctServer::start_in(
        Path::new(BIN),
        dir.path(),
        &[
            ("TINCT_JOB_POLL_MS", "100"),
            ("TINCT_JOB_RETENTION_SECS", "0"),
        ],
    );
    let base = server.url.clone();
    let made = call(
        &base,
        "schedule.create",
        json!({"name": "each-second", "cron": "* * * * * *", "kind": "noop"}),
    )
    .await;
    assert_eq!(made["success"], json!(true), "{made}");
    let first = {
        let base = base.clone();
        let mut id = None;
        for _ in 0..200 {
            let listed = call(
                &base,
                "jobs.list",
                json!({"kind": "noop", "state": "completed"}),
            )
            .await;
            id = listed["data"]["jobs"][0]["id"].as_i64();
            if id.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        id.expect("a noop job completed")
    };
    let cleanup = call(
        &base,
        "schedule.create",
        json!({"name": "cleanup-now", "cron": "* * * * * *", "kind": "maintenance.cleanup"}),
    )
    .await;
    assert_eq!(cleanup["success"], json!(true), "{cleanup}");
    eventually("the finished job is pruned", || {
        let base = base.clone();
        async move {
            let got = call(&base, "jobs.get", json!({"id": first})).await;
            got["error"]["code"] == json!("NOT_FOUND")
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_a_running_job_back_once_the_shutdown_timeout_is_up() {
    let pg = Postgres::start();
    let queue = queue(&pg).await;
    let worker = instance(
        &pg,
        "stopping",
        "worker",
        &[("TINCT_SHUTDOWN_TIMEOUT_SECS", "1")],
    );
    let id = queue
        .enqueue(&NewJob::new("sleep", json!({"ms": 600_000})))
        .await
        .unwrap()
        .id;
    let mut running = false;
    for _ in 0..200 {
        if queue.get(id).await.unwrap().unwrap().state == JobState::Running {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(running, "the job started");
    let status = worker.terminate();
    assert!(status.success(), "{status:?}");
    let job = queue.get(id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempt),
        (JobState::Available, 0),
        "released at shutdown, its attempt not counted: {job:?}"
    );
    assert!(job.locked_by.is_none() && job.errors.is_empty(), "{job:?}");
}

async fn call(base: &str, command: &str, input: Value) -> Value {
    post_command(base, command, input).await
}

fn code(envelope: &Value) -> &str {
    envelope["error"]["code"].as_str().unwrap_or("none")
}

#[tokio::test]
async fn bad_schedules_get_clear_errors_and_change_nothing() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();
    for (input, field, says) in [
        (
            json!({"name": "x", "cron": "61 * * * *", "kind": "noop"}),
            "cron",
            "is invalid",
        ),
        (
            json!({"name": "x", "cron": "* * *", "kind": "noop"}),
            "cron",
            "has 3 fields",
        ),
        (
            json!({"name": "x", "cron": "0 3 * * *", "kind": "bogus"}),
            "kind",
            "unknown job kind 'bogus'",
        ),
        (
            json!({"name": "x", "cron": "0 3 * * *", "kind": "sleep", "args": {"seconds": 1}}),
            "",
            "args for job kind 'sleep' are invalid",
        ),
        (
            json!({"name": "x", "cron": "0 3 * * *", "kind": "webhook.deliver", "args": {}}),
            "kind",
            "job kind 'webhook.deliver' is internal",
        ),
        (
            json!({"name": "has space", "cron": "0 3 * * *", "kind": "noop"}),
            "name",
            "is not valid",
        ),
        (
            json!({"name": "x", "cron": "0 3 * * *", "kind": "noop", "missed": "always"}),
            "missed",
            "missed policy 'always'",
        ),
    ] {
        let answer = call(base, "schedule.create", input.clone()).await;
        assert_eq!(code(&answer), "VALIDATION_ERROR", "{input} → {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{input} → {message}");
        assert!(answer["error"]["suggestion"].is_string(), "{answer}");
        if !field.is_empty() {
            assert_eq!(
                answer["error"]["details"]["field"],
                json!(field),
                "{answer}"
            );
        }
    }
    assert_eq!(made_by_api(base).await, json!([]), "nothing stored");

    let made = call(
        base,
        "schedule.create",
        json!({"name": "nightly", "cron": "0 3 * * *", "kind": "noop", "missed": "skip"}),
    )
    .await;
    assert_eq!(made["data"]["missed"], json!("skip"), "{made}");
    assert_eq!(made["data"]["source"], json!("api"));
    let again = call(
        base,
        "schedule.create",
        json!({"name": "nightly", "cron": "0 4 * * *", "kind": "noop"}),
    )
    .await;
    assert_eq!(code(&again), "ALREADY_EXISTS", "{again}");
    let gone = call(base, "schedule.delete", json!({"name": "nope"})).await;
    assert_eq!(code(&gone), "NOT_FOUND", "{gone}");
    let deleted = call(base, "schedule.delete", json!({"name": "nightly"})).await;
    assert_eq!(deleted["data"]["deleted"], json!("nightly"), "{deleted}");
    assert_eq!(made_by_api(base).await, json!([]));
}

/// The schedules made with schedule.create (the built-in hourly cleanup is configured).
async fn made_by_api(base: &str) -> Value {
    let listed = call(base, "schedule.list", json!({})).await;
    let schedules = listed["data"]["schedules"].as_array().expect("a list");
    schedules
        .iter()
        .filter(|s| s["source"] == json!("api"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn configured_schedules_fire_on_the_embedded_store_and_cannot_be_deleted_by_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tinct.toml"),
        "[[schedules]]\nname = \"every-second\"\ncron = \"* * * * * *\"\nkind = \"noop\"\n",
    )
    .unwrap();
    let config = dir.path().join("tinct.toml");
    let server = TinctServer::start_in(
        Path::new(BIN),
        dir.path(),
        &[
            ("TINCT_CONFIG", config.to_str().unwrap()),
            ("TINCT_JOB_POLL_MS", "100"),
        ],
    );
    let base = server.url.clone();
    eventually("the configured schedule fires and its jobs run", || {
        let base = base.clone();
        async move {
            counter(
                &base,
                "tinct_jobs_total",
                &["kind=\"noop\"", "outcome=\"completed\""],
            )
            .await
                >= 2.0
        }
    })
    .await;
    let metrics = tinct_testkit::metrics_text(&base).await;
    tinct_testkit::promtool_check(&metrics);
    for expected in [
        "tinct_scheduler_leader 1",
        "tinct_job_duration_seconds_bucket{kind=\"noop\"",
        "tinct_schedule_firings_total{schedule=\"every-second\",outcome=\"fired\"}",
    ] {
        assert!(metrics.contains(expected), "{expected} in {metrics}");
    }
    let listed = call(&base, "schedule.list", json!({})).await;
    let schedule = listed["data"]["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == json!("every-second"))
        .unwrap_or_else(|| panic!("listed: {listed}"));
    assert_eq!(schedule["source"], json!("config"), "{listed}");
    assert!(schedule["lastFireAt"].is_i64(), "{listed}");
    let refused = call(&base, "schedule.delete", json!({"name": "every-second"})).await;
    assert_eq!(code(&refused), "CONFLICT", "{refused}");
    assert!(
        refused["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("tinct.toml")
    );
}

#[test]
fn a_bad_configured_schedule_or_role_stops_start_up_with_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tinct.toml");
    std::fs::write(
        &config,
        "[[schedules]]\nname = \"broken\"\ncron = \"every day\"\nkind = \"noop\"\n",
    )
    .unwrap();
    let out = tinct_testkit::tinct_command(Path::new(BIN), dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TINCT_CONFIG", &config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("schedule 'broken' in the configuration") && stderr.contains("0 3 * * *"),
        "{stderr}"
    );
    let out = tinct_testkit::tinct_command(Path::new(BIN), dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--role", "api,cron"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown role 'cron'"), "{stderr}");
}
