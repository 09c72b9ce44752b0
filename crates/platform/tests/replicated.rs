//! Read routing over a real primary and streaming replica: a read with a consistency token never
//! sees data older than the token, even while the replica's replay is paused.

use std::time::Duration;

use tinct_platform::{NewNode, ReplicatedStore, Store};
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
    // Without a token the replica answers; it catches up on its own.
    let mut caught_up = false;
    for _ in 0..200 {
        if replica_has(&store, "first").await {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(caught_up, "replica never replayed the first commit");
    let view = store.read_view(Some(first)).await.unwrap();
    assert!(view.node("first").await.unwrap().is_some());

    replica.sql("SELECT pg_wal_replay_pause()");
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
async fn reads_fall_back_to_the_primary_when_the_replica_stops() {
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
    let rev = create(&store, "kept").await;
    replica.stop();
    // Within a probe interval the replica is marked down; reads keep working meanwhile via
    // retries of the caller, and afterwards go to the primary.
    let mut served = false;
    for _ in 0..100 {
        if let Ok(view) = store.read_view(None).await
            && let Ok(Some(_)) = view.node("kept").await
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "reads never fell back to the primary");
    let status = store.replicas().await;
    assert_eq!(status.len(), 1);
    assert!(
        !status[0].healthy,
        "the stopped replica is reported unhealthy"
    );
    assert_eq!(status[0].lag_bytes, None);
    let view = store.read_view(Some(rev)).await.unwrap();
    assert!(view.node("kept").await.unwrap().is_some());
}
