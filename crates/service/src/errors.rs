//! The one place where errors from the platform and the engine become catalogue errors.

use serde_json::json;
use tinct_command::{CommandError, ErrorCode};
use tinct_engine::{ResolveError, ResolveErrors};
use tinct_platform::{BlobError, QueueError, StoreError};

pub fn from_store(e: StoreError) -> CommandError {
    match e {
        StoreError::Unavailable(reason) => {
            CommandError::unavailable(format!("the store is unavailable: {reason}"))
        }
        StoreError::Duplicate(reason) => CommandError::new(
            ErrorCode::Conflict,
            format!("a concurrent change got there first: {reason}"),
        )
        .suggest("Read the current state and retry."),
        other => {
            tracing::error!(error = %other, "store error");
            CommandError::internal(format!("store error: {other}"))
        }
    }
}

/// Job queue and schedule errors.
pub fn from_queue(e: QueueError) -> CommandError {
    match e {
        QueueError::Invalid(reason) => CommandError::validation(reason),
        QueueError::NotFound(id) => {
            CommandError::new(ErrorCode::NotFound, format!("job {id} does not exist"))
                .suggest("List jobs with jobs.list; finished jobs are pruned after the retention.")
                .details(json!({"id": id}))
        }
        e @ QueueError::WrongState { .. } => CommandError::new(ErrorCode::Conflict, e.to_string())
            .suggest("Read the job with jobs.get to see its state."),
        e @ QueueError::UniqueTaken(_) => CommandError::new(ErrorCode::Conflict, e.to_string())
            .suggest("Wait for the pending job with that key to finish, or cancel it."),
        QueueError::Store(e) => from_store(e),
    }
}

/// Blob errors. The service builds every key itself, so a refused key is a bug of ours, except
/// where a caller's input names the blob (then the caller gets the reason).
pub fn from_blob(e: BlobError) -> CommandError {
    match e {
        BlobError::Invalid(reason) => CommandError::validation(reason)
            .suggest("Check the node id, version and file name in the request."),
        BlobError::Store(e) => from_store(e),
    }
}

/// Resolution errors: the code follows the first error's kind; `details.errors` lists them all.
pub fn from_resolve(node: &str, e: ResolveErrors) -> CommandError {
    let first = e.0.first();
    let (code, suggestion) = match first {
        Some(ResolveError::Circular { .. }) => (
            ErrorCode::CircularReference,
            "Give one token of the cycle a literal value, or point it at a token outside the cycle.",
        ),
        Some(ResolveError::OrphanOverride { .. }) => (
            ErrorCode::Conflict,
            "Reset the listed overrides first (token.reset), then retry.",
        ),
        Some(ResolveError::TooDeep { .. }) => (
            ErrorCode::ValidationError,
            "Flatten the composite value or the composites it references.",
        ),
        _ => (
            ErrorCode::BrokenReference,
            "Point the alias at an existing token (see the suggestions), or add the missing token first.",
        ),
    };
    let errors: Vec<_> = e.0.iter().map(describe).collect();
    CommandError::new(code, format!("resolving node '{node}': {e}"))
        .suggest(suggestion)
        .details(json!({ "node": node, "errors": errors }))
}

fn describe(e: &ResolveError) -> serde_json::Value {
    match e {
        ResolveError::Circular { cycle } => {
            json!({"code": "CIRCULAR_REFERENCE", "cycle": cycle, "message": e.to_string()})
        }
        ResolveError::Broken {
            token,
            reference,
            suggestions,
        } => json!({
            "code": "BROKEN_REFERENCE", "token": token, "reference": reference,
            "suggestions": suggestions, "message": e.to_string()
        }),
        ResolveError::OrphanOverride { node, path } => {
            json!({"code": "CONFLICT", "node": node, "path": path, "message": e.to_string()})
        }
        ResolveError::TooDeep { token } => {
            json!({"code": "VALIDATION_ERROR", "token": token, "message": e.to_string()})
        }
        ResolveError::BadPointer {
            token,
            pointer,
            target,
            ..
        } => json!({
            "code": "BROKEN_REFERENCE", "token": token, "reference": pointer,
            "target": target, "message": e.to_string()
        }),
    }
}
