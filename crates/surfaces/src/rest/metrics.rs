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
    metrics::gauge!("tinct_uptime_seconds").set(services.started.elapsed().as_secs_f64());
    metrics::gauge!("tinct_info",
        "version" => env!("CARGO_PKG_VERSION"), "instance" => services.instance.clone())
    .set(1.0);
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, EXPOSITION)], handle.render()).into_response()
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
