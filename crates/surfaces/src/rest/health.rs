//! Health routes for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tinct_command::{Context, Surface};

use super::RestState;
use super::call::{context_or_return, envelope};

/// Full detail, in the envelope.
pub async fn detail(State(state): State<RestState>, headers: HeaderMap) -> Response {
    let ctx = context_or_return!(&state, &headers);
    envelope(
        state
            .registry
            .execute("system.health", json!({}), ctx)
            .await,
    )
}

/// The process is up and answering.
pub async fn live() -> Response {
    Json(json!({"status": "live"})).into_response()
}

/// Ready for traffic: the store answers.
pub async fn ready(State(state): State<RestState>) -> Response {
    let result = state
        .registry
        .execute("system.health", json!({}), Context::new(Surface::Internal))
        .await;
    if result.success {
        Json(json!({"status": "ready"})).into_response()
    } else {
        let reason = result.error.map(|e| e.message).unwrap_or_default();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": reason})),
        )
            .into_response()
    }
}
