//! Generic command routes and the mapping of the envelope onto HTTP.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tinct_command::{
    BatchItem, CommandError, CommandResult, Context, Credential, ErrorCode, Surface,
};

use super::RestState;
use crate::openapi;

// Header names as constants: a lookup by `&str` parses and lower-cases the name on every request.
pub const TRACE_HEADER: HeaderName = HeaderName::from_static("x-trace-id");
pub const CONSISTENCY_HEADER: HeaderName = HeaderName::from_static("tinct-consistency");
pub const TRACEPARENT_HEADER: HeaderName = HeaderName::from_static("traceparent");
pub const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");
pub const FORWARDED_FOR_HEADER: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The caller's credential from an `Authorization` header. An unreadable header is a refused
/// credential, not an anonymous caller.
pub fn credential(headers: &HeaderMap) -> Option<Credential> {
    credential_of(headers.get(AUTHORIZATION))
}

fn credential_of(authorization: Option<&HeaderValue>) -> Option<Credential> {
    authorization.map(|v| Credential::from_authorization(v.to_str().unwrap_or_default()))
}

/// The headers a request context is made from, found in one pass over the request's headers:
/// looking each up by name would hash every name, on every request. Each holds the first value
/// of its name, as `HeaderMap::get` would.
#[derive(Default)]
struct ContextHeaders<'a> {
    trace: Option<&'a HeaderValue>,
    traceparent: Option<&'a HeaderValue>,
    authorization: Option<&'a HeaderValue>,
    idempotency_key: Option<&'a HeaderValue>,
    consistency: Option<&'a HeaderValue>,
    forwarded_for: bool,
}

impl<'a> ContextHeaders<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        let mut found = ContextHeaders::default();
        for (name, value) in headers {
            let slot = if name == AUTHORIZATION {
                &mut found.authorization
            } else if name == TRACE_HEADER {
                &mut found.trace
            } else if name == TRACEPARENT_HEADER {
                &mut found.traceparent
            } else if name == IDEMPOTENCY_KEY_HEADER {
                &mut found.idempotency_key
            } else if name == CONSISTENCY_HEADER {
                &mut found.consistency
            } else {
                found.forwarded_for |= name == FORWARDED_FOR_HEADER;
                continue;
            };
            slot.get_or_insert(value);
        }
        found
    }
}

/// A context from the request headers: trace id, credential, consistency token, deadline. A malformed
/// consistency token is refused (as a ready response) rather than silently ignored.
#[allow(clippy::result_large_err)]
pub fn context(state: &RestState, headers: &HeaderMap) -> Result<Context, Response> {
    let found = ContextHeaders::of(headers);
    // Fields are set in place: each `with_` of the builder moves the whole context.
    let mut ctx = Context::new(Surface::Rest)
        .with_trace_id(text(found.trace).or_else(|| traceparent_id(text(found.traceparent))));
    ctx.credential = credential_of(found.authorization);
    ctx.client = if found.forwarded_for {
        client_addr(headers, None)
    } else {
        client_of(None, std::iter::empty())
    };
    // Unreadable bytes become a key the idempotency middleware refuses, not a missing key.
    ctx.idempotency_key = found
        .idempotency_key
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
    ctx.deadline = Some(Instant::now() + state.request_timeout);
    match consistency_of(found.consistency) {
        Ok(token) => {
            ctx.consistency = token;
            Ok(ctx)
        }
        Err(e) => Err(early_error(state, &ctx, "", e)),
    }
}

/// The request's `Tinct-Consistency` token, if any; a malformed one is refused, not ignored.
pub fn consistency(headers: &HeaderMap) -> Result<Option<u64>, CommandError> {
    consistency_of(headers.get(&CONSISTENCY_HEADER))
}

fn consistency_of(value: Option<&HeaderValue>) -> Result<Option<u64>, CommandError> {
    let Some(value) = value else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            CommandError::validation(
                "the Tinct-Consistency header must be a revision number from an earlier response",
            )
            .suggest("Send back the Tinct-Consistency header (or metadata.revision) of a write, or omit it.")
        })
}

/// Unwraps a request context or returns the ready error response.
macro_rules! context_or_return {
    ($state:expr, $headers:expr) => {
        match $crate::rest::call::context($state, $headers) {
            Ok(ctx) => ctx,
            Err(response) => return response,
        }
    };
}
pub(crate) use context_or_return;

fn text(value: Option<&HeaderValue>) -> Option<&str> {
    value.and_then(|v| v.to_str().ok())
}

/// The trace id part of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn traceparent_id(value: Option<&str>) -> Option<&str> {
    value?.split('-').nth(1).filter(|id| id.len() == 32)
}

/// The envelope as an HTTP response: status from the error code, trace and consistency headers,
/// and the auth scheme on 401 (RFC 6750).
pub fn envelope(result: CommandResult) -> Response {
    // Sized for the encoded data plus the envelope around it, so the body is written once
    // instead of growing (and being copied) step by step.
    let mut body = Vec::with_capacity(result.data.as_ref().map_or(0, |d| d.json().len()) + 512);
    if let Err(e) = result.write_json(&mut body) {
        // Plain data types always encode; this is only a guard.
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    // The response is built in place: a `(status, headers, body)` tuple would copy every header
    // into the response's own map.
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = StatusCode::from_u16(result.http_status()).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if result.error_code() == Some(ErrorCode::Unauthorized) {
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tinct\""),
        );
    }
    if let Some(error) = &result.error {
        retry_headers(headers, error);
    }
    insert(headers, TRACE_HEADER, &result.metadata.trace_id);
    if let Some(revision) = &result.metadata.revision {
        insert(headers, CONSISTENCY_HEADER, revision);
    }
    if result
        .warnings
        .iter()
        .any(|w| w.starts_with(tinct_command::middleware::REPLAY_WARNING))
    {
        headers.insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

pub fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// An error found before any command ran (bad JSON, no route), in the same envelope.
pub fn early_error(
    state: &RestState,
    ctx: &Context,
    command: &str,
    error: CommandError,
) -> Response {
    envelope(CommandResult::failure(
        command,
        &ctx.trace_id,
        state.registry.instance(),
        error,
    ))
}

/// The request body as JSON; an empty body means `{}`.
fn parse_body(body: &Bytes) -> Result<Value, CommandError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| {
        CommandError::validation(format!("the request body is not valid JSON: {e}")).suggest(
            "Send a JSON object, e.g. {\"node\": \"acme\"}, with Content-Type: application/json.",
        )
    })
}

pub async fn command(
    State(state): State<RestState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = context_or_return!(&state, &headers);
    match parse_body(&body) {
        Ok(input) => envelope(state.registry.execute(&name, input, ctx).await),
        Err(e) => early_error(&state, &ctx, &name, e),
    }
}

pub async fn catalogue(State(state): State<RestState>, headers: HeaderMap) -> Response {
    let ctx = context_or_return!(&state, &headers);
    envelope(
        state
            .registry
            .execute("system.commands", json!({}), ctx)
            .await,
    )
}

pub async fn describe(
    State(state): State<RestState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let ctx = context_or_return!(&state, &headers);
    envelope(
        state
            .registry
            .execute("system.commands", json!({ "name": name }), ctx)
            .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BatchIn {
    items: Vec<BatchItem>,
    #[serde(default)]
    stop_on_error: bool,
}

pub async fn batch(State(state): State<RestState>, headers: HeaderMap, body: Bytes) -> Response {
    let ctx = context_or_return!(&state, &headers);
    let parsed = parse_body(&body).and_then(|v| {
        serde_json::from_value::<BatchIn>(v).map_err(|e| {
            CommandError::validation(format!("invalid batch: {e}")).suggest(
                "Send {\"items\": [{\"command\": \"node.get\", \"input\": {\"id\": \"acme\"}}], \"stopOnError\": true}.",
            )
        })
    });
    let input = match parsed {
        Ok(input) => input,
        Err(e) => return early_error(&state, &ctx, "batch", e),
    };
    let trace_id = ctx.trace_id.clone();
    let result = state
        .registry
        .execute_batch(input.items, input.stop_on_error, ctx)
        .await;
    let status = if result.success {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    let mut headers = HeaderMap::new();
    insert(&mut headers, TRACE_HEADER, &trace_id);
    if let Some(revision) = result
        .results
        .iter()
        .rev()
        .find_map(|r| r.metadata.revision.clone())
    {
        insert(&mut headers, CONSISTENCY_HEADER, &revision);
    }
    (status, headers, Json(result)).into_response()
}

pub async fn openapi(State(state): State<RestState>) -> Response {
    Json(openapi::document(&state.registry)).into_response()
}

pub async fn wrong_method(
    State(state): State<RestState>,
    headers: HeaderMap,
    method: Method,
    uri: Uri,
) -> Response {
    let ctx = context_or_return!(&state, &headers);
    let error = CommandError::validation(format!("{method} is not served at {}", uri.path()))
        .suggest("Commands run with POST /v1/commands/{name} and POST /v1/batch; resource routes under /v1/nodes are GET.");
    let mut response = early_error(&state, &ctx, "", error);
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

pub async fn no_route(State(state): State<RestState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = context_or_return!(&state, &headers);
    let error = CommandError::not_found(format!("no route {}", uri.path())).suggest(
        "Commands run at POST /v1/commands/{name}; see GET /v1/commands and /v1/openapi.json.",
    );
    early_error(&state, &ctx, "", error)
}

tokio::task_local! {
    /// The TCP peer of the request being handled, for `context()`.
    static PEER: Option<std::net::SocketAddr>;
}

/// Builds a request's future with `make` and runs it, with the connection's peer address
/// visible to `context()` and `current_peer()` in both: route services read it while the stack
/// builds the future, handlers while it runs.
pub fn with_peer<F: std::future::Future>(
    peer: Option<std::net::SocketAddr>,
    make: impl FnOnce() -> F,
) -> tokio::task::futures::TaskLocalFuture<Option<std::net::SocketAddr>, F> {
    let future = PEER.sync_scope(peer, make);
    PEER.scope(peer, future)
}

/// The peer of the connection whose request is being handled, if any.
pub fn current_peer() -> Option<std::net::SocketAddr> {
    PEER.try_with(|peer| *peer).ok().flatten()
}

/// The caller's network address: `peer` (or the connection's, `current_peer`) and every
/// `X-Forwarded-For` value, which the rate limiter believes only from a trusted proxy.
pub fn client_addr(
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Option<tinct_command::ClientAddr> {
    client_of(peer, headers.get_all(FORWARDED_FOR_HEADER).iter())
}

fn client_of<'a>(
    peer: Option<std::net::SocketAddr>,
    forwarded_for: impl Iterator<Item = &'a HeaderValue>,
) -> Option<tinct_command::ClientAddr> {
    let peer = peer.or_else(current_peer)?;
    Some(tinct_command::ClientAddr::from_headers(
        peer.ip(),
        forwarded_for.filter_map(|v| v.to_str().ok()),
    ))
}

/// `Retry-After` on errors that say when to retry, and the RateLimit headers (IETF draft) on 429,
/// from the error's details.
fn retry_headers(headers: &mut HeaderMap, error: &tinct_command::ErrorBody) {
    let Some(details) = &error.details else {
        return;
    };
    let number = |key: &str| details.get(key).and_then(Value::as_u64);
    if !error.retryable {
        return;
    }
    if let Some(secs) = number("retryAfterSecs") {
        insert(headers, RETRY_AFTER, &secs.to_string());
    }
    if error.code != ErrorCode::RateLimited {
        return;
    }
    for (name, key) in [
        ("ratelimit-limit", "limit"),
        ("ratelimit-remaining", "remaining"),
        ("ratelimit-reset", "resetAfterSecs"),
    ] {
        if let Some(n) = number(key) {
            insert(headers, HeaderName::from_static(name), &n.to_string());
        }
    }
    if let Some(policy) = details.get("policy").and_then(Value::as_str) {
        insert(headers, HeaderName::from_static("ratelimit-policy"), policy);
    }
}
