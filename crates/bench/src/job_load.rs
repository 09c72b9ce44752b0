//! Job queue load of `bench/jobs`: enqueues `noop` jobs into tinct's PostgreSQL queue while a
//! worker (`tinct serve --role worker`) runs them, and measures two things.
//!
//!   job-load --database-url postgres://… [--jobs 10000] [--enqueuers 8]
//!            [--latency-jobs 200] [--gap-ms 20] [--timeout-secs 300]
//!
//! 1. Throughput: `--jobs` jobs enqueued by `--enqueuers` concurrent callers (one job per call,
//!    each on its own pooled connection, like `PgQueue::enqueue` in the product); the clock runs
//!    from the first enqueue until a poll (every 10 ms) finds no pending job left. Jobs per second
//!    over that time, plus the same over the database's own timestamps (first `created_at` to
//!    last `finished_at`) for reference.
//! 2. Enqueue → start latency: `--latency-jobs` jobs enqueued one at a time, `--gap-ms` apart, into
//!    an idle worker; per job `attempted_at - created_at` (the database clock at insert and at
//!    fetch, whole milliseconds), and `attempted_at` minus the client's clock just before the
//!    enqueue call (same machine, so the same clock).
//!
//! Every job of both phases must end `completed` exactly once, or the run fails. Prints a
//! human-readable summary, then one `RESULT` line per figure for scripts:
//!   RESULT throughput jobs=N secs=S jobs_per_s=R enqueue_secs=E db_jobs_per_s=D
//!   RESULT latency_db count=M p50=… p90=… p99=… max=…
//!   RESULT latency_client count=M p50=… p90=… p99=… max=…

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tinct_platform::{NewJob, PgQueue, Queue};

const USAGE: &str = "usage: job-load --database-url URL [--jobs N] [--enqueuers N] \
                     [--latency-jobs N] [--gap-ms MS] [--timeout-secs S]";
const POLL: Duration = Duration::from_millis(10);
const COUNT_PENDING: &str =
    "SELECT count(*) FROM jobs WHERE state IN ('available', 'scheduled', 'running', 'retryable')";

struct Args {
    url: String,
    jobs: usize,
    enqueuers: usize,
    latency_jobs: usize,
    gap: Duration,
    timeout: Duration,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        jobs: 10_000,
        enqueuers: 8,
        latency_jobs: 200,
        gap: Duration::from_millis(20),
        timeout: Duration::from_secs(300),
    };
    let number = |v: &str| {
        v.parse::<usize>()
            .map_err(|_| format!("not a number: {v:?}"))
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--database-url" => a.url = value,
            "--jobs" => a.jobs = number(&value)?,
            "--enqueuers" => a.enqueuers = number(&value)?,
            "--latency-jobs" => a.latency_jobs = number(&value)?,
            "--gap-ms" => a.gap = Duration::from_millis(number(&value)? as u64),
            "--timeout-secs" => a.timeout = Duration::from_secs(number(&value)? as u64),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    if a.url.is_empty() {
        return Err("--database-url is required".to_owned());
    }
    if a.enqueuers == 0 || a.jobs == 0 {
        return Err("--jobs and --enqueuers must be at least 1".to_owned());
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("job-load: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("job-load: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let pool = PgPoolOptions::new()
        .max_connections(args.enqueuers as u32 + 1)
        .connect(&args.url)
        .await
        .map_err(|e| format!("could not connect to {}: {e}", args.url))?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('jobs') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .map_err(|e| e.to_string())?;
    if !exists {
        return Err(
            "no jobs table: start `tinct serve --role worker` on this database first (it migrates)"
                .to_owned(),
        );
    }
    let queue = Arc::new(PgQueue::with_pool(pool.clone()));
    let deadline = Instant::now() + args.timeout;

    // --- throughput ---
    let left = Arc::new(AtomicUsize::new(args.jobs));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.enqueuers {
        let (queue, left) = (queue.clone(), left.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                let done = queue
                    .enqueue(&NewJob::new("noop", json!({})))
                    .await
                    .map_err(|e| format!("enqueue failed: {e}"))?;
                ids.push(done.id);
            }
            Ok::<_, String>(ids)
        }));
    }
    let mut ids = Vec::with_capacity(args.jobs);
    for task in tasks {
        ids.extend(task.await.map_err(|e| e.to_string())??);
    }
    let enqueue_secs = start.elapsed().as_secs_f64();
    wait_idle(&pool, deadline).await?;
    let secs = start.elapsed().as_secs_f64();
    let db_span_ms = check_completed(&pool, &ids).await?;
    let rate = args.jobs as f64 / secs;
    let db_rate = args.jobs as f64 / (db_span_ms.max(1) as f64 / 1000.0);
    println!(
        "throughput: {} noop jobs, {} enqueuers: {secs:.3} s to all completed ({rate:.0} jobs/s); \
         enqueueing took {enqueue_secs:.3} s; database clock {db_span_ms} ms ({db_rate:.0} jobs/s)",
        args.jobs, args.enqueuers
    );
    println!(
        "RESULT throughput jobs={} secs={secs:.4} jobs_per_s={rate:.1} enqueue_secs={enqueue_secs:.4} \
         db_jobs_per_s={db_rate:.1}",
        args.jobs
    );

    // --- latency ---
    if args.latency_jobs == 0 {
        return Ok(());
    }
    let mut sent = Vec::with_capacity(args.latency_jobs);
    for _ in 0..args.latency_jobs {
        let before = now_ms();
        let done = queue
            .enqueue(&NewJob::new("noop", json!({})))
            .await
            .map_err(|e| format!("enqueue failed: {e}"))?;
        sent.push((done.id, before));
        tokio::time::sleep(args.gap).await;
    }
    wait_idle(&pool, deadline).await?;
    let ids: Vec<i64> = sent.iter().map(|(id, _)| *id).collect();
    check_completed(&pool, &ids).await?;
    let rows: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT id, created_at, attempted_at FROM jobs WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&pool)
            .await
            .map_err(|e| e.to_string())?;
    let mut db = Vec::new();
    let mut client = Vec::new();
    for (id, created, attempted) in rows {
        db.push((attempted - created) as f64);
        if let Some((_, before)) = sent.iter().find(|(i, _)| *i == id) {
            client.push((attempted - before) as f64);
        }
    }
    let over_gap = db
        .iter()
        .filter(|ms| **ms >= args.gap.as_millis() as f64)
        .count();
    for (name, what, mut values) in [
        ("latency_db", "created_at → attempted_at", db),
        (
            "latency_client",
            "client before enqueue → attempted_at",
            client,
        ),
    ] {
        values.sort_by(f64::total_cmp);
        let p = |q: f64| percentile(&values, q);
        println!(
            "latency ({what}, ms, {} sequential jobs {} ms apart): p50 {} p90 {} p99 {} max {}",
            values.len(),
            args.gap.as_millis(),
            p(0.5),
            p(0.9),
            p(0.99),
            p(1.0)
        );
        println!(
            "RESULT {name} count={} p50={} p90={} p99={} max={}",
            values.len(),
            p(0.5),
            p(0.9),
            p(0.99),
            p(1.0)
        );
    }
    if over_gap > 0 {
        println!(
            "note: {over_gap} jobs started later than the gap: the worker was not always idle"
        );
    }
    Ok(())
}

/// Waits until no job is pending or running.
async fn wait_idle(pool: &PgPool, deadline: Instant) -> Result<(), String> {
    loop {
        let pending: i64 = sqlx::query_scalar(COUNT_PENDING)
            .fetch_one(pool)
            .await
            .map_err(|e| e.to_string())?;
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{pending} jobs still pending at the timeout: is a worker running on this \
                 database (tinct serve --role worker)? raise --timeout-secs if it is slow"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Checks that every job in `ids` completed (one row each); returns the database's span from the
/// first `created_at` to the last `finished_at`, in milliseconds.
async fn check_completed(pool: &PgPool, ids: &[i64]) -> Result<i64, String> {
    let (rows, completed, span): (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE state = 'completed'), \
                max(finished_at) - min(created_at) FROM jobs WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_one(pool)
    .await
    .map_err(|e| e.to_string())?;
    if rows != ids.len() as i64 || completed != rows {
        return Err(format!(
            "of {} jobs enqueued, {rows} found and {completed} completed",
            ids.len()
        ));
    }
    Ok(span.unwrap_or(0))
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
