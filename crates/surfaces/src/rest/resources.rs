//! Resource routes for reads: thin aliases of commands with path and query parameters.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::RestState;
use super::call::{context_or_return, envelope};

/// Query parameters as command input; numbers stay numbers so the schema can check them. Read
/// from the URI rather than by the `Query` extractor: most reads carry no query, and then nothing
/// is parsed. Text pairs always parse (form decoding replaces what it cannot decode), so there
/// is no error to answer.
fn query_input(uri: &Uri) -> Map<String, Value> {
    if uri.query().is_none() {
        return Map::new();
    }
    let Ok(Query(query)) = Query::<HashMap<String, String>>::try_from_uri(uri) else {
        return Map::new();
    };
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

// The handlers take the request last and read its headers in place: the `HeaderMap` extractor
// would copy them on every read.

pub async fn list_nodes(State(state): State<RestState>, request: Request) -> Response {
    let input = Value::Object(query_input(request.uri()));
    run(&state, request.headers(), "node.list", input).await
}

pub async fn get_node(
    State(state): State<RestState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    run(&state, request.headers(), "node.get", json!({ "id": id })).await
}

pub async fn node_tokens(
    State(state): State<RestState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let mut input = query_input(request.uri());
    input.insert("node".to_owned(), Value::String(id));
    run(
        &state,
        request.headers(),
        "tokens.resolve",
        Value::Object(input),
    )
    .await
}
