//! Auth: verifies the caller's bearer token, then checks the command's scopes against the auth
//! mode. A token that is present is always verified (an invalid one is refused even where
//! anonymous calls are allowed) and its scopes always apply. Internal calls are trusted.

use std::sync::Arc;

use serde_json::json;

use super::{Call, Middleware, Step};
use crate::auth::{AuthMode, Authenticator, Credential, Principal, TokenRejected};
use crate::context::Surface;
use crate::definition::CommandDef;
use crate::error::{CommandError, ErrorCode};

/// Where every auth error points the caller.
const HOW_TO_SEND: &str = "Send it as `Authorization: Bearer <token>` (CLI: --token or TINCT_TOKEN; WebSocket: ?access_token=<token>).";

pub struct Authorize {
    mode: AuthMode,
    authenticator: Option<Arc<dyn Authenticator>>,
}

impl Authorize {
    /// `authenticator` is `None` when no key is configured: then every presented token is refused.
    pub fn new(mode: AuthMode, authenticator: Option<Arc<dyn Authenticator>>) -> Self {
        Authorize {
            mode,
            authenticator,
        }
    }

    fn authenticate(&self, credential: &Credential) -> Result<Principal, CommandError> {
        let verified = match credential {
            Credential::Unsupported => Err(TokenRejected::Malformed(
                "the Authorization header is not `Bearer <token>`".to_owned(),
            )),
            Credential::Bearer(token) => match &self.authenticator {
                Some(authenticator) => authenticator.verify(token),
                None => Err(TokenRejected::Unverifiable),
            },
        };
        verified.map_err(rejected)
    }

    /// Whether an anonymous caller may run `command` in this mode.
    fn anonymous_may_run(&self, command: &CommandDef) -> bool {
        command.scopes.is_empty()
            || match self.mode {
                AuthMode::Open => true,
                // Anonymous callers read tokens; reads that need more (webhook URLs and their
                // delivery logs) still need a token.
                AuthMode::ReadOpen => {
                    !command.mutation && command.scopes.iter().all(|s| s == "tokens:read")
                }
                AuthMode::Closed => false,
            }
    }
}

impl Middleware for Authorize {
    fn before(&self, call: &mut Call) -> Result<Step, CommandError> {
        if call.ctx.surface == Surface::Internal {
            return Ok(Step::Pass);
        }
        match &call.ctx.credential {
            Some(credential) => {
                let principal = self.authenticate(credential)?;
                if let Some(missing) = call.command.scopes.iter().find(|s| !principal.allows(s)) {
                    return Err(forbidden(&call.command, &principal, missing));
                }
                call.ctx.set_principal(principal);
            }
            None if self.anonymous_may_run(&call.command) => {}
            None => return Err(token_required(&call.command, self.mode)),
        }
        Ok(Step::Pass)
    }
}

fn rejected(e: TokenRejected) -> CommandError {
    let next_step = match &e {
        TokenRejected::Expired => {
            "Get a fresh token (an operator mints one with `tinct auth token --sub NAME --scopes …`) and retry.".to_owned()
        }
        TokenRejected::NotYetValid => {
            "Wait until the token's nbf time, or check the clocks of the token issuer and this server.".to_owned()
        }
        TokenRejected::BadSignature | TokenRejected::UnknownKey(_) => {
            "Use a token signed with this server's key (its auth_secret, or a key in its auth_jwks_file).".to_owned()
        }
        TokenRejected::WrongIssuer(issuer) => format!("Use a token issued by '{issuer}'."),
        TokenRejected::WrongAudience(audience) => {
            format!("Use a token whose aud includes '{audience}'.")
        }
        TokenRejected::AlgorithmNotAllowed { allowed, .. } => format!(
            "Sign the token with {allowed}: the server's configuration pins the algorithm, the token cannot choose it."
        ),
        TokenRejected::MissingClaim(claim) => format!("Use a token that carries a '{claim}' claim."),
        TokenRejected::Malformed(_) => format!("Send a JWT (three base64url parts joined by dots). {HOW_TO_SEND}"),
        TokenRejected::Unverifiable => {
            "Send the request without a token, or configure auth_secret or auth_jwks_file on the server.".to_owned()
        }
    };
    CommandError::new(
        ErrorCode::Unauthorized,
        format!("the access token was refused: {e}"),
    )
    .suggest(next_step)
    .details(json!({ "reason": e.reason() }))
}

fn token_required(command: &CommandDef, mode: AuthMode) -> CommandError {
    let why = match mode {
        AuthMode::ReadOpen => {
            "this server lets anonymous callers read tokens, but changes need a token (as do reads beyond tokens, such as webhooks)"
        }
        _ => "this server lets no anonymous caller run it",
    };
    let scopes = command.scopes.join(",");
    CommandError::new(
        ErrorCode::Unauthorized,
        format!("{} needs an access token: {why} (auth: {mode})", command.name),
    )
    .suggest(format!(
        "Get a token with the scope {scopes} (an operator mints one with `tinct auth token --sub NAME --scopes {scopes}`). {HOW_TO_SEND}"
    ))
    .details(json!({ "reason": "missing", "requiredScopes": command.scopes }))
}

fn forbidden(command: &CommandDef, principal: &Principal, missing: &str) -> CommandError {
    let has = if principal.scopes.is_empty() {
        "no scopes".to_owned()
    } else {
        principal.scopes.join(", ")
    };
    CommandError::new(
        ErrorCode::Forbidden,
        format!(
            "{} needs the scope '{missing}'; the token of '{}' has {has}",
            command.name, principal.subject
        ),
    )
    .suggest(format!(
        "Use a token that carries {missing} (or admin), e.g. `tinct auth token --sub {} --scopes {missing}`.",
        principal.subject
    ))
    .details(json!({ "missingScope": missing, "scopes": principal.scopes }))
}
