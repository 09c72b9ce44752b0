//! Resource routes for reads: thin aliases of commands with path and query parameters.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::RestState;
use super::call::{context_or_return, envelope};

/// Query parameters as command input; numbers stay numbers so the schema can check them.
fn query_input(query: HashMap<String, String>) -> Map<String, Value> {
    query
        .into_iter()
        .map(|(k, v)| {
            let value = v
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::String(v));
            (k, value)
        })
        .collect()
}

async fn run(state: &RestState, headers: &HeaderMap, command: &str, input: Value) -> Response {
    let ctx = context_or_return!(state, headers);
    envelope(state.registry.execute(command, input, ctx).await)
}

pub async fn list_nodes(
    State(state): State<RestState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let input = Value::Object(query_input(query));
    run(&state, &headers, "node.list", input).await
}

pub async fn get_node(
    State(state): State<RestState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    run(&state, &headers, "node.get", json!({ "id": id })).await
}

pub async fn node_tokens(
    State(state): State<RestState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut input = query_input(query);
    input.insert("node".to_owned(), Value::String(id));
    run(&state, &headers, "tokens.resolve", Value::Object(input)).await
}
