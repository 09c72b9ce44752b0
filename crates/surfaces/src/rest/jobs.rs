//! Background jobs and the files they publish, over HTTP:
//!
//! - `GET /v1/jobs/{id}`: `jobs.get` (state, attempts, errors, artifact).
//! - `GET /v1/jobs/{id}/artifact`: the file a job produced, with its content type and ETag; the
//!   envelope with `CONFLICT` while the job has not finished, `NOT_FOUND` when there is no file.
//! - `GET /v1/snapshots/{node}/{version}/{file}`: a published snapshot file, immutable, so a CDN
//!   may cache it forever.
//!
//! Each route runs the command it stands for first (authorization, rate limits, existence), then
//! reads the bytes from the Blob port.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tinct_command::{CommandError, Context};
use tinct_platform::Blob;
use tinct_service::jobs::artifacts::{artifact_file, published_file};

use super::RestState;
use super::call::{TRACE_HEADER, context_or_return, early_error, envelope, insert};
use super::export::{cache_scope, etag_matches};

/// Snapshots never change: a year, and `immutable` so browsers do not even revalidate (behind
/// `public` or `private`, see [`cache_scope`]).
const IMMUTABLE: &str = "max-age=31536000, immutable";
/// A job's file is private to its callers and goes away with the job: revalidate every time.
const ARTIFACT_CACHE: &str = "private, no-cache";

fn job_id(state: &RestState, ctx: &Context, id: &str) -> Result<i64, Box<Response>> {
    id.parse::<i64>().map_err(|_| {
        let e = CommandError::validation(format!("job id must be a number, not {id:?}"))
            .suggest("Use the jobId tokens.export {async: true} returned, or one from jobs.list.")
            .details(json!({"field": "id"}));
        Box::new(early_error(state, ctx, "jobs.get", e))
    })
}

pub async fn get_job(
    State(state): State<RestState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let ctx = context_or_return!(&state, &headers);
    let id = match job_id(&state, &ctx, &id) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    envelope(
        state
            .registry
            .execute("jobs.get", json!({ "id": id }), ctx)
            .await,
    )
}

/// The parts of `jobs.get`'s output the artifact route reads.
#[derive(Deserialize)]
struct JobInfo {
    kind: String,
    state: String,
}

pub async fn job_artifact(
    State(state): State<RestState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let ctx = context_or_return!(&state, &headers);
    let id = match job_id(&state, &ctx, &id) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    let result = state
        .registry
        .execute("jobs.get", json!({ "id": id }), ctx.clone())
        .await;
    let Some(job) = result
        .data
        .as_ref()
        .filter(|_| result.success)
        .and_then(|d| d.decode::<JobInfo>().ok())
    else {
        return envelope(result);
    };
    let blob = match artifact_file(&state.services, id, &job.kind, &job.state).await {
        Ok(blob) => blob,
        Err(e) => return early_error(&state, &ctx, "jobs.get", e),
    };
    file(&headers, &result.metadata.trace_id, blob, ARTIFACT_CACHE)
}

#[derive(Deserialize)]
struct SnapshotsInfo {
    versions: Vec<VersionInfo>,
}

#[derive(Deserialize)]
struct VersionInfo {
    files: Vec<FileInfo>,
}

#[derive(Deserialize)]
struct FileInfo {
    file: String,
}

pub async fn snapshot_file(
    State(state): State<RestState>,
    Path((node, version, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let ctx = context_or_return!(&state, &headers);
    let Ok(version) = version.parse::<i64>() else {
        let e = CommandError::validation(format!(
            "snapshot version must be a number, not {version:?}"
        ))
        .suggest(format!(
            "List the versions with snapshots.list {{\"node\": \"{node}\"}}."
        ))
        .details(json!({"field": "version"}));
        return early_error(&state, &ctx, "snapshots.list", e);
    };
    let result = state
        .registry
        .execute(
            "snapshots.list",
            json!({ "node": node, "version": version }),
            ctx.clone(),
        )
        .await;
    let Some(listed) = result
        .data
        .as_ref()
        .filter(|_| result.success)
        .and_then(|d| d.decode::<SnapshotsInfo>().ok())
    else {
        return envelope(result);
    };
    let published = listed
        .versions
        .iter()
        .flat_map(|v| &v.files)
        .any(|f| f.file == name);
    let blob = if published {
        match published_file(&state.services, &node, version, &name).await {
            Ok(blob) => blob,
            Err(e) => return early_error(&state, &ctx, "snapshots.list", e),
        }
    } else {
        None
    };
    let Some(blob) = blob else {
        let e = CommandError::not_found(format!(
            "node '{node}' has no snapshot file '{name}' at version {version}"
        ))
        .suggest(format!(
            "List the published versions and files with snapshots.list {{\"node\": \"{node}\"}}."
        ))
        .details(json!({"node": node, "version": version, "file": name}));
        return early_error(&state, &ctx, "snapshots.list", e);
    };
    let cache_control = format!("{}, {IMMUTABLE}", cache_scope(&headers));
    file(&headers, &result.metadata.trace_id, blob, &cache_control)
}

/// The bytes with their type and ETag, or 304 when the client has them.
fn file(request: &HeaderMap, trace_id: &str, blob: Blob, cache_control: &str) -> Response {
    let mut out = HeaderMap::new();
    insert(&mut out, header::ETAG, &blob.meta.etag);
    insert(&mut out, header::CACHE_CONTROL, cache_control);
    insert(&mut out, TRACE_HEADER, trace_id);
    if etag_matches(request, &blob.meta.etag) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    insert(&mut out, header::CONTENT_TYPE, &blob.meta.content_type);
    (StatusCode::OK, out, blob.bytes).into_response()
}
