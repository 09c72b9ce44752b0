//! `/metrics` (Prometheus text exposition) and `/metrics.json` (a summary for people and simple
//! dashboards). Gauges that describe the moment — replica health and lag, uptime — are read at
//! scrape time, so they are never older than the scrape.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::RestState;

const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn prometheus(State(state): State<RestState>) -> Response {
    let Some(handle) = tinct_service::telemetry::prometheus() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are recorded by another recorder in this process\n",
        )
            .into_response();
    };
    let services = &state.services;
    for replica in services.store.replicas().await {
        let name = replica.name;
        metrics::gauge!("tinct_replica_healthy", "replica" => name.clone())
            .set(if replica.healthy { 1.0 } else { 0.0 });
        // Unknown while the replica is down: NaN, not the last value seen.
        let lag = replica.lag_bytes.map_or(f64::NAN, |lag| lag as f64);
        metrics::gauge!("tinct_replica_lag_bytes", "replica" => name).set(lag);
    }
    for breaker in tinct_platform::breaker::all() {
        let name = breaker.name;
        metrics::gauge!("tinct_breaker_state", "breaker" => name.clone())
            .set(f64::from(breaker.state.level()));
        for (to, count) in ["closed", "half-open", "open"]
            .into_iter()
            .zip(breaker.transitions)
        {
            metrics::counter!("tinct_breaker_transitions_total", "breaker" => name.clone(), "to" => to)
                .absolute(count);
        }
    }
    pool_and_feed_gauges(services).await;
    metrics::gauge!("tinct_uptime_seconds").set(services.started.elapsed().as_secs_f64());
    metrics::gauge!("tinct_info",
        "version" => env!("CARGO_PKG_VERSION"), "instance" => services.instance.clone())
    .set(1.0);
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, EXPOSITION)], handle.render()).into_response()
}

/// Database pool use, how far the event feed is behind the event table, open WebSockets.
async fn pool_and_feed_gauges(services: &tinct_service::Services) {
    for pool in services.store.pools() {
        let busy = pool.size.saturating_sub(pool.idle);
        for (state, count) in [("idle", pool.idle), ("busy", busy)] {
            metrics::gauge!("tinct_db_pool_connections", "pool" => pool.name.clone(), "state" => state)
                .set(f64::from(count));
        }
        metrics::gauge!("tinct_db_pool_max_connections", "pool" => pool.name)
            .set(f64::from(pool.max));
    }
    let delivered = services.feed.position().await;
    metrics::gauge!("tinct_event_feed_position").set(delivered as f64);
    // Unknown while the store does not answer: NaN, not the last value seen.
    let lag = match services.store.latest_event_seq().await {
        Ok(newest) => newest.saturating_sub(delivered).max(0) as f64,
        Err(_) => f64::NAN,
    };
    metrics::gauge!("tinct_bus_lag_events").set(lag);
    // Present (at 0) before the first connection.
    metrics::gauge!("tinct_websocket_connections").increment(0.0);
}

/// Counts one open WebSocket in `tinct_websocket_connections` for as long as it lives.
pub struct OpenSocket(());

impl OpenSocket {
    pub fn count() -> Self {
        metrics::gauge!("tinct_websocket_connections").increment(1.0);
        OpenSocket(())
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        metrics::gauge!("tinct_websocket_connections").decrement(1.0);
    }
}

pub async fn summary(State(state): State<RestState>) -> Response {
    let summary = state.metrics.summary();
    Json(json!({
        "instance": state.services.instance,
        "uptime": state.services.started.elapsed().as_secs(),
        "commands": summary.commands,
        "errors": summary.errors,
    }))
    .into_response()
}
