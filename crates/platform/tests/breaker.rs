//! Replica breakers on a real primary and streaming replica, with the periodic probe pinned far
//! away so only the read path can act: a read on a replica that just died is answered (by the
//! primary), and that read alone gets the breaker opened.

use std::time::{Duration, Instant};

use tinct_platform::breaker::{self, BreakerState};
use tinct_platform::{NewNode, ReplicaProbe, ReplicatedStore, Store};
use tinct_testkit::Postgres;

fn replica_breaker() -> BreakerState {
    breaker::all()
        .into_iter()
        .find(|b| b.name.starts_with("replica "))
        .expect("a replica breaker")
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_on_a_dead_replica_is_answered_and_opens_its_breaker_without_waiting_for_a_probe() {
    let primary = Postgres::start();
    let mut replica = primary.start_replica();
    let store = ReplicatedStore::open_with(
        &primary.url(),
        &[replica.url()],
        2,
        Duration::from_millis(100),
        ReplicaProbe {
            // Never within this test: only the read path probes.
            every: Duration::from_secs(3600),
            timeout: Duration::from_secs(1),
            hedge_after: Duration::from_millis(100),
        },
    )
    .await
    .unwrap();
    let tx = store.begin().await.unwrap();
    tx.insert_node(&NewNode {
        id: "kept".to_owned(),
        parent: None,
        name: "kept".to_owned(),
        description: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    primary.wait_replayed_by(&replica);
    assert_eq!(replica_breaker(), BreakerState::Closed);
    let view = store.read_view(None).await.unwrap();
    assert!(view.node("kept").await.unwrap().is_some());

    replica.stop();
    // Answered: by the primary, once the replica fails the read or is slower than hedge_after.
    let view = store.read_view(None).await.unwrap();
    assert!(view.node("kept").await.unwrap().is_some());
    let start = Instant::now();
    while replica_breaker() == BreakerState::Closed {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the breaker did not open"
        );
        let view = store.read_view(None).await.unwrap();
        assert!(view.node("kept").await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!store.replicas().await[0].healthy);
    // Open: reads go to the primary directly.
    let view = store.read_view(None).await.unwrap();
    assert!(view.node("kept").await.unwrap().is_some());
}
