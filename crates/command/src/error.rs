//! The closed error catalogue every surface speaks, and the error a handler returns.
//!
//! Each code carries its HTTP status, whether a retry may succeed, and the CLI exit code, so surfaces
//! map errors without knowing what they mean.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every error code tinct can return. The list is closed: adding one is a documented change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    NotFound,
    AlreadyExists,
    Conflict,
    Unauthorized,
    Forbidden,
    RateLimited,
    Timeout,
    ServiceUnavailable,
    CommandNotFound,
    InternalError,
    CircularReference,
    BrokenReference,
    NodeHasChildren,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::ValidationError,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::Conflict,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::Timeout,
        ErrorCode::ServiceUnavailable,
        ErrorCode::CommandNotFound,
        ErrorCode::InternalError,
        ErrorCode::CircularReference,
        ErrorCode::BrokenReference,
        ErrorCode::NodeHasChildren,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::CommandNotFound => "COMMAND_NOT_FOUND",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::CircularReference => "CIRCULAR_REFERENCE",
            ErrorCode::BrokenReference => "BROKEN_REFERENCE",
            ErrorCode::NodeHasChildren => "NODE_HAS_CHILDREN",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ValidationError => 400,
            ErrorCode::NotFound | ErrorCode::CommandNotFound => 404,
            ErrorCode::AlreadyExists | ErrorCode::Conflict | ErrorCode::NodeHasChildren => 409,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::RateLimited => 429,
            ErrorCode::Timeout => 504,
            ErrorCode::ServiceUnavailable => 503,
            ErrorCode::InternalError => 500,
            ErrorCode::CircularReference | ErrorCode::BrokenReference => 422,
        }
    }

    /// Whether the same call may succeed later without changing it.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited | ErrorCode::Timeout | ErrorCode::ServiceUnavailable
        )
    }

    /// Process exit code of `tinct call` and friends. 2 matches clap's usage errors.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorCode::InternalError => 1,
            ErrorCode::ValidationError => 2,
            ErrorCode::NotFound => 3,
            ErrorCode::AlreadyExists => 4,
            ErrorCode::Conflict => 5,
            ErrorCode::Unauthorized => 6,
            ErrorCode::Forbidden => 7,
            ErrorCode::RateLimited => 8,
            ErrorCode::Timeout => 9,
            ErrorCode::ServiceUnavailable => 10,
            ErrorCode::CommandNotFound => 11,
            ErrorCode::CircularReference => 12,
            ErrorCode::BrokenReference => 13,
            ErrorCode::NodeHasChildren => 14,
        }
    }

    /// One line for the catalogue (`tinct errors`, docs, OpenAPI).
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => {
                "The input does not match the command's schema or rules; fix the named field."
            }
            ErrorCode::NotFound => "A node or token named in the input does not exist.",
            ErrorCode::AlreadyExists => "Something with that id or path exists already.",
            ErrorCode::Conflict => {
                "The change conflicts with the current state; re-read and retry."
            }
            ErrorCode::Unauthorized => "No valid credentials were given.",
            ErrorCode::Forbidden => "The credentials lack a scope the command requires.",
            ErrorCode::RateLimited => "Too many requests; retry after the indicated delay.",
            ErrorCode::Timeout => "The command did not finish before its deadline.",
            ErrorCode::ServiceUnavailable => "A backend is unavailable; retry shortly.",
            ErrorCode::CommandNotFound => {
                "No command has that name; list them with system.commands."
            }
            ErrorCode::InternalError => "A bug in tinct; report it with the trace id.",
            ErrorCode::CircularReference => "Token aliases form a cycle; every member is named.",
            ErrorCode::BrokenReference => "A token aliases a path that does not exist.",
            ErrorCode::NodeHasChildren => "The node has children; delete them or pass cascade.",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a handler or middleware returns when a command fails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
    /// What the caller should do next.
    pub suggestion: Option<String>,
    pub details: Option<Value>,
    /// Overrides the code's own `retryable` where this one case differs (a conflict with a
    /// request still in progress clears by itself).
    pub retryable: Option<bool>,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CommandError {
            code,
            message: message.into(),
            suggestion: None,
            details: None,
            retryable: None,
        }
    }

    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// Whether the same call may succeed later as it is.
    pub fn is_retryable(&self) -> bool {
        self.retryable.unwrap_or_else(|| self.code.retryable())
    }

    pub fn suggest(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, message)
            .suggest("Retry in a few seconds; if it persists, check the server logs and /health.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_catalogue_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, Value::String(code.as_str().to_owned()));
            let back: ErrorCode = serde_json::from_value(json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn exit_codes_are_distinct_and_nonzero() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert_ne!(code.exit_code(), 0);
            assert!(seen.insert(code.exit_code()), "{code} reuses an exit code");
        }
    }

    #[test]
    fn only_transient_codes_are_retryable() {
        let retryable: Vec<_> = ErrorCode::ALL
            .into_iter()
            .filter(|c| c.retryable())
            .collect();
        assert_eq!(
            retryable,
            vec![
                ErrorCode::RateLimited,
                ErrorCode::Timeout,
                ErrorCode::ServiceUnavailable
            ]
        );
        assert_eq!(ErrorCode::NotFound.http_status(), 404);
        assert_eq!(ErrorCode::InternalError.http_status(), 500);
    }
}
