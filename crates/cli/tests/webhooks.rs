//! Webhooks end to end: a real `tinct serve` (api + worker) and a local receiver on a free port.
//! Signed deliveries arrive and verify with the secret `webhook.create` returned; a receiver that
//! answers 500 gets the same delivery again (the log shows each attempt); a dead endpoint opens
//! its breaker; bad input gets clear errors and stores nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tinct_testkit::{Postgres, TinctServer, eventually, post_command};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");
/// Quick polling so deliveries start soon after their change commits.
const ENV: &[(&str, &str)] = &[("TINCT_JOB_POLL_MS", "100")];

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A local HTTP receiver: records every request and answers 500 to the first `fail_first`
/// of them, 200 after.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

struct ReceiverState {
    got: Arc<Mutex<Vec<Received>>>,
    fail_first: u32,
    seen: AtomicU32,
}

impl Receiver {
    async fn start(fail_first: u32) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let state = Arc::new(ReceiverState {
            got: got.clone(),
            fail_first,
            seen: AtomicU32::new(0),
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    state.got.lock().unwrap().push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if state.seen.fetch_add(1, Ordering::SeqCst) < state.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// The signature, computed here independently of tinct's code.
fn expected_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v1={hex}")
}

async fn call(server: &TinctServer, command: &str, input: Value) -> Value {
    post_command(&server.url, command, input).await
}

async fn ok(server: &TinctServer, command: &str, input: Value) -> Value {
    let reply = call(server, command, input).await;
    assert_eq!(reply["success"], true, "{command}: {reply}");
    reply
}

/// The envelope's error, checked to be `code` with a message and a suggestion.
async fn refused(server: &TinctServer, command: &str, input: Value, code: &str) -> Value {
    let reply = call(server, command, input.clone()).await;
    assert_eq!(reply["success"], false, "{command} {input}: {reply}");
    let error = reply["error"].clone();
    assert_eq!(error["code"], code, "{command} {input}: {reply}");
    assert!(
        error["suggestion"].as_str().is_some_and(|s| !s.is_empty()),
        "says what to do next: {reply}"
    );
    error
}

async fn tree(server: &TinctServer) {
    for input in [
        json!({"id": "acme"}),
        json!({"id": "acme-web", "parent": "acme"}),
        json!({"id": "other"}),
    ] {
        ok(server, "node.create", input).await;
    }
}

async fn deliveries(server: &TinctServer, id: &str) -> Vec<Value> {
    let reply = ok(server, "webhook.deliveries", json!({"id": id})).await;
    reply["data"]["deliveries"].as_array().unwrap().clone()
}

/// Every delivery to `receiver` of a change of `kind`.
fn of_kind(receiver: &Receiver, kind: &str) -> Vec<Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.json()["kind"] == kind)
        .collect()
}

async fn signed_deliveries_arrive_and_verify(server: &TinctServer) {
    let receiver = Receiver::start(0).await;
    tree(server).await;
    let made = ok(
        server,
        "webhook.create",
        json!({"node": "acme", "url": receiver.url}),
    )
    .await;
    let id = made["data"]["id"].as_str().unwrap().to_owned();
    let secret = made["data"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "a generated secret: {made}");
    let only_deletes = ok(
        server,
        "webhook.create",
        json!({"node": "acme", "url": receiver.url, "secret": "0123456789abcdef-own", "events": ["node.deleted"]}),
    )
    .await;
    let deletes_id = only_deletes["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(only_deletes["data"]["secret"], "0123456789abcdef-own");
    // A webhook elsewhere in the tree hears nothing of acme's changes.
    let elsewhere = ok(
        server,
        "webhook.create",
        json!({"node": "other", "url": receiver.url}),
    )
    .await;
    let elsewhere_id = elsewhere["data"]["id"].as_str().unwrap().to_owned();

    let listed = ok(server, "webhook.list", json!({"node": "acme"})).await;
    let hooks = listed["data"]["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2, "{listed}");
    assert!(
        !listed.to_string().contains(&secret) && !listed.to_string().contains("\"secret\""),
        "webhook.list never shows secrets: {listed}"
    );

    // A change on a child of the webhook's node.
    let change = ok(
        server,
        "token.add",
        json!({"node": "acme-web", "path": "color.brand", "type": "color", "value": "#ff0000"}),
    )
    .await;
    eventually("the token.added delivery", || async {
        !of_kind(&receiver, "token.added").is_empty()
    })
    .await;
    let got = of_kind(&receiver, "token.added");
    assert_eq!(
        got.len(),
        1,
        "one delivery, to the one webhook that wants it"
    );
    let delivery = &got[0];
    assert_eq!(delivery.header("Tinct-Webhook-Id"), id);
    assert_eq!(delivery.header("content-type"), "application/json");
    let timestamp = delivery.header("Tinct-Timestamp");
    assert!(timestamp.parse::<u64>().is_ok(), "{delivery:?}");
    assert_eq!(
        delivery.header("Tinct-Signature"),
        expected_signature(&secret, timestamp, &delivery.body),
        "the signature verifies with the secret webhook.create returned"
    );
    assert_ne!(
        delivery.header("Tinct-Signature"),
        expected_signature("not-the-secret", timestamp, &delivery.body)
    );
    let body = delivery.json();
    assert_eq!(body["node"], "acme-web");
    assert_eq!(body["kind"], "token.added");
    assert_eq!(body["paths"], json!(["color.brand"]));
    assert_eq!(body["webhook"], id.as_str());
    assert_eq!(body["traceId"], change["metadata"]["traceId"], "{body}");
    assert!(body["actor"].is_string(), "{body}");
    assert!(body["revision"].is_string(), "{body}");
    assert!(body["at"].as_str().is_some_and(|at| at.ends_with('Z')));
    assert_eq!(
        delivery.header("Tinct-Delivery-Id"),
        body["deliveryId"].to_string()
    );

    eventually("the delivery in the log", || async {
        deliveries(server, &id)
            .await
            .iter()
            .any(|d| d["delivered"] == true)
    })
    .await;
    let log = deliveries(server, &id).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0]["attempt"].clone(), log[0]["status"].clone()),
        (json!(1), json!(200))
    );

    // Deleting a node is delivered to its ancestors' webhooks, including the filtered one.
    ok(server, "node.delete", json!({"id": "acme-web"})).await;
    eventually("the node.deleted deliveries", || async {
        of_kind(&receiver, "node.deleted").len() == 2
    })
    .await;
    let got = of_kind(&receiver, "node.deleted");
    let to_filtered = got
        .iter()
        .find(|r| r.header("Tinct-Webhook-Id") == deletes_id)
        .expect("the filtered webhook gets node.deleted");
    assert_eq!(
        to_filtered.header("Tinct-Signature"),
        expected_signature(
            "0123456789abcdef-own",
            to_filtered.header("Tinct-Timestamp"),
            &to_filtered.body
        )
    );
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.header("Tinct-Webhook-Id") != elsewhere_id),
        "the webhook on another tree heard nothing"
    );
    assert!(deliveries(server, &elsewhere_id).await.is_empty());

    // A deleted webhook gets nothing more.
    ok(server, "webhook.delete", json!({"id": id})).await;
    ok(server, "webhook.delete", json!({"id": deletes_id})).await;
    let before = receiver.received().len();
    ok(
        server,
        "node.update",
        json!({"id": "acme", "name": "Acme 2"}),
    )
    .await;
    ok(
        server,
        "webhook.create",
        json!({"node": "other", "url": receiver.url, "events": ["node.updated"]}),
    )
    .await;
    ok(
        server,
        "node.update",
        json!({"id": "other", "name": "Other 2"}),
    )
    .await;
    eventually("the later delivery to the new webhook", || async {
        of_kind(&receiver, "node.updated")
            .iter()
            .any(|r| r.json()["node"] == "other")
    })
    .await;
    assert!(
        of_kind(&receiver, "node.updated")
            .iter()
            .all(|r| r.json()["node"] != "acme"),
        "acme's deleted webhooks heard nothing of its update"
    );
    assert!(receiver.received().len() > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_arrive_and_verify_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = TinctServer::start_in(BIN.as_ref(), dir.path(), ENV);
    signed_deliveries_arrive_and_verify(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_arrive_and_verify_on_postgres() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let mut env = ENV.to_vec();
    env.push(("TINCT_DATABASE_URL", &url));
    let server = TinctServer::start_in(BIN.as_ref(), dir.path(), &env);
    signed_deliveries_arrive_and_verify(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_delivery_again_with_each_attempt_logged() {
    let receiver = Receiver::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let server = TinctServer::start_in(BIN.as_ref(), dir.path(), ENV);
    tree(&server).await;
    let made = ok(
        &server,
        "webhook.create",
        json!({"node": "acme", "url": receiver.url}),
    )
    .await;
    let id = made["data"]["id"].as_str().unwrap().to_owned();
    let secret = made["data"]["secret"].as_str().unwrap().to_owned();
    ok(
        &server,
        "node.update",
        json!({"id": "acme", "name": "Acme"}),
    )
    .await;

    // Two 500s, then 200: retried with backoff (1 s, then 2 s) until delivered.
    eventually("the third attempt", || async {
        deliveries(&server, &id)
            .await
            .iter()
            .any(|d| d["delivered"] == true)
    })
    .await;
    let log = deliveries(&server, &id).await;
    let attempts: Vec<(Value, Value, bool)> = log
        .iter()
        .map(|d| {
            (
                d["attempt"].clone(),
                d["status"].clone(),
                d["error"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (json!(3), json!(200), false),
            (json!(2), json!(500), true),
            (json!(1), json!(500), true),
        ],
        "newest first: {log:?}"
    );
    assert!(log[1]["error"].as_str().unwrap().contains("500"), "{log:?}");
    let job = log[0]["job"].clone();
    assert!(
        log.iter().all(|d| d["job"] == job),
        "one job, three attempts"
    );

    let got = receiver.received();
    assert_eq!(got.len(), 3, "{got:?}");
    let job_text = job.to_string();
    let delivery_ids: Vec<&str> = got.iter().map(|r| r.header("Tinct-Delivery-Id")).collect();
    assert!(
        delivery_ids.iter().all(|d| *d == job_text),
        "the same delivery id on each retry, for receivers to dedupe: {delivery_ids:?}"
    );
    let attempt_headers: Vec<&str> = got
        .iter()
        .map(|r| r.header("Tinct-Delivery-Attempt"))
        .collect();
    assert_eq!(attempt_headers, ["1", "2", "3"]);
    for r in &got {
        assert_eq!(r.body, got[0].body, "the same body on every attempt");
        assert_eq!(
            r.header("Tinct-Signature"),
            expected_signature(&secret, r.header("Tinct-Timestamp"), &r.body)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_opens_its_breaker() {
    // A port nothing listens on.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let server = TinctServer::start_in(BIN.as_ref(), dir.path(), ENV);
    tree(&server).await;
    let made = ok(
        &server,
        "webhook.create",
        json!({"node": "acme", "url": format!("http://{dead}/hook")}),
    )
    .await;
    let id = made["data"]["id"].as_str().unwrap().to_owned();
    // Four changes: three refused connections open the breaker; the rest fail without a call.
    for n in 0..4 {
        ok(
            &server,
            "node.update",
            json!({"id": "acme", "name": format!("Acme {n}")}),
        )
        .await;
    }
    eventually("an attempt stopped by the open breaker", || async {
        deliveries(&server, &id).await.iter().any(|d| {
            d["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("breaker open"))
        })
    })
    .await;
    let log = deliveries(&server, &id).await;
    let refused = log
        .iter()
        .filter(|d| {
            d["error"]
                .as_str()
                .is_some_and(|e| e.contains("could not connect"))
        })
        .count();
    assert!(refused >= 3, "connections were tried first: {log:?}");
    let stopped = log
        .iter()
        .find(|d| {
            d["error"]
                .as_str()
                .unwrap_or("")
                .starts_with("breaker open")
        })
        .unwrap();
    assert_eq!(stopped["status"], Value::Null);
    assert!(stopped["delivered"] == false);

    let health = ok(&server, "system.health", json!({})).await;
    let name = format!("webhook http://{dead}");
    let breaker = health["data"]["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} in {health}"))
        .clone();
    assert_eq!(breaker["state"], "open", "{health}");
    assert_eq!(
        health["data"]["status"], "ok",
        "a customer's dead endpoint does not make the instance degraded: {health}"
    );
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TinctServer::start_in(BIN.as_ref(), dir.path(), ENV);
    tree(&server).await;
    for (url, says) in [
        ("/hooks/tinct", "not absolute"),
        ("hooks.example.com/tinct", "not absolute"),
        ("ftp://example.com/x", "scheme 'ftp'"),
        ("http://", "does not parse"),
        ("http://user:pw@example.com/x", "user name or password"),
    ] {
        let error = refused(
            &server,
            "webhook.create",
            json!({"node": "acme", "url": url}),
            "VALIDATION_ERROR",
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{url}: {error}"
        );
        assert!(
            error["suggestion"].as_str().unwrap().contains("http://"),
            "says what to send: {error}"
        );
    }
    let error = refused(
        &server,
        "webhook.create",
        json!({"node": "acme", "url": "http://example.com/x", "secret": "short"}),
        "VALIDATION_ERROR",
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("16"), "{error}");
    let error = refused(
        &server,
        "webhook.create",
        json!({"node": "acme", "url": "http://example.com/x", "events": ["token.changed"]}),
        "VALIDATION_ERROR",
    )
    .await;
    assert!(
        error["suggestion"]
            .as_str()
            .unwrap()
            .contains("token.updated"),
        "{error}"
    );
    refused(
        &server,
        "webhook.create",
        json!({"node": "acme", "url": "http://example.com/x", "extra": 1}),
        "VALIDATION_ERROR",
    )
    .await;
    let error = refused(
        &server,
        "webhook.create",
        json!({"node": "acmee", "url": "http://example.com/x"}),
        "NOT_FOUND",
    )
    .await;
    assert!(
        error["suggestion"].as_str().unwrap().contains("acme"),
        "suggests the close node: {error}"
    );
    refused(
        &server,
        "webhook.list",
        json!({"node": "nope"}),
        "NOT_FOUND",
    )
    .await;
    for command in ["webhook.delete", "webhook.deliveries"] {
        let error = refused(&server, command, json!({"id": "wh_nope"}), "NOT_FOUND").await;
        assert!(
            error["message"].as_str().unwrap().contains("wh_nope"),
            "{error}"
        );
    }

    let listed = ok(&server, "webhook.list", json!({})).await;
    assert_eq!(
        listed["data"]["webhooks"],
        json!([]),
        "nothing was stored: {listed}"
    );
}
