//! tokens.import of DTCG token and resolver documents, through the real server.

use std::path::Path;

use serde_json::{Value, json};
use tinct_testkit::TinctServer;
use tinct_testkit::post_command as call;

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

async fn resolved(base: &str, node: &str) -> Value {
    call(base, "tokens.resolve", json!({ "node": node })).await["data"]["tokens"].clone()
}

#[tokio::test]
async fn a_token_document_imports_with_a_dry_run_first_and_overrides_inherited_paths() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();
    call(base, "node.create", json!({"id": "ds"})).await;
    call(
        base,
        "node.create",
        json!({"id": "ds-dark", "parent": "ds"}),
    )
    .await;
    let doc = json!({
        "color": {"$type": "color", "bg": {"$value": "#ffffff"}, "fg": {"$value": "{color.bg}"}},
        "space": {"sm": {"$type": "dimension", "$value": {"value": 4, "unit": "px"}}}
    });
    let dry = call(
        base,
        "tokens.import",
        json!({"node": "ds", "document": doc, "dryRun": true}),
    )
    .await;
    assert_eq!(dry["success"], true, "{dry}");
    assert_eq!(
        dry["data"]["nodes"][0]["added"],
        json!(["color.bg", "color.fg", "space.sm"])
    );
    assert_eq!(
        resolved(base, "ds").await,
        json!({}),
        "a dry run changes nothing"
    );

    let done = call(
        base,
        "tokens.import",
        json!({"node": "ds", "document": doc}),
    )
    .await;
    assert_eq!(done["success"], true, "{done}");
    assert_eq!(resolved(base, "ds").await["color.fg"]["value"], "#ffffff");

    // The same file again changes nothing; a theme file on the child overrides.
    let again = call(
        base,
        "tokens.import",
        json!({"node": "ds", "document": doc}),
    )
    .await;
    assert_eq!(again["data"]["nodes"][0]["unchanged"], 3);
    let dark = json!({"color": {"$type": "color", "bg": {"$value": "#000000"}}});
    let themed = call(
        base,
        "tokens.import",
        json!({"node": "ds-dark", "document": dark}),
    )
    .await;
    assert_eq!(
        themed["data"]["nodes"][0]["overridden"],
        json!(["color.bg"])
    );
    let tokens = resolved(base, "ds-dark").await;
    assert_eq!(
        tokens["color.fg"]["value"], "#000000",
        "the root alias follows the override"
    );
    assert_eq!(tokens["color.fg"]["source"], "ds");
}

#[tokio::test]
async fn a_broken_document_lists_every_error_and_changes_nothing() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();
    call(base, "node.create", json!({"id": "ds"})).await;
    let before = call(base, "system.health", json!({})).await["data"]["revision"].clone();
    let doc = json!({
        "a": {"$type": "color", "$value": "not a colour"},
        "b": {"$type": "dimension", "$value": "{missing.token}"}
    });
    let out = call(
        base,
        "tokens.import",
        json!({"node": "ds", "document": doc}),
    )
    .await;
    assert_eq!(out["error"]["code"], "VALIDATION_ERROR", "{out}");
    assert!(
        !out["error"]["details"]["errors"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        out["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("dryRun")
    );
    let after = call(base, "system.health", json!({})).await["data"]["revision"].clone();
    assert_eq!(before, after);
    let unknown = call(
        base,
        "tokens.import",
        json!({"node": "nope", "document": {}}),
    )
    .await;
    assert_eq!(unknown["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn a_resolver_document_becomes_a_root_and_one_child_per_context() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();
    let document = json!({
        "version": "2025.10",
        "sets": {"base": {"sources": [{"color": {"$type": "color", "bg": {"$value": "#ffffff"}}}]}},
        "modifiers": {"theme": {"default": "light", "contexts": {
            "light": [],
            "dark": [{"color": {"$type": "color", "bg": {"$value": "#000000"}}}]
        }}},
        "resolutionOrder": [{"$ref": "#/sets/base"}, {"$ref": "#/modifiers/theme"}]
    });
    let out = call(
        base,
        "tokens.import",
        json!({"node": "brand", "document": document}),
    )
    .await;
    assert_eq!(out["success"], true, "{out}");
    assert_eq!(out["data"]["kind"], "resolver");
    let nodes: Vec<&str> = out["data"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes[0], "brand");
    let dark = nodes
        .iter()
        .find(|n| n.contains("dark"))
        .expect("a dark child");
    assert_eq!(
        resolved(base, "brand").await["color.bg"]["value"],
        "#ffffff"
    );
    assert_eq!(resolved(base, dark).await["color.bg"]["value"], "#000000");
}

#[tokio::test]
async fn export_routes_serve_every_format_by_name_or_extension() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.as_str();
    call(base, "node.create", json!({"id": "ds"})).await;
    let doc = json!({"color": {"$type": "color", "bg": {"$value": "#ffffff"}}});
    call(
        base,
        "tokens.import",
        json!({"node": "ds", "document": doc}),
    )
    .await;
    for (file, needle) in [
        ("export.scss", "$color-bg"),
        ("export.android", "<resources"),
        ("export.xml", "<resources"),
        ("export.kt", "Color"),
        ("export.swift", "Color"),
        ("export.ts", "colorBg"),
    ] {
        let response = reqwest::get(format!("{base}/v1/nodes/ds/{file}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
        assert!(response.headers().get("etag").is_some());
        let body = response.text().await.unwrap();
        assert!(body.contains(needle), "{file}: {body}");
    }
}
