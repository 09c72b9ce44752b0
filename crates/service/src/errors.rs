//! The one place where errors from the platform and the engine become catalogue errors.

use serde_json::json;
use tinct_command::{CommandError, ErrorCode};
use tinct_engine::{ResolveError, ResolveErrors};
use tinct_platform::StoreError;

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
