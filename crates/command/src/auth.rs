//! Who calls: the credential a surface found on the request, the principal it proves, the port
//! that verifies it, and the auth modes. The policy itself is `middleware::Authorize`.

use serde::{Deserialize, Serialize};

/// Grants every scope.
pub const ADMIN_SCOPE: &str = "admin";

/// Every scope a token can carry.
pub const SCOPES: [&str; 3] = ["tokens:read", "tokens:write", ADMIN_SCOPE];

/// How much a caller without a token may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Everyone may run everything (development on a loopback address only).
    #[default]
    Open,
    /// Anyone may read; mutations need a token.
    #[serde(alias = "read_open")]
    ReadOpen,
    /// Every command that declares scopes needs a token.
    Closed,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Open => "open",
            AuthMode::ReadOpen => "read-open",
            AuthMode::Closed => "closed",
        }
    }
}

impl std::fmt::Display for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller presented. Its `Debug` never shows the token, so a logged context leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Bearer(String),
    /// An `Authorization` header of another scheme (or unreadable): refused, never ignored.
    Unsupported,
}

impl Credential {
    /// From an `Authorization` header value: `Bearer <token>` (the scheme is case-insensitive).
    pub fn from_authorization(value: &str) -> Credential {
        match value.trim().split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                Credential::Bearer(token.trim().to_owned())
            }
            _ => Credential::Unsupported,
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Bearer(***)"),
            Credential::Unsupported => f.write_str("Unsupported"),
        }
    }
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// Recorded as the actor of every change the caller makes.
    pub subject: String,
    pub scopes: Vec<String>,
}

impl Principal {
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == ADMIN_SCOPE)
    }
}

/// Why a presented token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejected {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (its nbf is in the future)")]
    NotYetValid,
    #[error("the token's signature does not match any key this server trusts")]
    BadSignature,
    #[error("no key this server trusts has the token's key id '{0}'")]
    UnknownKey(String),
    #[error("the token was issued by someone other than '{0}'")]
    WrongIssuer(String),
    #[error("the token is not meant for this server (its audience is not '{0}')")]
    WrongAudience(String),
    #[error("the token is signed with {found}, but this server accepts only {allowed}")]
    AlgorithmNotAllowed { found: String, allowed: String },
    #[error("the token has no '{0}' claim")]
    MissingClaim(String),
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("this server has no key to verify tokens with")]
    Unverifiable,
}

impl TokenRejected {
    /// A stable word for `error.details.reason`, for clients that branch on it.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenRejected::Expired => "expired",
            TokenRejected::NotYetValid => "not_yet_valid",
            TokenRejected::BadSignature => "bad_signature",
            TokenRejected::UnknownKey(_) => "unknown_key",
            TokenRejected::WrongIssuer(_) => "wrong_issuer",
            TokenRejected::WrongAudience(_) => "wrong_audience",
            TokenRejected::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            TokenRejected::MissingClaim(_) => "missing_claim",
            TokenRejected::Malformed(_) => "malformed",
            TokenRejected::Unverifiable => "unverifiable",
        }
    }
}

/// The port that turns a bearer token into a principal (JWT in the service crate).
pub trait Authenticator: Send + Sync {
    fn verify(&self, token: &str) -> Result<Principal, TokenRejected>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_headers_carry_a_token() {
        assert_eq!(
            Credential::from_authorization("bearer  abc.def.ghi "),
            Credential::Bearer("abc.def.ghi".into())
        );
        assert_eq!(
            Credential::from_authorization("Basic dXNlcjpwdw=="),
            Credential::Unsupported
        );
        assert_eq!(
            Credential::from_authorization("Bearer "),
            Credential::Unsupported
        );
        assert_eq!(
            format!("{:?}", Credential::Bearer("s3cret".into())),
            "Bearer(***)"
        );
    }

    #[test]
    fn admin_implies_every_scope() {
        let p = |scopes: &[&str]| Principal {
            subject: "ana".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(p(&["admin"]).allows("tokens:write"));
        assert!(p(&["tokens:read"]).allows("tokens:read"));
        assert!(!p(&["tokens:read"]).allows("tokens:write"));
        assert!(!p(&[]).allows("tokens:read"));
    }

    #[test]
    fn modes_read_as_configured() {
        let mode: AuthMode = serde_json::from_value(serde_json::json!("read-open")).unwrap();
        assert_eq!(mode, AuthMode::ReadOpen);
        assert_eq!(mode.to_string(), "read-open");
    }
}
