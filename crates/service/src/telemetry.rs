//! The process's Prometheus recorder: installed once, whatever number of apps a process opens
//! (tests open several), and rendered by `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets from 0.5 ms to 10 s: cached reads sit at the bottom, exports near the top.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The recorder's handle; `None` when another recorder was installed first (an embedding
/// program's own), in which case metrics go there instead.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
                .inspect(|handle| {
                    describe();
                    keep_up(handle.clone());
                })
        })
        .as_ref()
}

/// Drains histogram samples into their buckets every few seconds, so memory stays flat whether
/// or not anything scrapes `/metrics` (the recorder only does this when asked).
fn keep_up(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep not started; histograms drain at each scrape");
    }
}

/// Help text for every metric tinct records, wherever it is recorded.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "tinct_commands_total",
        "Commands executed, by command, surface and outcome code (OK or the error code)."
    );
    describe_histogram!(
        "tinct_command_duration_seconds",
        Unit::Seconds,
        "Time to execute a command, by command and surface."
    );
    describe_gauge!(
        "tinct_commands_in_progress",
        "Commands executing right now, by command."
    );
    describe_counter!(
        "tinct_cache_requests_total",
        "Command cache lookups of cacheable reads, by command and result (hit or miss)."
    );
    describe_gauge!(
        "tinct_replica_healthy",
        "1 when the read replica answers its health probe, else 0."
    );
    describe_gauge!(
        "tinct_replica_lag_bytes",
        Unit::Bytes,
        "WAL bytes the read replica has not replayed yet (NaN while it is down)."
    );
    describe_gauge!(
        "tinct_breaker_state",
        "Circuit breaker state by breaker: 0 closed, 1 half-open, 2 open."
    );
    describe_counter!(
        "tinct_breaker_transitions_total",
        "Circuit breaker state changes since start, by breaker and the state entered (to)."
    );
    describe_gauge!(
        "tinct_db_pool_connections",
        "Database connections open in this instance's pools, by pool and state (idle or busy)."
    );
    describe_gauge!(
        "tinct_db_pool_max_connections",
        "The most connections each pool may open, by pool."
    );
    describe_gauge!(
        "tinct_bus_lag_events",
        "Committed change events this instance's event feed has not delivered yet."
    );
    describe_gauge!(
        "tinct_event_feed_position",
        "Sequence of the newest change event this instance's event feed has delivered."
    );
    describe_gauge!(
        "tinct_websocket_connections",
        "WebSocket live-update connections open on this instance."
    );
    describe_counter!(
        "tinct_rate_limited_total",
        "Calls refused with RATE_LIMITED, by command class (read, write or export)."
    );
    describe_counter!(
        "tinct_rate_limiter_unavailable_total",
        "Calls decided without the rate limiter because it was unavailable, by outcome (allowed: rate_limit_fail=open, refused: closed)."
    );
    describe_gauge!(
        "tinct_queue_depth",
        "Jobs due and waiting for a worker, by queue (the whole cluster's; sampled every 5 s)."
    );
    describe_gauge!(
        "tinct_queue_oldest_job_seconds",
        Unit::Seconds,
        "How long the oldest due job of each queue has waited (sampled every 5 s)."
    );
    describe_counter!(
        "tinct_jobs_total",
        "Job attempts this instance's workers ended, by kind and outcome (completed, retryable, discarded, cancelled, released, lost)."
    );
    describe_histogram!(
        "tinct_job_duration_seconds",
        Unit::Seconds,
        "Time one job attempt ran on this instance, by kind."
    );
    describe_gauge!(
        "tinct_scheduler_leader",
        "1 while this instance leads the scheduler, else 0."
    );
    describe_counter!(
        "tinct_schedule_firings_total",
        "Schedule firings this instance made as leader, by schedule and outcome (fired, skipped)."
    );
    describe_gauge!(
        "tinct_uptime_seconds",
        Unit::Seconds,
        "Seconds since this instance started."
    );
    describe_gauge!(
        "tinct_info",
        "Always 1; the labels name this instance and its version."
    );
}
