//! The Webhooks conformance suite: the SQLite and PostgreSQL adapters pass the same checks —
//! webhooks only on existing nodes, lookup of a node's and its ancestors' webhooks inside a write
//! transaction, the delivery log, and deletes that take the log (and a node's webhooks) with them.

use tinct_platform::{
    NewDelivery, NewNode, NewWebhook, PgStore, PgWebhooks, SqliteStore, SqliteWebhooks, Store,
    StoreError, WebhookTarget, Webhooks,
};

fn node(id: &str, parent: Option<&str>) -> NewNode {
    NewNode {
        id: id.to_owned(),
        parent: parent.map(str::to_owned),
        name: id.to_owned(),
        description: None,
    }
}

fn hook(id: &str, node: &str) -> NewWebhook {
    NewWebhook {
        id: id.to_owned(),
        node: node.to_owned(),
        url: format!("http://127.0.0.1:9/{id}"),
        secret: format!("secret-{id}"),
        events: None,
    }
}

fn attempt(webhook: &str, job: i64, attempt: i32, status: Option<i32>) -> NewDelivery {
    NewDelivery {
        webhook: webhook.to_owned(),
        job,
        attempt,
        status,
        error: match status {
            Some(s) if (200..300).contains(&s) => None,
            Some(s) => Some(format!("the receiver answered {s}")),
            None => Some("connection refused".to_owned()),
        },
        duration_ms: 3,
    }
}

/// acme → acme-web → acme-web-dark, and acme-app beside acme-web.
async fn tree(store: &dyn Store) {
    let tx = store.begin().await.unwrap();
    for (id, parent) in [
        ("acme", None),
        ("acme-web", Some("acme")),
        ("acme-web-dark", Some("acme-web")),
        ("acme-app", Some("acme")),
    ] {
        tx.insert_node(&node(id, parent)).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn run(hooks: &dyn Webhooks, store: &dyn Store) {
    tree(store).await;
    webhooks_live_only_on_existing_nodes(hooks).await;
    a_change_finds_the_webhooks_of_its_node_and_ancestors(hooks, store).await;
    the_delivery_log_keeps_every_attempt(hooks).await;
    deletes_take_the_log_and_a_nodes_webhooks_with_them(hooks, store).await;
}

async fn webhooks_live_only_on_existing_nodes(hooks: &dyn Webhooks) {
    let made = hooks
        .create(&hook("w-root", "acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (made.id.as_str(), made.node.as_str(), made.active),
        ("w-root", "acme", true)
    );
    assert_eq!(made.secret, "secret-w-root");
    assert!(made.created_at > 1_600_000_000_000, "{made:?}");
    assert!(
        !serde_json::to_string(&made).unwrap().contains("secret"),
        "a webhook never serialises its secret"
    );

    assert!(
        hooks
            .create(&hook("w-ghost", "nope"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(hooks.get("w-ghost").await.unwrap().is_none());

    let taken = hooks.create(&hook("w-root", "acme-web")).await.unwrap_err();
    assert!(matches!(taken, StoreError::Duplicate(_)), "{taken:?}");
    assert_eq!(hooks.get("w-root").await.unwrap().unwrap(), made);

    let filtered = NewWebhook {
        events: Some(vec!["token.updated".into(), "node.deleted".into()]),
        ..hook("w-web", "acme-web")
    };
    let made = hooks.create(&filtered).await.unwrap().unwrap();
    assert_eq!(made.events, filtered.events);
    hooks
        .create(&hook("w-app", "acme-app"))
        .await
        .unwrap()
        .unwrap();

    let on_web: Vec<String> = hooks
        .list(Some("acme-web"))
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(on_web, ["w-web"], "only the node's own webhooks");
    let all: Vec<String> = hooks
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(all.len(), 3, "{all:?}");
    for id in ["w-root", "w-web", "w-app"] {
        assert!(all.iter().any(|a| a == id), "{all:?}");
    }
    assert!(hooks.list(Some("nope")).await.unwrap().is_empty());
}

async fn a_change_finds_the_webhooks_of_its_node_and_ancestors(
    hooks: &dyn Webhooks,
    store: &dyn Store,
) {
    let tx = store.begin().await.unwrap();
    let targets = tx.webhook_targets("acme-web-dark").await.unwrap();
    assert_eq!(
        targets,
        [
            WebhookTarget {
                id: "w-root".into(),
                events: None,
            },
            WebhookTarget {
                id: "w-web".into(),
                events: Some(vec!["token.updated".into(), "node.deleted".into()]),
            },
        ],
        "the node's ancestors' webhooks, not its sibling's"
    );
    let ids = |t: Vec<WebhookTarget>| t.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(tx.webhook_targets("acme").await.unwrap()), ["w-root"]);
    assert_eq!(
        ids(tx.webhook_targets("acme-app").await.unwrap()),
        ["w-app", "w-root"]
    );
    assert!(tx.webhook_targets("nope").await.unwrap().is_empty());

    // A node made in this transaction already hears its ancestors' webhooks; one made by a
    // transaction that rolls back leaves nothing behind.
    tx.insert_node(&node("acme-web-new", Some("acme-web")))
        .await
        .unwrap();
    assert_eq!(
        ids(tx.webhook_targets("acme-web-new").await.unwrap()),
        ["w-root", "w-web"]
    );
    drop(tx);
    let tx = store.begin().await.unwrap();
    assert!(tx.webhook_targets("acme-web-new").await.unwrap().is_empty());
    drop(tx);
    assert!(hooks.get("w-web").await.unwrap().is_some());
}

async fn the_delivery_log_keeps_every_attempt(hooks: &dyn Webhooks) {
    let failed = hooks
        .record(&attempt("w-web", 41, 1, Some(500)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (failed.job, failed.attempt, failed.status),
        (41, 1, Some(500))
    );
    assert!(!failed.delivered());
    let refused = hooks
        .record(&attempt("w-web", 41, 2, None))
        .await
        .unwrap()
        .unwrap();
    assert!(!refused.delivered());
    let ok = hooks
        .record(&attempt("w-web", 41, 3, Some(204)))
        .await
        .unwrap()
        .unwrap();
    assert!(ok.delivered());
    assert!(ok.at >= failed.at);
    let last = hooks
        .record(&attempt("w-root", 42, 1, Some(200)))
        .await
        .unwrap()
        .unwrap();

    let log = hooks.deliveries("w-web", 10).await.unwrap();
    let attempts: Vec<i32> = log.iter().map(|d| d.attempt).collect();
    assert_eq!(attempts, [3, 2, 1], "newest first, only this webhook's");
    assert_eq!(log[1].error.as_deref(), Some("connection refused"));
    assert_eq!(log[0], ok);
    let newest = hooks.deliveries("w-web", 1).await.unwrap();
    assert_eq!(newest, std::slice::from_ref(&ok));
    assert!(hooks.deliveries("nope", 10).await.unwrap().is_empty());

    assert!(
        hooks
            .record(&attempt("nope", 43, 1, Some(200)))
            .await
            .unwrap()
            .is_none(),
        "no log rows for a webhook that is gone"
    );

    // Pruning goes by age, a batch at a time.
    assert_eq!(hooks.prune_deliveries(0, 100).await.unwrap(), 0);
    let later = last.at + 1;
    assert_eq!(hooks.prune_deliveries(later, 2).await.unwrap(), 2);
    assert_eq!(hooks.prune_deliveries(later, 100).await.unwrap(), 2);
    assert!(hooks.deliveries("w-web", 10).await.unwrap().is_empty());
}

async fn deletes_take_the_log_and_a_nodes_webhooks_with_them(
    hooks: &dyn Webhooks,
    store: &dyn Store,
) {
    hooks
        .record(&attempt("w-app", 50, 1, Some(200)))
        .await
        .unwrap()
        .unwrap();
    assert!(hooks.delete("w-app").await.unwrap());
    assert!(!hooks.delete("w-app").await.unwrap());
    assert!(hooks.get("w-app").await.unwrap().is_none());
    assert!(hooks.deliveries("w-app", 10).await.unwrap().is_empty());

    // Deleting a node deletes its webhooks (and their logs) in the same transaction.
    hooks
        .record(&attempt("w-web", 51, 1, Some(200)))
        .await
        .unwrap()
        .unwrap();
    let tx = store.begin().await.unwrap();
    tx.delete_nodes(&["acme-web-dark".into(), "acme-web".into()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(hooks.get("w-web").await.unwrap().is_none());
    assert!(hooks.deliveries("w-web", 10).await.unwrap().is_empty());
    assert!(hooks.get("w-root").await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_webhooks_pass_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db"))
        .await
        .unwrap();
    let hooks = SqliteWebhooks::new(&store);
    run(&hooks, &store).await;
}

#[tokio::test]
async fn postgres_webhooks_pass_the_conformance_suite() {
    let pg = tinct_testkit::Postgres::start();
    let store = PgStore::open_primary(&pg.url(), 4).await.unwrap();
    let hooks = PgWebhooks::new(&store);
    run(&hooks, &store).await;
}
