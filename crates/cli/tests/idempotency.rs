//! Idempotency keys and `expectedRevision` on mutations, with real `tinct` processes: REST (header
//! and input field), the CLI (input fields), one instance on SQLite and two on PostgreSQL.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tinct_testkit::{Postgres, TinctServer, tinct_command};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

/// One REST reply: status, the `Idempotent-Replayed` header, the envelope.
struct Reply {
    status: u16,
    replayed: bool,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    fn suggestion(&self) -> &str {
        self.body["error"]["suggestion"].as_str().unwrap_or("")
    }

    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.body["success"], true, "{}", self.body);
        &self.body["data"]
    }

    fn refused(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.code(), code, "{}", self.body);
        assert!(
            !self.suggestion().is_empty(),
            "says what to do: {}",
            self.body
        );
        self
    }

    fn warnings(&self) -> Vec<String> {
        self.body["warnings"]
            .as_array()
            .map(|w| {
                w.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn post(base: &str, command: &str, input: Value, key: Option<&str>) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/v1/commands/{command}"))
        .json(&input);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("request to tinct");
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let body = response.json().await.expect("an envelope");
    Reply {
        status,
        replayed,
        body,
    }
}

async fn history(base: &str, node: &str, path: Option<&str>) -> Vec<Value> {
    let mut input = json!({"node": node});
    if let Some(path) = path {
        input["path"] = json!(path);
    }
    post(base, "token.history", input, None).await.ok()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn node_count(base: &str) -> usize {
    post(base, "node.list", json!({}), None).await.ok()["nodes"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

#[tokio::test]
async fn a_replayed_key_returns_the_first_result_and_creates_nothing() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();

    // The header on REST.
    let first = post(
        base,
        "node.create",
        json!({"id": "acme"}),
        Some("create-acme-1"),
    )
    .await;
    let created = first.ok().clone();
    assert!(!first.replayed);
    assert!(first.warnings().is_empty(), "{}", first.body);
    let again = post(
        base,
        "node.create",
        json!({"id": "acme"}),
        Some("create-acme-1"),
    )
    .await;
    assert_eq!(again.ok(), &created, "the first result, again");
    assert!(again.replayed, "Idempotent-Replayed: true");
    assert!(
        again
            .warnings()
            .iter()
            .any(|w| w.contains("idempotent replay")),
        "{}",
        again.body
    );
    assert_eq!(
        again.body["metadata"]["revision"], first.body["metadata"]["revision"],
        "the replay carries the first write's consistency token"
    );
    assert_eq!(node_count(base).await, 1);

    // The input field, on another mutation; the same request in another key order is the same.
    let add = json!({"node": "acme", "path": "color.a", "type": "color", "value": "#112233",
                     "idempotencyKey": "add-a"});
    let first = post(base, "token.add", add.clone(), None).await;
    let token = first.ok().clone();
    assert!(token["revision"].as_i64().unwrap() > 0, "{token}");
    let reordered = json!({"idempotencyKey": "add-a", "value": "#112233", "type": "color",
                           "path": "color.a", "node": "acme"});
    let again = post(base, "token.add", reordered, None).await;
    assert_eq!(again.ok(), &token);
    assert!(again.replayed);
    assert_eq!(history(base, "acme", Some("color.a")).await.len(), 1);

    // The same key with another request is refused, and changes nothing.
    let other = post(
        base,
        "node.create",
        json!({"id": "other"}),
        Some("create-acme-1"),
    )
    .await;
    other.refused(409, "CONFLICT");
    assert!(
        other.message().contains("different request"),
        "{}",
        other.body
    );
    assert!(
        other.suggestion().contains("new idempotency key"),
        "{}",
        other.body
    );
    assert_eq!(other.body["error"]["details"]["command"], "node.create");
    assert_eq!(node_count(base).await, 1);
    post(base, "node.get", json!({"id": "other"}), None)
        .await
        .refused(404, "NOT_FOUND");
    // ... also for another command.
    let elsewhere = post(
        base,
        "node.delete",
        json!({"id": "acme"}),
        Some("create-acme-1"),
    )
    .await;
    elsewhere.refused(409, "CONFLICT");
    assert_eq!(node_count(base).await, 1);

    // Keys are per actor and key, not per command: a field and a header that differ are refused.
    let both = post(
        base,
        "node.create",
        json!({"id": "b", "idempotencyKey": "one"}),
        Some("two"),
    )
    .await;
    both.refused(400, "VALIDATION_ERROR");
    assert!(both.message().contains("differ"), "{}", both.body);

    // A failure the caller caused is kept and replayed too; a fixed request needs a new key.
    let bad = json!({"node": "acme", "path": "color.b", "type": "color", "value": "not a colour"});
    let first = post(base, "token.add", bad.clone(), Some("bad-b")).await;
    first.refused(400, "VALIDATION_ERROR");
    assert!(!first.replayed);
    let again = post(base, "token.add", bad, Some("bad-b")).await;
    again.refused(400, "VALIDATION_ERROR");
    assert!(again.replayed);
    assert_eq!(again.message(), first.message());
    let fixed = json!({"node": "acme", "path": "color.b", "type": "color", "value": "#000000"});
    post(base, "token.add", fixed.clone(), Some("bad-b"))
        .await
        .refused(409, "CONFLICT");
    post(base, "token.add", fixed, Some("good-b")).await.ok();

    // Reads take no key: the header is ignored, the field is refused by the schema.
    let read = post(base, "node.get", json!({"id": "acme"}), Some("read-1")).await;
    read.ok();
    assert!(!read.replayed);
    post(
        base,
        "node.get",
        json!({"id": "acme", "idempotencyKey": "read-2"}),
        None,
    )
    .await
    .refused(400, "VALIDATION_ERROR");
}

/// Batch items carry their own keys; a replayed batch runs none of its keyed items again.
#[tokio::test]
async fn batch_items_take_their_own_keys() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();
    let batch = json!({"items": [
        {"command": "node.create", "input": {"id": "b1", "idempotencyKey": "batch-b1"}},
        {"command": "node.create", "input": {"id": "b2", "idempotencyKey": "batch-b2"}},
    ]});
    let send = || async {
        reqwest::Client::new()
            .post(format!("{base}/v1/batch"))
            .json(&batch)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let first = send().await;
    assert_eq!(first["success"], true, "{first}");
    let again = send().await;
    assert_eq!(
        again["success"], true,
        "a replay, not ALREADY_EXISTS: {again}"
    );
    for (one, two) in first["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["results"].as_array().unwrap())
    {
        assert_eq!(one["data"], two["data"]);
        assert!(
            two["warnings"].to_string().contains("idempotent replay"),
            "{two}"
        );
    }
    assert_eq!(node_count(base).await, 2);
}

#[tokio::test]
async fn bad_keys_are_refused_and_change_nothing() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();
    let long = "k".repeat(256);
    for key in ["has space", "ünïcode", long.as_str()] {
        let reply = post(
            base,
            "node.create",
            json!({"id": "x", "idempotencyKey": key}),
            None,
        )
        .await;
        reply.refused(400, "VALIDATION_ERROR");
        assert!(
            reply.message().contains("idempotency key"),
            "{}",
            reply.body
        );
        assert!(reply.suggestion().contains("1–255"), "{}", reply.body);
        assert_eq!(reply.body["error"]["details"]["field"], "idempotencyKey");
    }
    for key in ["", "tab\tkey"] {
        post(base, "node.create", json!({"id": "x"}), Some(key))
            .await
            .refused(400, "VALIDATION_ERROR");
    }
    post(
        base,
        "node.create",
        json!({"id": "x", "idempotencyKey": 7}),
        None,
    )
    .await
    .refused(400, "VALIDATION_ERROR");
    post(
        base,
        "node.create",
        json!({"id": "x", "expectedRevision": -1}),
        None,
    )
    .await
    .refused(400, "VALIDATION_ERROR");
    assert_eq!(node_count(base).await, 0);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_run_the_mutation_once() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.clone();
    post(&base, "node.create", json!({"id": "acme"}), None)
        .await
        .ok();
    let replies = futures::future::join_all((0..12).map(|_| {
        let base = base.clone();
        async move {
            post(
                &base,
                "token.add",
                json!({"node": "acme", "path": "color.race", "type": "color", "value": "#010203"}),
                Some("race-1"),
            )
            .await
        }
    }))
    .await;
    let mut originals = 0;
    for reply in &replies {
        if reply.status == 200 {
            originals += usize::from(!reply.replayed);
        } else {
            // Still running when this one came: told to retry, nothing ran.
            reply.refused(409, "CONFLICT");
            assert_eq!(
                reply.body["error"]["details"]["inProgress"], true,
                "{}",
                reply.body
            );
            assert_eq!(reply.body["error"]["retryable"], true, "{}", reply.body);
            assert!(reply.suggestion().contains("Retry"), "{}", reply.body);
        }
    }
    assert_eq!(originals, 1, "exactly one request ran");
    assert_eq!(history(&base, "acme", Some("color.race")).await.len(), 1);
    // Once it finished, every retry gets its result.
    let retry = post(
        &base,
        "token.add",
        json!({"node": "acme", "path": "color.race", "type": "color", "value": "#010203"}),
        Some("race-1"),
    )
    .await;
    retry.ok();
    assert!(retry.replayed);
}

#[tokio::test]
async fn a_key_is_free_again_after_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    let server = TinctServer::start_in(
        Path::new(BIN),
        dir.path(),
        &[("TINCT_IDEMPOTENCY_RETENTION_SECS", "1")],
    );
    let base = server.url.as_str();
    post(base, "node.create", json!({"id": "first"}), Some("k"))
        .await
        .ok();
    // Within the retention the key belongs to the first request; after it, to anyone.
    let mut attempts = 0;
    loop {
        let reply = post(base, "node.create", json!({"id": "second"}), Some("k")).await;
        if reply.status == 200 {
            assert!(!reply.replayed);
            break;
        }
        reply.refused(409, "CONFLICT");
        attempts += 1;
        assert!(attempts < 200, "the key never expired");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(node_count(base).await, 2);
}

#[tokio::test]
async fn expected_revision_refuses_stale_changes_and_allows_current_ones() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();
    let created = post(
        base,
        "node.create",
        json!({"id": "acme", "name": "Acme"}),
        None,
    )
    .await;
    let r1 = created.ok()["revision"].as_i64().unwrap();
    assert!(r1 > 0);
    let got = post(base, "node.get", json!({"id": "acme"}), None).await;
    assert_eq!(got.ok()["revision"], r1, "reads show the revision");
    let listed = post(base, "node.list", json!({}), None).await;
    assert_eq!(listed.ok()["nodes"][0]["revision"], r1);

    // Stale: refused, names the current revision, changes nothing.
    let stale = post(
        base,
        "node.update",
        json!({"id": "acme", "name": "Stale", "expectedRevision": r1 + 100}),
        None,
    )
    .await;
    stale.refused(409, "CONFLICT");
    assert!(
        stale.message().contains(&format!("revision {r1}")),
        "{}",
        stale.body
    );
    assert!(stale.suggestion().contains("Re-read"), "{}", stale.body);
    assert_eq!(stale.body["error"]["details"]["currentRevision"], r1);
    let unchanged = post(base, "node.get", json!({"id": "acme"}), None).await;
    assert_eq!(unchanged.ok()["name"], "Acme");

    // Current: applied, and the node moves on.
    let updated = post(
        base,
        "node.update",
        json!({"id": "acme", "name": "Acme DS", "expectedRevision": r1}),
        None,
    )
    .await;
    let r2 = updated.ok()["revision"].as_i64().unwrap();
    assert!(r2 > r1);
    post(
        base,
        "node.update",
        json!({"id": "acme", "name": "Late", "expectedRevision": r1}),
        None,
    )
    .await
    .refused(409, "CONFLICT");
    post(
        base,
        "node.delete",
        json!({"id": "acme", "expectedRevision": r1}),
        None,
    )
    .await
    .refused(409, "CONFLICT");

    // Tokens: 0 means "not there yet"; each write returns the revision to send next.
    let add = json!({"node": "acme", "path": "color.a", "type": "color", "value": "#111111",
                     "expectedRevision": 0});
    let t1 = post(base, "token.add", add, None).await.ok()["revision"]
        .as_i64()
        .unwrap();
    let entries = history(base, "acme", Some("color.a")).await;
    assert_eq!(
        entries[0]["revision"],
        t1.to_string(),
        "history shows it too"
    );
    let stale = post(
        base,
        "token.update",
        json!({"node": "acme", "path": "color.a", "value": "#222222", "expectedRevision": 0}),
        None,
    )
    .await;
    stale.refused(409, "CONFLICT");
    assert_eq!(stale.body["error"]["details"]["currentRevision"], t1);
    let resolved = post(base, "tokens.resolve", json!({"node": "acme"}), None).await;
    assert_eq!(resolved.ok()["tokens"]["color.a"]["value"], "#111111");
    assert_eq!(
        resolved.ok()["tokens"]["color.a"]["revision"],
        t1,
        "reads show the revision to send back"
    );
    let t2 = post(
        base,
        "token.update",
        json!({"node": "acme", "path": "color.a", "value": "#222222", "expectedRevision": t1}),
        None,
    )
    .await
    .ok()["revision"]
        .as_i64()
        .unwrap();
    assert!(t2 > t1);
    let resolved = post(base, "tokens.resolve", json!({"node": "acme"}), None).await;
    assert_eq!(resolved.ok()["tokens"]["color.a"]["revision"], t2);
    // A node's revision is its own: token writes do not move it.
    let got = post(base, "node.get", json!({"id": "acme"}), None).await;
    assert_eq!(got.ok()["revision"], r2);
    post(
        base,
        "token.remove",
        json!({"node": "acme", "path": "color.a", "expectedRevision": t1}),
        None,
    )
    .await
    .refused(409, "CONFLICT");
    post(
        base,
        "token.remove",
        json!({"node": "acme", "path": "color.a", "expectedRevision": t2}),
        None,
    )
    .await
    .ok();

    // A mutation without a target revision refuses the field rather than ignoring it.
    let import = post(
        base,
        "tokens.import",
        json!({"node": "acme", "document": {"color": {"z": {"$type": "color", "$value": "#000000"}}},
               "expectedRevision": 1}),
        None,
    )
    .await;
    import.refused(400, "VALIDATION_ERROR");
    assert!(
        import.message().contains("expectedRevision"),
        "{}",
        import.body
    );
    assert!(history(base, "acme", Some("color.z")).await.is_empty());
}

#[tokio::test]
async fn every_mutation_schema_carries_both_fields() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();
    let catalogue = post(base, "system.commands", json!({}), None).await;
    let commands = catalogue.ok()["commands"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!commands.is_empty(), "{}", catalogue.body);
    let openapi: Value = reqwest::get(format!("{base}/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = openapi.to_string();
    let mut mutations = 0;
    for command in &commands {
        let name = command["name"].as_str().unwrap();
        let props = &command["inputSchema"]["properties"];
        let has = |field: &str| props.get(field).is_some();
        if command["mutation"] == true {
            mutations += 1;
            assert!(
                has("idempotencyKey") && has("expectedRevision"),
                "{name}: {props}"
            );
        } else {
            assert!(!has("idempotencyKey") && !has("expectedRevision"), "{name}");
        }
    }
    assert!(mutations >= 9, "{mutations} mutations");
    assert!(text.contains("idempotencyKey") && text.contains("expectedRevision"));
}

/// The CLI passes both as ordinary input fields, in process and with --remote.
#[test]
fn the_cli_takes_both_as_input_fields() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = tinct_command(Path::new(BIN), &data)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tinct");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let json_of = |text: &str| -> Value { serde_json::from_str(text).expect("JSON output") };
    let (code, out, err) = run(&[
        "--json",
        "call",
        "node.create",
        "id=acme",
        "idempotencyKey=cli-1",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let first = json_of(&out);
    let revision = first["data"]["revision"].as_i64().unwrap();
    let (code, out, _) = run(&[
        "--json",
        "call",
        "node.create",
        "id=acme",
        "idempotencyKey=cli-1",
    ]);
    assert_eq!(code, 0, "a replay, not ALREADY_EXISTS: {out}");
    let again = json_of(&out);
    assert_eq!(again["data"], first["data"]);
    assert!(
        again["warnings"].to_string().contains("idempotent replay"),
        "{again}"
    );

    let stale = format!("expectedRevision:={}", revision + 5);
    let (code, out, err) = run(&["call", "node.update", "id=acme", "name=New", &stale]);
    assert_eq!(code, 5, "CONFLICT exits 5: {out}{err}");
    assert!(
        format!("{out}{err}").contains(&format!("revision {revision}")),
        "{out}{err}"
    );
    let current = format!("expectedRevision:={revision}");
    let (code, out, err) = run(&["call", "node.update", "id=acme", "name=New", &current]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&["call", "node.create", "id=bad", "idempotencyKey=has space"]);
    assert_eq!(code, 2, "VALIDATION_ERROR exits 2: {out}{err}");
    let (_, out, _) = run(&["commands", "token.override"]);
    assert!(
        out.contains("idempotencyKey") && out.contains("expectedRevision"),
        "{out}"
    );

    // --remote sends them as fields to a server, which keys them the same way.
    let server = TinctServer::start(Path::new(BIN));
    let remote = |args: &[&str]| {
        let mut cmd: Command = tinct_command(Path::new(BIN), &data);
        cmd.args(args)
            .arg("--remote")
            .arg(&server.url)
            .stdin(Stdio::null());
        for proxy in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
            cmd.env_remove(proxy);
        }
        let out = cmd.output().expect("run tinct");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, first) = remote(&[
        "--json",
        "call",
        "node.create",
        "id=r",
        "idempotencyKey=r-1",
    ]);
    assert_eq!(code, 0, "{first}");
    let (code, again) = remote(&[
        "--json",
        "call",
        "node.create",
        "id=r",
        "idempotencyKey=r-1",
    ]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(json_of(&again)["data"], json_of(&first)["data"]);
    assert!(again.contains("idempotent replay"), "{again}");
}

/// Two instances on one PostgreSQL: a key used on one is replayed by the other, concurrent
/// requests spread over both run once, and a revision read on one guards a write on the other.
#[tokio::test]
async fn keys_and_revisions_hold_across_instances_on_postgres() {
    let pg = Postgres::start();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let servers: Vec<TinctServer> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let name = format!("node-{i}");
            TinctServer::start_in(
                Path::new(BIN),
                dir.path(),
                &[
                    ("TINCT_DATABASE_URL", pg.url().as_str()),
                    ("TINCT_INSTANCE", name.as_str()),
                ],
            )
        })
        .collect();
    let (a, b) = (servers[0].url.clone(), servers[1].url.clone());

    let first = post(&a, "node.create", json!({"id": "acme"}), Some("pg-1")).await;
    let created = first.ok().clone();
    assert_eq!(first.body["metadata"]["instance"], "node-0");
    let again = post(&b, "node.create", json!({"id": "acme"}), Some("pg-1")).await;
    assert_eq!(again.body["metadata"]["instance"], "node-1");
    assert_eq!(again.ok(), &created, "B returns A's stored result");
    assert!(again.replayed);
    assert_eq!(
        again.body["metadata"]["revision"],
        first.body["metadata"]["revision"]
    );
    post(&b, "node.create", json!({"id": "other"}), Some("pg-1"))
        .await
        .refused(409, "CONFLICT");
    assert_eq!(node_count(&b).await, 1);

    // Concurrent requests with one key, spread over both instances.
    let replies = futures::future::join_all((0..12).map(|i| {
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            post(
                &base,
                "token.add",
                json!({"node": "acme", "path": "color.race", "type": "color", "value": "#010203"}),
                Some("pg-race"),
            )
            .await
        }
    }))
    .await;
    let originals = replies
        .iter()
        .filter(|r| r.status == 200 && !r.replayed)
        .count();
    assert_eq!(originals, 1, "exactly one request ran");
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.refused(409, "CONFLICT");
        assert_eq!(
            reply.body["error"]["details"]["inProgress"], true,
            "{}",
            reply.body
        );
    }
    assert_eq!(history(&a, "acme", Some("color.race")).await.len(), 1);

    // A key an instance held when it died: while its lease lasts, a retry is told to wait; once
    // it ran out, the retry runs (nothing had committed); had the change committed, never again.
    let rename = json!({"id": "acme", "name": "Renamed"});
    post(&a, "node.update", rename.clone(), Some("pg-crash"))
        .await
        .ok();
    let died = |state: &str, lease: &str| {
        pg.sql(&format!(
            "UPDATE idempotency_keys SET state = '{state}', result = NULL, lease_until = {lease} \
             WHERE key = 'pg-crash'"
        ))
    };
    died(
        "running",
        "(extract(epoch FROM now()) * 1000)::bigint + 600000",
    );
    let waiting = post(&b, "node.update", rename.clone(), Some("pg-crash")).await;
    waiting.refused(409, "CONFLICT");
    assert_eq!(waiting.body["error"]["details"]["inProgress"], true);
    assert_eq!(waiting.body["error"]["retryable"], true, "{}", waiting.body);
    died("running", "0");
    let taken = post(&b, "node.update", rename.clone(), Some("pg-crash")).await;
    taken.ok();
    assert!(!taken.replayed, "the dead claim was taken over and run");
    let updates = history(&b, "acme", None)
        .await
        .iter()
        .filter(|e| e["action"] == "node.updated")
        .count();
    assert_eq!(updates, 2);
    died("committed", "0");
    let lost = post(&a, "node.update", rename, Some("pg-crash")).await;
    lost.refused(409, "CONFLICT");
    assert!(lost.message().contains("committed"), "{}", lost.body);

    // A revision read on A guards a write on B.
    let revision = post(&a, "node.get", json!({"id": "acme"}), None).await.ok()["revision"]
        .as_i64()
        .unwrap();
    post(
        &b,
        "node.update",
        json!({"id": "acme", "name": "By B", "expectedRevision": revision}),
        None,
    )
    .await
    .ok();
    let stale = post(
        &a,
        "node.update",
        json!({"id": "acme", "name": "By A", "expectedRevision": revision}),
        None,
    )
    .await;
    stale.refused(409, "CONFLICT");
    // Read where the write was made (A's cache learns of it through the bus, a moment later).
    let now = post(&b, "node.get", json!({"id": "acme"}), None).await;
    assert_eq!(now.ok()["name"], "By B");
}

/// MCP over HTTP: tools list both fields, and take them as arguments.
#[tokio::test]
async fn mcp_tools_take_both_fields() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::StreamableHttpClientTransport;

    let server = TinctServer::start(Path::new(BIN));
    let transport = StreamableHttpClientTransport::from_uri(format!("{}/mcp", server.url));
    let client = ().serve(transport).await.expect("MCP handshake over HTTP");
    let tools = client.list_all_tools().await.unwrap();
    let create = tools.iter().find(|t| t.name == "node.create").unwrap();
    assert!(create.input_schema["properties"]["idempotencyKey"].is_object());
    assert!(create.input_schema["properties"]["expectedRevision"].is_object());
    let call = |args: Value| {
        let params = CallToolRequestParams::new("node.create")
            .with_arguments(args.as_object().cloned().unwrap_or_default());
        client.call_tool(params)
    };
    let first = call(json!({"id": "m", "idempotencyKey": "mcp-1"}))
        .await
        .unwrap();
    assert_eq!(first.is_error, Some(false), "{first:?}");
    let again = call(json!({"id": "m", "idempotencyKey": "mcp-1"}))
        .await
        .unwrap();
    assert_eq!(
        again.is_error,
        Some(false),
        "a replay, not ALREADY_EXISTS: {again:?}"
    );
    let envelope = again.structured_content.unwrap();
    assert_eq!(envelope["data"], first.structured_content.unwrap()["data"]);
    assert!(
        envelope["warnings"]
            .to_string()
            .contains("idempotent replay"),
        "{envelope}"
    );
    let stale = call(json!({"id": "m2", "expectedRevision": 3}))
        .await
        .unwrap();
    assert_eq!(stale.is_error, Some(true));
    assert_eq!(
        stale.structured_content.unwrap()["error"]["code"],
        "CONFLICT"
    );
    assert_eq!(node_count(&server.url).await, 1);
}

/// Keys belong to the caller (the token's subject): another caller's key of the same name is
/// another key, and never replays someone else's result.
#[tokio::test]
async fn keys_are_per_caller() {
    const SECRET: &str = "idempotency-test-secret-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let mint = |sub: &str| {
        let out = tinct_command(Path::new(BIN), dir.path())
            .args([
                "auth",
                "token",
                "--sub",
                sub,
                "--scopes",
                "tokens:read,tokens:write",
            ])
            .env("TINCT_AUTH_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (ana, bob) = (mint("ana"), mint("bob"));
    let server = TinctServer::start_in(
        Path::new(BIN),
        dir.path(),
        &[("TINCT_AUTH", "closed"), ("TINCT_AUTH_SECRET", SECRET)],
    );
    let post_as = |token: &str, key: &str, input: Value| {
        reqwest::Client::new()
            .post(format!("{}/v1/commands/node.create", server.url))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&input)
            .send()
    };
    let first = post_as(&ana, "k1", json!({"id": "by-ana"})).await.unwrap();
    assert_eq!(first.status(), 200);
    // Bob's copy of Ana's request under her key name is not a replay of her result: it runs.
    let copy = post_as(&bob, "k1", json!({"id": "by-ana"})).await.unwrap();
    assert!(copy.headers().get("idempotent-replayed").is_none());
    let envelope: Value = copy.json().await.unwrap();
    assert_eq!(envelope["error"]["code"], "ALREADY_EXISTS", "{envelope}");
    // Different requests under one key name, one per caller: both run.
    let ana2 = post_as(&ana, "k2", json!({"id": "ana-2"})).await.unwrap();
    assert_eq!(ana2.status(), 200);
    let bob2 = post_as(&bob, "k2", json!({"id": "bob-2"})).await.unwrap();
    assert_eq!(bob2.status(), 200);
    assert!(bob2.headers().get("idempotent-replayed").is_none());
    let again = post_as(&ana, "k1", json!({"id": "by-ana"})).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
}
