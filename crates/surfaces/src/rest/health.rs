//! Health routes for load balancers and orchestrators:
//! - `/health/live`: the process is up and answering (restart it when this fails);
//! - `/health/ready`: send it traffic — the store answers and the instance is not draining.
//!   Parts that are down but worked around (Redis breaker open → no L2; a replica down → reads on
//!   the primary) keep it ready: `200 {"status": "degraded", "degraded": [...]}`;
//! - `/health`: every component in detail, in the envelope (`system.health`).
//!
//! Migrations are applied before the server listens (start-up fails otherwise), so a store that
//! answers here has the schema this binary needs.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tinct_command::{Context, Surface};

use super::RestState;
use super::call::{context_or_return, envelope};

/// Full detail, in the envelope.
pub async fn detail(State(state): State<RestState>, headers: HeaderMap) -> Response {
    let ctx = context_or_return!(&state, &headers);
    let mut result = state
        .registry
        .execute("system.health", json!({}), ctx)
        .await;
    if state.is_draining()
        && let Some(data) = result.data.as_mut()
    {
        let mut detail = data.to_value();
        detail["status"] = "draining".into();
        *data = detail.into();
    }
    envelope(result)
}

/// The process is up and answering.
pub async fn live() -> Response {
    Json(json!({"status": "live"})).into_response()
}

/// Ready for traffic: not draining, and the store answers.
pub async fn ready(State(state): State<RestState>) -> Response {
    if state.is_draining() {
        return unavailable("draining", "shutting down; finishing in-flight requests");
    }
    let result = state
        .registry
        .execute("system.health", json!({}), Context::new(Surface::Internal))
        .await;
    if !result.success {
        let reason = result.error.map(|e| e.message).unwrap_or_default();
        return unavailable("unavailable", &reason);
    }
    let degraded = result
        .data
        .as_ref()
        .and_then(|d| d.to_value().get("degraded").cloned())
        .unwrap_or_else(|| json!([]));
    if degraded.as_array().is_some_and(|d| !d.is_empty()) {
        Json(json!({"status": "degraded", "degraded": degraded})).into_response()
    } else {
        Json(json!({"status": "ready"})).into_response()
    }
}

fn unavailable(status: &str, reason: &str) -> Response {
    let body: Value = json!({"status": status, "reason": reason});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
