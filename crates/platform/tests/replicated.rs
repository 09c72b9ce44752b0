//! Read routing over a real primary and streaming replica: a read with a consistency token never
//! sees data older than the token, even while the replica's replay is paused.

use std::time::Duration;

use tinct_platform::{NewNode, ReplicatedStore, Store, StoreRead};
use tinct_testkit::Postgres;

async fn create(store: &ReplicatedStore, id: &str) -> u64 {
    let tx = store.begin().await.unwrap();
    tx.insert_node(&NewNode {
        id: id.to_owned(),
        parent: None,
        name: id.to_owned(),
        description: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap().0.parse().unwrap()
}

async fn replica_has(store: &ReplicatedStore, id: &str) -> bool {
    store
        .read_view(None)
        .await
        .unwrap()
        .node(id)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn tokens_route_reads_past_a_paused_replica() {
    let primary = Postgres::start();
    let replica = primary.start_replica();
    let store = ReplicatedStore::open(
        &primary.url(),
        &[replica.url()],
        4,
        Duration::from_millis(200),
    )
    .await
    .unwrap();

    let first = create(&store, "first").await;
    // The replica catches up on its own.
    primary.wait_replayed_by(&replica);
    let view = store.read_view(Some(first)).await.unwrap();
    assert!(view.node("first").await.unwrap().is_some());

    replica.pause_replay();
    let second = create(&store, "second").await;
    // Lag shows once the prober has seen the paused replica behind the primary.
    let mut lagging = false;
    for _ in 0..100 {
        let status = store.replicas().await;
        if status[0].healthy && status[0].lag_bytes.is_some_and(|l| l > 0) {
            lagging = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(lagging, "replica lag is reported while replay is paused");
    assert!(second > first);

    // The lagging replica does not have it: a tokenless read may be stale...
    assert!(
        !replica_has(&store, "second").await,
        "replay is paused, so the replica cannot have the second commit"
    );
    // ...but a read carrying the token is never older than the write.
    for _ in 0..5 {
        let view = store.read_view(Some(second)).await.unwrap();
        assert!(view.node("second").await.unwrap().is_some());
    }

    replica.sql("SELECT pg_wal_replay_resume()");
    let mut fresh = false;
    for _ in 0..200 {
        if replica_has(&store, "second").await {
            fresh = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(fresh, "replica never caught up after resume");
}

#[tokio::test]
async fn a_read_right_after_the_replica_dies_is_answered_by_the_primary() {
    let primary = Postgres::start();
    let mut replica = primary.start_replica();
    let store = ReplicatedStore::open(
        &primary.url(),
        &[replica.url()],
        4,
        Duration::from_millis(100),
    )
    .await
    .unwrap();
    create(&store, "kept").await;
    primary.wait_replayed_by(&replica);
    // A paused replica lacks the next commit, which tells which server answers a view.
    replica.pause_replay();
    let rev = create(&store, "fresh").await;
    let view = store.read_view(None).await.unwrap();
    assert!(
        view.node("fresh").await.unwrap().is_none(),
        "the view handed out is the paused replica"
    );

    replica.stop();
    // No probe has run since: the view still points at the dead replica, yet its next read
    // succeeds, from the primary, with current data.
    assert!(
        view.node("fresh").await.unwrap().is_some(),
        "the primary answered"
    );
    let status = store.replicas().await;
    assert_eq!(status.len(), 1);
    assert!(
        !status[0].healthy,
        "the stopped replica is reported unhealthy"
    );
    assert_eq!(status[0].lag_bytes, None);
    assert!(store.node("fresh").await.unwrap().is_some());
    let view = store.read_view(Some(rev)).await.unwrap();
    assert!(view.node("fresh").await.unwrap().is_some());
}
