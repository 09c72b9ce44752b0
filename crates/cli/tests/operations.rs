//! Operations on the real binary: circuit breakers around Redis and a replica (seen in `/health`,
//! `/health/ready` and `/metrics`), graceful shutdown (drain, in-flight requests, deadline, a
//! second signal), request limits, CORS, per-surface timeouts, no secret in the logs, and a
//! rolling restart of three instances behind nginx under load that loses no request.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tinct_testkit::{Nginx, Postgres, Redis, eventually, free_port, promtool_check, tinct_command};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

/// A `tinct serve` on a given or free port, its stderr kept in a file when asked.
struct Server {
    url: String,
    port: u16,
    child: Child,
    stderr: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Server {
        Self::start_on(0, env, false)
    }

    fn start_on(port: u16, env: &[(&str, &str)], capture_stderr: bool) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let stderr_path = dir.path().join("stderr.log");
        let mut cmd = tinct_command(Path::new(BIN), dir.path());
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("TINCT_LOG", "warn")
            .env("TINCT_SHUTDOWN_DRAIN_SECS", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped());
        if capture_stderr {
            cmd.stderr(std::fs::File::create(&stderr_path).unwrap());
        } else {
            cmd.stderr(Stdio::inherit());
        }
        let mut child = cmd.spawn().expect("spawn tinct serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut lines = std::io::BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let banner = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("tinct serve printed no banner");
            });
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_owned();
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            url,
            port,
            child,
            stderr: capture_stderr.then_some(stderr_path),
            _dir: dir,
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit by itself (the test's own timeout bounds this).
    fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.as_ref().unwrap()).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(base: &str, command: &str, input: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/commands/{command}"))
        .json(&input)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn must(base: &str, command: &str, input: Value) -> Value {
    let (status, envelope) = post(base, command, input).await;
    assert_eq!(
        envelope["success"], true,
        "{command} ({status}): {envelope}"
    );
    envelope
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn scrape(base: &str) -> String {
    let text = tinct_testkit::metrics_text(base).await;
    promtool_check(&text);
    text
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn breaker<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["data"]["breakers"]
        .as_array()
        .and_then(|all| all.iter().find(|b| b["name"] == name))
        .unwrap_or_else(|| panic!("no breaker {name} in {health}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_breaker_opens_while_redis_is_down_and_closes_by_itself() {
    let mut redis = Redis::start();
    let redis_url = redis.url();
    let server = Server::start(&[("TINCT_CACHE", "redis"), ("TINCT_REDIS_URL", &redis_url)]);
    let base = server.url.clone();
    must(&base, "node.create", json!({"id": "ds"})).await;
    let (_, health) = get(&format!("{base}/health")).await;
    assert_eq!(breaker(&health, "redis-cache")["state"], "closed");
    assert_eq!(health["data"]["status"], "ok", "{health}");
    assert_eq!(
        get(&format!("{base}/health/ready")).await,
        (200, json!({"status": "ready"}))
    );

    redis.stop();
    // Every read still succeeds; new inputs miss L1, so each one asks L2 until the breaker opens.
    let mut n = 0;
    eventually("the redis breaker opens", || {
        n += 1;
        let base = base.clone();
        async move {
            must(&base, "node.list", json!({"limit": 1 + n % 50})).await;
            let (_, health) = get(&format!("{base}/health")).await;
            breaker(&health, "redis-cache")["state"] != "closed"
        }
    })
    .await;
    let (_, health) = get(&format!("{base}/health")).await;
    assert_eq!(health["data"]["status"], "degraded", "{health}");
    assert_eq!(health["data"]["degraded"], json!(["redis-cache"]));
    assert!(breaker(&health, "redis-cache")["openedAtMs"].is_u64());
    let (status, ready) = get(&format!("{base}/health/ready")).await;
    assert_eq!(status, 200, "degraded is still ready: {ready}");
    assert_eq!(
        ready,
        json!({"status": "degraded", "degraded": ["redis-cache"]})
    );
    let text = scrape(&base).await;
    let state = sample(&text, r#"tinct_breaker_state{breaker="redis-cache"}"#);
    assert!(matches!(state, Some(s) if s >= 1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"tinct_breaker_transitions_total{breaker="redis-cache",to="open"}"#
        ),
        Some(1.0),
        "{text}"
    );
    // Answers keep coming while it is open.
    for i in 0..20 {
        must(&base, "node.list", json!({"limit": 100 + i})).await;
    }

    redis.restart();
    let mut n = 0;
    eventually("the redis breaker closes again", || {
        n += 1;
        let base = base.clone();
        async move {
            must(&base, "node.list", json!({"limit": 200 + n % 50})).await;
            let (_, health) = get(&format!("{base}/health")).await;
            breaker(&health, "redis-cache")["state"] == "closed"
        }
    })
    .await;
    assert_eq!(
        get(&format!("{base}/health/ready")).await,
        (200, json!({"status": "ready"}))
    );
    let text = scrape(&base).await;
    assert_eq!(
        sample(&text, r#"tinct_breaker_state{breaker="redis-cache"}"#),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_replica_opens_its_breaker_reads_go_to_the_primary_and_timeouts_hold_per_surface()
{
    let primary = Postgres::start();
    let mut replica = primary.start_replica();
    let (db, replica_url) = (primary.url(), replica.url());
    let server = Server::start_on(
        0,
        &[
            ("TINCT_DATABASE_URL", &db),
            ("TINCT_READ_REPLICA_URLS", &replica_url),
            // A read waits this long for the replica to reach its consistency token …
            ("TINCT_CONSISTENCY_WAIT_MS", "600000"),
            // … so the surface's deadline is what ends it.
            ("TINCT_REQUEST_TIMEOUT_SECS", "1"),
            ("TINCT_MCP_TIMEOUT_SECS", "2"),
        ],
        true,
    );
    let base = server.url.clone();
    must(&base, "node.create", json!({"id": "ds"})).await;
    let name = |health: &Value| {
        health["data"]["breakers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"].as_str().unwrap().starts_with("replica "))
            .cloned()
            .unwrap_or_else(|| panic!("no replica breaker: {health}"))
    };
    let (_, health) = get(&format!("{base}/health")).await;
    let replica_breaker = name(&health)["name"].as_str().unwrap().to_owned();
    assert_eq!(name(&health)["state"], "closed", "{health}");

    // REST: a read whose token no replica reaches ends at request_timeout_secs with TIMEOUT.
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/commands/node.get"))
        .header("tinct-consistency", u64::MAX.to_string())
        .json(&json!({"id": "ds"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(envelope["error"]["code"], "TIMEOUT", "{envelope}");
    // A failed request is logged with the trace id that leads to the rest of its story.
    let trace_id = envelope["metadata"]["traceId"].as_str().unwrap().to_owned();
    eventually("the failed request is logged", || {
        let logged = server.stderr().lines().any(|line| {
            line.contains("request failed") && line.contains("504") && line.contains(&trace_id)
        });
        async move { logged }
    })
    .await;
    // MCP over HTTP: the same read ends at mcp_timeout_secs.
    {
        use reqwest::header::{HeaderName, HeaderValue};
        use rmcp::ServiceExt;
        use rmcp::model::CallToolRequestParams;
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let headers = [(
            HeaderName::from_static("tinct-consistency"),
            HeaderValue::from_str(&u64::MAX.to_string()).unwrap(),
        )];
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
                .custom_headers(headers.into_iter().collect()),
        );
        let client = ().serve(transport).await.unwrap();
        let params = CallToolRequestParams::new("node.get".to_owned())
            .with_arguments(json!({"id": "ds"}).as_object().cloned().unwrap());
        let result = client.call_tool(params).await.unwrap();
        assert_eq!(result.is_error, Some(true));
        let envelope = result.structured_content.unwrap();
        assert_eq!(envelope["error"]["code"], "TIMEOUT", "{envelope}");
        client.cancel().await.unwrap();
    }

    replica.stop();
    for i in 0..20 {
        // Reads are answered whatever the replica's state (the primary takes over).
        let envelope = must(&base, "node.list", json!({"limit": 1 + i})).await;
        assert_eq!(envelope["data"]["nodes"][0]["id"], "ds", "{envelope}");
    }
    eventually("the replica's breaker opens", || async {
        let (_, health) = get(&format!("{base}/health")).await;
        name(&health)["state"] != "closed"
    })
    .await;
    let (_, health) = get(&format!("{base}/health")).await;
    assert_eq!(health["data"]["replicas"][0]["healthy"], false, "{health}");
    assert_eq!(health["data"]["degraded"], json!([replica_breaker]));
    let (status, ready) = get(&format!("{base}/health/ready")).await;
    assert_eq!((status, &ready["status"]), (200, &json!("degraded")));
    let text = scrape(&base).await;
    let series = format!(r#"tinct_breaker_state{{breaker="{replica_breaker}"}}"#);
    assert!(
        matches!(sample(&text, &series), Some(s) if s >= 1.0),
        "{series} in\n{text}"
    );
    let must_read = must(&base, "node.get", json!({"id": "ds"})).await;
    assert_eq!(must_read["data"]["id"], "ds");

    replica.restart();
    eventually(
        "the replica's breaker closes (the probe is its trial)",
        || async {
            let (_, health) = get(&format!("{base}/health")).await;
            name(&health)["state"] == "closed"
        },
    )
    .await;
}

/// Sends a POST's head and the first half of its body; the rest is sent later.
async fn half_sent_request(port: u16, body: &str) -> (tokio::net::TcpStream, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/commands/node.create HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    (stream, rest.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_finishes_the_request_in_flight_and_exits_0() {
    let mut server = Server::start(&[
        ("TINCT_SHUTDOWN_DRAIN_SECS", "2"),
        ("TINCT_SHUTDOWN_TIMEOUT_SECS", "60"),
    ]);
    let base = server.url.clone();
    assert_eq!(get(&format!("{base}/health/ready")).await.0, 200);
    // A slow client: its request is in flight, its body half sent.
    let (mut slow, rest) = half_sent_request(server.port, r#"{"id": "slow-but-kept"}"#).await;

    server.signal("TERM");
    // Draining: not ready any more, still alive, still answering.
    eventually("readiness turns 503", || async {
        get(&format!("{base}/health/ready")).await.0 == 503
    })
    .await;
    let (status, ready) = get(&format!("{base}/health/ready")).await;
    assert_eq!(status, 503);
    assert_eq!(ready["status"], "draining", "{ready}");
    let (_, detail) = get(&format!("{base}/health")).await;
    assert_eq!(detail["data"]["status"], "draining", "{detail}");
    let live = reqwest::get(format!("{base}/health/live")).await.unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(
        live.headers()["connection"],
        "close",
        "proxies drop the connection"
    );
    // Then the listener closes, and the request in flight is still answered.
    eventually("the listener closes", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .is_err()
    })
    .await;
    slow.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""success":true"#), "{answer}");
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_outlives_the_shutdown_deadline_does_not_keep_the_process_alive() {
    let mut server = Server::start(&[("TINCT_SHUTDOWN_TIMEOUT_SECS", "1")]);
    let (_stuck, _never_sent) = half_sent_request(server.port, r#"{"id": "never"}"#).await;
    server.signal("TERM");
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once() {
    let mut server = Server::start(&[("TINCT_SHUTDOWN_DRAIN_SECS", "600")]);
    let base = server.url.clone();
    server.signal("TERM");
    eventually("draining", || async {
        get(&format!("{base}/health/ready")).await.0 == 503
    })
    .await;
    server.signal("INT");
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    // 128 + SIGINT: the forced stop, not the 600 s drain.
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_and_json_too_deep_are_refused_with_the_envelope() {
    let server = Server::start(&[("TINCT_MAX_BODY_BYTES", "1000")]);
    let base = &server.url;
    let client = reqwest::Client::new();
    let big = json!({"id": "x".repeat(2000)}).to_string();
    for route in ["/v1/commands/node.create", "/v1/batch", "/mcp"] {
        let response = client
            .post(format!("{base}{route}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{route}");
        let envelope: Value = response.json().await.unwrap();
        assert_eq!(envelope["error"]["code"], "VALIDATION_ERROR", "{envelope}");
        let message = envelope["error"]["message"].as_str().unwrap();
        assert!(message.contains("1000 bytes"), "{message}");
        let suggestion = envelope["error"]["suggestion"].as_str().unwrap();
        assert!(suggestion.contains("max_body_bytes"), "{suggestion}");
    }
    // Without a Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..20).map(|_| Ok("x".repeat(100))).collect();
    let response = client
        .post(format!("{base}/v1/commands/node.create"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Too deep: a clear error, before anything deserialises it; nothing was created.
    let deep = format!(
        r#"{{"id": "deep", "description": {}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    for route in ["/v1/commands/node.create", "/mcp"] {
        let response = client
            .post(format!("{base}{route}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(deep.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{route}");
        let envelope: Value = response.json().await.unwrap();
        assert_eq!(envelope["error"]["code"], "VALIDATION_ERROR", "{envelope}");
        assert!(
            envelope["error"]["message"]
                .as_str()
                .unwrap()
                .contains("deeper than 128"),
            "{envelope}"
        );
    }
    let (_, missing) = post(base, "node.get", json!({"id": "deep"})).await;
    assert_eq!(missing["error"]["code"], "NOT_FOUND");
    // Under the limit, all is as usual.
    must(base, "node.create", json!({"id": "small"})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_body_limit_takes_an_import_of_5000_tokens() {
    let server = Server::start(&[]);
    let base = &server.url;
    must(base, "node.create", json!({"id": "big"})).await;
    // Long descriptions: past axum's 2 MB default, within tinct's 10 MiB.
    let description = "A token with a long description. ".repeat(20);
    let mut group = serde_json::Map::new();
    for i in 0..5000 {
        group.insert(
            format!("t{i:04}"),
            json!({"$type": "color", "$value": format!("#{:06x}", i * 3000), "$description": description}),
        );
    }
    let document = json!({"color": Value::Object(group)});
    let body = json!({"node": "big", "document": document}).to_string();
    assert!(body.len() > 3_000_000, "{}", body.len());
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/commands/tokens.import"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(envelope["success"], true, "{envelope}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_only_the_configured_origins_and_api_answers_are_nosniff() {
    let allowed = "https://app.example.com";
    let preflight = |base: String, origin: &'static str| async move {
        reqwest::Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{base}/v1/commands/node.list"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .await
            .unwrap()
    };
    let simple = |base: String, origin: &'static str| async move {
        reqwest::Client::new()
            .get(format!("{base}/v1/nodes"))
            .header("origin", origin)
            .send()
            .await
            .unwrap()
    };

    // Default: same-origin only — no CORS headers for anyone.
    let closed = Server::start(&[]);
    let response = simple(closed.url.clone(), allowed).await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let response = preflight(closed.url.clone(), allowed).await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let open = Server::start(&[(
        "TINCT_CORS_ORIGINS",
        "https://app.example.com,https://b.example",
    )]);
    let response = preflight(open.url.clone(), allowed).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    let methods = response.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let headers = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    let response = simple(open.url.clone(), allowed).await;
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("tinct-consistency"), "{exposed}");
    // An origin not on the list gets no CORS headers, so the browser refuses it.
    for response in [
        preflight(open.url.clone(), "https://evil.example").await,
        simple(open.url.clone(), "https://evil.example").await,
    ] {
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    }
    // `*` opens the API to every origin, and says so in the log.
    let any = Server::start_on(0, &[("TINCT_CORS_ORIGINS", "*")], true);
    let response = simple(any.url.clone(), "https://evil.example").await;
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let log = any.stderr();
    assert!(log.contains("cors_origins has '*'"), "{log}");
    // Errors carry nosniff too.
    let (_, _) = post(&open.url, "node.get", json!({"id": "nope"})).await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/commands/node.get", open.url))
        .json(&json!({"id": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_at_debug_level() {
    let secret = "log-canary-secret-0123456789abcdefghijklmnop";
    let password = "pw-canary-4242";
    let primary = Postgres::start();
    // The test cluster trusts local connections, so any password is accepted — and must be hidden.
    let db = primary
        .url()
        .replacen("postgres@", &format!("postgres:{password}@"), 1);
    let server = Server::start_on(
        0,
        &[
            ("TINCT_DATABASE_URL", &db),
            ("TINCT_AUTH", "closed"),
            ("TINCT_AUTH_SECRET", secret),
            ("TINCT_LOG", "debug"),
            ("TINCT_LOG_FORMAT", "json"),
        ],
        true,
    );
    let base = server.url.clone();
    let minted = tinct_command(Path::new(BIN), server._dir.path())
        .args(["auth", "token", "--sub", "ana", "--scopes", "admin"])
        .env("TINCT_AUTH_SECRET", secret)
        .output()
        .unwrap();
    assert!(minted.status.success(), "{minted:?}");
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    assert!(token.len() > 40, "{token}");

    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{base}/v1/commands/node.create"))
        .bearer_auth(&token)
        .json(&json!({"id": "ds"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["success"], true, "{created}");
    let listed = client
        .get(format!("{base}/v1/nodes"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    // A refused token is logged as refused, not printed.
    let refused = client
        .get(format!("{base}/v1/nodes"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // The browser way: the token in the WebSocket's query string.
    let ws = format!(
        "{}/v1/ws?node=ds&access_token={token}",
        base.replacen("http", "ws", 1)
    );
    let (socket, _) = tokio_tungstenite::connect_async(ws).await.unwrap();
    drop(socket);
    server.signal("TERM");
    let mut server = server;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait();
        (status, server)
    })
    .await
    .unwrap();
    assert_eq!(status.0.code(), Some(0));
    let log = status.1.stderr();
    assert!(log.contains("DEBUG"), "the log is at debug level:\n{log}");
    for (what, needle) in [
        ("auth secret", secret),
        ("database password", password),
        ("token", token.as_str()),
        // A token's signature alone identifies it too.
        ("token signature", token.rsplit('.').next().unwrap()),
    ] {
        assert!(!log.contains(needle), "the {what} is in the log:\n{log}");
    }
}

/// What a load balancer's health checking does (an ingress controller, a cloud target group):
/// polls every instance's `/health/ready` and keeps only the ready ones in nginx's upstream,
/// marking the others `down` and reloading nginx. The drain delay exists for exactly this: an
/// instance told to stop reports 503 first, and is out of the upstream before it stops listening.
struct Balancer {
    conf: PathBuf,
    master: u32,
    ports: Vec<u16>,
    /// The ports nginx currently sends traffic to.
    routed: std::sync::Mutex<Vec<u16>>,
}

impl Balancer {
    fn new(nginx: &Nginx, ports: &[u16]) -> Arc<Balancer> {
        // The master's title names its configuration: "nginx: master process nginx -p DIR -c
        // DIR/nginx.conf" (nginx rewrites its command line; the words survive).
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", nginx.pid())).unwrap();
        let title = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let words: Vec<&str> = title.split_whitespace().collect();
        let conf = words
            .iter()
            .position(|w| *w == "-c")
            .map(|i| PathBuf::from(words[i + 1]))
            .unwrap_or_else(|| panic!("no -c in the nginx master's title: {title}"));
        Arc::new(Balancer {
            conf,
            master: nginx.pid(),
            ports: ports.to_vec(),
            routed: std::sync::Mutex::new(ports.to_vec()),
        })
    }

    fn routes(&self, port: u16) -> bool {
        self.routed.lock().unwrap().contains(&port)
    }

    /// One round of health checks; reloads nginx when the set of ready instances changed.
    async fn check(&self, http: &reqwest::Client) {
        let mut ready = Vec::new();
        for &port in &self.ports {
            let answer = http
                .get(format!("http://127.0.0.1:{port}/health/ready"))
                .timeout(Duration::from_millis(500))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status() == 200) {
                ready.push(port);
            }
        }
        if ready.is_empty() || *self.routed.lock().unwrap() == ready {
            return;
        }
        let mut conf = std::fs::read_to_string(&self.conf).unwrap();
        for &port in &self.ports {
            let up = format!("server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;");
            let down = format!("server 127.0.0.1:{port} max_fails=1 fail_timeout=2s down;");
            conf = if ready.contains(&port) {
                conf.replace(&down, &up)
            } else {
                conf.replace(&up, &down)
            };
        }
        std::fs::write(&self.conf, conf).unwrap();
        let workers = self.workers();
        let status = Command::new("kill")
            .args(["-HUP", &self.master.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        // Reloaded once a worker with the new configuration is running.
        eventually("nginx reloads", || async {
            self.workers().iter().any(|w| !workers.contains(w))
        })
        .await;
        *self.routed.lock().unwrap() = ready;
    }

    fn workers(&self) -> Vec<String> {
        let children = format!("/proc/{0}/task/{0}/children", self.master);
        std::fs::read_to_string(children)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

/// Three instances on one PostgreSQL behind nginx, whose upstream follows the instances'
/// readiness (see `Balancer`); each instance is restarted in turn (SIGTERM, wait for it to exit,
/// start the new one on the same port, wait until the balancer routes to it) while clients keep
/// reading and writing through nginx. No request may fail, and every acknowledged write must be
/// there at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_behind_nginx_under_load_loses_no_request() {
    let primary = Postgres::start();
    let db = primary.url();
    let env: Vec<(&'static str, String)> = vec![
        ("TINCT_DATABASE_URL", db),
        // Longer than the balancer takes to notice (a check every 100 ms, then a reload).
        ("TINCT_SHUTDOWN_DRAIN_SECS", "2".to_owned()),
        ("TINCT_SHUTDOWN_TIMEOUT_SECS", "20".to_owned()),
    ];
    let start = |port: u16, env: &[(&'static str, String)]| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start_on(port, &env, false)
    };
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut instances: Vec<Server> = ports.iter().map(|&port| start(port, &env)).collect();
    let nginx = Nginx::start(
        &ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>(),
    );
    let lb = nginx.url();
    must(&lb, "node.create", json!({"id": "load"})).await;
    let balancer = Balancer::new(&nginx, &ports);
    let stop = Arc::new(AtomicBool::new(false));
    let health_checks = tokio::spawn({
        let (balancer, stop) = (balancer.clone(), stop.clone());
        async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                balancer.check(&http).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let mut clients = Vec::new();
    for c in 0..4 {
        let (lb, stop) = (lb.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            // A new connection per request, as many clients of a public service: a kept-alive
            // client connection would be at the mercy of nginx's own reloads.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let (mut acknowledged, mut failures, mut requests) = (Vec::new(), Vec::new(), 0u32);
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let path = format!("load.c{c}.w{n}");
                requests += 2;
                let written = http
                    .post(format!("{lb}/v1/commands/token.add"))
                    .json(&json!({"node": "load", "path": path, "type": "number", "value": n}))
                    .send()
                    .await;
                match written {
                    Ok(r) if r.status() == 200 => acknowledged.push(path),
                    Ok(r) => failures.push(format!(
                        "write {path}: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => failures.push(format!("write {path}: {e}")),
                }
                let read = http.get(format!("{lb}/v1/nodes/load")).send().await;
                match read {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => failures.push(format!(
                        "read: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => failures.push(format!("read: {e}")),
                }
            }
            (acknowledged, failures, requests)
        }));
    }

    for (i, &port) in ports.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(300)).await;
        instances[i].signal("TERM");
        loop {
            if let Some(status) = instances[i].child.try_wait().unwrap() {
                assert_eq!(status.code(), Some(0), "instance {i} exits 0 on SIGTERM");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let env = env.clone();
        instances[i] = tokio::task::spawn_blocking(move || start(port, &env))
            .await
            .unwrap();
        eventually("the balancer routes to the new instance", || async {
            balancer.routes(port)
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    health_checks.await.unwrap();

    let (mut acknowledged, mut failures, mut requests) = (Vec::new(), Vec::new(), 0);
    for client in clients {
        let (a, f, r) = client.await.unwrap();
        acknowledged.extend(a);
        failures.extend(f);
        requests += r;
    }
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed during the rolling restart:\n{}\nnginx: {}",
        failures.len(),
        failures.join("\n"),
        nginx.error_log()
    );
    assert!(
        acknowledged.len() > 20,
        "load kept going: {}",
        acknowledged.len()
    );
    let resolved = must(&lb, "tokens.resolve", json!({"node": "load"})).await;
    let tokens = resolved["data"]["tokens"].as_object().unwrap();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|p| !tokens.contains_key(p.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}
