//! Request limits in front of every route (REST, MCP over HTTP, the page): a body larger than
//! `max_body_bytes` is refused with 413, and a JSON body nested deeper than [`MAX_JSON_DEPTH`] with
//! 400 — both in the envelope as `VALIDATION_ERROR`, before anything parses the body.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::json;
use tinct_command::CommandError;

use super::RestState;
use super::call::{context_or_return, early_error};

/// Deepest nesting of arrays and objects a JSON body may have. Token documents nest a few levels
/// per group; nothing legitimate comes near this.
pub const MAX_JSON_DEPTH: usize = 128;

/// The length the request declares (`Content-Length`), if it declares one that reads as a number.
fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Whether the request may carry a body, so `admit` has to read it.
pub fn may_have_body(request: &Request) -> bool {
    declared_length(request).is_some_and(|n| n > 0)
        || request.headers().contains_key(header::TRANSFER_ENCODING)
        || !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        )
}

/// The request, its body read in full when it has one, or the refusal to send instead.
pub async fn admit(state: &RestState, request: Request) -> Result<Request, Response> {
    let max = state.max_body_bytes;
    if !may_have_body(&request) {
        return Ok(request);
    }
    let declared = declared_length(&request);
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(state, request.headers(), max));
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::try_from(max).unwrap_or(usize::MAX)).await {
        Ok(bytes) => bytes,
        Err(e) if is_length_limit(&e) => return Err(too_large(state, &parts.headers, max)),
        // The client went away or sent a broken body; nobody reads this answer.
        Err(e) => {
            let error = CommandError::validation(format!("could not read the request body: {e}"))
                .suggest("Send the body again in full.");
            return Err(refuse(
                state,
                &parts.headers,
                error,
                StatusCode::BAD_REQUEST,
            ));
        }
    };
    if let Some(depth) = too_deep(&bytes, MAX_JSON_DEPTH) {
        let error = CommandError::validation(format!(
            "the JSON body nests deeper than {MAX_JSON_DEPTH} levels (found at least {depth})"
        ))
        .suggest("Flatten the document: token groups need a few levels, not hundreds.")
        .details(json!({"maxDepth": MAX_JSON_DEPTH}));
        return Err(refuse(
            state,
            &parts.headers,
            error,
            StatusCode::BAD_REQUEST,
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// `to_bytes` reports an over-long body as a boxed `http_body_util::LengthLimitError`, whose
/// message is stable (the type is not re-exported by axum).
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.to_string().contains("length limit exceeded") {
            return true;
        }
        source = err.source();
    }
    false
}

fn too_large(state: &RestState, headers: &HeaderMap, max: u64) -> Response {
    let error = CommandError::validation(format!(
        "the request body is larger than the limit of {max} bytes"
    ))
    .suggest("Send a smaller body (split a large import into several), or raise max_body_bytes (TINCT_MAX_BODY_BYTES) on the server.")
    .details(json!({"maxBodyBytes": max, "configKey": "max_body_bytes"}));
    refuse(state, headers, error, StatusCode::PAYLOAD_TOO_LARGE)
}

fn refuse(
    state: &RestState,
    headers: &HeaderMap,
    error: CommandError,
    status: StatusCode,
) -> Response {
    let ctx = context_or_return!(state, headers);
    let mut response = early_error(state, &ctx, "", error);
    *response.status_mut() = status;
    // The unread rest of the body would otherwise be parsed as the next request.
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// The nesting depth once it passes `max` (counting `[` and `{` outside strings), else `None`.
/// Not a validator: malformed JSON is left to the parser, which says what is wrong with it.
fn too_deep(bytes: &Bytes, max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes.iter() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(depth);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> Bytes {
        Bytes::from(format!("{}{}", "[".repeat(n), "]".repeat(n)))
    }

    #[test]
    fn depth_is_counted_outside_strings_only() {
        assert_eq!(too_deep(&nested(128), 128), None);
        assert_eq!(too_deep(&nested(129), 128), Some(129));
        let quoted = Bytes::from(format!("{{\"a\": \"{}\\\"{}\"}}", "[".repeat(500), "{"));
        assert_eq!(too_deep(&quoted, 128), None);
        let siblings = Bytes::from("[[1],[2],{\"a\":{\"b\":[]}}]".repeat(100));
        assert_eq!(too_deep(&siblings, 4), None);
    }
}
