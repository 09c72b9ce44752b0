//! The resolved projection against live resolution: after every kind of change, each node's
//! `tokens.resolve` answer (served from the stored projection) equals what resolving it live gives
//! (`tokens.resolve` with a path prefix never reads the projection). On the embedded store and on
//! a real PostgreSQL, where concurrent writers of one design system must not leave a stale answer.

use serde_json::{Map, Value, json};
use tinct_command::{Context, Surface};
use tinct_service::{App, Config};

/// Every path this test writes starts with one of these.
const GROUPS: [&str; 2] = ["color.", "size."];

async fn app(dir: &tempfile::TempDir, database_url: Option<String>) -> App {
    let config = Config {
        data_dir: dir.path().to_owned(),
        database_url,
        // Every read reaches the handler: the command cache is not what is tested.
        cache_entries: 0,
        ..Config::default()
    };
    App::open(config).await.expect("app opens")
}

async fn call(app: &App, name: &str, input: Value) -> Value {
    let result = app
        .registry
        .execute(name, input.clone(), Context::new(Surface::Cli))
        .await;
    let result = serde_json::to_value(&result).unwrap();
    assert_eq!(result["success"], true, "{name} {input}: {result}");
    result["data"].clone()
}

/// The node's stored answer, and the same answer resolved live (group by group).
async fn both(app: &App, node: &str) -> (Value, Value) {
    let stored = call(app, "tokens.resolve", json!({"node": node})).await;
    let mut tokens = Map::new();
    for group in GROUPS {
        let part = call(
            app,
            "tokens.resolve",
            json!({"node": node, "prefix": group}),
        )
        .await;
        tokens.extend(part["tokens"].as_object().cloned().unwrap_or_default());
    }
    let live = json!({"node": node, "count": tokens.len(), "tokens": tokens});
    (stored, live)
}

async fn assert_fresh(app: &App, nodes: &[&str], after: &str) {
    for node in nodes {
        let (stored, live) = both(app, node).await;
        assert_eq!(stored, live, "node {node} after {after}");
    }
}

async fn every_change_keeps_answers_fresh(app: &App) {
    let all = ["ds", "web", "dark", "ios"];
    call(app, "node.create", json!({"id": "ds"})).await;
    call(app, "node.create", json!({"id": "web", "parent": "ds"})).await;
    call(app, "node.create", json!({"id": "dark", "parent": "web"})).await;
    assert_fresh(app, &all[..3], "node.create").await;
    let steps = [
        (
            "token.add",
            json!({"node": "ds", "path": "color.base", "type": "color", "value": "#111111"}),
        ),
        (
            "token.add",
            json!({"node": "ds", "path": "color.text", "type": "color", "value": "{color.base}"}),
        ),
        (
            "token.add",
            json!({"node": "ds", "path": "size.s", "type": "dimension", "value": "4px"}),
        ),
        ("node.create", json!({"id": "ios", "parent": "ds"})),
        (
            "token.override",
            json!({"node": "web", "path": "color.base", "value": "#222222"}),
        ),
        (
            "token.add",
            json!({"node": "dark", "path": "color.glow", "type": "color", "value": "{color.text}"}),
        ),
        (
            "token.update",
            json!({"node": "ds", "path": "color.base", "value": "#333333"}),
        ),
        (
            "token.update",
            json!({"node": "ds", "path": "size.s", "value": "8px", "description": "small"}),
        ),
        ("token.reset", json!({"node": "web", "path": "color.base"})),
        ("node.update", json!({"id": "web", "name": "Web"})),
        (
            "tokens.import",
            json!({"node": "web", "document": {"size": {"m": {"$type": "dimension", "$value": "{size.s}"}}}}),
        ),
        (
            "token.remove",
            json!({"node": "dark", "path": "color.glow"}),
        ),
    ];
    for (name, input) in steps {
        call(app, name, input.clone()).await;
        assert_fresh(app, &existing(app, &all).await, &format!("{name} {input}")).await;
    }
    // The answers follow the values, not just each other.
    let dark = call(app, "tokens.resolve", json!({"node": "dark"})).await;
    assert_eq!(dark["tokens"]["color.text"]["value"], "#333333");
    assert_eq!(dark["tokens"]["size.m"]["value"], "8px");
    assert_eq!(dark["count"], 4);

    call(app, "node.delete", json!({"id": "web", "cascade": true})).await;
    assert_fresh(app, &["ds", "ios"], "node.delete").await;
    let gone = app
        .registry
        .execute(
            "tokens.resolve",
            json!({"node": "dark"}),
            Context::new(Surface::Cli),
        )
        .await;
    let gone = serde_json::to_value(&gone).unwrap();
    assert_eq!(gone["error"]["code"], "NOT_FOUND", "{gone}");
}

async fn existing<'a>(app: &App, nodes: &[&'a str]) -> Vec<&'a str> {
    let listed = call(app, "node.list", json!({})).await;
    let ids: Vec<String> = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    nodes
        .iter()
        .copied()
        .filter(|n| ids.iter().any(|id| id == n))
        .collect()
}

#[tokio::test]
async fn embedded_answers_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, None).await;
    every_change_keeps_answers_fresh(&app).await;
}

#[tokio::test]
async fn nodes_without_answers_resolve_live_until_the_backfill_stores_them() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, None).await;
    call(&app, "node.create", json!({"id": "old"})).await;
    call(
        &app,
        "node.create",
        json!({"id": "old-kid", "parent": "old"}),
    )
    .await;
    call(
        &app,
        "token.add",
        json!({"node": "old", "path": "color.a", "type": "color", "value": "#abcdef"}),
    )
    .await;
    let before = call(&app, "tokens.resolve", json!({"node": "old-kid"})).await;
    // As a database written before the projection existed.
    let store = app.services.store.clone();
    let tx = store.begin().await.unwrap();
    tx.drop_resolved(&["old".to_owned(), "old-kid".to_owned()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.resolved("old-kid").await.unwrap(), None);
    assert_eq!(
        call(&app, "tokens.resolve", json!({"node": "old-kid"})).await,
        before,
        "live"
    );

    // A stored answer that is not JSON is reported, not handed out.
    let tx = store.begin().await.unwrap();
    tx.put_resolved(&[("old".to_owned(), "garbage".to_owned())])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let broken = app
        .registry
        .execute(
            "tokens.resolve",
            json!({"node": "old"}),
            Context::new(Surface::Cli),
        )
        .await;
    let broken = serde_json::to_value(&broken).unwrap();
    assert_eq!(broken["error"]["code"], "INTERNAL_ERROR", "{broken}");
    let tx = store.begin().await.unwrap();
    tx.drop_resolved(&["old".to_owned()]).await.unwrap();
    tx.commit().await.unwrap();

    app.backfill_projection().await.unwrap();
    let stored: Value =
        serde_json::from_str(&store.resolved("old-kid").await.unwrap().unwrap()).unwrap();
    assert_eq!(stored, before);
    assert!(store.resolved("old").await.unwrap().is_some());
    assert_fresh(&app, &["old", "old-kid"], "the backfill").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_answers_follow_every_change_and_concurrent_writers() {
    let pg = tinct_testkit::Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, Some(pg.url())).await;
    every_change_keeps_answers_fresh(&app).await;

    // Writers of a root and of its descendants at once, from two apps (two pools): each rewrites
    // the answers of nodes the other changes. Whatever order they commit in, no answer may miss
    // a change.
    let other_dir = tempfile::tempdir().unwrap();
    let other = self::app(&other_dir, Some(pg.url())).await;
    call(&app, "node.create", json!({"id": "race"})).await;
    call(
        &app,
        "node.create",
        json!({"id": "race-a", "parent": "race"}),
    )
    .await;
    call(
        &app,
        "node.create",
        json!({"id": "race-b", "parent": "race-a"}),
    )
    .await;
    call(
        &app,
        "token.add",
        json!({"node": "race", "path": "color.x", "type": "color", "value": "#000000"}),
    )
    .await;
    call(
        &app,
        "token.add",
        json!({"node": "race-b", "path": "color.y", "type": "color", "value": "{color.x}"}),
    )
    .await;
    // Each round changes the root and a node below it at the same time, then checks.
    for i in 0..30 {
        let root = format!("#0000{i:02x}");
        let below = format!("#00{i:02x}00");
        let leaf_write = if i % 2 == 0 {
            (
                "token.override",
                json!({"node": "race-a", "path": "color.x", "value": below}),
            )
        } else {
            ("token.reset", json!({"node": "race-a", "path": "color.x"}))
        };
        tokio::join!(
            call(
                &app,
                "token.update",
                json!({"node": "race", "path": "color.x", "value": root})
            ),
            call(&other, leaf_write.0, leaf_write.1),
        );
        assert_fresh(
            &app,
            &["race", "race-a", "race-b"],
            &format!("concurrent round {i}"),
        )
        .await;
    }
    let leaf = call(&other, "tokens.resolve", json!({"node": "race-b"})).await;
    assert_eq!(leaf["tokens"]["color.y"]["value"], "#00001d", "{leaf}");
}
