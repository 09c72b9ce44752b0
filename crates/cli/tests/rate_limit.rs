//! Rate limits end to end on real `tinct serve` processes: 429 with `Retry-After`, the RateLimit
//! headers and a `RATE_LIMITED` envelope on REST (and the same envelope over MCP and on the
//! WebSocket upgrade); budgets per client address and per token subject; `X-Forwarded-For`
//! believed only from trusted proxies; bad policies refused at start-up; one cluster-wide budget
//! across three instances behind nginx with `limiter=redis`; and Redis going away, failing open
//! or closed as configured.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};
use tempfile::TempDir;
use tinct_testkit::{Nginx, Redis, TinctServer, tinct_command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const BIN: &str = env!("CARGO_BIN_EXE_tinct");
const SECRET: &str = "tinct-rate-limit-tests-0123456789-abcdef";
const THEME: &str = "acme-web-dark";

/// A `tinct serve` on its own data directory (with the demo when asked) and extra environment.
struct Server {
    server: TinctServer,
    _dir: TempDir,
}

impl Server {
    fn start(demo: bool, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        if demo {
            let out = tinct_command(Path::new(BIN), dir.path())
                .arg("demo")
                .output()
                .unwrap();
            assert!(out.status.success(), "demo: {out:?}");
        }
        Server {
            server: TinctServer::start_in(Path::new(BIN), dir.path(), env),
            _dir: dir,
        }
    }

    fn url(&self) -> &str {
        &self.server.url
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("OK")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request to tinct");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

/// POSTs a command with optional bearer token and `X-Forwarded-For`.
async fn call(
    base: &str,
    name: &str,
    input: Value,
    token: Option<&str>,
    xff: Option<&str>,
) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/v1/commands/{name}"))
        .json(&input);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    send(request).await
}

async fn codes(
    base: &str,
    name: &str,
    token: Option<&str>,
    xff: Option<&str>,
    n: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            call(base, name, json!({}), token, xff)
                .await
                .code()
                .to_owned(),
        );
    }
    out
}

fn token(sub: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims =
        json!({"sub": sub, "scope": "tokens:read tokens:write", "iat": now, "exp": now + 600});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn metrics(base: &str) -> String {
    tinct_testkit::metrics_text(base).await
}

/// The value of one sample line of `/metrics`, e.g. `tinct_rate_limited_total{class="read"}`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_client_past_its_budget_gets_429_with_headers_and_the_envelope() {
    let api = Server::start(
        true,
        &[
            ("TINCT_RATE_LIMIT_READ", "1/h burst 3"),
            ("TINCT_RATE_LIMIT_EXPORT", "1/h burst 1"),
            ("TINCT_RATE_LIMIT_WRITE", "off"),
        ],
    );
    let base = api.url();
    assert_eq!(
        codes(base, "node.list", None, None, 3).await,
        ["OK", "OK", "OK"]
    );
    let refused = call(base, "node.list", json!({}), None, None).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.code(), "RATE_LIMITED");
    let error = &refused.body["error"];
    assert_eq!(error["retryable"], true);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("retry in 3600 s"),
        "{error}"
    );
    assert!(
        error["suggestion"]
            .as_str()
            .unwrap()
            .contains("Retry-After"),
        "{error}"
    );
    assert_eq!(error["details"]["limit"], 3);
    assert_eq!(error["details"]["remaining"], 0);
    assert_eq!(error["details"]["retryAfterSecs"], 3600);
    assert_eq!(error["details"]["policy"], "1;w=3600;burst=3");
    assert_eq!(refused.header("retry-after"), Some("3600"));
    assert_eq!(refused.header("ratelimit-limit"), Some("3"));
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    assert_eq!(refused.header("ratelimit-policy"), Some("1;w=3600;burst=3"));
    let reset: u64 = refused.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!(
        (3 * 3600 - 60..=3 * 3600).contains(&reset),
        "full again after three intervals: {reset}"
    );
    assert!(refused.header("x-trace-id").is_some());

    // Other classes have their own budgets; writes are off; health is never limited.
    let created = call(base, "node.create", json!({"id": "extra"}), None, None).await;
    assert_eq!(created.code(), "OK", "{}", created.body);
    assert_eq!(
        codes(base, "node.create", None, None, 3)
            .await
            .iter()
            .filter(|c| *c == "RATE_LIMITED")
            .count(),
        0
    );
    assert_eq!(codes(base, "system.health", None, None, 5).await, ["OK"; 5]);
    let health = send(reqwest::Client::new().get(format!("{base}/health/ready"))).await;
    assert_eq!(health.status, 200);

    // The export route draws from the export budget and answers 429 the same way.
    let css = format!("{base}/v1/nodes/{THEME}/export.css");
    let first = send(reqwest::Client::new().get(&css)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = send(reqwest::Client::new().get(&css)).await;
    assert_eq!(second.status, 429, "{}", second.body);
    assert_eq!(second.code(), "RATE_LIMITED");
    assert_eq!(second.body["error"]["details"]["class"], "export");
    assert_eq!(second.header("ratelimit-limit"), Some("1"));
    assert_eq!(second.header("retry-after"), Some("3600"));

    let text = metrics(base).await;
    assert_eq!(
        sample(&text, "tinct_rate_limited_total{class=\"read\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "tinct_rate_limited_total{class=\"export\"}"),
        1.0
    );
    assert!(text.contains("# HELP tinct_rate_limited_total"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_subject_has_its_own_budget() {
    let api = Server::start(
        false,
        &[
            ("TINCT_AUTH", "read-open"),
            ("TINCT_AUTH_SECRET", SECRET),
            ("TINCT_RATE_LIMIT_READ", "1/h burst 2"),
        ],
    );
    let base = api.url();
    let (ana, bob) = (token("ana"), token("bob"));
    assert_eq!(
        codes(base, "node.list", None, None, 3).await,
        ["OK", "OK", "RATE_LIMITED"]
    );
    // The anonymous budget is spent; ana and bob each have their own.
    assert_eq!(
        codes(base, "node.list", Some(&ana), None, 3).await,
        ["OK", "OK", "RATE_LIMITED"]
    );
    assert_eq!(
        codes(base, "node.list", Some(&bob), None, 2).await,
        ["OK", "OK"]
    );
    // A second token of ana's (another session) shares ana's budget.
    let again = token("ana");
    assert_eq!(
        codes(base, "node.list", Some(&again), None, 1).await,
        ["RATE_LIMITED"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_http_gets_the_rate_limited_tool_result() {
    let api = Server::start(false, &[("TINCT_RATE_LIMIT_READ", "1/h burst 1")]);
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "{}/mcp",
            api.url()
        )))
        .await
        .expect("MCP handshake");
    let call = |name: &str| {
        CallToolRequestParams::new(name.to_owned()).with_arguments(serde_json::Map::new())
    };
    let first = client.call_tool(call("node.list")).await.unwrap();
    assert_eq!(first.is_error, Some(false), "{first:?}");
    let refused = client.call_tool(call("node.list")).await.unwrap();
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    let envelope = refused.structured_content.unwrap();
    assert_eq!(envelope["error"]["code"], "RATE_LIMITED", "{envelope}");
    assert_eq!(envelope["error"]["details"]["retryAfterSecs"], 3600);
    // system.* stays available to the agent.
    let health = client.call_tool(call("system.health")).await.unwrap();
    assert_eq!(health.is_error, Some(false), "{health:?}");
    client.cancel().await.unwrap();
}

/// Opens `/v1/ws` with an `X-Forwarded-For`; the upgrade's status (101 when it opened).
async fn ws_status(base: &str, xff: &str) -> u16 {
    let mut request = format!("{}/v1/ws", base.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, response)) => {
            let _ = socket.close(None).await;
            response.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("websocket: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let read = ("TINCT_RATE_LIMIT_READ", "1/h burst 2");
    // Nothing trusted: whatever the header claims, one peer is one budget.
    let direct = Server::start(false, &[read]);
    let base = direct.url();
    assert_eq!(
        codes(base, "node.list", None, Some("198.51.100.1"), 2).await,
        ["OK", "OK"]
    );
    assert_eq!(
        codes(base, "node.list", None, Some("198.51.100.2"), 1).await,
        ["RATE_LIMITED"]
    );
    // The same over the WebSocket upgrade, which reads the change log (a read).
    let direct = Server::start(false, &[read]);
    let base = direct.url();
    assert_eq!(ws_status(base, "198.51.100.1").await, 101);
    assert_eq!(ws_status(base, "198.51.100.2").await, 101);
    assert_eq!(ws_status(base, "198.51.100.3").await, 429);

    // Behind a trusted proxy (the loopback peer here), each forwarded client has its own budget,
    // and entries left of the right-most untrusted one (made up by the client) do not matter.
    let proxied = Server::start(
        false,
        &[read, ("TINCT_TRUSTED_PROXIES", "127.0.0.1/32, ::1")],
    );
    let base = proxied.url();
    assert_eq!(ws_status(base, "198.51.100.1").await, 101);
    assert_eq!(ws_status(base, "6.6.6.6, 198.51.100.1").await, 101);
    assert_eq!(ws_status(base, "7.7.7.7, 198.51.100.1").await, 429);
    assert_eq!(ws_status(base, "198.51.100.2").await, 101);
}

/// `tinct serve` with `env`; its exit status and stderr when it refuses to start.
fn refused_start(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tinct_command(Path::new(BIN), dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "{env:?} must not start");
            let out = child.wait_with_output().unwrap();
            return String::from_utf8_lossy(&out.stderr).into_owned();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tinct serve started with {env:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_rate_limit_configuration_is_refused_at_start_up() {
    let err = refused_start(&[("TINCT_RATE_LIMIT_EXPORT", "60/day")]);
    assert!(
        err.contains("rate_limit_export (TINCT_RATE_LIMIT_EXPORT)")
            && err.contains("'60/day'")
            && err.contains("s, min or h")
            && err.contains("\"600/min\""),
        "{err}"
    );
    let err = refused_start(&[("TINCT_RATE_LIMIT_READ", "lots")]);
    assert!(
        err.contains("rate_limit_read") && err.contains("N/s, N/min or N/h"),
        "{err}"
    );
    let err = refused_start(&[("TINCT_RATE_LIMIT_WRITE", "10/s burst none")]);
    assert!(
        err.contains("rate_limit_write") && err.contains("burst"),
        "{err}"
    );
    let err = refused_start(&[("TINCT_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")]);
    assert!(
        err.contains("trusted_proxies") && err.contains("'proxy.local'"),
        "{err}"
    );
    let err = refused_start(&[("TINCT_RATE_LIMIT_FAIL", "sometimes")]);
    assert!(err.contains("sometimes"), "{err}");
    let err = refused_start(&[("TINCT_LIMITER", "redis")]);
    assert!(
        err.contains("TINCT_LIMITER=redis needs TINCT_REDIS_URL"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_budget_holds_across_three_instances_behind_nginx() {
    let redis = Redis::start();
    let url = redis.url();
    // 600/min is one request every 100 ms, after a burst of 50.
    let env = [
        ("TINCT_LIMITER", "redis"),
        ("TINCT_REDIS_URL", url.as_str()),
        ("TINCT_RATE_LIMIT_READ", "600/min burst 50"),
    ];
    let instances: Vec<Server> = (0..3).map(|_| Server::start(false, &env)).collect();
    let upstreams: Vec<String> = instances
        .iter()
        .map(|s| s.url().trim_start_matches("http://").to_owned())
        .collect();
    let nginx = Nginx::start(&upstreams);
    let lb = nginx.url();

    // Eight clients fire as fast as they can for a fixed window: far more than 10 a second.
    let window = Duration::from_secs(5);
    let stop = Arc::new(AtomicBool::new(false));
    let allowed = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let answered_by = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (lb, stop, allowed, refused, answered_by) = (
            lb.clone(),
            stop.clone(),
            allowed.clone(),
            refused.clone(),
            answered_by.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let reply = send(
                    http.post(format!("{lb}/v1/commands/node.list"))
                        .json(&json!({})),
                )
                .await;
                match reply.status {
                    200 => allowed.fetch_add(1, Ordering::SeqCst),
                    429 => refused.fetch_add(1, Ordering::SeqCst),
                    other => panic!("unexpected {other}: {}", reply.body),
                };
                let instance = reply.body["metadata"]["instance"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                *answered_by.lock().unwrap().entry(instance).or_insert(0) += 1;
            }
        }));
    }
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let elapsed = started.elapsed();

    let allowed = allowed.load(Ordering::SeqCst) as f64;
    let refused = refused.load(Ordering::SeqCst);
    // GCRA: the burst at once, then one per interval for the rest of the window.
    let expected = 50.0 + elapsed.as_secs_f64() / 0.1;
    let answered_by = answered_by.lock().unwrap().clone();
    assert_eq!(
        answered_by.len(),
        3,
        "every instance answered: {answered_by:?}"
    );
    assert!(
        refused as f64 > allowed,
        "the clients fired well over the policy: {allowed} allowed, {refused} refused"
    );
    assert!(
        (allowed - expected).abs() <= expected * 0.1,
        "{allowed} allowed through three instances in {elapsed:?}; the policy allows {expected:.0}"
    );
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_open_or_closed_as_configured() {
    let mut redis = Redis::start();
    let url = redis.url();
    let common = [
        ("TINCT_LIMITER", "redis"),
        ("TINCT_REDIS_URL", url.as_str()),
        ("TINCT_RATE_LIMIT_READ", "1/h burst 2"),
    ];
    let open = Server::start(
        false,
        &[
            common[0],
            common[1],
            common[2],
            ("TINCT_RATE_LIMIT_FAIL", "open"),
        ],
    );
    let closed = Server::start(
        false,
        &[
            common[0],
            common[1],
            common[2],
            ("TINCT_RATE_LIMIT_FAIL", "closed"),
        ],
    );
    // Both share the budget in Redis while it is up.
    assert_eq!(codes(open.url(), "node.list", None, None, 1).await, ["OK"]);
    assert_eq!(
        codes(closed.url(), "node.list", None, None, 2).await,
        ["OK", "RATE_LIMITED"]
    );

    redis.stop();
    // Fail-open: calls go through unlimited; the outage is counted.
    assert_eq!(
        codes(open.url(), "node.list", None, None, 4).await,
        ["OK"; 4]
    );
    let text = metrics(open.url()).await;
    assert!(
        sample(
            &text,
            "tinct_rate_limiter_unavailable_total{outcome=\"allowed\"}"
        ) >= 4.0,
        "{text}"
    );
    // Fail-closed: SERVICE_UNAVAILABLE, retryable, with Retry-After; unlimited commands still run.
    let refused = call(closed.url(), "node.list", json!({}), None, None).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.code(), "SERVICE_UNAVAILABLE");
    assert_eq!(refused.body["error"]["retryable"], true);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate_limit_fail=closed"),
        "{}",
        refused.body
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        codes(closed.url(), "system.health", None, None, 1).await,
        ["OK"]
    );

    // Redis back (empty): the closed instance serves again by itself, with a fresh budget.
    redis.restart();
    let start = Instant::now();
    loop {
        let reply = call(closed.url(), "node.list", json!({}), None, None).await;
        if reply.code() == "OK" {
            break;
        }
        assert_eq!(reply.code(), "SERVICE_UNAVAILABLE", "{}", reply.body);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the limiter never used Redis again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        codes(closed.url(), "node.list", None, None, 2).await,
        ["OK", "RATE_LIMITED"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_behind_a_trusted_proxy_keys_each_forwarded_client() {
    let read = ("TINCT_RATE_LIMIT_READ", "1/h burst 2");
    let proxied = Server::start(false, &[read, ("TINCT_TRUSTED_PROXIES", "127.0.0.1")]);
    let base = proxied.url();
    let a = Some("6.6.6.6, 198.51.100.1");
    assert_eq!(
        codes(base, "node.list", None, a, 3).await,
        ["OK", "OK", "RATE_LIMITED"]
    );
    assert_eq!(
        codes(base, "node.list", None, Some("198.51.100.2"), 2).await,
        ["OK", "OK"]
    );
    // REST and the WebSocket upgrade draw from the same budget of one client.
    assert_eq!(ws_status(base, "198.51.100.2").await, 429);
    assert_eq!(ws_status(base, "198.51.100.3").await, 101);
    // Without a header, the proxy itself is the client.
    assert_eq!(codes(base, "node.list", None, None, 2).await, ["OK", "OK"]);
}
