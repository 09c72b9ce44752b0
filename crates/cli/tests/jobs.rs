//! Background jobs end to end with the real binary: `tokens.export {async: true}`, `jobs.*`,
//! the artifact download, snapshots and their immutable route; on SQLite and on PostgreSQL.

use std::path::Path;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tinct_testkit::{Postgres, TinctServer, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

/// Workers poll often in tests, so a job starts soon after it is enqueued.
const FAST: (&str, &str) = ("TINCT_JOB_POLL_MS", "100");
/// An API-only instance: jobs stay where they are (nothing runs them).
const NO_WORKER: (&str, &str) = ("TINCT_ROLES", "api");

struct Reply {
    status: u16,
    headers: HeaderMap,
    bytes: Vec<u8>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200: {}", self.text());
        assert_eq!(self.body["success"], json!(true), "{}", self.text());
        &self.body["data"]
    }

    /// A failure with `status` and `code`, a message and a suggestion.
    fn fails(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            (
                self.status,
                self.body["error"]["code"].as_str().unwrap_or("")
            ),
            (status, code),
            "unexpected answer: {}",
            self.text()
        );
        assert_eq!(self.body["success"], json!(false));
        let error = &self.body["error"];
        assert!(
            !error["message"].as_str().unwrap_or("").is_empty(),
            "{}",
            self.text()
        );
        assert!(
            !error["suggestion"].as_str().unwrap_or("").is_empty(),
            "{code} without a suggestion: {}",
            self.text()
        );
        error
    }
}

struct Api {
    server: TinctServer,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Api {
    fn start(env: &[(&str, &str)]) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let server = TinctServer::start_in(Path::new(BIN), dir.path(), env);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Api {
            server,
            http,
            _dir: dir,
        }
    }

    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            bytes,
            body,
        }
    }

    async fn call(&self, name: &str, input: Value) -> Reply {
        let response = self
            .http
            .post(format!("{}/v1/commands/{name}", self.server.url))
            .json(&input)
            .send()
            .await
            .unwrap();
        Self::read(response).await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.http.get(format!("{}{path}", self.server.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.send().await.unwrap()).await
    }

    async fn job(&self, id: i64) -> Value {
        self.call("jobs.get", json!({ "id": id }))
            .await
            .ok()
            .clone()
    }

    /// Waits until job `id` is in `state`; returns it.
    async fn wait_for(&self, id: i64, state: &str) -> Value {
        eventually(&format!("job {id} {state}"), || async {
            self.job(id).await["state"] == state
        })
        .await;
        self.job(id).await
    }

    /// A design system with a theme under it.
    async fn seed(&self, node: &str) {
        self.call("node.create", json!({"id": node, "name": node}))
            .await
            .ok();
        for (path, value) in [("color.bg", "#ffffff"), ("space.s", "4px")] {
            let kind = if path.starts_with("color") {
                "color"
            } else {
                "dimension"
            };
            self.call(
                "token.add",
                json!({"node": node, "path": path, "type": kind, "value": value}),
            )
            .await
            .ok();
        }
    }

    async fn export_async(&self, input: Value) -> i64 {
        let mut input = input;
        input["async"] = json!(true);
        let data = self.call("tokens.export", input).await.ok().clone();
        let id = data["jobId"].as_i64().expect("a job id");
        assert_eq!(data["status"], json!(format!("/v1/jobs/{id}")));
        assert_eq!(data["artifact"], json!(format!("/v1/jobs/{id}/artifact")));
        id
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios, each run on SQLite and on PostgreSQL where a worker is needed.
// ---------------------------------------------------------------------------------------------

async fn async_export_matches_the_sync_export(api: &Api) {
    api.seed("acme").await;
    let input = json!({"node": "acme", "format": "css", "prefix": "acme"});
    let sync = api.call("tokens.export", input.clone()).await;
    let sync = sync.ok();

    let id = api.export_async(input.clone()).await;
    // Each call starts its own job: a job id is never served from the command cache.
    let other = api.export_async(input.clone()).await;
    assert_ne!(id, other);

    let job = api.wait_for(id, "completed").await;
    assert_eq!(job["kind"], "export");
    assert_eq!(job["attempt"], 1);
    // Jobs about a design system share its partition, so a busy one cannot starve the others.
    assert_eq!(job["partitionKey"], "acme");
    api.call(
        "node.create",
        json!({"id": "acme-web", "parent": "acme", "name": "Web"}),
    )
    .await
    .ok();
    let child = api
        .export_async(json!({"node": "acme-web", "format": "json"}))
        .await;
    assert_eq!(api.job(child).await["partitionKey"], "acme");
    // The job carries the trace of the request that enqueued it.
    let started = api
        .call(
            "tokens.export",
            json!({"node": "acme", "format": "json", "async": true}),
        )
        .await;
    let trace = started.body["metadata"]["traceId"].clone();
    assert!(trace.is_string(), "{}", started.text());
    let traced = started.ok()["jobId"].as_i64().unwrap();
    assert_eq!(api.job(traced).await["traceId"], trace);
    assert!(job["finishedAt"].as_i64().unwrap() >= job["createdAt"].as_i64().unwrap());
    let artifact = &job["artifact"];
    assert_eq!(artifact["url"], json!(format!("/v1/jobs/{id}/artifact")));
    assert_eq!(artifact["contentType"], sync["contentType"]);
    let content = sync["content"].as_str().unwrap();
    assert_eq!(artifact["bytes"], json!(content.len()));

    let file = api.get(&format!("/v1/jobs/{id}/artifact"), &[]).await;
    assert_eq!(file.status, 200, "{}", file.text());
    assert_eq!(
        file.text(),
        content,
        "the artifact is the synchronous export"
    );
    assert_eq!(file.header("content-type"), sync["contentType"].as_str());
    let etag = file.header("etag").expect("an ETag").to_owned();
    assert_eq!(Some(etag.as_str()), artifact["etag"].as_str());
    let again = api
        .get(
            &format!("/v1/jobs/{id}/artifact"),
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, 304);
    assert!(again.bytes.is_empty());

    // The status route is jobs.get.
    let status = api.get(&format!("/v1/jobs/{id}"), &[]).await;
    assert_eq!(status.ok()["state"], "completed");
    // The listing shows the same artifact (read for the whole page at once).
    let listed = api
        .call("jobs.list", json!({"state": "completed", "kind": "export"}))
        .await;
    let listed = listed.ok()["jobs"].as_array().unwrap().clone();
    let this = listed
        .iter()
        .find(|j| j["id"] == json!(id))
        .expect("listed");
    assert_eq!(this["artifact"], *artifact);
    assert!(
        listed.iter().all(|j| j["artifact"]["url"].is_string()),
        "every completed export lists its artifact: {listed:?}"
    );

    // A completed job is not retried or cancelled.
    let e = api.call("jobs.retry", json!({"id": id})).await;
    let error = e.fails(409, "CONFLICT");
    assert!(
        error["message"].as_str().unwrap().contains("completed"),
        "{error}"
    );
    api.call("jobs.cancel", json!({"id": id}))
        .await
        .fails(409, "CONFLICT");
}

async fn snapshots_are_immutable_versions(api: &Api) {
    api.seed("snap").await;
    let publish = api
        .call(
            "snapshots.publish",
            json!({"node": "snap", "formats": ["css", "json"]}),
        )
        .await;
    let id = publish.ok()["jobId"].as_i64().unwrap();
    api.wait_for(id, "completed").await;
    let listed = api.call("snapshots.list", json!({"node": "snap"})).await;
    let versions = listed.ok()["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let v1 = versions[0]["version"].as_i64().unwrap();
    let files: Vec<&str> = versions[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["export.css", "export.json"]);

    let url = format!("/v1/snapshots/snap/{v1}/export.css");
    assert_eq!(versions[0]["files"][0]["url"], json!(url));
    let css = api.get(&url, &[]).await;
    assert_eq!(css.status, 200, "{}", css.text());
    assert_eq!(
        css.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let etag = css.header("etag").expect("an ETag").to_owned();
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    let sync = api
        .call("tokens.export", json!({"node": "snap", "format": "css"}))
        .await;
    assert_eq!(css.text(), sync.ok()["content"].as_str().unwrap());
    let not_modified = api.get(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status, 304);

    // Publishing an unchanged node makes no new version.
    let id = api
        .call(
            "snapshots.publish",
            json!({"node": "snap", "formats": ["css", "json"]}),
        )
        .await
        .ok()["jobId"]
        .as_i64()
        .unwrap();
    api.wait_for(id, "completed").await;
    let listed = api.call("snapshots.list", json!({"node": "snap"})).await;
    assert_eq!(listed.ok()["versions"].as_array().unwrap().len(), 1);

    // A change makes a new version; the old one stays as it was.
    api.call(
        "token.update",
        json!({"node": "snap", "path": "color.bg", "value": "#000000"}),
    )
    .await
    .ok();
    let id = api
        .call(
            "snapshots.publish",
            json!({"node": "snap", "formats": ["css"]}),
        )
        .await
        .ok()["jobId"]
        .as_i64()
        .unwrap();
    api.wait_for(id, "completed").await;
    let listed = api.call("snapshots.list", json!({"node": "snap"})).await;
    let versions = listed.ok()["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 2, "{versions:?}");
    let v2 = versions[0]["version"].as_i64().unwrap();
    assert!(v2 > v1, "newest first: {versions:?}");
    let old = api.get(&url, &[]).await;
    assert_eq!(old.header("etag"), Some(etag.as_str()));
    assert_eq!(old.bytes, css.bytes);
    let new = api
        .get(&format!("/v1/snapshots/snap/{v2}/export.css"), &[])
        .await;
    assert!(new.text().contains("#000000"), "{}", new.text());
}

#[tokio::test]
async fn async_export_completes_and_its_artifact_is_the_sync_export_on_sqlite() {
    let api = Api::start(&[FAST]);
    async_export_matches_the_sync_export(&api).await;
}

#[tokio::test]
async fn snapshots_publish_immutable_versions_on_sqlite() {
    let api = Api::start(&[FAST]);
    snapshots_are_immutable_versions(&api).await;
}

#[tokio::test]
async fn async_export_and_snapshots_on_postgres() {
    let pg = Postgres::start();
    let url = pg.url();
    let api = Api::start(&[FAST, ("TINCT_DATABASE_URL", url.as_str())]);
    async_export_matches_the_sync_export(&api).await;
    snapshots_are_immutable_versions(&api).await;
}

// ---------------------------------------------------------------------------------------------
// Without a worker: transitions and errors.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cancel_and_retry_move_a_job_and_refuse_what_does_not_apply() {
    let api = Api::start(&[NO_WORKER]);
    api.seed("acme").await;
    let id = api
        .export_async(json!({"node": "acme", "format": "css"}))
        .await;
    assert_eq!(api.job(id).await["state"], "available");

    // The artifact of a job that has not run yet: CONFLICT, saying to poll.
    let early = api.get(&format!("/v1/jobs/{id}/artifact"), &[]).await;
    let error = early.fails(409, "CONFLICT");
    assert!(error["suggestion"].as_str().unwrap().contains("/v1/jobs/"));

    let cancelled = api.call("jobs.cancel", json!({"id": id})).await;
    assert_eq!(cancelled.ok()["state"], "cancelled");
    api.get(&format!("/v1/jobs/{id}/artifact"), &[])
        .await
        .fails(404, "NOT_FOUND");
    api.call("jobs.cancel", json!({"id": id}))
        .await
        .fails(409, "CONFLICT");

    let retried = api.call("jobs.retry", json!({"id": id})).await;
    assert_eq!(retried.ok()["state"], "available");
    let again = api.call("jobs.retry", json!({"id": id})).await;
    again.fails(409, "CONFLICT");

    for command in ["jobs.get", "jobs.cancel", "jobs.retry"] {
        let e = api.call(command, json!({"id": 987654})).await;
        let error = e.fails(404, "NOT_FOUND");
        assert!(
            error["message"].as_str().unwrap().contains("987654"),
            "{error}"
        );
        api.call(command, json!({"id": "x"}))
            .await
            .fails(400, "VALIDATION_ERROR");
        api.call(command, json!({}))
            .await
            .fails(400, "VALIDATION_ERROR");
    }
    api.get("/v1/jobs/987654", &[])
        .await
        .fails(404, "NOT_FOUND");
    api.get("/v1/jobs/abc", &[])
        .await
        .fails(400, "VALIDATION_ERROR");
    api.get("/v1/jobs/abc/artifact", &[])
        .await
        .fails(400, "VALIDATION_ERROR");
    api.get("/v1/jobs/987654/artifact", &[])
        .await
        .fails(404, "NOT_FOUND");
    // The failed calls changed nothing.
    assert_eq!(api.job(id).await["state"], "available");
}

#[tokio::test]
async fn jobs_list_filters_pages_and_refuses_bad_filters() {
    let api = Api::start(&[NO_WORKER]);
    api.seed("acme").await;
    let mut ids = Vec::new();
    for format in ["css", "json", "scss"] {
        ids.push(
            api.export_async(json!({"node": "acme", "format": format}))
                .await,
        );
    }
    let snap = api
        .call("snapshots.publish", json!({"node": "acme"}))
        .await
        .ok()["jobId"]
        .as_i64()
        .unwrap();
    // The same publish while one is pending is that job.
    let dup = api.call("snapshots.publish", json!({"node": "acme"})).await;
    assert_eq!(dup.ok()["jobId"], json!(snap));
    assert_eq!(dup.ok()["duplicate"], json!(true));
    api.call("jobs.cancel", json!({"id": ids[1]})).await.ok();

    let list = |input: Value| {
        let api = &api;
        async move {
            let data = api.call("jobs.list", input).await.ok().clone();
            let ids: Vec<i64> = data["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_i64().unwrap())
                .collect();
            (ids, data["next"].clone())
        }
    };
    assert_eq!(list(json!({"kind": "export"})).await.0, ids);
    assert_eq!(list(json!({"kind": "snapshot"})).await.0, [snap]);
    assert_eq!(list(json!({"state": "cancelled"})).await.0, [ids[1]]);
    assert_eq!(
        list(json!({"state": "available", "kind": "export"}))
            .await
            .0,
        [ids[0], ids[2]]
    );
    assert_eq!(list(json!({"queue": "default"})).await.0.len(), 4);
    assert!(list(json!({"queue": "nope"})).await.0.is_empty());
    let (page, next) = list(json!({"limit": 2})).await;
    assert_eq!(page, ids[..2]);
    let (rest, end) = list(json!({"after": next, "limit": 2})).await;
    assert_eq!(rest, [ids[2], snap]);
    assert_eq!(end, Value::Null);

    let bad = api.call("jobs.list", json!({"state": "bogus"})).await;
    let error = bad.fails(400, "VALIDATION_ERROR");
    assert!(
        error["message"].as_str().unwrap().contains("bogus"),
        "{error}"
    );
    assert!(
        error["suggestion"].as_str().unwrap().contains("completed"),
        "{error}"
    );
    let bad = api.call("jobs.list", json!({"kind": "exprot"})).await;
    let error = bad.fails(400, "VALIDATION_ERROR");
    assert!(error["suggestion"].as_str().unwrap().contains("export"));
    for input in [
        json!({"limit": 0}),
        json!({"limit": 1001}),
        json!({"after": -1}),
        json!({"stat": "completed"}),
    ] {
        api.call("jobs.list", input)
            .await
            .fails(400, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn bad_async_exports_and_snapshots_are_refused_and_enqueue_nothing() {
    let api = Api::start(&[NO_WORKER]);
    api.seed("acme").await;
    for (input, status, code) in [
        (
            json!({"node": "nope", "format": "css", "async": true}),
            404,
            "NOT_FOUND",
        ),
        (
            json!({"node": "acme", "format": "docx", "async": true}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({"node": "acme", "format": "json", "selector": ":root", "async": true}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({"node": "acme", "format": "css", "async": "yes"}),
            400,
            "VALIDATION_ERROR",
        ),
    ] {
        api.call("tokens.export", input).await.fails(status, code);
    }
    for (input, status, code) in [
        (json!({"node": "nope"}), 404, "NOT_FOUND"),
        (
            json!({"node": "acme", "formats": ["docx"]}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({"node": "acme", "formats": []}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({"node": "acme", "formats": ["resolver"]}),
            400,
            "VALIDATION_ERROR",
        ),
    ] {
        api.call("snapshots.publish", input)
            .await
            .fails(status, code);
    }
    let jobs = api.call("jobs.list", json!({})).await;
    assert_eq!(jobs.ok()["jobs"], json!([]), "nothing was enqueued");

    // Snapshot reads of what is not there.
    api.call("snapshots.list", json!({"node": "nope"}))
        .await
        .fails(404, "NOT_FOUND");
    let none = api.call("snapshots.list", json!({"node": "acme"})).await;
    assert_eq!(none.ok()["versions"], json!([]));
    api.get("/v1/snapshots/acme/1/export.css", &[])
        .await
        .fails(404, "NOT_FOUND");
    api.get("/v1/snapshots/acme/latest/export.css", &[])
        .await
        .fails(400, "VALIDATION_ERROR");
    api.get("/v1/snapshots/nope/1/export.css", &[])
        .await
        .fails(404, "NOT_FOUND");
}
