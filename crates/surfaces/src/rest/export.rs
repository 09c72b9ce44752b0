//! `GET /v1/nodes/{id}/export.{format}`: the file itself, with an ETag and Cache-Control so a CDN
//! can cache it, and 304 when the client already has it. Query parameters are the options of
//! `tokens.export` (`?outputReferences=true&themes=true`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tinct_command::CommandError;

use super::RestState;
use super::call::{TRACE_HEADER, context_or_return, early_error, envelope, insert};

pub async fn export_file(
    State(state): State<RestState>,
    Path((id, file)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let ctx = context_or_return!(&state, &headers);
    let Some(format) = file.strip_prefix("export.") else {
        let e = CommandError::not_found(format!("no resource '{file}' under node '{id}'")).suggest(
            "Use /v1/nodes/{id}/tokens, /v1/nodes/{id}/export.css or /v1/nodes/{id}/export.json.",
        );
        return early_error(&state, &ctx, "tokens.export", e);
    };
    let input = match export_input(&state, query, id, format) {
        Ok(input) => input,
        Err(e) => return early_error(&state, &ctx, "tokens.export", e),
    };
    let result = state.registry.execute("tokens.export", input, ctx).await;
    let Some(file) = result
        .data
        .as_ref()
        .filter(|_| result.success)
        .and_then(|d| d.decode::<ExportedFile>().ok())
    else {
        return envelope(result);
    };
    let etag = file.etag;
    let mut out = HeaderMap::new();
    insert(&mut out, header::ETAG, &etag);
    insert(
        &mut out,
        header::CACHE_CONTROL,
        &format!(
            "{}, max-age={}",
            cache_scope(&headers),
            state.export_max_age.as_secs()
        ),
    );
    insert(&mut out, TRACE_HEADER, &result.metadata.trace_id);
    if etag_matches(&headers, &etag) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    insert(&mut out, header::CONTENT_TYPE, &file.content_type);
    (StatusCode::OK, out, file.content).into_response()
}

/// `public` for an anonymous request; `private` when it carried credentials, so a shared cache
/// never hands an authorised answer to someone else.
pub fn cache_scope(request: &HeaderMap) -> &'static str {
    if request.contains_key(axum::http::header::AUTHORIZATION) {
        "private"
    } else {
        "public"
    }
}

/// The parts of `tokens.export`'s output the file route serves.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportedFile {
    etag: String,
    content_type: String,
    content: String,
}

/// The command input: every query parameter (unknown ones are left to the schema check to
/// refuse), `true`/`false` as booleans where the schema wants one, and node and format from
/// the path.
fn export_input(
    state: &RestState,
    query: HashMap<String, String>,
    id: String,
    format: &str,
) -> Result<Value, CommandError> {
    let schema = state
        .registry
        .get("tokens.export")
        .map(|c| c.input_schema["properties"].clone())
        .unwrap_or_default();
    let mut input = Map::new();
    for (key, value) in query {
        let wants_bool = match &schema[&key]["type"] {
            Value::String(t) => t == "boolean",
            Value::Array(types) => types.iter().any(|t| t == "boolean"),
            _ => false,
        };
        let value = match value.as_str() {
            "true" if wants_bool => Value::Bool(true),
            "false" if wants_bool => Value::Bool(false),
            _ if wants_bool => {
                return Err(CommandError::validation(format!(
                    "query parameter {key} must be true or false, not {value:?}"
                ))
                .suggest(format!("Use ?{key}=true or ?{key}=false."))
                .details(json!({"field": key})));
            }
            _ => Value::String(value),
        };
        input.insert(key, value);
    }
    input.insert("node".to_owned(), Value::String(id));
    input.insert("format".to_owned(), Value::String(format.to_owned()));
    Ok(Value::Object(input))
}

pub(super) fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}
