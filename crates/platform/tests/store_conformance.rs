//! The Store conformance suite. Every adapter must pass the same checks; the SQLite adapter runs
//! them here, and later adapters call `conformance::run` with their own store.

use serde_json::json;
use tinct_platform::{
    NewEvent, NewHistory, NewNode, PgStore, SqliteStore, Store, StoreError, StoreRead, TokenKind,
    TokenRecord,
};

mod conformance {
    use super::*;

    fn node(id: &str, parent: Option<&str>) -> NewNode {
        NewNode {
            id: id.to_owned(),
            parent: parent.map(str::to_owned),
            name: id.to_uppercase(),
            description: None,
        }
    }

    fn define(node: &str, path: &str, value: serde_json::Value) -> TokenRecord {
        TokenRecord {
            node: node.to_owned(),
            path: path.to_owned(),
            kind: TokenKind::Define,
            token_type: Some("color".to_owned()),
            value,
            description: Some("d".to_owned()),
        }
    }

    pub async fn run(store: &dyn Store) {
        commit_makes_writes_visible_and_advances_revision(store).await;
        rollback_on_drop_changes_nothing(store).await;
        tree_queries(store).await;
        tokens_roundtrip(store).await;
        history_and_events(store).await;
        duplicate_keys_are_reported(store).await;
        delete_removes_nodes_and_tokens(store).await;
    }

    async fn commit_makes_writes_visible_and_advances_revision(store: &dyn Store) {
        let before: i64 = store.revision().await.unwrap().parse().unwrap();
        let tx = store.begin().await.unwrap();
        tx.insert_node(&node("root", None)).await.unwrap();
        assert!(
            tx.node("root").await.unwrap().is_some(),
            "tx sees its own write"
        );
        assert!(
            store.node("root").await.unwrap().is_none(),
            "others do not yet"
        );
        let (revision, _) = tx.commit().await.unwrap();
        let after: i64 = revision.parse().unwrap();
        assert!(after > before);
        let now: i64 = store.revision().await.unwrap().parse().unwrap();
        assert!(
            now >= after,
            "revision {now} is older than the commit {after}"
        );
        let root = store.node("root").await.unwrap().unwrap();
        assert_eq!(root.name, "ROOT");
        assert_eq!(root.parent, None);
        assert!(root.created_at.ends_with('Z'));
    }

    async fn rollback_on_drop_changes_nothing(store: &dyn Store) {
        {
            let tx = store.begin().await.unwrap();
            tx.insert_node(&node("ghost", None)).await.unwrap();
        }
        assert!(store.node("ghost").await.unwrap().is_none());
        assert!(store.history("ghost", None, 10).await.unwrap().is_empty());
    }

    async fn tree_queries(store: &dyn Store) {
        let tx = store.begin().await.unwrap();
        tx.insert_node(&node("product", Some("root")))
            .await
            .unwrap();
        tx.insert_node(&node("theme", Some("product")))
            .await
            .unwrap();
        tx.insert_node(&node("other", Some("root"))).await.unwrap();
        tx.commit().await.unwrap();
        let ids = |nodes: Vec<tinct_platform::Node>| -> Vec<String> {
            nodes.into_iter().map(|n| n.id).collect()
        };
        assert_eq!(
            ids(store.lineage("theme").await.unwrap()),
            ["root", "product", "theme"]
        );
        assert!(store.lineage("nope").await.unwrap().is_empty());
        assert_eq!(
            ids(store.subtree("root").await.unwrap()),
            ["root", "other", "product", "theme"]
        );
        assert_eq!(store.child_count("root").await.unwrap(), 2);
        assert_eq!(
            ids(store.nodes(Some("root"), None, 10).await.unwrap()),
            ["other", "product"]
        );
        assert_eq!(
            ids(store.nodes(None, Some("product"), 2).await.unwrap()),
            ["root", "theme"]
        );
    }

    async fn tokens_roundtrip(store: &dyn Store) {
        let tx = store.begin().await.unwrap();
        let value = json!({"colorSpace": "srgb", "components": [1, 0.5, 0]});
        tx.put_token(&define("root", "color.a", value.clone()))
            .await
            .unwrap();
        tx.put_token(&TokenRecord {
            node: "theme".into(),
            path: "color.a".into(),
            kind: TokenKind::Override,
            token_type: None,
            value: json!("#000"),
            description: None,
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let all = store
            .tokens(&["root".to_owned(), "theme".to_owned()])
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].value, value);
        assert_eq!(all[1].kind, TokenKind::Override);
        // put_token replaces.
        let tx = store.begin().await.unwrap();
        tx.put_token(&define("root", "color.a", json!("#fff")))
            .await
            .unwrap();
        assert!(tx.delete_token("theme", "color.a").await.unwrap());
        assert!(!tx.delete_token("theme", "color.a").await.unwrap());
        tx.commit().await.unwrap();
        let t = store.token("root", "color.a").await.unwrap().unwrap();
        assert_eq!(t.value, json!("#fff"));
        assert!(store.token("theme", "color.a").await.unwrap().is_none());
    }

    async fn history_and_events(store: &dyn Store) {
        let seq0 = store
            .events_since(0, 10_000)
            .await
            .unwrap()
            .last()
            .map_or(0, |e| e.seq);
        let tx = store.begin().await.unwrap();
        let rev = tx.revision_number();
        tx.record(&NewHistory {
            node: "root".into(),
            path: Some("color.a".into()),
            action: "token.updated".into(),
            before: Some(json!("#000")),
            after: Some(json!("#fff")),
            actor: "ana".into(),
            trace_id: "t1".into(),
        })
        .await
        .unwrap();
        tx.emit(&NewEvent {
            node: "root".into(),
            kind: "token.updated".into(),
            paths: vec!["color.a".into()],
            actor: "ana".into(),
            trace_id: "t1".into(),
        })
        .await
        .unwrap();
        let (_, events) = tx.commit().await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].revision, rev);
        let h = store.history("root", Some("color.a"), 10).await.unwrap();
        assert_eq!(h[0].actor, "ana");
        assert_eq!(h[0].before, Some(json!("#000")));
        assert_eq!(h[0].revision, rev);
        let since = store.events_since(seq0, 10).await.unwrap();
        assert_eq!(since, events);
    }

    async fn duplicate_keys_are_reported(store: &dyn Store) {
        let tx = store.begin().await.unwrap();
        let err = tx.insert_node(&node("root", None)).await.unwrap_err();
        assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");
    }

    async fn delete_removes_nodes_and_tokens(store: &dyn Store) {
        let tx = store.begin().await.unwrap();
        tx.put_token(&define("theme", "color.t", json!("#111")))
            .await
            .unwrap();
        tx.delete_nodes(&["theme".to_owned(), "product".to_owned()])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(store.node("product").await.unwrap().is_none());
        assert!(
            store
                .tokens(&["theme".to_owned()])
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.history("root", None, 10).await.unwrap().len(),
            1,
            "history is kept"
        );
    }
}

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db"))
        .await
        .unwrap();
    conformance::run(&store).await;
}

#[tokio::test]
async fn postgres_store_passes_the_conformance_suite() {
    let pg = tinct_testkit::Postgres::start();
    let store = PgStore::open_primary(&pg.url(), 4).await.unwrap();
    conformance::run(&store).await;
    // A second instance starting against the migrated database applies nothing and works.
    let again = PgStore::open_primary(&pg.url(), 2).await.unwrap();
    assert!(again.node("root").await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_store_reopens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.db");
    {
        let store = SqliteStore::open_file(&file).await.unwrap();
        let tx = store.begin().await.unwrap();
        tx.insert_node(&NewNode {
            id: "keep".into(),
            parent: None,
            name: "Keep".into(),
            description: None,
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let store = SqliteStore::open_file(&file).await.unwrap();
    assert!(store.node("keep").await.unwrap().is_some());
    assert_eq!(store.revision().await.unwrap(), "1");
}

#[tokio::test]
async fn an_unusable_path_is_reported_not_panicked() {
    let err = SqliteStore::open_file(std::path::Path::new("/proc/forbidden/x.db"))
        .await
        .err()
        .expect("must fail");
    assert!(!err.to_string().is_empty());
}
