//! Scale-out behaviour with real processes: PostgreSQL primary + streaming replica, several `tinct`
//! instances, nginx in front. Invariants from DESIGN.md: stateless instances, read-your-writes,
//! no stale cache, nothing acknowledged lost.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tinct_testkit::{Nginx, Postgres, Redis, TinctServer, eventually};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

/// Fields drop in order: instances stop before the databases they use.
struct Cluster {
    instances: Vec<TinctServer>,
    replica: Postgres,
    primary: Postgres,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn start(instances: usize) -> Cluster {
        Self::start_with(instances, &[])
    }

    fn start_with(instances: usize, extra: &[(&str, String)]) -> Cluster {
        Self::start_each(&vec![extra; instances])
    }

    /// One instance per entry of `extras`, each with that extra environment.
    fn start_each(extras: &[&[(&str, String)]]) -> Cluster {
        let primary = Postgres::start();
        let replica = primary.start_replica();
        let mut dirs = Vec::new();
        let mut servers = Vec::new();
        for (i, extra) in extras.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let name = format!("node-{i}");
            let env = [
                ("TINCT_DATABASE_URL", primary.url()),
                ("TINCT_READ_REPLICA_URLS", replica.url()),
                ("TINCT_INSTANCE", name),
                ("TINCT_CONSISTENCY_WAIT_MS", "200".to_owned()),
            ];
            let env: Vec<(&str, &str)> = env
                .iter()
                .chain(extra.iter())
                .map(|(k, v)| (*k, v.as_str()))
                .collect();
            servers.push(TinctServer::start_in(Path::new(BIN), dir.path(), &env));
            dirs.push(dir);
        }
        Cluster {
            primary,
            replica,
            instances: servers,
            _dirs: dirs,
        }
    }

    fn url(&self, i: usize) -> &str {
        &self.instances[i].url
    }
}

/// POSTs a command; returns the envelope and the Tinct-Consistency header.
async fn call(
    base: &str,
    command: &str,
    input: Value,
    token: Option<&str>,
) -> (Value, Option<String>) {
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("{base}/v1/commands/{command}"))
        .json(&input);
    if let Some(token) = token {
        request = request.header("tinct-consistency", token);
    }
    let response = request.send().await.expect("request");
    let token = response
        .headers()
        .get("tinct-consistency")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.json().await.expect("envelope"), token)
}

async fn must(base: &str, command: &str, input: Value) -> String {
    let (envelope, token) = call(base, command, input, None).await;
    assert_eq!(envelope["success"], true, "{command}: {envelope}");
    token.expect("a mutation returns a consistency token")
}

/// The colour `base` shows now, or None while it cannot answer yet (a replica that has not
/// replayed the seed): for waiting, where a not-yet answer must not end the test.
async fn colour_once_there(base: &str) -> Option<Value> {
    let (envelope, _) = call(
        base,
        "tokens.resolve",
        json!({"node": "ds", "prefix": "color.x"}),
        None,
    )
    .await;
    (envelope["success"] == true).then(|| envelope["data"]["tokens"]["color.x"]["value"].clone())
}

async fn colour(base: &str, token: Option<&str>) -> Value {
    let (envelope, _) = call(
        base,
        "tokens.resolve",
        json!({"node": "ds", "prefix": "color.x"}),
        token,
    )
    .await;
    assert_eq!(envelope["success"], true, "{envelope}");
    envelope["data"]["tokens"]["color.x"]["value"].clone()
}

async fn seed(base: &str, value: &str) -> String {
    must(base, "node.create", json!({"id": "ds"})).await;
    must(
        base,
        "token.add",
        json!({"node": "ds", "path": "color.x", "type": "color", "value": value}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_a_is_read_on_b_with_its_token_while_the_replica_lags() {
    let cluster = Cluster::start(2);
    let (a, b) = (cluster.url(0).to_owned(), cluster.url(1).to_owned());
    let first = seed(&a, "#111111").await;
    assert_eq!(colour(&b, Some(&first)).await, json!("#111111"));
    // Warm B's cache with the current value.
    eventually("B sees the first value without a token", || async {
        colour_once_there(&b).await == Some(json!("#111111"))
    })
    .await;

    cluster.replica.pause_replay();
    let second = must(
        &a,
        "token.update",
        json!({"node": "ds", "path": "color.x", "value": "#222222"}),
    )
    .await;
    assert!(second.parse::<u64>().unwrap() > first.parse::<u64>().unwrap());
    // With the token, B answers the new value at once: from neither its cache nor the lagging
    // replica, however many times it is asked.
    for _ in 0..5 {
        assert_eq!(colour(&b, Some(&second)).await, json!("#222222"));
    }
    // Without it, B converges once the change event reaches it — even with replay still paused,
    // because a refill after an invalidation reads at least at the write's revision.
    eventually("B sees the new value without a token", || async {
        colour(&b, None).await == json!("#222222")
    })
    .await;
    cluster.replica.sql("SELECT pg_wal_replay_resume()");
    let _ = &cluster.primary;
}

/// `tinct call --remote URL ARGS… --json`: the envelope.
fn cli_call(args: &[&str]) -> Value {
    let empty = tempfile::tempdir().unwrap();
    let out = tinct_testkit::tinct_command(Path::new(BIN), empty.path())
        .arg("--json")
        .args(["call"])
        .args(args)
        .output()
        .expect("run tinct");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not an envelope ({e}): {out:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_runs_and_mcp_over_http_read_a_write_made_elsewhere_through_a_lagging_replica() {
    // A announces changes with NOTIFY, B listens on Redis: B hears of A's writes only at its
    // 2 s poll, so for that long only a consistency token makes B's answer fresh.
    let redis = Redis::start();
    let on_redis = [
        ("TINCT_BUS", "redis".to_owned()),
        ("TINCT_REDIS_URL", redis.url()),
    ];
    let cluster = Cluster::start_each(&[&[], &on_redis]);
    let (a, b) = (cluster.url(0).to_owned(), cluster.url(1).to_owned());
    seed(&a, "#111111").await;
    eventually("B sees the first value", || async {
        colour_once_there(&b).await == Some(json!("#111111"))
    })
    .await;
    cluster.replica.pause_replay();

    // One CLI run writes through A; the next reads through B with the write's revision.
    let written = cli_call(&[
        "token.update",
        "node=ds",
        "path=color.x",
        "value=#222222",
        "--remote",
        &a,
    ]);
    assert_eq!(written["success"], true, "{written}");
    let revision = written["metadata"]["revision"].as_str().unwrap().to_owned();
    let read = cli_call(&[
        "tokens.resolve",
        "node=ds",
        "prefix=color.x",
        "--remote",
        &b,
        "--consistency",
        &revision,
    ]);
    assert_eq!(
        read["data"]["tokens"]["color.x"]["value"], "#222222",
        "{read}"
    );

    // MCP over HTTP carries the same token as a header.
    let written = cli_call(&[
        "token.update",
        "node=ds",
        "path=color.x",
        "value=#333333",
        "--remote",
        &a,
    ]);
    let revision = written["metadata"]["revision"].as_str().unwrap().to_owned();
    let headers = [(
        reqwest::header::HeaderName::from_static("tinct-consistency"),
        reqwest::header::HeaderValue::from_str(&revision).unwrap(),
    )];
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            format!("{b}/mcp"),
        )
        .custom_headers(headers.into_iter().collect()),
    );
    let client = rmcp::ServiceExt::serve((), transport)
        .await
        .expect("MCP handshake");
    let params = rmcp::model::CallToolRequestParams::new("tokens.resolve").with_arguments(
        json!({"node": "ds", "prefix": "color.x"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let result = client.call_tool(params).await.expect("tools/call");
    let envelope = result.structured_content.expect("structured content");
    assert_eq!(
        envelope["data"]["tokens"]["color.x"]["value"], "#333333",
        "{envelope}"
    );
    client.cancel().await.unwrap();
    cluster.replica.sql("SELECT pg_wal_replay_resume()");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_on_every_instance_never_go_back_to_an_old_value() {
    let cluster = Cluster::start(2);
    let a = cluster.url(0).to_owned();
    seed(&a, "#000000").await;
    let urls: Vec<String> = cluster.instances.iter().map(|s| s.url.clone()).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for url in urls.clone() {
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            // Values are written in increasing order; a reader must never see one go backwards.
            let mut highest = 0u32;
            let mut seen = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let value = colour(&url, None).await;
                let n = u32::from_str_radix(value.as_str().unwrap().trim_start_matches('#'), 16)
                    .unwrap();
                assert!(
                    n >= highest,
                    "{url} went back from {highest:06x} to {n:06x}"
                );
                highest = n;
                seen += 1;
            }
            (highest, seen)
        }));
    }
    for n in 1..=20u32 {
        must(
            &a,
            "token.update",
            json!({"node": "ds", "path": "color.x", "value": format!("#{n:06x}")}),
        )
        .await;
    }
    for url in &urls {
        eventually("every instance shows the last value", || async {
            colour(url, None).await == json!("#000014")
        })
        .await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let (highest, seen) = reader.await.unwrap();
        assert!(seen > 0);
        assert!(highest <= 20);
    }
}

async fn next_event(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event within 10 s")
            .expect("stream open")
            .expect("frame");
        if let Message::Text(text) = message {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "event" {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_on_b_receives_changes_from_a_and_resumes_without_gaps() {
    let cluster = Cluster::start(2);
    let (a, b) = (cluster.url(0).to_owned(), cluster.url(1).to_owned());
    seed(&a, "#010101").await;
    let ws_url = format!("{}/v1/ws?node=ds", b.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    must(
        &a,
        "token.update",
        json!({"node": "ds", "path": "color.x", "value": "#020202"}),
    )
    .await;
    let event = next_event(&mut ws).await;
    assert_eq!(event["node"], "ds");
    assert_eq!(event["kind"], "token.updated");
    assert_eq!(event["paths"], json!(["color.x"]));
    let last_seen = event["seq"].as_i64().unwrap();
    drop(ws);

    // Three changes while disconnected, then resume from the last sequence seen.
    for value in ["#030303", "#040404", "#050505"] {
        must(
            &a,
            "token.update",
            json!({"node": "ds", "path": "color.x", "value": value}),
        )
        .await;
    }
    let resume = format!("{ws_url}&since={last_seen}");
    let (mut ws, _) = tokio_tungstenite::connect_async(&resume).await.unwrap();
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(next_event(&mut ws).await["seq"].as_i64().unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "in order: {seqs:?}");
    assert!(seqs[0] > last_seen, "no duplicate of {last_seen}: {seqs:?}");
    // And live again: the next change arrives once, right after the replayed ones.
    must(
        &a,
        "token.update",
        json!({"node": "ds", "path": "color.x", "value": "#060606"}),
    )
    .await;
    let live = next_event(&mut ws).await;
    assert!(live["seq"].as_i64().unwrap() > seqs[2]);
}

/// What the streaming writer and reader of the kill test share with the test body.
#[derive(Default)]
struct Stream {
    stop: AtomicBool,
    killed: AtomicBool,
    /// Requests on their way: the kill waits for both clients to be mid-request.
    in_flight: AtomicUsize,
    acknowledged_after_kill: AtomicUsize,
    reads_after_kill: AtomicUsize,
    /// The newest acknowledged write (path, consistency token), which the reader checks.
    latest: Mutex<Option<(String, String)>>,
}

impl Stream {
    fn after_kill(&self, counter: &AtomicUsize) {
        if self.killed.load(Ordering::SeqCst) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Streams `token.add` writes (POST: nginx passes it to another instance only if the first never
/// got it) until told to stop; returns the acknowledged paths and the newest token.
async fn stream_writes(lb: String, stream: Arc<Stream>) -> (Vec<String>, String) {
    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    let mut newest = String::new();
    let mut i = 0;
    while !stream.stop.load(Ordering::SeqCst) {
        let path = format!("size.s{i}");
        i += 1;
        let input = json!({"node": "ds", "path": path, "type": "dimension", "value": {"value": i, "unit": "px"}});
        stream.in_flight.fetch_add(1, Ordering::SeqCst);
        let sent = client
            .post(format!("{lb}/v1/commands/token.add"))
            .json(&input)
            .send()
            .await;
        let answer = match sent {
            Ok(response) => {
                let status = response.status();
                let token = response
                    .headers()
                    .get("tinct-consistency")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Some((status, token, response.text().await))
            }
            Err(_) => None,
        };
        stream.in_flight.fetch_sub(1, Ordering::SeqCst);
        match answer {
            Some((status, Some(token), Ok(_))) if status.is_success() => {
                acknowledged.push(path.clone());
                newest = token.clone();
                *stream.latest.lock().unwrap() = Some((path, token));
                stream.after_kill(&stream.acknowledged_after_kill);
            }
            // Only the write in flight on the killed instance may fail, and only as nginx's 502
            // for it; it is not acknowledged, so it does not count. A live instance must not fail.
            Some((status, _, body)) => {
                assert_eq!(status, reqwest::StatusCode::BAD_GATEWAY, "{path}: {body:?}")
            }
            None => {}
        }
    }
    (acknowledged, newest)
}

/// Streams reads (GET, which nginx retries on another instance) until told to stop; each one
/// carries the newest acknowledged write's token and must see that write.
async fn stream_reads(lb: String, stream: Arc<Stream>) {
    let client = reqwest::Client::new();
    while !stream.stop.load(Ordering::SeqCst) {
        let latest = stream.latest.lock().unwrap().clone();
        let mut request = client.get(format!("{lb}/v1/nodes/ds/tokens?prefix=size."));
        if let Some((_, token)) = &latest {
            request = request.header("tinct-consistency", token);
        }
        stream.in_flight.fetch_add(1, Ordering::SeqCst);
        let answer = match request.send().await {
            Ok(response) => response.json::<Value>().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        stream.in_flight.fetch_sub(1, Ordering::SeqCst);
        let envelope = answer.expect("every read through nginx succeeds");
        assert_eq!(envelope["success"], true, "{envelope}");
        if let Some((path, _)) = latest {
            assert!(
                envelope["data"]["tokens"].get(path.as_str()).is_some(),
                "a read with the token of {path} sees it"
            );
        }
        stream.after_kill(&stream.reads_after_kill);
    }
}

/// Waits until `counter` reaches `n`.
async fn reaches(what: &str, counter: &AtomicUsize, n: usize) {
    let start = Instant::now();
    while counter.load(Ordering::SeqCst) < n {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: only {} of {n} within 60 s",
            counter.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_three_instances_behind_nginx_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3);
    let upstreams: Vec<String> = cluster
        .instances
        .iter()
        .map(|s| s.url.trim_start_matches("http://").to_owned())
        .collect();
    let nginx = Nginx::start(&upstreams);
    let lb = nginx.url();
    must(&lb, "node.create", json!({"id": "ds"})).await;

    let stream = Arc::new(Stream::default());
    let writer = tokio::spawn(stream_writes(lb.clone(), Arc::clone(&stream)));
    let reader = tokio::spawn(stream_reads(lb.clone(), Arc::clone(&stream)));
    // Let both run, then kill -9 one instance while both clients have a request out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    while stream.in_flight.load(Ordering::SeqCst) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "both clients are streaming"
        );
        std::hint::spin_loop();
        tokio::task::yield_now().await;
    }
    cluster.instances.remove(1).kill();
    stream.killed.store(true, Ordering::SeqCst);
    reaches("writes after the kill", &stream.acknowledged_after_kill, 20).await;
    reaches("reads after the kill", &stream.reads_after_kill, 20).await;
    stream.stop.store(true, Ordering::SeqCst);
    let (acknowledged, newest) = writer.await.expect("the writer saw no failure");
    reader.await.expect("every read succeeded");

    // Every acknowledged write, through nginx and through each instance left, read at least at
    // the newest acknowledged write: none missing.
    for base in cluster
        .instances
        .iter()
        .map(|s| s.url.clone())
        .chain([lb.clone()])
    {
        let (envelope, _) = call(
            &base,
            "tokens.resolve",
            json!({"node": "ds", "prefix": "size."}),
            Some(&newest),
        )
        .await;
        assert_eq!(envelope["success"], true, "{base}: {envelope}");
        let tokens = &envelope["data"]["tokens"];
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|path| tokens.get(path.as_str()).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "{base} lacks acknowledged writes {missing:?} of {}",
            acknowledged.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_replica_sends_reads_to_the_primary_without_an_error() {
    let mut cluster = Cluster::start(2);
    let urls: Vec<String> = cluster.instances.iter().map(|s| s.url.clone()).collect();
    seed(&urls[0], "#0d0d0d").await;
    cluster.primary.wait_replayed_by(&cluster.replica);
    // Each instance knows the replica is healthy and caught up, so it sends its reads there.
    for url in &urls {
        eventually("the instance reads from a caught-up replica", || async {
            let (e, _) = call(url, "system.health", json!({}), None).await;
            let replica = &e["data"]["replicas"][0];
            replica["healthy"] == true && replica["lagBytes"] == 0
        })
        .await;
    }

    cluster.replica.stop();
    // At once, before any probe: reads no cache can answer go to the replica each instance still
    // thinks healthy, and are answered anyway.
    for url in &urls {
        for input in [
            json!({"node": "ds"}),
            json!({"node": "ds", "prefix": "color"}),
            json!({"node": "ds", "prefix": "color.x"}),
        ] {
            let (envelope, _) = call(url, "tokens.resolve", input, None).await;
            assert_eq!(envelope["success"], true, "{url}: {envelope}");
            assert_eq!(
                envelope["data"]["tokens"]["color.x"]["value"],
                json!("#0d0d0d")
            );
        }
    }
    // And a write on one instance reads back current on both, with its token and without.
    let token = must(
        &urls[0],
        "token.update",
        json!({"node": "ds", "path": "color.x", "value": "#0e0e0e"}),
    )
    .await;
    for url in &urls {
        assert_eq!(colour(url, Some(&token)).await, json!("#0e0e0e"));
        eventually("the new value without a token", || async {
            colour(url, None).await == json!("#0e0e0e")
        })
        .await;
        let (e, _) = call(url, "system.health", json!({}), None).await;
        assert_eq!(e["data"]["replicas"][0]["healthy"], false, "{e}");
    }
}

fn redis_keys(redis: &Redis) -> usize {
    let out = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "--scan",
            "--pattern",
            "tinct:cache:*",
        ])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

async fn health_cache(base: &str) -> String {
    let envelope: Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    envelope["data"]["cache"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_l2_is_shared_survives_redis_going_away_and_is_used_again_after() {
    let mut redis = Redis::start();
    let cluster = Cluster::start_with(
        2,
        &[
            ("TINCT_CACHE", "redis".to_owned()),
            ("TINCT_REDIS_URL", redis.url()),
        ],
    );
    let (a, b) = (cluster.url(0).to_owned(), cluster.url(1).to_owned());
    let token = seed(&a, "#123456").await;
    // B fills L2; A, which never computed it, then finds it there.
    assert_eq!(colour(&b, Some(&token)).await, json!("#123456"));
    assert!(redis_keys(&redis) > 0, "B's read was stored in Redis");
    eventually("A is served from the shared L2", || async {
        let (e, _) = call(
            &a,
            "tokens.resolve",
            json!({"node": "ds", "prefix": "color.x"}),
            None,
        )
        .await;
        e["metadata"]["cache"] == "hit"
    })
    .await;
    assert_eq!(health_cache(&a).await, "in-process + redis");

    redis.stop();
    for i in 0..5 {
        let value = format!("#00000{i}");
        must(
            &a,
            "token.update",
            json!({"node": "ds", "path": "color.x", "value": value}),
        )
        .await;
        let fresh = must(
            &a,
            "token.update",
            json!({"node": "ds", "path": "color.x", "value": value}),
        )
        .await;
        assert_eq!(
            colour(&b, Some(&fresh)).await,
            json!(value),
            "served without Redis"
        );
    }
    // B notices at its next Redis call that fails; a write just before the stop may still
    // have gone through, so keep B busy until it reports the loss.
    eventually("B reports the cache degraded", || async {
        let token = must(
            &a,
            "token.update",
            json!({"node": "ds", "path": "color.x", "value": "#0f0f0f"}),
        )
        .await;
        assert_eq!(colour(&b, Some(&token)).await, json!("#0f0f0f"));
        health_cache(&b).await.contains("degraded")
    })
    .await;

    redis.restart();
    assert_eq!(redis_keys(&redis), 0, "a restarted Redis starts empty");
    // A new value misses every L1, so the refill goes to Redis once it is back in use.
    eventually("L2 is used again", || async {
        let token = must(
            &a,
            "token.update",
            json!({"node": "ds", "path": "color.x", "value": "#abcdef"}),
        )
        .await;
        colour(&b, Some(&token)).await;
        redis_keys(&redis) > 0
    })
    .await;
    eventually("health reports the L2 back", || async {
        health_cache(&b).await == "in-process + redis"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_work_through_nginx_on_the_redis_bus_and_close_with_1001_on_shutdown() {
    let redis = Redis::start();
    let mut cluster = Cluster::start_with(
        2,
        &[
            ("TINCT_BUS", "redis".to_owned()),
            ("TINCT_REDIS_URL", redis.url()),
        ],
    );
    let a = cluster.url(0).to_owned();
    // nginx fronts B only, so the socket is known to live on B.
    let nginx = Nginx::start(&[cluster.url(1).trim_start_matches("http://").to_owned()]);
    seed(&a, "#0a0a0a").await;
    let ws_url = format!(
        "{}/v1/ws?node=ds&subtree=true",
        nginx.url().replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let hello = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(hello.to_text().unwrap().contains("\"hello\""));
    must(&a, "node.create", json!({"id": "ds-dark", "parent": "ds"})).await;
    must(
        &a,
        "token.override",
        json!({"node": "ds-dark", "path": "color.x", "value": "#fefefe"}),
    )
    .await;
    // Both changes are in the subtree of ds, and arrive over the Redis bus from A.
    let created = next_event(&mut ws).await;
    assert_eq!(created["kind"], "node.created");
    let overridden = next_event(&mut ws).await;
    assert_eq!(overridden["node"], "ds-dark");
    assert_eq!(overridden["kind"], "token.overridden");

    let b = cluster.instances.remove(1);
    let status = tokio::task::spawn_blocking(move || b.terminate())
        .await
        .unwrap();
    assert!(
        status.success(),
        "SIGTERM ends tinct with exit 0: {status:?}"
    );
    let mut code = None;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await
    {
        if let Message::Close(frame) = message {
            code = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(code, Some(1001), "going away");
}

#[test]
fn instances_starting_at_once_on_a_fresh_database_migrate_it_once() {
    let primary = Postgres::start();
    let url = primary.url();
    let starters: Vec<_> = (0..3)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let dir = tempfile::tempdir().unwrap();
                let name = format!("racer-{i}");
                let env = [
                    ("TINCT_DATABASE_URL", url.as_str()),
                    ("TINCT_INSTANCE", name.as_str()),
                ];
                let server = TinctServer::start_in(Path::new(BIN), dir.path(), &env);
                (server, dir)
            })
        })
        .collect();
    let servers: Vec<_> = starters.into_iter().map(|s| s.join().unwrap()).collect();
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../platform/migrations/postgres"
    ))
    .unwrap()
    .count();
    assert_eq!(
        primary.sql("SELECT count(*), count(DISTINCT version) FROM _sqlx_migrations"),
        format!("{migrations}|{migrations}"),
        "each migration was applied exactly once"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (server, _) in &servers {
        let (envelope, _) = runtime.block_on(call(&server.url, "system.health", json!({}), None));
        assert_eq!(envelope["success"], true, "{envelope}");
        assert!(
            envelope["data"]["store"]
                .as_str()
                .unwrap()
                .starts_with("postgres")
        );
        assert_eq!(envelope["data"]["replicas"], json!([]));
    }
    drop(servers);
}
