//! End-to-end tests of the REST surface: a real `tinct serve` process per test, spoken to over real
//! HTTP. Every test builds its own data, so tests run in any order and in parallel.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tinct_testkit::TinctServer;

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

/// Every command the service must serve.
const COMMANDS: [&str; 15] = [
    "node.create",
    "node.delete",
    "node.get",
    "node.list",
    "node.update",
    "system.commands",
    "system.health",
    "token.add",
    "token.history",
    "token.override",
    "token.remove",
    "token.reset",
    "token.update",
    "tokens.export",
    "tokens.resolve",
];

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// One HTTP answer: status, headers, the raw body and the body as JSON (`Null` when it is not).
struct Reply {
    status: u16,
    headers: HeaderMap,
    text: String,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn data(&self) -> &Value {
        &self.body["data"]
    }

    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    fn suggestion(&self) -> &str {
        self.body["error"]["suggestion"].as_str().unwrap_or("")
    }

    fn details(&self) -> &Value {
        &self.body["error"]["details"]
    }

    fn revision(&self) -> u64 {
        revision_number(&self.body["metadata"]["revision"])
    }

    /// Asserts success (HTTP 200 and `success: true`) and returns `data`.
    fn ok(&self) -> &Value {
        assert_eq!(
            self.status, 200,
            "expected 200, got {}: {}",
            self.status, self.text
        );
        assert_eq!(
            self.body["success"],
            json!(true),
            "not a success: {}",
            self.text
        );
        assert!(
            self.body["error"].is_null(),
            "error on success: {}",
            self.text
        );
        self.data()
    }

    /// Asserts a failure with `code` and `status`, a message and a suggestion.
    fn fails(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.text
        );
        assert_eq!(self.body["success"], json!(false), "{}", self.text);
        assert!(
            self.body["data"].is_null(),
            "data on failure: {}",
            self.text
        );
        assert!(
            !self.message().trim().is_empty(),
            "{code} without a message: {}",
            self.text
        );
        assert!(
            !self.suggestion().trim().is_empty(),
            "{code} without a suggestion (every error a user can cause says what to do next): {}",
            self.text
        );
        assert_eq!(
            self.body["error"]["retryable"],
            json!(false),
            "a user error is not retryable: {}",
            self.text
        );
        assert_eq!(
            self.header("x-trace-id"),
            self.body["metadata"]["traceId"].as_str(),
            "x-trace-id must match the envelope: {}",
            self.text
        );
        self
    }
}

fn revision_number(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("revision must be a decimal string, got {v}"))
}

/// A `tinct serve` process and an HTTP client for it.
struct Api {
    server: TinctServer,
    http: reqwest::Client,
}

impl Api {
    fn start() -> Api {
        Self::on(TinctServer::start(Path::new(BIN)))
    }

    fn on(server: TinctServer) -> Api {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("HTTP client");
        Api { server, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.send().await.expect("POST")).await
    }

    async fn call_with(&self, name: &str, input: Value, headers: &[(&str, &str)]) -> Reply {
        self.post_raw(&format!("/v1/commands/{name}"), input.to_string(), headers)
            .await
    }

    async fn call(&self, name: &str, input: Value) -> Reply {
        self.call_with(name, input, &[]).await
    }

    /// Runs a command that must succeed; returns its `data`.
    async fn ok(&self, name: &str, input: Value) -> Value {
        self.call(name, input).await.ok().clone()
    }

    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.http.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.send().await.expect("GET")).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    /// The latest committed revision, from system.health.
    async fn revision(&self) -> u64 {
        let data = self.ok("system.health", json!({})).await;
        revision_number(&data["revision"])
    }

    async fn resolved(&self, node: &str) -> Value {
        self.ok("tokens.resolve", json!({ "node": node })).await["tokens"].clone()
    }

    /// Everything a bad request could have changed: revision, every node, every resolved token.
    async fn snapshot(&self) -> Value {
        let nodes = self.ok("node.list", json!({ "limit": 1000 })).await["nodes"].clone();
        let mut tokens = serde_json::Map::new();
        for node in nodes.as_array().expect("nodes") {
            let id = node["id"].as_str().expect("id");
            tokens.insert(id.to_owned(), self.resolved(id).await);
        }
        json!({ "revision": self.revision().await, "nodes": nodes, "tokens": tokens })
    }

    /// A three-level tree:
    ///
    /// ```text
    /// brand          color.base.blue #1d4ed8, color.base.red #dc2626,
    ///                color.brand {color.base.blue}, color.action {color.brand}, space.sm 4px
    /// └ product      overrides color.base.blue = #0ea5e9
    ///   └ product-dark  overrides color.brand = {color.base.red}
    /// ```
    async fn fixture(&self) {
        self.ok("node.create", json!({"id": "brand", "name": "Brand"}))
            .await;
        self.ok(
            "node.create",
            json!({"id": "product", "parent": "brand", "name": "Product"}),
        )
        .await;
        self.ok(
            "node.create",
            json!({"id": "product-dark", "parent": "product", "name": "Product dark"}),
        )
        .await;
        for (path, ty, value) in [
            ("color.base.blue", "color", json!("#1d4ed8")),
            ("color.base.red", "color", json!("#dc2626")),
            ("color.brand", "color", json!("{color.base.blue}")),
            ("color.action", "color", json!("{color.brand}")),
            ("space.sm", "dimension", json!({"value": 4, "unit": "px"})),
        ] {
            self.ok(
                "token.add",
                json!({"node": "brand", "path": path, "type": ty, "value": value}),
            )
            .await;
        }
        self.ok(
            "token.override",
            json!({"node": "product", "path": "color.base.blue", "value": "#0ea5e9"}),
        )
        .await;
        self.ok(
            "token.override",
            json!({"node": "product-dark", "path": "color.brand", "value": "{color.base.red}"}),
        )
        .await;
    }
}

/// Every `$ref` string anywhere in `value`.
fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {list}"))
        .iter()
        .map(|v| v[key].as_str().expect("string").to_owned())
        .collect()
}

fn as_set(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {list}"))
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Envelope, trace ids, consistency tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn command_answers_with_the_full_envelope() {
    let api = Api::start();
    let reply = api
        .call(
            "node.create",
            json!({"id": "acme", "name": "Acme", "description": "root"}),
        )
        .await;
    let data = reply.ok();
    assert_eq!(data["id"], "acme");
    assert_eq!(data["name"], "Acme");
    assert_eq!(data["description"], "root");
    assert_eq!(data["parent"], Value::Null);

    let body = reply.body.as_object().expect("object");
    for key in ["success", "data", "error", "warnings", "metadata"] {
        assert!(
            body.contains_key(key),
            "envelope lacks {key}: {}",
            reply.text
        );
    }
    assert_eq!(reply.body["warnings"], json!([]));
    let meta = &reply.body["metadata"];
    for key in [
        "command",
        "traceId",
        "durationMs",
        "instance",
        "cache",
        "revision",
        "commandVersion",
    ] {
        assert!(
            meta.get(key).is_some(),
            "metadata lacks {key}: {}",
            reply.text
        );
    }
    assert_eq!(meta["command"], "node.create");
    assert_eq!(meta["commandVersion"], 1);
    assert!(meta["durationMs"].as_f64().expect("durationMs") >= 0.0);
    assert!(!meta["instance"].as_str().expect("instance").is_empty());
    let trace = meta["traceId"].as_str().expect("traceId");
    assert_eq!(
        trace.len(),
        32,
        "a generated trace id is 32 hex digits: {trace}"
    );
    assert!(trace.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(reply.header("x-trace-id"), Some(trace));
    assert_eq!(reply.header("content-type"), Some("application/json"));

    // The same instance answers system.health with the same name.
    let health = api.ok("system.health", json!({})).await;
    assert_eq!(health["instance"], meta["instance"]);
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn caller_trace_id_is_kept_and_recorded_in_history() {
    let api = Api::start();
    api.ok("node.create", json!({"id": "acme"})).await;
    let reply = api
        .call_with(
            "token.add",
            json!({"node": "acme", "path": "color.fg", "type": "color", "value": "#111111"}),
            &[("x-trace-id", "e2e-trace-0001")],
        )
        .await;
    reply.ok();
    assert_eq!(reply.header("x-trace-id"), Some("e2e-trace-0001"));
    assert_eq!(reply.body["metadata"]["traceId"], "e2e-trace-0001");

    let history = api
        .ok("token.history", json!({"node": "acme", "path": "color.fg"}))
        .await;
    let entries = history["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{history}");
    assert_eq!(entries[0]["traceId"], "e2e-trace-0001");
    assert_eq!(entries[0]["action"], "token.added");

    // An unusable id (spaces) is replaced, not echoed.
    let reply = api
        .call_with(
            "node.get",
            json!({"id": "acme"}),
            &[("x-trace-id", "bad id")],
        )
        .await;
    reply.ok();
    let trace = reply.header("x-trace-id").expect("x-trace-id");
    assert_ne!(trace, "bad id");
    assert_eq!(reply.body["metadata"]["traceId"], trace);
}

#[tokio::test]
async fn w3c_traceparent_id_is_kept() {
    let api = Api::start();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let reply = api
        .call_with(
            "node.create",
            json!({"id": "acme"}),
            &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))],
        )
        .await;
    reply.ok();
    assert_eq!(reply.header("x-trace-id"), Some(trace));
    assert_eq!(reply.body["metadata"]["traceId"], trace);
    let history = api.ok("token.history", json!({"node": "acme"})).await;
    assert_eq!(history["entries"][0]["traceId"], trace);
    assert_eq!(history["entries"][0]["action"], "node.created");

    // Also on an error envelope and on a resource route.
    let reply = api
        .get_with("/v1/nodes/missing", &[("x-trace-id", "lookup-42")])
        .await;
    reply.fails(404, "NOT_FOUND");
    assert_eq!(reply.header("x-trace-id"), Some("lookup-42"));
}

#[tokio::test]
async fn every_mutation_advances_the_revision_and_returns_it_as_consistency_header() {
    let api = Api::start();
    let mut last = api.revision().await;
    let steps = [
        ("node.create", json!({"id": "acme"})),
        ("node.create", json!({"id": "acme-web", "parent": "acme"})),
        ("node.update", json!({"id": "acme", "name": "Acme DS"})),
        (
            "token.add",
            json!({"node": "acme", "path": "color.bg", "type": "color", "value": "#ffffff"}),
        ),
        (
            "token.update",
            json!({"node": "acme", "path": "color.bg", "value": "#fafafa"}),
        ),
        (
            "token.override",
            json!({"node": "acme-web", "path": "color.bg", "value": "#000000"}),
        ),
        (
            "token.reset",
            json!({"node": "acme-web", "path": "color.bg"}),
        ),
        ("token.remove", json!({"node": "acme", "path": "color.bg"})),
        ("node.delete", json!({"id": "acme-web"})),
    ];
    for (name, input) in steps {
        let reply = api.call(name, input).await;
        reply.ok();
        let revision = reply.revision();
        assert!(
            revision > last,
            "{name} must advance the revision ({last} → {revision})"
        );
        assert_eq!(
            reply.header("tinct-consistency"),
            reply.body["metadata"]["revision"].as_str(),
            "{name}: tinct-consistency must equal metadata.revision"
        );
        assert_eq!(reply.body["metadata"]["cache"], "bypass", "{name}");
        assert_eq!(
            api.revision().await,
            revision,
            "health shows the committed revision"
        );
        last = revision;
    }
    // Reads do not move it.
    api.ok("node.get", json!({"id": "acme"})).await;
    api.ok("tokens.resolve", json!({"node": "acme"})).await;
    assert_eq!(api.revision().await, last);
}

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn nodes_are_created_read_updated_and_listed_with_lineage() {
    let api = Api::start();
    let created = api.ok("node.create", json!({"id": "acme"})).await;
    assert_eq!(created["name"], "acme", "name defaults to the id");
    api.ok(
        "node.create",
        json!({"id": "acme-web", "parent": "acme", "name": "Acme Web", "description": "web"}),
    )
    .await;
    api.ok(
        "node.create",
        json!({"id": "acme-web-dark", "parent": "acme-web", "name": "Dark"}),
    )
    .await;

    let dark = api.ok("node.get", json!({"id": "acme-web-dark"})).await;
    assert_eq!(
        dark["lineage"],
        json!(["acme", "acme-web", "acme-web-dark"])
    );
    assert_eq!(dark["parent"], "acme-web");
    assert_eq!(dark["childCount"], 0);
    let web = api.get("/v1/nodes/acme-web").await;
    let web = web.ok();
    assert_eq!(web["childCount"], 1);
    assert_eq!(web["description"], "web");
    assert_eq!(web["lineage"], json!(["acme", "acme-web"]));

    let updated = api
        .ok(
            "node.update",
            json!({"id": "acme-web", "name": "Acme Website"}),
        )
        .await;
    assert_eq!(updated["name"], "Acme Website");
    assert_eq!(
        updated["description"], "web",
        "an absent description is kept"
    );
    let cleared = api
        .ok(
            "node.update",
            json!({"id": "acme-web", "description": null}),
        )
        .await;
    assert_eq!(
        cleared["description"],
        Value::Null,
        "null clears the description"
    );
    assert_eq!(cleared["name"], "Acme Website");
    let got = api.ok("node.get", json!({"id": "acme-web"})).await;
    assert_eq!(got["name"], "Acme Website");
    assert_eq!(got["description"], Value::Null);

    let children = api.get("/v1/nodes?parent=acme").await;
    assert_eq!(names(&children.ok()["nodes"], "id"), ["acme-web"]);
    let history = api.ok("token.history", json!({"node": "acme-web"})).await;
    let actions = names(&history["entries"], "action");
    assert_eq!(actions, ["node.updated", "node.updated", "node.created"]);
}

#[tokio::test]
async fn node_list_paginates_with_next_cursor() {
    let api = Api::start();
    let ids = ["n1", "n2", "n3", "n4", "n5"];
    for id in ids {
        api.ok("node.create", json!({"id": id})).await;
    }
    api.ok("node.create", json!({"id": "n3-child", "parent": "n3"}))
        .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut input = json!({"limit": 2});
        if let Some(c) = &cursor {
            input["cursor"] = json!(c);
        }
        let page = api.ok("node.list", input).await;
        let page_ids = names(&page["nodes"], "id");
        assert!(page_ids.len() <= 2, "page larger than limit: {page}");
        seen.extend(page_ids);
        pages += 1;
        assert!(pages <= 10, "pagination does not end");
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["n1", "n2", "n3", "n3-child", "n4", "n5"]);
    assert_eq!(pages, 3);

    // The same through GET /v1/nodes with query parameters.
    let first = api.get("/v1/nodes?limit=4").await;
    let first = first.ok();
    assert_eq!(names(&first["nodes"], "id"), ["n1", "n2", "n3", "n3-child"]);
    let next = first["nextCursor"].as_str().expect("nextCursor");
    let rest = api.get(&format!("/v1/nodes?limit=4&cursor={next}")).await;
    let rest = rest.ok();
    assert_eq!(names(&rest["nodes"], "id"), ["n4", "n5"]);
    assert_eq!(rest["nextCursor"], Value::Null);

    let children = api.ok("node.list", json!({"parent": "n3"})).await;
    assert_eq!(names(&children["nodes"], "id"), ["n3-child"]);
    assert_eq!(children["nextCursor"], Value::Null);
}

#[tokio::test]
async fn deleting_a_node_with_children_needs_cascade_and_keeps_history() {
    let api = Api::start();
    api.fixture().await;
    api.ok("node.create", json!({"id": "other"})).await;
    let before = api.snapshot().await;

    let refused = api.call("node.delete", json!({"id": "brand"})).await;
    refused.fails(409, "NODE_HAS_CHILDREN");
    assert!(refused.message().contains("product"), "{}", refused.text);
    assert!(refused.suggestion().contains("cascade"), "{}", refused.text);
    assert_eq!(refused.details()["children"], json!(["product"]));
    assert_eq!(refused.details()["descendants"], 2);
    assert_eq!(
        api.snapshot().await,
        before,
        "a refused delete changes nothing"
    );

    let deleted = api
        .call("node.delete", json!({"id": "brand", "cascade": true}))
        .await;
    let deleted_ids: Vec<String> = deleted.ok()["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        deleted_ids,
        ["product-dark", "product", "brand"],
        "descendants first"
    );
    assert!(deleted.revision() > before["revision"].as_u64().expect("revision"));

    for id in ["brand", "product", "product-dark"] {
        api.call("node.get", json!({ "id": id }))
            .await
            .fails(404, "NOT_FOUND");
        api.call("tokens.resolve", json!({ "node": id }))
            .await
            .fails(404, "NOT_FOUND");
    }
    let left = api.ok("node.list", json!({})).await;
    assert_eq!(names(&left["nodes"], "id"), ["other"]);

    // History outlives the nodes.
    let history = api
        .ok("token.history", json!({"node": "product-dark"}))
        .await;
    let actions = names(&history["entries"], "action");
    assert_eq!(
        actions,
        ["node.deleted", "token.overridden", "node.created"],
        "{history}"
    );
    let brand = api
        .ok(
            "token.history",
            json!({"node": "brand", "path": "color.brand"}),
        )
        .await;
    assert_eq!(names(&brand["entries"], "action"), ["token.added"]);

    // A leaf deletes without cascade.
    api.ok("node.delete", json!({"id": "other"})).await;
    assert_eq!(api.ok("node.list", json!({})).await["nodes"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn aliases_resolve_in_the_context_of_the_node_being_resolved() {
    let api = Api::start();
    api.fixture().await;

    let brand = api.resolved("brand").await;
    assert_eq!(brand["color.action"]["value"], "#1d4ed8");
    assert_eq!(brand["color.action"]["type"], "color");
    assert_eq!(brand["color.action"]["source"], "brand");
    assert_eq!(
        brand["color.action"]["aliasChain"],
        json!(["color.brand", "color.base.blue"])
    );
    assert_eq!(brand["color.base.blue"]["aliasChain"], json!([]));
    assert_eq!(brand["space.sm"]["type"], "dimension");
    assert_eq!(
        brand["space.sm"]["value"],
        json!({"value": 4, "unit": "px"})
    );

    // The product overrides the base colour: the alias defined at the root follows it.
    let product = api.resolved("product").await;
    assert_eq!(product["color.base.blue"]["value"], "#0ea5e9");
    assert_eq!(product["color.base.blue"]["source"], "product");
    assert_eq!(product["color.brand"]["value"], "#0ea5e9");
    assert_eq!(product["color.action"]["value"], "#0ea5e9");
    assert_eq!(product["color.action"]["source"], "brand");

    // The dark theme re-points the middle of the chain.
    let dark = api.resolved("product-dark").await;
    assert_eq!(dark["color.action"]["value"], "#dc2626");
    assert_eq!(
        dark["color.action"]["aliasChain"],
        json!(["color.brand", "color.base.red"])
    );
    assert_eq!(dark["color.brand"]["source"], "product-dark");
    assert_eq!(
        dark["color.base.blue"]["value"], "#0ea5e9",
        "inherited override"
    );
    assert_eq!(
        dark.as_object().expect("tokens").len(),
        5,
        "a node sees exactly the inherited set: {dark}"
    );

    // GET /v1/nodes/{id}/tokens with a prefix.
    let reply = api
        .get("/v1/nodes/product-dark/tokens?prefix=color.base.")
        .await;
    let data = reply.ok();
    assert_eq!(data["node"], "product-dark");
    assert_eq!(data["count"], 2);
    let paths: Vec<&String> = data["tokens"].as_object().expect("tokens").keys().collect();
    assert_eq!(paths, ["color.base.blue", "color.base.red"]);
}

#[tokio::test]
async fn token_lifecycle_is_recorded_in_history() {
    let api = Api::start();
    api.ok("node.create", json!({"id": "acme"})).await;
    api.ok("node.create", json!({"id": "web", "parent": "acme"}))
        .await;

    let added = api
        .call(
            "token.add",
            json!({"node": "acme", "path": "radius.md", "type": "dimension",
                   "value": {"value": 6, "unit": "px"}, "description": "cards"}),
        )
        .await;
    let data = added.ok();
    assert_eq!(data["kind"], "define");
    assert_eq!(data["type"], "dimension");
    assert_eq!(data["description"], "cards");
    let add_trace = added.body["metadata"]["traceId"].clone();

    let updated = api
        .ok(
            "token.update",
            json!({"node": "acme", "path": "radius.md", "value": "8px"}),
        )
        .await;
    assert_eq!(updated["value"], "8px");
    assert_eq!(updated["description"], "cards", "description kept");
    let over = api
        .ok(
            "token.override",
            json!({"node": "web", "path": "radius.md", "value": {"value": 12, "unit": "px"}}),
        )
        .await;
    assert_eq!(over["kind"], "override");
    assert_eq!(
        over["type"], "dimension",
        "an override keeps the inherited type"
    );
    assert_eq!(
        api.resolved("web").await["radius.md"]["value"],
        json!({"value": 12, "unit": "px"})
    );
    let reset = api
        .ok("token.reset", json!({"node": "web", "path": "radius.md"}))
        .await;
    assert_eq!(reset["value"], json!({"value": 12, "unit": "px"}));
    assert_eq!(api.resolved("web").await["radius.md"]["source"], "acme");
    let removed = api
        .ok("token.remove", json!({"node": "acme", "path": "radius.md"}))
        .await;
    assert_eq!(removed["value"], "8px");
    assert!(api.resolved("web").await.get("radius.md").is_none());

    let history = api
        .ok(
            "token.history",
            json!({"node": "acme", "path": "radius.md"}),
        )
        .await;
    let entries = history["entries"].as_array().expect("entries");
    assert_eq!(
        names(&history["entries"], "action"),
        ["token.removed", "token.updated", "token.added"],
        "newest first: {history}"
    );
    assert_eq!(entries[0]["before"], "8px");
    assert_eq!(entries[0]["after"], Value::Null);
    assert_eq!(
        entries[1]["before"]["value"],
        json!({"value": 6, "unit": "px"})
    );
    assert_eq!(entries[1]["after"]["value"], "8px");
    assert_eq!(entries[2]["traceId"], add_trace);
    assert_eq!(entries[2]["revision"], added.body["metadata"]["revision"]);
    for e in entries {
        assert_eq!(e["node"], "acme");
        assert_eq!(e["path"], "radius.md");
        assert!(!e["actor"].as_str().expect("actor").is_empty());
        assert!(!e["at"].as_str().expect("at").is_empty());
    }
    let web = api.ok("token.history", json!({"node": "web"})).await;
    assert_eq!(
        names(&web["entries"], "action"),
        ["token.reset", "token.overridden", "node.created"]
    );
    assert_eq!(
        web["entries"][1]["before"], "8px",
        "override records the inherited value"
    );
    let limited = api
        .ok("token.history", json!({"node": "web", "limit": 1}))
        .await;
    assert_eq!(names(&limited["entries"], "action"), ["token.reset"]);
}

#[tokio::test]
async fn tokens_export_renders_css_and_json() {
    let api = Api::start();
    api.fixture().await;

    let css = api
        .ok(
            "tokens.export",
            json!({"node": "product-dark", "format": "css"}),
        )
        .await;
    let content = css["content"].as_str().expect("content");
    assert!(content.starts_with(":root {"), "{content}");
    assert!(content.contains("--color-action: #dc2626;"), "{content}");
    assert!(content.contains("--color-base-blue: #0ea5e9;"), "{content}");
    assert!(content.trim_end().ends_with('}'), "{content}");
    assert!(
        css["contentType"]
            .as_str()
            .expect("contentType")
            .starts_with("text/css")
    );
    let etag = css["etag"].as_str().expect("etag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );

    let scoped = api
        .ok(
            "tokens.export",
            json!({"node": "product-dark", "format": "css", "selector": "[data-theme=\"dark\"]", "prefix": "ac"}),
        )
        .await;
    let content = scoped["content"].as_str().expect("content");
    assert!(content.starts_with("[data-theme=\"dark\"] {"), "{content}");
    assert!(content.contains("--ac-color-action: #dc2626;"), "{content}");
    assert_ne!(scoped["etag"], css["etag"]);

    let exported = api
        .ok(
            "tokens.export",
            json!({"node": "product", "format": "json"}),
        )
        .await;
    assert_eq!(exported["contentType"], "application/json");
    let parsed: Value =
        serde_json::from_str(exported["content"].as_str().expect("content")).expect("valid JSON");
    assert_eq!(parsed["color"]["action"], "#0ea5e9", "{parsed}");
    assert_eq!(parsed["color"]["base"]["red"], "#dc2626");
}

// ---------------------------------------------------------------------------------------------
// Export files over HTTP
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn export_routes_serve_files_with_etag_cache_control_and_304() {
    let api = Api::start();
    api.fixture().await;

    let css = api.get("/v1/nodes/product/export.css").await;
    assert_eq!(css.status, 200, "{}", css.text);
    assert!(
        css.header("content-type")
            .expect("content-type")
            .starts_with("text/css"),
        "{:?}",
        css.headers
    );
    assert!(css.text.starts_with(":root {"), "{}", css.text);
    assert!(
        css.text.contains("--color-action: #0ea5e9;"),
        "{}",
        css.text
    );
    let etag = css.header("etag").expect("etag").to_owned();
    let cache_control = css.header("cache-control").expect("cache-control");
    let max_age = cache_control
        .strip_prefix("public, max-age=")
        .unwrap_or_else(|| panic!("Cache-Control: {cache_control}"));
    assert!(max_age.parse::<u64>().is_ok(), "{cache_control}");
    assert!(css.header("x-trace-id").is_some());

    // The file is exactly what tokens.export returns, with the same ETag.
    let command = api
        .ok("tokens.export", json!({"node": "product", "format": "css"}))
        .await;
    assert_eq!(command["content"], css.text.as_str());
    assert_eq!(command["etag"], etag.as_str());

    let again = api
        .get_with("/v1/nodes/product/export.css", &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status, 304, "{}", again.text);
    assert!(again.text.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    // Query options change the file and its ETag.
    let prefixed = api.get("/v1/nodes/product/export.css?prefix=ac").await;
    assert_eq!(prefixed.status, 200);
    assert!(
        prefixed.text.contains("--ac-color-action: #0ea5e9;"),
        "{}",
        prefixed.text
    );
    assert_ne!(prefixed.header("etag"), Some(etag.as_str()));

    // A change gives a new file and a new ETag, even to a client holding the old one.
    api.ok(
        "token.override",
        json!({"node": "product", "path": "color.base.blue", "value": "#123456"}),
    )
    .await;
    let changed = api
        .get_with("/v1/nodes/product/export.css", &[("if-none-match", &etag)])
        .await;
    assert_eq!(changed.status, 200, "a stale ETag must not get 304");
    assert!(
        changed.text.contains("--color-action: #123456;"),
        "{}",
        changed.text
    );
    let new_etag = changed.header("etag").expect("etag");
    assert_ne!(new_etag, etag);

    let json_file = api.get("/v1/nodes/product/export.json").await;
    assert_eq!(json_file.status, 200, "{}", json_file.text);
    assert!(
        json_file
            .header("content-type")
            .expect("ct")
            .starts_with("application/json")
    );
    assert!(json_file.header("etag").is_some());
    assert!(
        json_file
            .header("cache-control")
            .expect("cc")
            .starts_with("public, max-age=")
    );
    assert_eq!(
        json_file.body["color"]["action"], "#123456",
        "{}",
        json_file.text
    );
    let json_etag = json_file.header("etag").expect("etag").to_owned();
    let not_modified = api
        .get_with(
            "/v1/nodes/product/export.json",
            &[("if-none-match", &json_etag)],
        )
        .await;
    assert_eq!(not_modified.status, 304);

    // Unknown node and unsupported format are envelopes.
    api.get("/v1/nodes/nope/export.css")
        .await
        .fails(404, "NOT_FOUND");
    let pdf = api.get("/v1/nodes/product/export.pdf").await;
    assert_eq!(
        (pdf.status, pdf.code()),
        (400, "VALIDATION_ERROR"),
        "{}",
        pdf.text
    );
}

// ---------------------------------------------------------------------------------------------
// Batch
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn batch_runs_items_in_order_and_reports_each() {
    let api = Api::start();
    let all_ok = api
        .post_raw(
            "/v1/batch",
            json!({"items": [
                {"command": "node.create", "input": {"id": "acme"}},
                {"command": "token.add", "input": {"node": "acme", "path": "color.a", "type": "color", "value": "#000000"}},
                {"command": "tokens.resolve", "input": {"node": "acme"}}
            ], "stopOnError": true})
            .to_string(),
            &[],
        )
        .await;
    assert_eq!(all_ok.status, 200, "{}", all_ok.text);
    assert_eq!(all_ok.body["success"], true);
    assert_eq!(all_ok.body["skipped"], json!([]));
    let results = all_ok.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    assert_eq!(
        results
            .iter()
            .map(|r| r["metadata"]["command"].clone())
            .collect::<Vec<_>>(),
        [
            json!("node.create"),
            json!("token.add"),
            json!("tokens.resolve")
        ]
    );
    assert_eq!(results[2]["data"]["tokens"]["color.a"]["value"], "#000000");
    assert_eq!(
        all_ok.header("tinct-consistency"),
        results[1]["metadata"]["revision"].as_str(),
        "the batch carries the latest revision it committed"
    );

    let stopped = api
        .post_raw(
            "/v1/batch",
            json!({"items": [
                {"command": "node.create", "input": {"id": "one"}},
                {"command": "node.get", "input": {"id": "missing"}},
                {"command": "node.create", "input": {"id": "two"}}
            ], "stopOnError": true})
            .to_string(),
            &[],
        )
        .await;
    assert_eq!(stopped.status, 207, "{}", stopped.text);
    assert_eq!(stopped.body["success"], false);
    assert_eq!(stopped.body["skipped"], json!([2]));
    let results = stopped.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[1]["error"]["code"], "NOT_FOUND");
    api.call("node.get", json!({"id": "two"}))
        .await
        .fails(404, "NOT_FOUND");
    api.ok("node.get", json!({"id": "one"})).await;

    let carried_on = api
        .post_raw(
            "/v1/batch",
            json!({"items": [
                {"command": "node.get", "input": {"id": "missing"}},
                {"command": "node.create", "input": {"id": "two"}}
            ]})
            .to_string(),
            &[],
        )
        .await;
    assert_eq!(carried_on.status, 207, "{}", carried_on.text);
    assert_eq!(carried_on.body["skipped"], json!([]));
    assert_eq!(carried_on.body["results"][1]["success"], true);
    api.ok("node.get", json!({"id": "two"})).await;

    let before = api.revision().await;
    let bad = api.post_raw("/v1/batch", "{\"items\": 3}", &[]).await;
    bad.fails(400, "VALIDATION_ERROR");
    let bad = api.post_raw("/v1/batch", "{\"items\": [", &[]).await;
    bad.fails(400, "VALIDATION_ERROR");
    assert_eq!(api.revision().await, before);
}

// ---------------------------------------------------------------------------------------------
// Catalogue, health, OpenAPI, routing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn catalogue_routes_describe_every_command() {
    let api = Api::start();
    let all = api.get("/v1/commands").await;
    let listed = names(&all.ok()["commands"], "name");
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "the catalogue is in name order");
    for name in COMMANDS {
        assert!(
            listed.iter().any(|l| l == name),
            "the catalogue lacks {name}: {listed:?}"
        );
    }
    for command in all.data()["commands"].as_array().expect("commands") {
        let name = command["name"].as_str().expect("name");
        assert!(
            !command["description"].as_str().unwrap_or("").is_empty(),
            "{name} has no description"
        );
        assert_eq!(command["inputSchema"]["type"], "object", "{name}");
        assert!(command["outputSchema"].is_object(), "{name}");
        assert!(
            !command["examples"].as_array().expect("examples").is_empty(),
            "{name} has no example"
        );
        let mutation = command["mutation"].as_bool().expect("mutation");
        if COMMANDS.contains(&name) {
            let expected = ["node.create", "node.update", "node.delete"].contains(&name)
                || (name.starts_with("token.") && name != "token.history");
            assert_eq!(mutation, expected, "{name} mutation flag");
        }
    }

    let one = api.get("/v1/commands/tokens.resolve").await;
    let described = &one.ok()["commands"];
    assert_eq!(names(described, "name"), ["tokens.resolve"]);
    let schema = &described[0]["inputSchema"];
    assert!(schema["properties"]["node"].is_object(), "{schema}");
    assert!(schema["properties"]["prefix"].is_object(), "{schema}");
    assert_eq!(schema["required"], json!(["node"]));
    let same = api
        .ok("system.commands", json!({"name": "tokens.resolve"}))
        .await;
    assert_eq!(&same["commands"], described);

    api.get("/v1/commands/tokens.resolv")
        .await
        .fails(404, "COMMAND_NOT_FOUND");
}

#[tokio::test]
async fn health_routes_answer() {
    let api = Api::start();
    let health = api.get("/health").await;
    let data = health.ok();
    assert_eq!(data["status"], "ok");
    assert!(!data["version"].as_str().expect("version").is_empty());
    assert!(data["store"].as_str().expect("store").contains("sqlite"));
    revision_number(&data["revision"]);
    assert_eq!(
        health.body["metadata"]["cache"], "bypass",
        "health is never cached"
    );

    let live = api.get("/health/live").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.body["status"], "live");
    let ready = api.get("/health/ready").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["status"], "ready");
}

#[tokio::test]
async fn openapi_documents_every_command_and_every_ref_resolves() {
    let api = Api::start();
    let doc = api.get("/v1/openapi.json").await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let doc = doc.body;
    assert!(
        doc["openapi"].as_str().expect("openapi").starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    let catalogue = api.ok("system.commands", json!({})).await;
    let every = names(&catalogue["commands"], "name");
    assert!(every.len() >= COMMANDS.len());
    for name in &every {
        let op = &paths
            .get(&format!("/v1/commands/{name}"))
            .unwrap_or_else(|| panic!("no path for {name}"))["post"];
        assert_eq!(op["operationId"], name.as_str());
        assert!(
            op["requestBody"]["content"]["application/json"]["schema"].is_object(),
            "{name} has no request schema"
        );
        assert!(op["responses"]["200"].is_object(), "{name}");
    }
    for route in [
        "/v1/nodes",
        "/v1/nodes/{id}",
        "/v1/nodes/{id}/tokens",
        "/v1/nodes/{id}/export.{format}",
    ] {
        assert!(paths.contains_key(route), "OpenAPI lacks {route}");
    }
    // The export route documents every option tokens.export takes, as query parameters.
    let export_params: Vec<&str> = paths["/v1/nodes/{id}/export.{format}"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for option in [
        "selector",
        "prefix",
        "outputReferences",
        "nameCase",
        "colorFormat",
        "themes",
    ] {
        assert!(
            export_params.contains(&option),
            "{option}: {export_params:?}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    assert!(schemas.contains_key("CommandResult"));
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(
        refs.len() > COMMANDS.len(),
        "expected $refs, found {}",
        refs.len()
    );
    let dangling: BTreeSet<&String> = refs
        .iter()
        .filter(|r| {
            r.strip_prefix("#/components/schemas/")
                .is_none_or(|name| !schemas.contains_key(name))
        })
        .collect();
    assert!(dangling.is_empty(), "dangling $refs: {dangling:?}");
    let codes = names(&doc["x-error-codes"], "code");
    for code in [
        "VALIDATION_ERROR",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "CONFLICT",
        "COMMAND_NOT_FOUND",
        "CIRCULAR_REFERENCE",
        "BROKEN_REFERENCE",
        "NODE_HAS_CHILDREN",
    ] {
        assert!(
            codes.iter().any(|c| c == code),
            "x-error-codes lacks {code}"
        );
    }
}

#[tokio::test]
async fn unknown_routes_answer_with_a_404_envelope() {
    let api = Api::start();
    // "/" is the web page now; everything unrouted is a 404 envelope.
    for path in ["/v2/nodes", "/v1/nothing", "/v1/nodes/acme/tokens/extra"] {
        let reply = api.get(path).await;
        reply.fails(404, "NOT_FOUND");
        assert!(reply.message().contains(path), "{}", reply.text);
    }
    let reply = api.post_raw("/v1/nothing", "{}", &[]).await;
    reply.fails(404, "NOT_FOUND");
}

// ---------------------------------------------------------------------------------------------
// Bad input: the documented code, a message, a suggestion, and nothing changed
// ---------------------------------------------------------------------------------------------

/// Runs `name` with `input`, checks its status, code, message and suggestion, and proves that
/// nothing changed (revision, nodes, every node's resolved tokens). Returns the reply.
async fn refused(api: &Api, name: &str, input: Value, status: u16, code: &str) -> Reply {
    let before = api.snapshot().await;
    let reply = api.call(name, input).await;
    let after = api.snapshot().await;
    assert_eq!(
        (reply.status, reply.code()),
        (status, code),
        "unexpected answer: {}",
        reply.text
    );
    assert_eq!(after, before, "a refused {name} must change nothing");
    reply.fails(status, code);
    reply
}

async fn fixture_api() -> Api {
    let api = Api::start();
    api.fixture().await;
    api
}

#[tokio::test]
async fn malformed_json_body_is_a_validation_error() {
    let api = fixture_api().await;
    let before = api.snapshot().await;
    let reply = api
        .post_raw(
            "/v1/commands/token.add",
            "{\"node\": \"brand\", \"path\": ",
            &[],
        )
        .await;
    reply.fails(400, "VALIDATION_ERROR");
    assert!(reply.message().contains("not valid JSON"), "{}", reply.text);
    assert_eq!(reply.body["metadata"]["command"], "token.add");
    assert_eq!(api.snapshot().await, before);
}

#[tokio::test]
async fn early_errors_name_the_instance_like_every_envelope() {
    let api = Api::start();
    let instance = api.ok("system.health", json!({})).await["instance"].clone();
    let malformed = api.post_raw("/v1/commands/node.get", "{oops", &[]).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.body["metadata"]["instance"], instance,
        "metadata.instance names the process in every envelope: {}",
        malformed.text
    );
    let no_route = api.get("/v9").await;
    assert_eq!(no_route.status, 404);
    assert_eq!(
        no_route.body["metadata"]["instance"], instance,
        "{}",
        no_route.text
    );
}

#[tokio::test]
async fn wrong_type_is_a_validation_error_naming_the_field() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "token.add",
        json!({"node": "brand", "path": 7, "type": "color", "value": "#000000"}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("path"), "{}", reply.text);
    assert_eq!(reply.details()["problems"][0]["field"], "path");
    assert_eq!(reply.details()["problems"][0]["rule"], "type");
    assert!(
        reply.suggestion().contains("tinct commands token.add"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn missing_required_field_is_a_validation_error_naming_the_field() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "token.add",
        json!({"node": "brand", "path": "color.new", "value": "#000000"}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("\"type\""), "{}", reply.text);
    assert_eq!(reply.details()["problems"][0]["rule"], "required");
    assert!(reply.suggestion().contains("type"), "{}", reply.text);
}

#[tokio::test]
async fn unknown_field_is_a_validation_error_naming_the_field() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "node.create",
        json!({"id": "extra", "parent": "brand", "colour": "red"}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("colour"), "{}", reply.text);
    assert!(
        reply.suggestion().contains("parent"),
        "lists valid fields: {}",
        reply.text
    );
}

#[tokio::test]
async fn unknown_command_suggests_a_close_name() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "node.craete",
        json!({"id": "x"}),
        404,
        "COMMAND_NOT_FOUND",
    )
    .await;
    assert!(reply.message().contains("node.craete"), "{}", reply.text);
    assert!(reply.suggestion().contains("node.create"), "{}", reply.text);
    let reply = api.call("tokens.reslove", json!({"node": "brand"})).await;
    reply.fails(404, "COMMAND_NOT_FOUND");
    assert!(
        reply.suggestion().contains("tokens.resolve"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn unknown_node_suggests_close_ids() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "token.add",
        json!({"node": "prodct", "path": "color.new", "type": "color", "value": "#000000"}),
        404,
        "NOT_FOUND",
    )
    .await;
    assert!(reply.message().contains("prodct"), "{}", reply.text);
    assert!(reply.suggestion().contains("product"), "{}", reply.text);
    let reply = api.get("/v1/nodes/brnd/tokens").await;
    reply.fails(404, "NOT_FOUND");
    assert!(reply.suggestion().contains("brand"), "{}", reply.text);
}

#[tokio::test]
async fn invalid_node_id_is_refused_with_a_usable_id() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "node.create",
        json!({"id": "My Theme", "parent": "brand"}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("My Theme"), "{}", reply.text);
    assert!(reply.suggestion().contains("my-theme"), "{}", reply.text);
}

#[tokio::test]
async fn invalid_token_path_is_a_validation_error_with_a_suggestion() {
    let api = fixture_api().await;
    for path in ["color..x", "color.$value", "color.with space", ""] {
        let reply = refused(
            &api,
            "token.add",
            json!({"node": "brand", "path": path, "type": "color", "value": "#000000"}),
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert!(reply.message().contains("path"), "{}", reply.text);
    }
}

#[tokio::test]
async fn unknown_token_type_is_a_validation_error_with_a_suggestion() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "token.add",
        json!({"node": "brand", "path": "color.new", "type": "colour", "value": "#000000"}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("colour"), "{}", reply.text);
    assert!(reply.suggestion().contains("color"), "{}", reply.text);
}

#[tokio::test]
async fn value_invalid_for_its_type_is_a_validation_error_with_a_suggestion() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "token.add",
        json!({"node": "brand", "path": "color.new", "type": "color", "value": "not-a-colour"}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(reply.details()["field"], "value", "{}", reply.text);
    let reply = refused(
        &api,
        "token.update",
        json!({"node": "brand", "path": "space.sm", "value": {"value": 4}}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("dimension"), "{}", reply.text);
    let reply = refused(
        &api,
        "token.override",
        json!({"node": "product", "path": "space.sm", "value": "#000000"}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("dimension"), "{}", reply.text);
}

#[tokio::test]
async fn creating_a_node_under_a_missing_parent_is_not_found() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "node.create",
        json!({"id": "orphan", "parent": "prodcut"}),
        404,
        "NOT_FOUND",
    )
    .await;
    assert!(reply.message().contains("prodcut"), "{}", reply.text);
    assert!(reply.suggestion().contains("product"), "{}", reply.text);
}

#[tokio::test]
async fn duplicate_node_id_already_exists() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "node.create",
        json!({"id": "product", "parent": "brand", "name": "Again"}),
        409,
        "ALREADY_EXISTS",
    )
    .await;
    assert!(reply.message().contains("product"), "{}", reply.text);
    assert_eq!(
        api.ok("node.get", json!({"id": "product"})).await["name"],
        "Product"
    );
}

#[tokio::test]
async fn adding_a_defined_or_inherited_path_already_exists() {
    let api = fixture_api().await;
    let own = refused(
        &api,
        "token.add",
        json!({"node": "brand", "path": "color.brand", "type": "color", "value": "#000000"}),
        409,
        "ALREADY_EXISTS",
    )
    .await;
    assert!(own.suggestion().contains("token.update"), "{}", own.text);
    let inherited = refused(
        &api,
        "token.add",
        json!({"node": "product-dark", "path": "color.action", "type": "color", "value": "#000000"}),
        409,
        "ALREADY_EXISTS",
    )
    .await;
    assert!(inherited.message().contains("brand"), "{}", inherited.text);
    assert!(
        inherited.suggestion().contains("token.override"),
        "{}",
        inherited.text
    );
    let overridden = refused(
        &api,
        "token.add",
        json!({"node": "product", "path": "color.base.blue", "type": "color", "value": "#000000"}),
        409,
        "ALREADY_EXISTS",
    )
    .await;
    assert!(
        overridden.suggestion().contains("token.override"),
        "{}",
        overridden.text
    );
}

#[tokio::test]
async fn overriding_a_path_that_is_not_inherited_is_not_found() {
    let api = fixture_api().await;
    let own = refused(
        &api,
        "token.override",
        json!({"node": "brand", "path": "color.brand", "value": "#000000"}),
        404,
        "NOT_FOUND",
    )
    .await;
    assert!(own.suggestion().contains("token.update"), "{}", own.text);
    let typo = refused(
        &api,
        "token.override",
        json!({"node": "product", "path": "color.actoin", "value": "#000000"}),
        404,
        "NOT_FOUND",
    )
    .await;
    assert!(typo.suggestion().contains("color.action"), "{}", typo.text);
}

#[tokio::test]
async fn an_update_that_closes_an_alias_cycle_is_refused_naming_every_member() {
    let api = fixture_api().await;
    // brand: color.action → color.brand → color.base.blue → color.action
    let reply = refused(
        &api,
        "token.update",
        json!({"node": "brand", "path": "color.base.blue", "value": "{color.action}"}),
        422,
        "CIRCULAR_REFERENCE",
    )
    .await;
    let errors = reply.details()["errors"]
        .as_array()
        .expect("details.errors");
    let cycles: Vec<BTreeSet<String>> = errors
        .iter()
        .filter(|e| e["code"] == "CIRCULAR_REFERENCE")
        .map(|e| as_set(&e["cycle"]))
        .collect();
    assert!(
        cycles.contains(&set(&["color.action", "color.base.blue", "color.brand"])),
        "every member of the cycle is named: {}",
        reply.text
    );
    for member in ["color.action", "color.base.blue", "color.brand"] {
        assert!(reply.message().contains(member), "{}", reply.text);
    }
}

#[tokio::test]
async fn an_override_that_closes_an_alias_cycle_is_refused_naming_every_member() {
    let api = fixture_api().await;
    // Only in product-dark, where color.brand → color.base.red: red → action → brand → red.
    let reply = refused(
        &api,
        "token.override",
        json!({"node": "product-dark", "path": "color.base.red", "value": "{color.action}"}),
        422,
        "CIRCULAR_REFERENCE",
    )
    .await;
    assert_eq!(reply.details()["node"], "product-dark", "{}", reply.text);
    let cycle = as_set(&reply.details()["errors"][0]["cycle"]);
    assert_eq!(
        cycle,
        set(&["color.action", "color.base.red", "color.brand"]),
        "{}",
        reply.text
    );
    // An alias that closes no cycle in product-dark's context is fine.
    api.ok(
        "token.override",
        json!({"node": "product-dark", "path": "color.base.red", "value": "{color.base.blue}"}),
    )
    .await;
    assert_eq!(
        api.resolved("product-dark").await["color.action"]["value"],
        "#0ea5e9"
    );
}

#[tokio::test]
async fn a_cycle_that_only_appears_in_a_descendant_is_refused() {
    let api = fixture_api().await;
    // Harmless at brand (red is a literal), but product-dark aliases brand → red → action → brand.
    let reply = refused(
        &api,
        "token.update",
        json!({"node": "brand", "path": "color.base.red", "value": "{color.action}"}),
        422,
        "CIRCULAR_REFERENCE",
    )
    .await;
    assert_eq!(reply.details()["node"], "product-dark", "{}", reply.text);
}

#[tokio::test]
async fn removing_a_token_something_aliases_is_a_broken_reference() {
    let api = fixture_api().await;
    // Only product-dark uses color.base.red.
    let reply = refused(
        &api,
        "token.remove",
        json!({"node": "brand", "path": "color.base.red"}),
        422,
        "BROKEN_REFERENCE",
    )
    .await;
    assert_eq!(reply.details()["node"], "product-dark", "{}", reply.text);
    let broken = &reply.details()["errors"][0];
    assert_eq!(broken["code"], "BROKEN_REFERENCE");
    assert_eq!(broken["token"], "color.brand");
    assert_eq!(broken["reference"], "color.base.red");
    assert!(broken["suggestions"].is_array(), "{}", reply.text);
}

#[tokio::test]
async fn writing_an_alias_to_a_missing_token_is_a_broken_reference_with_suggestions() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "token.add",
        json!({"node": "brand", "path": "color.link", "type": "color", "value": "{color.base.bleu}"}),
        422,
        "BROKEN_REFERENCE",
    )
    .await;
    let broken = &reply.details()["errors"][0];
    assert_eq!(broken["token"], "color.link");
    assert_eq!(broken["reference"], "color.base.bleu");
    assert!(
        as_set(&broken["suggestions"]).contains("color.base.blue"),
        "{}",
        reply.text
    );
    let reply = refused(
        &api,
        "token.update",
        json!({"node": "brand", "path": "color.action", "value": "{color.brnd}"}),
        422,
        "BROKEN_REFERENCE",
    )
    .await;
    assert_eq!(reply.details()["errors"][0]["token"], "color.action");
    assert!(
        as_set(&reply.details()["errors"][0]["suggestions"]).contains("color.brand"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn removing_a_token_a_descendant_overrides_is_a_conflict() {
    let api = fixture_api().await;
    // Removing a definition that product still overrides would orphan the override.
    api.ok(
        "token.add",
        json!({"node": "brand", "path": "size.gap", "type": "dimension", "value": "8px"}),
    )
    .await;
    api.ok(
        "token.override",
        json!({"node": "product", "path": "size.gap", "value": "12px"}),
    )
    .await;
    let reply = refused(
        &api,
        "token.remove",
        json!({"node": "brand", "path": "size.gap"}),
        409,
        "CONFLICT",
    )
    .await;
    assert!(reply.suggestion().contains("token.reset"), "{}", reply.text);
}

#[tokio::test]
async fn deleting_a_node_with_children_without_cascade_changes_nothing() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "node.delete",
        json!({"id": "product"}),
        409,
        "NODE_HAS_CHILDREN",
    )
    .await;
    assert_eq!(reply.details()["children"], json!(["product-dark"]));
}

#[tokio::test]
async fn unsupported_export_format_is_a_validation_error_with_a_suggestion() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "tokens.export",
        json!({"node": "brand", "format": "pdf"}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("pdf"), "{}", reply.text);
    assert!(reply.message().contains("css"), "{}", reply.text);
}

#[tokio::test]
async fn invalid_limit_is_a_validation_error_with_a_suggestion() {
    let api = fixture_api().await;
    for limit in [0, 1001] {
        let reply = refused(
            &api,
            "node.list",
            json!({ "limit": limit }),
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert!(reply.message().contains("limit"), "{}", reply.text);
    }
    let reply = refused(
        &api,
        "node.list",
        json!({"limit": "ten"}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("limit"), "{}", reply.text);
    let reply = refused(
        &api,
        "token.history",
        json!({"node": "brand", "limit": 0}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("limit"), "{}", reply.text);
    api.get("/v1/nodes?limit=0")
        .await
        .fails(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn blank_node_name_is_a_validation_error_with_a_suggestion() {
    let api = fixture_api().await;
    let reply = refused(
        &api,
        "node.update",
        json!({"id": "product", "name": "   "}),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(reply.message().contains("name"), "{}", reply.text);
}

#[tokio::test]
async fn wrong_method_on_a_known_route_gets_an_envelope() {
    let api = Api::start();
    let reply = api.get("/v1/batch").await;
    assert_eq!(reply.status, 405, "{}", reply.text);
    assert_eq!(
        reply.body["success"],
        json!(false),
        "a wrong method must be answered with the envelope, got {:?}",
        reply.text
    );
    assert!(!reply.message().is_empty(), "{}", reply.text);
    assert!(!reply.suggestion().is_empty(), "{}", reply.text);
}

// ---------------------------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------------------------

/// Repeats a read (a command, or a GET when `name` starts with `/`) until the cache answers it,
/// checking that every answer is `expected`. Invalidations also arrive through the event feed,
/// after the write has returned, so a warm entry may be dropped once more: hence the bounded poll.
async fn until_hit(api: &Api, name: &str, input: &Value, expected: &Value) -> Reply {
    for _ in 0..100 {
        let reply = if name.starts_with('/') {
            api.get(name).await
        } else {
            api.call(name, input.clone()).await
        };
        assert_eq!(reply.ok(), expected, "{name} answered differently");
        if reply.body["metadata"]["cache"] == "hit" {
            return reply;
        }
        assert_eq!(reply.body["metadata"]["cache"], "miss", "{}", reply.text);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{name} {input} is never served from the cache");
}

/// The first read after a write must not be served from the cache, and shows the new state.
async fn fresh(api: &Api, name: &str, input: &Value) -> Value {
    let reply = api.call(name, input.clone()).await;
    assert_eq!(
        reply.body["metadata"]["cache"], "miss",
        "the first {name} after a write must be a miss: {}",
        reply.text
    );
    reply.ok().clone()
}

#[tokio::test]
async fn repeated_reads_hit_the_cache_and_mutations_make_them_fresh_misses() {
    let api = fixture_api().await;
    let resolve = json!({"node": "product-dark"});

    let first = api.ok("tokens.resolve", resolve.clone()).await;
    until_hit(&api, "tokens.resolve", &resolve, &first).await;
    // The resource route reads through the same cache.
    until_hit(&api, "/v1/nodes/product-dark/tokens", &resolve, &first).await;

    // A change at the root reaches the cached read of a grandchild.
    api.ok(
        "token.update",
        json!({"node": "brand", "path": "color.base.red", "value": "#b91c1c"}),
    )
    .await;
    let after = fresh(&api, "tokens.resolve", &resolve).await;
    assert_eq!(after["tokens"]["color.action"]["value"], "#b91c1c");
    until_hit(&api, "tokens.resolve", &resolve, &after).await;

    // Each kind of write refreshes the reads that depend on it.
    let export = json!({"node": "product", "format": "css"});
    let before = api.ok("tokens.export", export.clone()).await;
    until_hit(&api, "tokens.export", &export, &before).await;
    api.ok(
        "token.override",
        json!({"node": "product", "path": "space.sm", "value": "6px"}),
    )
    .await;
    let exported = fresh(&api, "tokens.export", &export).await;
    let content = exported["content"].as_str().expect("content");
    assert!(content.contains("--space-sm: 6px;"), "{content}");
    assert_ne!(exported["etag"], before["etag"]);

    let get = json!({"id": "product"});
    let node = api.ok("node.get", get.clone()).await;
    until_hit(&api, "node.get", &get, &node).await;
    api.ok("node.update", json!({"id": "product", "name": "Renamed"}))
        .await;
    assert_eq!(fresh(&api, "node.get", &get).await["name"], "Renamed");

    let all = json!({});
    let listed = api.ok("node.list", all.clone()).await;
    until_hit(&api, "node.list", &all, &listed).await;
    let brand = json!({"id": "brand"});
    let brand_node = api.ok("node.get", brand.clone()).await;
    assert_eq!(brand_node["childCount"], 1);
    until_hit(&api, "node.get", &brand, &brand_node).await;
    api.ok("node.create", json!({"id": "zeta", "parent": "brand"}))
        .await;
    let listed = fresh(&api, "node.list", &all).await;
    assert!(names(&listed["nodes"], "id").contains(&"zeta".to_owned()));
    assert_eq!(fresh(&api, "node.get", &brand).await["childCount"], 2);

    let history = json!({"node": "product"});
    let entries = api.ok("token.history", history.clone()).await;
    until_hit(&api, "token.history", &history, &entries).await;
    api.ok(
        "token.reset",
        json!({"node": "product", "path": "space.sm"}),
    )
    .await;
    let entries = fresh(&api, "token.history", &history).await;
    assert_eq!(entries["entries"][0]["action"], "token.reset");

    let product = api.ok("tokens.resolve", json!({"node": "product"})).await;
    until_hit(
        &api,
        "tokens.resolve",
        &json!({"node": "product"}),
        &product,
    )
    .await;
    api.ok("node.delete", json!({"id": "product", "cascade": true}))
        .await;
    api.call("tokens.resolve", json!({"node": "product"}))
        .await
        .fails(404, "NOT_FOUND");
    api.call("tokens.resolve", resolve)
        .await
        .fails(404, "NOT_FOUND");
    api.call("node.get", get).await.fails(404, "NOT_FOUND");
}

#[tokio::test]
async fn a_failed_write_does_not_disturb_cached_reads() {
    let api = fixture_api().await;
    let resolve = json!({"node": "brand"});
    let first = api.ok("tokens.resolve", resolve.clone()).await;
    api.call(
        "token.update",
        json!({"node": "brand", "path": "color.base.blue", "value": "{color.action}"}),
    )
    .await
    .fails(422, "CIRCULAR_REFERENCE");
    let after = api.call("tokens.resolve", resolve).await;
    assert_eq!(after.data(), &first);
    assert_eq!(after.data()["tokens"]["color.action"]["value"], "#1d4ed8");
}

// ---------------------------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let api = Api::on(TinctServer::start_in(Path::new(BIN), dir.path(), &[]));
    api.fixture().await;
    api.ok(
        "node.update",
        json!({"id": "product", "description": "kept"}),
    )
    .await;
    let resolved = api.resolved("product-dark").await;
    let revision = api.revision().await;
    let history = api.ok("token.history", json!({"node": "product"})).await;

    let status = api.server.terminate();
    assert!(
        status.success(),
        "SIGTERM must stop tinct cleanly, got {status}"
    );

    let api = Api::on(TinctServer::start_in(Path::new(BIN), dir.path(), &[]));
    assert_eq!(api.revision().await, revision);
    assert_eq!(api.resolved("product-dark").await, resolved);
    assert_eq!(
        api.ok("node.get", json!({"id": "product"})).await["description"],
        "kept"
    );
    assert_eq!(
        api.ok("token.history", json!({"node": "product"})).await,
        history
    );
    let next = api
        .call("node.create", json!({"id": "after-restart"}))
        .await;
    next.ok();
    assert!(
        next.revision() > revision,
        "revisions continue after a restart"
    );
    assert_eq!(
        names(&api.ok("node.list", json!({})).await["nodes"], "id"),
        ["after-restart", "brand", "product", "product-dark"]
    );
}
