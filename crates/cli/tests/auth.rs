//! Auth end to end on a real `tinct serve`: JWT bearer tokens (HS256 from the configured secret,
//! RS256 and EdDSA from a JWKS file) on REST, WebSocket, MCP over HTTP and the CLI; the modes
//! `open`, `read-open` and `closed`; scopes; and the rules `tinct serve` checks at start-up.
//! The page's live connection is checked in headless Chromium. Test tokens are signed here with
//! the jsonwebtoken crate; RSA and Ed25519 keys come from the `openssl` CLI.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Value, json};
use tempfile::TempDir;
use tinct_testkit::{TinctServer, tinct_command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");
/// The servers' HS256 secret, handed to them through the environment as an operator would.
const SECRET: &str = "tinct-auth-tests-0123456789-abcdefghij";
const OTHER_SECRET: &str = "some-other-service-0123456789-abcdefgh";
const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "tinct";
const THEME: &str = "acme-web-dark";
const PATH: &str = "color.brand.primary";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A `tinct serve` with the demo loaded, and an HTTP client for it.
struct Server {
    server: TinctServer,
    http: reqwest::Client,
    _dir: TempDir,
}

/// The environment of a server verifying HS256 tokens in `mode`.
fn hs256(mode: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![("TINCT_AUTH", mode), ("TINCT_AUTH_SECRET", SECRET)]
}

fn start(env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    // A local call opens the data directly, whatever the server's auth.
    let out = tinct_command(Path::new(BIN), dir.path())
        .arg("demo")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "demo: {out:?}");
    Server {
        server: TinctServer::start_in(Path::new(BIN), dir.path(), env),
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

struct Reply {
    status: u16,
    www_authenticate: Option<String>,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.body["success"], true, "{}", self.body);
        &self.body["data"]
    }

    /// A 401 with the Bearer challenge, saying `reason` in `details` and `words` in the message.
    fn unauthorized(&self, reason: &str, words: &str) {
        assert_eq!(
            (self.status, self.code()),
            (401, "UNAUTHORIZED"),
            "{}",
            self.body
        );
        assert_eq!(self.body["success"], false);
        assert!(
            self.www_authenticate
                .as_deref()
                .is_some_and(|v| v.starts_with("Bearer")),
            "401 without `WWW-Authenticate: Bearer`: {:?}",
            self.www_authenticate
        );
        assert_eq!(
            self.body["error"]["details"]["reason"], reason,
            "{}",
            self.body
        );
        assert!(
            self.message().contains(words),
            "message should say '{words}': {}",
            self.body
        );
        let suggestion = self.body["error"]["suggestion"].as_str().unwrap_or("");
        assert!(!suggestion.trim().is_empty(), "no next step: {}", self.body);
    }

    fn forbidden(&self, scope: &str) {
        assert_eq!(
            (self.status, self.code()),
            (403, "FORBIDDEN"),
            "{}",
            self.body
        );
        assert!(self.message().contains(scope), "{}", self.body);
        assert_eq!(self.body["error"]["details"]["missingScope"], scope);
        assert!(
            self.body["error"]["suggestion"]
                .as_str()
                .is_some_and(|s| s.contains(scope)),
            "{}",
            self.body
        );
    }
}

impl Server {
    fn url(&self) -> &str {
        &self.server.url
    }

    async fn send(&self, name: &str, input: Value, authorization: Option<&str>) -> Reply {
        let mut request = self
            .http
            .post(format!("{}/v1/commands/{name}", self.url()))
            .json(&input);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("POST");
        let status = response.status().as_u16();
        let www_authenticate = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.json().await.expect("a JSON envelope");
        Reply {
            status,
            www_authenticate,
            body,
        }
    }

    async fn call(&self, name: &str, input: Value, token: Option<&str>) -> Reply {
        let header = token.map(|t| format!("Bearer {t}"));
        self.send(name, input, header.as_deref()).await
    }

    async fn write(&self, value: &str, token: Option<&str>) -> Reply {
        let input = json!({"node": THEME, "path": PATH, "value": value});
        self.call("token.override", input, token).await
    }

    /// What a refused write must leave alone: the token's value and the store's revision.
    async fn state(&self, token: &str) -> (Value, Value) {
        let tokens = self
            .call("tokens.resolve", json!({"node": THEME}), Some(token))
            .await;
        let health = self.call("system.health", json!({}), None).await;
        (
            tokens.ok()["tokens"][PATH]["value"].clone(),
            health.ok()["revision"].clone(),
        )
    }

    /// Who history says made the change with trace id `trace`.
    async fn actor_of(&self, reply: &Reply, token: &str) -> String {
        let trace = reply.body["metadata"]["traceId"].clone();
        let history = self
            .call(
                "token.history",
                json!({"node": THEME, "path": PATH}),
                Some(token),
            )
            .await;
        let entries = history.ok()["entries"].as_array().unwrap().clone();
        let entry = entries
            .iter()
            .find(|e| e["traceId"] == trace)
            .unwrap_or_else(|| panic!("no history entry for trace {trace}: {entries:?}"));
        entry["actor"].as_str().unwrap().to_owned()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims good for ten minutes, with this suite's issuer and audience.
fn claims(sub: &str, scope: &str) -> Value {
    json!({"sub": sub, "scope": scope, "iat": now(), "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE})
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(key),
            v => claims
                .as_object_mut()
                .unwrap()
                .insert(key.clone(), v.clone()),
        };
    }
    claims
}

fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs(secret: &str, claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(secret.as_bytes()),
        None,
        claims,
    )
}

fn token(sub: &str, scope: &str) -> String {
    hs(SECRET, &claims(sub, scope))
}

/// An unsigned token (`alg: none`), which no library would make for us.
fn unsigned(claims: &Value) -> String {
    let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{head}.{body}.")
}

/// Key pairs from the openssl CLI: private PEM for signing, the public half as a JWK.
struct KeyPair {
    private_pem: Vec<u8>,
    jwk: Value,
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI (apt-get install openssl) makes the RSA and Ed25519 test keys");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
    out.stdout
}

fn rsa_key(kid: &str) -> KeyPair {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.pem",
        ],
    );
    let modulus =
        String::from_utf8(openssl(d, &["rsa", "-in", "key.pem", "-noout", "-modulus"])).unwrap();
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    KeyPair {
        private_pem: std::fs::read(d.join("key.pem")).unwrap(),
        jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": URL_SAFE_NO_PAD.encode(bytes), "e": "AQAB"}),
    }
}

fn ed25519_key(kid: &str) -> KeyPair {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "ed25519", "-out", "key.pem"]);
    let public = openssl(d, &["pkey", "-in", "key.pem", "-pubout", "-outform", "DER"]);
    // The DER SubjectPublicKeyInfo ends with the 32 raw key bytes.
    let raw = &public[public.len() - 32..];
    KeyPair {
        private_pem: std::fs::read(d.join("key.pem")).unwrap(),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": URL_SAFE_NO_PAD.encode(raw)}),
    }
}

/// `tinct` run to completion with a clean environment plus `env`.
fn tinct(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    tinct_command(Path::new(BIN), dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Tokens and modes over REST
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_say_why_and_change_nothing() {
    let mut env = hs256("closed");
    env.extend([
        ("TINCT_AUTH_ISSUER", ISSUER),
        ("TINCT_AUTH_AUDIENCE", AUDIENCE),
    ]);
    let api = start(&env);
    let reader = token("reader", "tokens:read");
    let before = api.state(&reader).await;
    let rsa = rsa_key("rsa-1");
    let good = claims("mallory", "admin");
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "expired",
            hs(SECRET, &with(good.clone(), json!({"exp": now() - 3600}))),
            "expired",
            "expired",
        ),
        (
            "not valid yet",
            hs(SECRET, &with(good.clone(), json!({"nbf": now() + 3600}))),
            "not_yet_valid",
            "not valid yet",
        ),
        (
            "wrong key",
            hs(OTHER_SECRET, &good),
            "bad_signature",
            "signature",
        ),
        (
            "HS384 where HS256 is pinned",
            sign(
                Algorithm::HS384,
                &EncodingKey::from_secret(SECRET.as_bytes()),
                None,
                &good,
            ),
            "algorithm_not_allowed",
            "HS384",
        ),
        (
            "RS256 against an HS256 configuration",
            sign(
                Algorithm::RS256,
                &EncodingKey::from_rsa_pem(&rsa.private_pem).unwrap(),
                Some("rsa-1"),
                &good,
            ),
            "algorithm_not_allowed",
            "RS256",
        ),
        ("alg none", unsigned(&good), "algorithm_not_allowed", "none"),
        (
            "wrong issuer",
            hs(
                SECRET,
                &with(good.clone(), json!({"iss": "https://evil.test"})),
            ),
            "wrong_issuer",
            ISSUER,
        ),
        (
            "wrong audience",
            hs(
                SECRET,
                &with(good.clone(), json!({"aud": "another-service"})),
            ),
            "wrong_audience",
            AUDIENCE,
        ),
        (
            "no exp",
            hs(SECRET, &with(good.clone(), json!({"exp": null}))),
            "missing_claim",
            "exp",
        ),
        (
            "no issuer when one is configured",
            hs(SECRET, &with(good.clone(), json!({"iss": null}))),
            "missing_claim",
            "iss",
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            "malformed",
            "malformed",
        ),
    ];
    for (case, bad, reason, words) in &cases {
        let reply = api.write("#ff0000", Some(bad)).await;
        eprintln!("case: {case}");
        reply.unauthorized(reason, words);
        // Refused even for a command anyone may run: a bad token is never ignored.
        api.call("system.health", json!({}), Some(bad))
            .await
            .unauthorized(reason, words);
    }
    // Another scheme than Bearer is refused, not treated as anonymous.
    api.send(
        "token.override",
        json!({"node": THEME, "path": PATH, "value": "#ff0000"}),
        Some("Basic dXNlcjpwYXNz"),
    )
    .await
    .unauthorized("malformed", "Bearer");
    assert_eq!(
        api.state(&reader).await,
        before,
        "a refused write changed something"
    );

    // The same claims, properly signed, are accepted.
    let written = api.write("#ff0000", Some(&hs(SECRET, &good))).await;
    written.ok();
    assert_eq!(api.actor_of(&written, &reader).await, "mallory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_needs_a_token_with_the_command_scope() {
    let api = start(&hs256("closed"));
    let reader = token("reader", "tokens:read");

    let anonymous = api
        .call("tokens.resolve", json!({"node": THEME}), None)
        .await;
    anonymous.unauthorized("missing", "needs an access token");
    assert_eq!(
        anonymous.body["error"]["details"]["requiredScopes"],
        json!(["tokens:read"])
    );
    api.write("#00ff00", None)
        .await
        .unauthorized("missing", "needs an access token");
    // Commands without scopes, and the probes, stay open.
    api.call("system.health", json!({}), None).await.ok();
    api.call("system.commands", json!({"name": "token.add"}), None)
        .await
        .ok();
    let ready = api
        .http
        .get(format!("{}/health/ready", api.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let before = api.state(&reader).await;
    api.write("#00ff00", Some(&reader))
        .await
        .forbidden("tokens:write");
    api.call(
        "tokens.resolve",
        json!({"node": THEME}),
        Some(&token("nobody", "")),
    )
    .await
    .forbidden("tokens:read");
    assert_eq!(
        api.state(&reader).await,
        before,
        "a refused write changed something"
    );

    // admin implies every scope; a list-valued scope claim counts too.
    let admin = api.write("#00ff00", Some(&token("root", "admin"))).await;
    admin.ok();
    assert_eq!(api.actor_of(&admin, &reader).await, "root");
    let listed = hs(
        SECRET,
        &with(
            claims("lister", ""),
            json!({"scope": ["tokens:read", "tokens:write"]}),
        ),
    );
    api.write("#00ff01", Some(&listed)).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_open_lets_anyone_read_and_only_token_holders_write() {
    let api = start(&hs256("read-open"));
    let before = api
        .call("tokens.resolve", json!({"node": THEME}), None)
        .await
        .ok()["tokens"][PATH]["value"]
        .clone();

    let refused = api.write("#123456", None).await;
    refused.unauthorized("missing", "changes need a token");
    let after = api
        .call("tokens.resolve", json!({"node": THEME}), None)
        .await
        .ok()["tokens"][PATH]["value"]
        .clone();
    assert_eq!(after, before, "a refused write changed the token");

    let writer = token("ana", "tokens:read tokens:write");
    let written = api.write("#123456", Some(&writer)).await;
    written.ok();
    assert_eq!(api.actor_of(&written, &writer).await, "ana");
    let read = api
        .call("tokens.resolve", json!({"node": THEME}), None)
        .await;
    assert_eq!(read.ok()["tokens"][PATH]["value"], "#123456");

    // Reads that need more than tokens:read (webhook URLs) still need a token.
    let hidden = api.call("webhook.list", json!({}), None).await;
    hidden.unauthorized("missing", "changes need a token");
    api.call("webhook.list", json!({}), Some(&writer))
        .await
        .ok();

    // A shared cache may keep an anonymous export, never one fetched with a token.
    let export = format!("{}/v1/nodes/{THEME}/export.css", api.url());
    let cache_control = |response: reqwest::Response| {
        assert_eq!(response.status(), 200);
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let anonymous = cache_control(reqwest::get(&export).await.unwrap());
    assert!(anonymous.starts_with("public, max-age="), "{anonymous}");
    let authorised = reqwest::Client::new()
        .get(&export)
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    let authorised = cache_control(authorised);
    assert!(authorised.starts_with("private, max-age="), "{authorised}");

    // Anonymous live updates are reads too.
    let ws = format!("{}/v1/ws", api.url().replace("http://", "ws://"));
    let mut socket = ws_connect(&ws, None).await.expect("anonymous WebSocket");
    assert_eq!(next_json(&mut socket).await["type"], "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_public_keys_verify_rs256_and_eddsa() {
    let rsa = rsa_key("rsa-1");
    let ed = ed25519_key("ed-1");
    let stranger = rsa_key("rsa-1");
    let jwks_dir = tempfile::tempdir().unwrap();
    let jwks = jwks_dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [rsa.jwk, ed.jwk]}).to_string()).unwrap();
    let jwks_path = jwks.to_str().unwrap();
    let api = start(&[
        ("TINCT_AUTH", "closed"),
        ("TINCT_AUTH_JWKS_FILE", jwks_path),
    ]);

    let rs = |key: &KeyPair, kid: &str, alg: Algorithm| {
        sign(
            alg,
            &EncodingKey::from_rsa_pem(&key.private_pem).unwrap(),
            Some(kid),
            &claims("rsa-user", "tokens:read tokens:write"),
        )
    };
    let rs256 = rs(&rsa, "rsa-1", Algorithm::RS256);
    let written = api.write("#abcdef", Some(&rs256)).await;
    written.ok();
    assert_eq!(api.actor_of(&written, &rs256).await, "rsa-user");

    let eddsa = sign(
        Algorithm::EdDSA,
        &EncodingKey::from_ed_pem(&ed.private_pem).unwrap(),
        Some("ed-1"),
        &claims("ed-user", "tokens:read"),
    );
    api.call("tokens.resolve", json!({"node": THEME}), Some(&eddsa))
        .await
        .ok();

    // A key we do not trust, under a trusted key id.
    api.write("#000000", Some(&rs(&stranger, "rsa-1", Algorithm::RS256)))
        .await
        .unauthorized("bad_signature", "signature");
    api.write("#000000", Some(&rs(&rsa, "rsa-9", Algorithm::RS256)))
        .await
        .unauthorized("unknown_key", "rsa-9");
    // The JWK pins RS256; the same key with another RSA algorithm is refused.
    api.write("#000000", Some(&rs(&rsa, "rsa-1", Algorithm::RS512)))
        .await
        .unauthorized("algorithm_not_allowed", "RS512");
    // No secret is configured, so an HS256 token cannot be verified with anything (least of all
    // with the RSA public key).
    api.write("#000000", Some(&token("mallory", "admin")))
        .await
        .unauthorized("algorithm_not_allowed", "HS256");
    api.write("#000000", Some(&unsigned(&claims("mallory", "admin"))))
        .await
        .unauthorized("algorithm_not_allowed", "none");
    let value = api
        .call("tokens.resolve", json!({"node": THEME}), Some(&eddsa))
        .await;
    assert_eq!(value.ok()["tokens"][PATH]["value"], "#abcdef");
}

// ---------------------------------------------------------------------------------------------
// Start-up rules and configuration
// ---------------------------------------------------------------------------------------------

/// `tinct serve` on `listen`; its first stdout line (the banner), or its exit status and stderr.
fn serve(listen: &str, env: &[(&str, &str)]) -> Result<(Child, String), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tinct_command(Path::new(BIN), dir.path())
        .args(["serve", "--listen", listen])
        .env("TINCT_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(line) = rx.try_recv()
            && !line.is_empty()
        {
            return Ok((child, line));
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return Err(format!("{status}: {stderr}"));
        }
        assert!(
            Instant::now() < deadline,
            "tinct serve neither started nor exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    text(&out.stderr)
}

#[test]
fn serve_refuses_open_off_loopback_and_auth_without_a_usable_key() {
    let refused = serve("0.0.0.0:0", &[]).expect_err("open on 0.0.0.0 must not start");
    assert!(
        refused.contains("auth is open") && refused.contains("TINCT_AUTH=closed"),
        "{refused}"
    );

    let (child, banner) = serve("0.0.0.0:0", &hs256("closed")).expect("closed starts anywhere");
    assert!(banner.contains("listening"), "{banner}");
    stop(child);

    let (child, _) = serve("127.0.0.1:0", &[]).expect("open starts on loopback");
    let stderr = stop(child);
    assert!(stderr.contains("auth is off"), "no warning: {stderr}");

    let no_key = serve("127.0.0.1:0", &[("TINCT_AUTH", "closed")]).expect_err("closed, no key");
    assert!(no_key.contains("TINCT_AUTH_SECRET"), "{no_key}");
    let weak = serve(
        "127.0.0.1:0",
        &[("TINCT_AUTH", "read-open"), ("TINCT_AUTH_SECRET", "short")],
    )
    .expect_err("a 5-character secret");
    assert!(weak.contains("at least 32"), "{weak}");
    let missing = serve(
        "127.0.0.1:0",
        &[
            ("TINCT_AUTH", "closed"),
            ("TINCT_AUTH_JWKS_FILE", "/no/such/jwks.json"),
        ],
    )
    .expect_err("an unreadable JWKS file");
    assert!(missing.contains("/no/such/jwks.json"), "{missing}");
    let dir = tempfile::tempdir().unwrap();
    let oct = dir.path().join("jwks.json");
    std::fs::write(
        &oct,
        r#"{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}"#,
    )
    .unwrap();
    let symmetric = serve(
        "127.0.0.1:0",
        &[
            ("TINCT_AUTH", "closed"),
            ("TINCT_AUTH_JWKS_FILE", oct.to_str().unwrap()),
        ],
    )
    .expect_err("a shared secret in the JWKS file");
    assert!(symmetric.contains("auth_secret"), "{symmetric}");
    let mode = serve("127.0.0.1:0", &[("TINCT_AUTH", "sometimes")]).expect_err("unknown mode");
    assert!(mode.contains("sometimes"), "{mode}");
}

#[test]
fn config_masks_the_secret_and_local_calls_need_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = tinct(dir.path(), &["config"], &hs256("closed"));
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains(SECRET),
        "tinct config shows the secret: {stdout}"
    );
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["auth_secret"], "********");
    assert_eq!(shown["auth"], "closed");

    let out = tinct(
        dir.path(),
        &["call", "system.health"],
        &[("TINCT_AUTH", "closed")],
    );
    assert!(out.status.success(), "a local call was refused: {out:?}");
}

// ---------------------------------------------------------------------------------------------
// CLI: minting and --remote
// ---------------------------------------------------------------------------------------------

#[test]
fn minted_tokens_work_against_a_server_from_the_remote_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mint = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["auth", "token"];
        all.extend_from_slice(args);
        tinct(d, &all, env)
    };
    let secret = [("TINCT_AUTH_SECRET", SECRET)];

    let no_secret = mint(&["--sub", "ana"], &[]);
    assert_eq!(no_secret.status.code(), Some(2), "{no_secret:?}");
    assert!(text(&no_secret.stderr).contains("TINCT_AUTH_SECRET"));
    let unknown = mint(&["--sub", "ana", "--scopes", "tokens:delete"], &secret);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("unknown scope 'tokens:delete'"));
    let ttl = mint(&["--sub", "ana", "--ttl", "forever"], &secret);
    assert_eq!(ttl.status.code(), Some(2));
    assert!(text(&ttl.stderr).contains("--ttl"));

    let minted = mint(
        &[
            "--sub",
            "ana",
            "--scopes",
            "tokens:read,tokens:write",
            "--ttl",
            "1h",
        ],
        &secret,
    );
    assert!(minted.status.success(), "{minted:?}");
    let token = text(&minted.stdout).trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");

    let api = start(&hs256("closed"));
    let remote = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--json", "call"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--remote", api.url()]);
        tinct(d, &all, env)
    };
    let write = |value: &str| {
        vec![
            "token.override".to_owned(),
            format!("node={THEME}"),
            format!("path={PATH}"),
            format!("value={value}"),
        ]
    };
    let args = write("#111111");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refused = remote(&args, &[]);
    assert_eq!(refused.status.code(), Some(6), "{refused:?}");
    let envelope: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(envelope["error"]["code"], "UNAUTHORIZED");

    let mut with_flag = args.clone();
    with_flag.extend_from_slice(&["--token", &token]);
    let out = remote(&with_flag, &[]);
    assert!(out.status.success(), "{out:?}");

    let args = write("#222222");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = remote(&args, &[("TINCT_TOKEN", &token)]);
    assert!(out.status.success(), "TINCT_TOKEN was not sent: {out:?}");
    let envelope: Value = serde_json::from_slice(&out.stdout).unwrap();
    let trace = envelope["metadata"]["traceId"].clone();

    let history = remote(
        &[
            "token.history",
            &format!("node={THEME}"),
            &format!("path={PATH}"),
        ],
        &[("TINCT_TOKEN", &token)],
    );
    assert!(history.status.success(), "{history:?}");
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    let entry = history["data"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["traceId"] == trace)
        .cloned()
        .expect("the write is in the history");
    assert_eq!(entry["actor"], "ana");
}

// ---------------------------------------------------------------------------------------------
// WebSocket and MCP
// ---------------------------------------------------------------------------------------------

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connected socket, or the refused handshake's status and envelope.
async fn ws_connect(url: &str, authorization: Option<&str>) -> Result<Socket, (u16, Value)> {
    let mut request = url.into_client_request().unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("WebSocket to {url}: {e}"),
    }
}

async fn next_json(socket: &mut Socket) -> Value {
    use futures::StreamExt;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_needs_a_token_when_closed() {
    let api = start(&hs256("closed"));
    let ws = format!("{}/v1/ws", api.url().replace("http://", "ws://"));
    let reader = token("watcher", "tokens:read");

    let (status, envelope) = ws_connect(&ws, None).await.expect_err("refused");
    assert_eq!(status, 401);
    assert_eq!(envelope["error"]["code"], "UNAUTHORIZED");
    assert!(
        envelope["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("access_token")
    );
    let expired = hs(
        SECRET,
        &with(
            claims("watcher", "tokens:read"),
            json!({"exp": now() - 3600}),
        ),
    );
    let (status, envelope) = ws_connect(&format!("{ws}?access_token={expired}"), None)
        .await
        .expect_err("refused");
    assert_eq!(status, 401);
    assert_eq!(envelope["error"]["details"]["reason"], "expired");
    let (status, envelope) =
        ws_connect(&format!("{ws}?access_token={}", token("nobody", "")), None)
            .await
            .expect_err("refused");
    assert_eq!(
        (status, envelope["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );

    let bearer = format!("Bearer {reader}");
    let mut by_header = ws_connect(&format!("{ws}?node={THEME}"), Some(&bearer))
        .await
        .expect("a token in the header");
    assert_eq!(next_json(&mut by_header).await["type"], "hello");
    let mut by_query = ws_connect(&format!("{ws}?access_token={reader}"), None)
        .await
        .expect("a token in the query");
    assert_eq!(next_json(&mut by_query).await["type"], "hello");

    // Events carry the writer's subject.
    api.write("#333333", Some(&token("ana", "tokens:write")))
        .await
        .ok();
    for socket in [&mut by_header, &mut by_query] {
        let event = next_json(socket).await;
        assert_eq!(event["type"], "event", "{event}");
        assert_eq!(event["actor"], "ana", "{event}");
    }
}

async fn mcp_call(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    name: &str,
    args: Value,
) -> CallToolResult {
    let params = CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    client.call_tool(params).await.expect("tools/call")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_needs_a_token_when_closed() {
    let api = start(&hs256("closed"));
    let endpoint = format!("{}/mcp", api.url());

    let anonymous =
        ().serve(StreamableHttpClientTransport::from_uri(endpoint.clone()))
            .await
            .expect("the MCP handshake itself is open");
    let refused = mcp_call(&anonymous, "tokens.resolve", json!({"node": THEME})).await;
    assert_eq!(refused.is_error, Some(true));
    let envelope = refused.structured_content.unwrap();
    assert_eq!(envelope["error"]["code"], "UNAUTHORIZED", "{envelope}");
    anonymous.cancel().await.unwrap();

    let agent = token("agent-7", "tokens:read tokens:write");
    let config = StreamableHttpClientTransportConfig::with_uri(endpoint).auth_header(agent.clone());
    let client = ().serve(StreamableHttpClientTransport::from_config(config)).await.unwrap();
    let read = mcp_call(&client, "tokens.resolve", json!({"node": THEME})).await;
    assert_eq!(read.is_error, Some(false), "{read:?}");
    let written = mcp_call(
        &client,
        "token.override",
        json!({"node": THEME, "path": PATH, "value": "#444444"}),
    )
    .await;
    assert_eq!(written.is_error, Some(false), "{written:?}");
    let history = mcp_call(
        &client,
        "token.history",
        json!({"node": THEME, "path": PATH, "limit": 1}),
    )
    .await;
    let entries = &history.structured_content.unwrap()["data"]["entries"];
    assert_eq!(entries[0]["actor"], "agent-7", "{entries}");
    client.cancel().await.unwrap();

    // `tinct mcp --remote` passes its --token on.
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::from(tinct_command(Path::new(BIN), empty.path()));
    cmd.args(["mcp", "--remote", api.url(), "--token", &agent]);
    let stdio = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
    let read = mcp_call(&stdio, "node.get", json!({"id": THEME})).await;
    assert_eq!(read.is_error, Some(false), "{read:?}");
    stdio.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_puts_its_token_on_the_live_connection() {
    let api = start(&hs256("closed"));
    let browser = tinct_testkit::Browser::launch().await;
    let page = browser.open(api.url()).await;
    let state = "document.querySelector('#connection').dataset.state";
    // Without a token the page can load nothing, and is not live.
    page.wait_for(
        "the page to report the refused load",
        Duration::from_secs(20),
        "document.body.innerText.includes('needs an access token')",
    )
    .await;
    assert_ne!(page.eval(state).await, "live");
    let reader = serde_json::to_string(&token("browser", "tokens:read")).unwrap();
    page.eval(&format!(
        "document.querySelector('#auth-token').value = {reader};
         document.querySelector('#auth-form').requestSubmit(); true"
    ))
    .await;
    page.wait_for(
        "live with the token",
        Duration::from_secs(20),
        &format!("{state} === 'live'"),
    )
    .await;
}
