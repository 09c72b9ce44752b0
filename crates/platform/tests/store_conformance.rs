//! The Store conformance suite. Every adapter must pass the same checks; the SQLite adapter runs
//! them here, and later adapters call `conformance::run` with their own store.

use std::time::Duration;

use serde_json::json;
use tinct_platform::{
    Claimed, IdempotencyStore, KeyClaim, KeyState, NewEvent, NewHistory, NewNode, PgStore,
    SqliteStore, Store, StoreError, StoreRead, TokenKind, TokenRecord,
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
            revision: 0,
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
        revisions_follow_writes(store).await;
        resolved_answers_commit_with_their_transaction(store).await;
    }

    /// The idempotency-key port, on the same database as `store`.
    pub async fn keys(store: &dyn Store, keys: &dyn IdempotencyStore) {
        claims_replays_and_scopes(keys).await;
        seal_commits_with_the_change(store, keys).await;
        dead_claims_are_taken_over(store, keys).await;
        expired_keys_free_and_prune(keys).await;
    }

    async fn revisions_follow_writes(store: &dyn Store) {
        let tx = store.begin().await.unwrap();
        assert_eq!(tx.lock_node_revision("rev").await.unwrap(), 0, "absent");
        tx.insert_node(&node("rev", None)).await.unwrap();
        tx.put_token(&define("rev", "color.r", json!("#000")))
            .await
            .unwrap();
        let created: i64 = tx.revision_number().parse().unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.node("rev").await.unwrap().unwrap().revision, created);

        let tx = store.begin().await.unwrap();
        assert_eq!(tx.lock_node_revision("rev").await.unwrap(), created);
        assert_eq!(
            tx.lock_token_revision("rev", "color.r").await.unwrap(),
            created
        );
        assert_eq!(
            tx.lock_token_revision("rev", "color.none").await.unwrap(),
            0
        );
        tx.update_node("rev", "Renamed", None).await.unwrap();
        let updated: i64 = tx.revision_number().parse().unwrap();
        assert!(updated > created);
        tx.commit().await.unwrap();
        assert_eq!(store.node("rev").await.unwrap().unwrap().revision, updated);

        // A token write moves the token's revision, not the node's.
        let tx = store.begin().await.unwrap();
        tx.put_token(&define("rev", "color.r", json!("#111")))
            .await
            .unwrap();
        let rewritten: i64 = tx.revision_number().parse().unwrap();
        tx.commit().await.unwrap();
        let tx = store.begin().await.unwrap();
        assert_eq!(
            tx.lock_token_revision("rev", "color.r").await.unwrap(),
            rewritten
        );
        assert_eq!(tx.lock_node_revision("rev").await.unwrap(), updated);
    }

    async fn resolved_answers_commit_with_their_transaction(store: &dyn Store) {
        let tx = store.begin().await.unwrap();
        tx.insert_node(&node("proj", None)).await.unwrap();
        tx.insert_node(&node("proj-kid", Some("proj")))
            .await
            .unwrap();
        assert!(tx.changed_nodes().is_empty());
        for id in ["proj-kid", "proj", "proj-kid"] {
            tx.emit(&NewEvent {
                node: id.to_owned(),
                kind: "node.created".to_owned(),
                paths: Vec::new(),
                actor: "t".to_owned(),
                trace_id: "t".to_owned(),
            })
            .await
            .unwrap();
        }
        assert_eq!(tx.changed_nodes(), ["proj-kid", "proj", "proj-kid"]);
        tx.lock_tree("proj").await.unwrap();
        let answers = [
            ("proj".to_owned(), r#"{"node":"proj"}"#.to_owned()),
            ("proj-kid".to_owned(), r#"{"node":"proj-kid"}"#.to_owned()),
        ];
        tx.put_resolved(&answers).await.unwrap();
        assert_eq!(
            tx.resolved("proj").await.unwrap().as_deref(),
            Some(r#"{"node":"proj"}"#),
            "the transaction reads its own answers"
        );
        assert_eq!(
            store.resolved("proj").await.unwrap(),
            None,
            "not yet committed"
        );
        tx.commit().await.unwrap();
        assert_eq!(
            store.resolved("proj-kid").await.unwrap().as_deref(),
            Some(r#"{"node":"proj-kid"}"#)
        );

        // Replaced, dropped, and rolled back with their transaction.
        let tx = store.begin().await.unwrap();
        tx.put_resolved(&[("proj".to_owned(), r#"{"v":2}"#.to_owned())])
            .await
            .unwrap();
        tx.drop_resolved(&["proj-kid".to_owned()]).await.unwrap();
        drop(tx);
        assert_eq!(
            store.resolved("proj").await.unwrap().as_deref(),
            Some(r#"{"node":"proj"}"#)
        );
        let tx = store.begin().await.unwrap();
        tx.put_resolved(&[("proj".to_owned(), r#"{"v":2}"#.to_owned())])
            .await
            .unwrap();
        tx.drop_resolved(&["proj-kid".to_owned(), "absent".to_owned()])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            store.resolved("proj").await.unwrap().as_deref(),
            Some(r#"{"v":2}"#)
        );
        assert_eq!(store.resolved("proj-kid").await.unwrap(), None);

        // The nodes without an answer, a page at a time in id order.
        let unanswered = store.unanswered_nodes(None, 1000).await.unwrap();
        assert!(
            unanswered.contains(&"proj-kid".to_owned()),
            "{unanswered:?}"
        );
        assert!(!unanswered.contains(&"proj".to_owned()), "{unanswered:?}");
        let first = store.unanswered_nodes(None, 1).await.unwrap();
        assert_eq!(first, unanswered[..1]);
        // Pages follow the database's own order of ids, whatever its collation.
        let kid = unanswered.iter().position(|id| id == "proj-kid").unwrap();
        let after = store
            .unanswered_nodes(Some("proj-kid"), 1000)
            .await
            .unwrap();
        assert_eq!(after, unanswered[kid + 1..]);

        // A deleted node's answer goes with it.
        let tx = store.begin().await.unwrap();
        tx.delete_nodes(&["proj-kid".to_owned(), "proj".to_owned()])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.resolved("proj").await.unwrap(), None);
    }

    fn claim<'a>(
        scope: &'a str,
        key: &'a str,
        fingerprint: &'a str,
        token: &'a str,
    ) -> KeyClaim<'a> {
        KeyClaim {
            scope,
            key,
            command: "node.create",
            fingerprint,
            token,
            lease: Duration::from_secs(60),
            retention: Duration::from_secs(3600),
        }
    }

    fn existing(claimed: Claimed) -> tinct_platform::StoredKey {
        match claimed {
            Claimed::Existing(stored) => stored,
            Claimed::Acquired => panic!("expected an existing key, got the claim"),
        }
    }

    async fn claims_replays_and_scopes(keys: &dyn IdempotencyStore) {
        let first = claim("ana", "k1", "f1", "t1");
        assert_eq!(keys.claim_key(&first).await.unwrap(), Claimed::Acquired);
        let running = existing(
            keys.claim_key(&claim("ana", "k1", "f1", "t2"))
                .await
                .unwrap(),
        );
        assert_eq!(running.state, KeyState::Running);
        assert!(!running.lease_expired);
        assert_eq!(running.fingerprint, "f1");
        assert_eq!(running.command, "node.create");
        assert!(
            running.first_used_at.ends_with('Z'),
            "{}",
            running.first_used_at
        );
        // Another actor's key of the same name is another key.
        assert_eq!(
            keys.claim_key(&claim("bob", "k1", "f9", "t3"))
                .await
                .unwrap(),
            Claimed::Acquired
        );
        assert!(
            !keys.finish_key("ana", "k1", "t2", &json!(1)).await.unwrap(),
            "not the holder"
        );
        let result = json!({"outcome": {"data": {"id": "x"}}, "revision": "7"});
        assert!(keys.finish_key("ana", "k1", "t1", &result).await.unwrap());
        let done = existing(
            keys.claim_key(&claim("ana", "k1", "f2", "t4"))
                .await
                .unwrap(),
        );
        assert_eq!(done.state, KeyState::Done);
        assert_eq!(done.result, Some(result));
        assert_eq!(
            done.fingerprint, "f1",
            "the first request's fingerprint is kept"
        );
        // A released claim runs again; a finished one cannot be released.
        assert!(!keys.release_key("ana", "k1", "t1").await.unwrap());
        assert!(keys.release_key("bob", "k1", "t3").await.unwrap());
        assert_eq!(
            keys.claim_key(&claim("bob", "k1", "f9", "t5"))
                .await
                .unwrap(),
            Claimed::Acquired
        );
    }

    async fn seal_commits_with_the_change(store: &dyn Store, keys: &dyn IdempotencyStore) {
        assert_eq!(
            keys.claim_key(&claim("ana", "k2", "f", "t1"))
                .await
                .unwrap(),
            Claimed::Acquired
        );
        // A seal rolled back leaves the claim running.
        {
            let tx = store.begin().await.unwrap();
            assert!(tx.seal_key("ana", "k2", "t1").await.unwrap());
        }
        let tx = store.begin().await.unwrap();
        assert!(
            !tx.seal_key("ana", "k2", "other").await.unwrap(),
            "not the holder"
        );
        assert!(tx.seal_key("ana", "k2", "t1").await.unwrap());
        tx.commit().await.unwrap();
        let sealed = existing(
            keys.claim_key(&claim("ana", "k2", "f", "t2"))
                .await
                .unwrap(),
        );
        assert_eq!(sealed.state, KeyState::Committed);
        assert!(
            !keys.release_key("ana", "k2", "t1").await.unwrap(),
            "a committed change keeps its key"
        );
        assert!(
            keys.finish_key("ana", "k2", "t1", &json!({"ok": 1}))
                .await
                .unwrap()
        );
    }

    /// Waits (bounded) until a claim with a zero lease counts as expired, then claims it.
    async fn claim_when_expired(keys: &dyn IdempotencyStore, c: &KeyClaim<'_>) -> Claimed {
        for _ in 0..500 {
            let claimed = keys.claim_key(c).await.unwrap();
            match &claimed {
                Claimed::Existing(s) if !s.lease_expired && s.state != KeyState::Done => {}
                _ => return claimed,
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the lease never ran out");
    }

    async fn dead_claims_are_taken_over(store: &dyn Store, keys: &dyn IdempotencyStore) {
        let dead = KeyClaim {
            lease: Duration::ZERO,
            ..claim("ana", "k3", "f", "dead")
        };
        assert_eq!(keys.claim_key(&dead).await.unwrap(), Claimed::Acquired);
        let taken = claim_when_expired(keys, &claim("ana", "k3", "f", "alive")).await;
        assert_eq!(
            taken,
            Claimed::Acquired,
            "a running claim past its lease is taken over"
        );
        // The old holder can no longer commit with the key.
        let tx = store.begin().await.unwrap();
        assert!(!tx.seal_key("ana", "k3", "dead").await.unwrap());
        drop(tx);
        assert!(
            !keys
                .finish_key("ana", "k3", "dead", &json!(0))
                .await
                .unwrap()
        );
        // A committed claim past its lease is never taken over: the change happened.
        let sealing = KeyClaim {
            lease: Duration::ZERO,
            ..claim("ana", "k4", "f", "s1")
        };
        assert_eq!(keys.claim_key(&sealing).await.unwrap(), Claimed::Acquired);
        let tx = store.begin().await.unwrap();
        assert!(tx.seal_key("ana", "k4", "s1").await.unwrap());
        tx.commit().await.unwrap();
        let after = claim_when_expired(keys, &claim("ana", "k4", "f", "s2")).await;
        let after = existing(after);
        assert_eq!(after.state, KeyState::Committed);
        assert!(after.lease_expired);
    }

    async fn expired_keys_free_and_prune(keys: &dyn IdempotencyStore) {
        let short = KeyClaim {
            retention: Duration::ZERO,
            ..claim("ana", "k5", "f", "t1")
        };
        assert_eq!(keys.claim_key(&short).await.unwrap(), Claimed::Acquired);
        assert!(keys.finish_key("ana", "k5", "t1", &json!(1)).await.unwrap());
        // Past its retention the key is free again, even for another request.
        let mut reused = None;
        for _ in 0..500 {
            match keys
                .claim_key(&claim("ana", "k5", "other", "t2"))
                .await
                .unwrap()
            {
                Claimed::Acquired => {
                    reused = Some(());
                    break;
                }
                Claimed::Existing(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        assert!(reused.is_some(), "an expired key is never freed");
        // Pruning takes expired results and never a live key.
        let gone = KeyClaim {
            retention: Duration::ZERO,
            ..claim("ana", "k6", "f", "t1")
        };
        assert_eq!(keys.claim_key(&gone).await.unwrap(), Claimed::Acquired);
        assert!(keys.finish_key("ana", "k6", "t1", &json!(1)).await.unwrap());
        let mut pruned = 0;
        for _ in 0..500 {
            pruned += keys.prune_keys(100).await.unwrap();
            if pruned > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(pruned >= 1);
        let live = existing(
            keys.claim_key(&claim("ana", "k1", "f1", "t9"))
                .await
                .unwrap(),
        );
        assert_eq!(
            live.state,
            KeyState::Done,
            "a key within its retention stays"
        );
        assert_eq!(
            keys.claim_key(&claim("ana", "k6", "f", "t2"))
                .await
                .unwrap(),
            Claimed::Acquired,
            "the pruned key is free"
        );
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
            revision: 0,
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
        layered_tokens_read_the_whole_lineage(store, &value).await;
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

    /// One read gives a node's lineage and the tokens of every node on it, and nothing else.
    async fn layered_tokens_read_the_whole_lineage(
        store: &dyn Store,
        root_value: &serde_json::Value,
    ) {
        let layered = store.layered_tokens("theme").await.unwrap().unwrap();
        assert_eq!(layered.lineage, ["root", "product", "theme"]);
        let mut found: Vec<(String, String, serde_json::Value)> = layered
            .tokens
            .into_iter()
            .map(|t| (t.node, t.path, t.value))
            .collect();
        found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        assert_eq!(
            found,
            [
                ("root".to_owned(), "color.a".to_owned(), root_value.clone()),
                ("theme".to_owned(), "color.a".to_owned(), json!("#000")),
            ]
        );
        // A sibling's lineage does not see the theme's override; a node with no tokens on its
        // lineage still exists; a missing node is None.
        let other = store.layered_tokens("other").await.unwrap().unwrap();
        assert_eq!(other.lineage, ["root", "other"]);
        assert_eq!(other.tokens.len(), 1);
        let tx = store.begin().await.unwrap();
        tx.insert_node(&node("bare", None)).await.unwrap();
        tx.commit().await.unwrap();
        let bare = store.layered_tokens("bare").await.unwrap().unwrap();
        assert_eq!(
            (bare.lineage.as_slice(), bare.tokens.len()),
            (["bare".to_owned()].as_slice(), 0)
        );
        assert!(store.layered_tokens("nope").await.unwrap().is_none());
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
    conformance::keys(&store, &store).await;
}

#[tokio::test]
async fn postgres_store_passes_the_conformance_suite() {
    let pg = tinct_testkit::Postgres::start();
    let store = PgStore::open_primary(&pg.url(), 4).await.unwrap();
    conformance::run(&store).await;
    conformance::keys(&store, &store).await;
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

/// On PostgreSQL (READ COMMITTED, many writers at once) a revision check holds its target: a
/// second check of the same token waits for the first transaction and then sees its write.
#[tokio::test]
async fn postgres_revision_checks_wait_for_the_writer_of_the_target() {
    let pg = tinct_testkit::Postgres::start();
    let store = std::sync::Arc::new(PgStore::open_primary(&pg.url(), 4).await.unwrap());
    let tx = store.begin().await.unwrap();
    tx.insert_node(&NewNode {
        id: "n".into(),
        parent: None,
        name: "N".into(),
        description: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for path in ["color.present", "color.absent"] {
        if path == "color.present" {
            let tx = store.begin().await.unwrap();
            tx.put_token(&token("n", path, "#000")).await.unwrap();
            tx.commit().await.unwrap();
        }
        let first = store.begin().await.unwrap();
        let seen = first.lock_token_revision("n", path).await.unwrap();
        let other = std::sync::Arc::clone(&store);
        let second = tokio::spawn(async move {
            let tx = other.begin().await.unwrap();
            tx.lock_token_revision("n", path).await.unwrap()
        });
        // Wait until the second check is blocked on the first transaction.
        let mut waiting = false;
        for _ in 0..500 {
            if pg
                .sql("SELECT count(*) FROM pg_locks WHERE NOT granted")
                .trim()
                != "0"
            {
                waiting = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            waiting,
            "the second check on {path} never waited for the first"
        );
        first.put_token(&token("n", path, "#fff")).await.unwrap();
        let written: i64 = first.revision_number().parse().unwrap();
        first.commit().await.unwrap();
        let after = second.await.unwrap();
        assert_ne!(after, seen);
        assert_eq!(
            after, written,
            "{path}: the second check saw the first write"
        );
    }
    // The same for a node.
    let first = store.begin().await.unwrap();
    let seen = first.lock_node_revision("n").await.unwrap();
    let other = std::sync::Arc::clone(&store);
    let second = tokio::spawn(async move {
        let tx = other.begin().await.unwrap();
        tx.lock_node_revision("n").await.unwrap()
    });
    let mut waiting = false;
    for _ in 0..500 {
        if pg
            .sql("SELECT count(*) FROM pg_locks WHERE NOT granted")
            .trim()
            != "0"
        {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(waiting, "the second node check never waited for the first");
    first.update_node("n", "Renamed", None).await.unwrap();
    let written: i64 = first.revision_number().parse().unwrap();
    first.commit().await.unwrap();
    let after = second.await.unwrap();
    assert_ne!(after, seen);
    assert_eq!(after, written, "the second node check saw the first write");
}

fn token(node: &str, path: &str, value: &str) -> TokenRecord {
    TokenRecord {
        node: node.to_owned(),
        path: path.to_owned(),
        kind: TokenKind::Define,
        token_type: Some("color".to_owned()),
        value: json!(value),
        description: None,
        revision: 0,
    }
}

/// The statements of a migration between the `ALTER TABLE` that adds the column and the trigger
/// that keeps it: the backfill.
fn backfill_of(migration: &str) -> String {
    let alter = migration
        .find("ALTER TABLE")
        .expect("the migration adds a column first");
    let end = alter + migration[alter..].find(';').expect("a complete statement");
    let trigger = migration
        .find("-- Kept by the database")
        .expect("the trigger comes last");
    migration[end + 1..trigger].to_owned()
}

/// A tree for the lineage backfill: root → product → theme, and a second root.
async fn lineage_tree(store: &dyn Store) {
    let tx = store.begin().await.unwrap();
    for (id, parent) in [
        ("root", None),
        ("product", Some("root")),
        ("theme", Some("product")),
        ("solo", None),
    ] {
        tx.insert_node(&NewNode {
            id: id.into(),
            parent: parent.map(str::to_owned),
            name: id.into(),
            description: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn assert_lineages(store: &dyn Store) {
    for (id, want) in [
        ("late", vec!["root", "product", "theme", "late"]),
        ("theme", vec!["root", "product", "theme"]),
        ("product", vec!["root", "product"]),
        ("solo", vec!["solo"]),
    ] {
        let layered = store.layered_tokens(id).await.unwrap().unwrap();
        assert_eq!(layered.lineage, want, "lineage of {id}");
    }
}

/// Forgets every lineage (`empty` is the column's empty value), runs the migration's backfill, then
/// inserts a node as a writer that does not know the column (an older instance) would, and checks
/// every lineage.
async fn backfill_and_insert_late<DB: sqlx::Database>(
    store: &dyn Store,
    pool: &sqlx::Pool<DB>,
    empty: &str,
    migration: &str,
) where
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
{
    let statements = [
        format!("UPDATE nodes SET lineage = '{empty}'"),
        backfill_of(migration),
        "INSERT INTO nodes (id, parent, name) VALUES ('late', 'theme', 'late')".to_owned(),
    ];
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
    assert_lineages(store).await;
}

/// Databases from before the lineage column get every node's lineage from the backfill, and nodes
/// inserted by writers that do not know the column get it from the trigger.
#[tokio::test]
async fn the_lineage_backfill_rebuilds_every_lineage_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.db");
    let store = SqliteStore::open_file(&file).await.unwrap();
    lineage_tree(&store).await;
    let url = format!("sqlite://{}", file.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let migration = include_str!("../migrations/sqlite/0003_node_lineage.sql");
    backfill_and_insert_late(&store, &pool, "[]", migration).await;
}

#[tokio::test]
async fn the_lineage_backfill_rebuilds_every_lineage_on_postgres() {
    let pg = tinct_testkit::Postgres::start();
    let store = PgStore::open_primary(&pg.url(), 2).await.unwrap();
    lineage_tree(&store).await;
    let pool = sqlx::PgPool::connect(&pg.url()).await.unwrap();
    let migration = include_str!("../migrations/postgres/0003_node_lineage.sql");
    backfill_and_insert_late(&store, &pool, "{}", migration).await;
}
