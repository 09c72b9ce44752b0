//! JWT bearer tokens: the verifier behind the `Authorize` middleware (HS256 with the configured
//! secret, and public keys from a JWKS file), the minting of development tokens (`tinct auth
//! token`) and the rule that `open` is only served on loopback.
//!
//! The algorithm is pinned per key by configuration: the token's header only picks among the
//! configured keys, so an RS256 public key can never be used as an HS256 secret and `alg: none`
//! never verifies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tinct_command::{AuthMode, Authenticator, Principal, SCOPES, TokenRejected};

use crate::config::Config;

/// Clock skew tolerated on `exp` and `nbf`, seconds.
const LEEWAY_SECS: u64 = 30;
/// A shorter HMAC secret can be brute-forced offline from a single token.
const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error(
        "auth is {0}, but no key verifies tokens: set TINCT_AUTH_SECRET (HS256, at least 32 characters) or TINCT_AUTH_JWKS_FILE (public keys)"
    )]
    NoKey(AuthMode),
    #[error(
        "auth_secret is {0} characters; use at least 32, e.g. the output of `openssl rand -base64 48`"
    )]
    WeakSecret(usize),
    #[error(
        "could not read auth_jwks_file {path}: {source}; point TINCT_AUTH_JWKS_FILE at a readable JWK set"
    )]
    JwksRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "auth_jwks_file {path} is not a JWK set ({reason}); it must be {{\"keys\": [ … public keys … ]}}"
    )]
    JwksParse { path: PathBuf, reason: String },
    #[error("key {key} in auth_jwks_file {path} cannot verify tokens: {reason}")]
    JwksKey {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error(
        "auth is open (no token checks), which tinct allows only on a loopback address, but it listens on {0}: set TINCT_AUTH=closed or TINCT_AUTH=read-open with TINCT_AUTH_SECRET or TINCT_AUTH_JWKS_FILE, or listen on 127.0.0.1"
    )]
    OpenNotLoopback(SocketAddr),
    #[error(
        "no auth_secret to sign with: set TINCT_AUTH_SECRET (or auth_secret in tinct.toml) to the server's HS256 secret; servers that only trust auth_jwks_file keys take tokens from your identity provider"
    )]
    NoSecretToSign,
    #[error("unknown scope '{0}'; choose from tokens:read, tokens:write, admin")]
    UnknownScope(String),
    #[error("{0}")]
    Mint(String),
}

/// The verifier for this configuration; `None` when no key is configured (then only `open`
/// starts, and every presented token is refused).
pub fn authenticator(config: &Config) -> Result<Option<Arc<dyn Authenticator>>, AuthConfigError> {
    let mut keys = Vec::new();
    if let Some(secret) = &config.auth_secret {
        keys.push(Key {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(checked_secret(secret.expose())?.as_bytes()),
        });
    }
    if let Some(path) = &config.auth_jwks_file {
        keys.extend(jwks_keys(path)?);
    }
    if keys.is_empty() {
        return match config.auth {
            AuthMode::Open => Ok(None),
            mode => Err(AuthConfigError::NoKey(mode)),
        };
    }
    let verifier = JwtAuthenticator::new(
        keys,
        config.auth_issuer.clone(),
        config.auth_audience.clone(),
    );
    Ok(Some(Arc::new(verifier)))
}

/// `tinct serve` refuses to run without auth where others can reach it.
pub fn check_exposure(mode: AuthMode, addr: SocketAddr) -> Result<(), AuthConfigError> {
    if mode == AuthMode::Open && !addr.ip().to_canonical().is_loopback() {
        return Err(AuthConfigError::OpenNotLoopback(addr));
    }
    Ok(())
}

fn checked_secret(secret: &str) -> Result<&str, AuthConfigError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(AuthConfigError::WeakSecret(secret.len()));
    }
    Ok(secret)
}

/// A trusted key with the one algorithm it verifies.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

pub struct JwtAuthenticator {
    keys: Vec<(Key, Validation)>,
    issuer: Option<String>,
    audience: Option<String>,
    /// The configured algorithms, for "accepts only …" messages.
    allowed: String,
}

#[derive(Deserialize)]
struct PeekedHeader {
    alg: Option<String>,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    // Optional here so a missing one is reported by the required-claims check, by name.
    sub: Option<String>,
    #[serde(default)]
    scope: Option<ScopeClaim>,
}

/// OAuth's space-separated `scope`, or a list (as some identity providers send it).
#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    Text(String),
    List(Vec<String>),
}

impl JwtAuthenticator {
    fn new(keys: Vec<Key>, issuer: Option<String>, audience: Option<String>) -> Self {
        let mut allowed: Vec<String> = Vec::new();
        for key in &keys {
            let name = format!("{:?}", key.alg);
            if !allowed.contains(&name) {
                allowed.push(name);
            }
        }
        let keys = keys
            .into_iter()
            .map(|key| {
                let validation = validation(key.alg, issuer.as_deref(), audience.as_deref());
                (key, validation)
            })
            .collect();
        JwtAuthenticator {
            keys,
            issuer,
            audience,
            allowed: allowed.join(", "),
        }
    }

    fn not_allowed(&self, found: &str) -> TokenRejected {
        TokenRejected::AlgorithmNotAllowed {
            found: found.to_owned(),
            allowed: self.allowed.clone(),
        }
    }

    fn rejected(&self, kind: ErrorKind) -> TokenRejected {
        match kind {
            ErrorKind::ExpiredSignature => TokenRejected::Expired,
            ErrorKind::ImmatureSignature => TokenRejected::NotYetValid,
            ErrorKind::InvalidSignature => TokenRejected::BadSignature,
            ErrorKind::InvalidIssuer => {
                TokenRejected::WrongIssuer(self.issuer.clone().unwrap_or_default())
            }
            ErrorKind::InvalidAudience => {
                TokenRejected::WrongAudience(self.audience.clone().unwrap_or_default())
            }
            ErrorKind::MissingRequiredClaim(claim) => TokenRejected::MissingClaim(claim),
            ErrorKind::InvalidClaimFormat(claim) => {
                TokenRejected::Malformed(format!("its '{claim}' claim is not a number"))
            }
            ErrorKind::Json(e) => {
                TokenRejected::Malformed(format!("its claims are not the expected JSON ({e})"))
            }
            _ => TokenRejected::Malformed(
                "it is not three base64url parts joined by dots".to_owned(),
            ),
        }
    }
}

/// Checks for one pinned algorithm; `iss` and `aud` are required once configured.
fn validation(alg: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    let mut required = vec!["exp", "sub"];
    if let Some(issuer) = issuer {
        v.set_issuer(&[issuer]);
        required.push("iss");
    }
    // Without a configured audience, a token's `aud` (identity providers always set one) is
    // not this server's business.
    v.validate_aud = audience.is_some();
    if let Some(audience) = audience {
        v.set_audience(&[audience]);
        required.push("aud");
    }
    v.set_required_spec_claims(&required);
    v
}

/// The header, read without trusting it, to say precisely why a token is refused.
fn peek_header(token: &str) -> Result<PeekedHeader, TokenRejected> {
    let not_a_jwt =
        || TokenRejected::Malformed("it is not three base64url parts joined by dots".to_owned());
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(not_a_jwt());
    };
    let bytes = URL_SAFE_NO_PAD.decode(head).map_err(|_| not_a_jwt())?;
    serde_json::from_slice(&bytes)
        .map_err(|_| TokenRejected::Malformed("its header is not a JSON object".to_owned()))
}

impl Authenticator for JwtAuthenticator {
    fn verify(&self, token: &str) -> Result<Principal, TokenRejected> {
        let header = peek_header(token)?;
        let Some(alg_name) = header.alg else {
            return Err(TokenRejected::Malformed(
                "its header names no alg".to_owned(),
            ));
        };
        if alg_name.eq_ignore_ascii_case("none") {
            return Err(self.not_allowed("none (unsigned)"));
        }
        let alg: Algorithm = alg_name.parse().map_err(|_| self.not_allowed(&alg_name))?;
        let mut same_alg = self.keys.iter().filter(|(k, _)| k.alg == alg).peekable();
        if same_alg.peek().is_none() {
            return Err(self.not_allowed(&alg_name));
        }
        // A key id narrows the keys to try; keys without an id are tried for any token.
        let candidates: Vec<_> = same_alg
            .filter(|(k, _)| k.kid.is_none() || k.kid == header.kid)
            .collect();
        if let (true, Some(kid)) = (candidates.is_empty(), &header.kid) {
            return Err(TokenRejected::UnknownKey(kid.clone()));
        }
        for (key, validation) in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.key, validation) {
                Ok(data) => return principal(data.claims),
                // Another key of the same algorithm may have signed it.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::InvalidRsaKey(_)
                            | ErrorKind::InvalidEcdsaKey
                            | ErrorKind::InvalidEddsaKey
                            | ErrorKind::InvalidKeyFormat
                    ) =>
                {
                    tracing::warn!(kid = ?key.kid, alg = ?key.alg, error = %e, "a configured auth key cannot verify tokens");
                }
                Err(e) => return Err(self.rejected(e.into_kind())),
            }
        }
        Err(TokenRejected::BadSignature)
    }
}

fn principal(claims: Claims) -> Result<Principal, TokenRejected> {
    let subject = claims
        .sub
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| TokenRejected::MissingClaim("sub".to_owned()))?;
    let scopes = match claims.scope {
        None => Vec::new(),
        Some(ScopeClaim::Text(text)) => text.split_whitespace().map(str::to_owned).collect(),
        Some(ScopeClaim::List(list)) => list,
    };
    Ok(Principal { subject, scopes })
}

/// The public keys of a JWK set, each pinned to its `alg` or the one its key type implies.
fn jwks_keys(path: &Path) -> Result<Vec<Key>, AuthConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthConfigError::JwksRead {
        path: path.to_owned(),
        source,
    })?;
    let parse_error = |reason: String| AuthConfigError::JwksParse {
        path: path.to_owned(),
        reason,
    };
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
    let mut keys = Vec::new();
    for (index, jwk) in set.keys.iter().enumerate() {
        if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
            continue;
        }
        let key_error = |reason: String| AuthConfigError::JwksKey {
            path: path.to_owned(),
            key: jwk
                .common
                .key_id
                .clone()
                .unwrap_or_else(|| format!("#{index}")),
            reason,
        };
        let alg = pinned_algorithm(jwk).map_err(key_error)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| key_error(e.to_string()))?;
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if keys.is_empty() {
        return Err(parse_error("it holds no signing keys".to_owned()));
    }
    Ok(keys)
}

fn pinned_algorithm(jwk: &Jwk) -> Result<Algorithm, String> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => Algorithm::ES384,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err(
                "it is a shared secret (kty oct); put an HMAC secret in auth_secret instead"
                    .to_owned(),
            );
        }
        _ => {
            return Err(
                "only RSA, EC (P-256, P-384) and Ed25519 public keys are supported".to_owned(),
            );
        }
    };
    let Some(named) = jwk.common.key_algorithm else {
        return Ok(implied);
    };
    match Algorithm::try_from(named) {
        Ok(alg) if alg.family() == implied.family() => Ok(alg),
        _ => Err(format!(
            "its alg {named} does not fit its key type (use {implied:?} or leave alg out)"
        )),
    }
}

#[derive(Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    scope: String,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// An HS256 token signed with the configured secret, with the configured issuer and audience so
/// this configuration's servers accept it.
pub fn mint(
    config: &Config,
    subject: &str,
    scopes: &[String],
    ttl: Duration,
) -> Result<String, AuthConfigError> {
    let secret = config
        .auth_secret
        .as_ref()
        .ok_or(AuthConfigError::NoSecretToSign)?;
    let secret = checked_secret(secret.expose())?;
    if subject.trim().is_empty() {
        return Err(AuthConfigError::Mint(
            "--sub must name who the token is for, e.g. --sub ci-pipeline".to_owned(),
        ));
    }
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(AuthConfigError::UnknownScope(unknown.clone()));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| AuthConfigError::Mint(format!("the system clock is before 1970: {e}")))?
        .as_secs();
    let claims = MintedClaims {
        sub: subject,
        scope: scopes.join(" "),
        iat: now,
        exp: now.saturating_add(ttl.as_secs()),
        iss: config.auth_issuer.as_deref(),
        aud: config.auth_audience.as_deref(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| AuthConfigError::Mint(format!("could not sign the token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_is_refused_off_loopback() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_exposure(AuthMode::Open, loopback).is_ok());
        assert!(check_exposure(AuthMode::Open, mapped).is_ok());
        assert!(check_exposure(AuthMode::Open, any).is_err());
        assert!(check_exposure(AuthMode::Closed, any).is_ok());
    }

    #[test]
    fn a_header_is_read_without_trusting_it() {
        let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        assert_eq!(
            peek_header(&format!("{head}.e30.")).unwrap().alg.as_deref(),
            Some("none")
        );
        assert!(matches!(
            peek_header("only.two"),
            Err(TokenRejected::Malformed(_))
        ));
    }
}
