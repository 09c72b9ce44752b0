//! The Lease port: one conformance suite for the in-process, PostgreSQL and Redis adapters
//! (epochs grow on takeover and fence out the old holder; concurrent acquires have one winner),
//! and `Leadership` on real backends: one leader at a time in every observed state, failover when
//! the leader's renewals fail or it stops, and no leading on a Redis that went away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tinct_platform::{
    Epoch, Leadership, Lease, LeaseError, LeaseState, LocalLease, PgLease, PgStore, RedisLease,
};
use tinct_testkit::{Postgres, Redis};

const LONG: Duration = Duration::from_secs(30);

/// Waits for `ready` (polling), failing the test after a generous timeout.
async fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn conformance(lease: Arc<dyn Lease>) {
    holding_and_fencing(&*lease).await;
    release_frees_it(&*lease).await;
    one_winner_among_concurrent_acquires(lease.clone()).await;
    bad_input_is_refused(&*lease).await;
}

async fn holding_and_fencing(lease: &dyn Lease) {
    let first = lease.acquire("fence", "a", LONG).await.unwrap().unwrap();
    assert_eq!(lease.acquire("fence", "b", LONG).await.unwrap(), None);
    assert_eq!(
        lease.acquire("fence", "a", LONG).await.unwrap(),
        None,
        "held, even by its own holder"
    );
    let state = lease.current("fence").await.unwrap().unwrap();
    assert_eq!((state.holder.as_str(), state.epoch), ("a", first));
    assert!(state.expires_in > Duration::ZERO && state.expires_in <= LONG);
    assert!(lease.renew("fence", "a", first, LONG).await.unwrap());
    assert!(!lease.renew("fence", "b", first, LONG).await.unwrap());
    let wrong = Epoch(first.0 + 1);
    assert!(!lease.renew("fence", "a", wrong, LONG).await.unwrap());

    // A short lease lapses; the next holder gets a higher epoch and fences the old one out.
    let short = Duration::from_millis(150);
    let old = lease.acquire("lapse", "a", short).await.unwrap().unwrap();
    assert_eq!(lease.acquire("lapse", "b", LONG).await.unwrap(), None);
    let mut taken = None;
    let start = std::time::Instant::now();
    while taken.is_none() {
        assert!(start.elapsed() < Duration::from_secs(20), "never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
        taken = lease.acquire("lapse", "b", LONG).await.unwrap();
    }
    let new = taken.unwrap();
    assert!(new > old, "takeover raises the epoch: {old} → {new}");
    assert!(!lease.renew("lapse", "a", old, LONG).await.unwrap());
    assert!(!lease.release("lapse", "a", old).await.unwrap());
    let state = lease.current("lapse").await.unwrap().unwrap();
    assert_eq!((state.holder.as_str(), state.epoch), ("b", new));
}

async fn release_frees_it(lease: &dyn Lease) {
    let epoch = lease.acquire("free", "a", LONG).await.unwrap().unwrap();
    assert!(!lease.release("free", "b", epoch).await.unwrap(), "not b's");
    assert!(lease.current("free").await.unwrap().is_some());
    assert!(lease.release("free", "a", epoch).await.unwrap());
    assert_eq!(lease.current("free").await.unwrap(), None);
    assert!(!lease.renew("free", "a", epoch, LONG).await.unwrap());
    let next = lease.acquire("free", "b", LONG).await.unwrap().unwrap();
    assert!(next > epoch, "{epoch} → {next}");
}

async fn one_winner_among_concurrent_acquires(lease: Arc<dyn Lease>) {
    // A name never used, then a lease that just lapsed (a takeover race).
    race(&lease, "race").await;
    let lapsed = lease
        .acquire("takeover", "old", Duration::from_millis(100))
        .await
        .unwrap()
        .unwrap();
    let start = std::time::Instant::now();
    while lease.current("takeover").await.unwrap().is_some() {
        assert!(start.elapsed() < Duration::from_secs(20), "never lapsed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, epoch) = race(&lease, "takeover").await;
    assert!(epoch > lapsed);
}

/// 32 tasks acquire `name` at once: exactly one wins, and holds it.
async fn race(lease: &Arc<dyn Lease>, name: &'static str) -> (String, Epoch) {
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let lease = lease.clone();
            tokio::spawn(async move { lease.acquire(name, &format!("h{i}"), LONG).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if let Some(epoch) = task.await.unwrap().unwrap() {
            winners.push((format!("h{i}"), epoch));
        }
    }
    assert_eq!(winners.len(), 1, "{name}: {winners:?}");
    let state = lease.current(name).await.unwrap().unwrap();
    assert_eq!((state.holder, state.epoch), winners[0].clone());
    winners.remove(0)
}

async fn bad_input_is_refused(lease: &dyn Lease) {
    let who = |state: Option<LeaseState>| state.map(|s| (s.holder, s.epoch));
    let before = who(lease.current("race").await.unwrap());
    let cases: [(&str, &str, Duration, &str); 5] = [
        ("", "a", LONG, "name is empty"),
        ("has space", "a", LONG, "letters, digits"),
        ("race", "", LONG, "holder"),
        ("race", "a", Duration::ZERO, "at least 1 ms"),
        (
            "race",
            "a",
            Duration::from_secs(7 * 24 * 3600),
            "at most 24 h",
        ),
    ];
    for (name, holder, ttl, words) in cases {
        for error in [
            lease.acquire(name, holder, ttl).await.unwrap_err(),
            lease.renew(name, holder, Epoch(1), ttl).await.unwrap_err(),
        ] {
            assert!(matches!(error, LeaseError::Invalid(_)), "{error}");
            assert!(error.to_string().contains(words), "{name:?}: {error}");
        }
    }
    assert!(lease.current("").await.is_err());
    assert!(lease.release("", "a", Epoch(1)).await.is_err());
    assert_eq!(
        who(lease.current("race").await.unwrap()),
        before,
        "nothing changed"
    );
}

async fn postgres_lease(pg: &Postgres) -> Arc<dyn Lease> {
    let store = PgStore::open_primary(&pg.url(), 8).await.unwrap();
    Arc::new(PgLease::new(&store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_lease_conforms() {
    conformance(Arc::new(LocalLease::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_lease_conforms() {
    let pg = Postgres::start();
    conformance(postgres_lease(&pg).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_lease_conforms() {
    let redis = Redis::start();
    conformance(Arc::new(RedisLease::new(&redis.url()).unwrap())).await;
}

/// A lease whose backend can be cut off, as a network partition would: every call fails.
struct Partitioned {
    inner: Arc<dyn Lease>,
    cut: AtomicBool,
    /// Calls never answer (a backend that accepts the connection and then stalls).
    hang: AtomicBool,
}

impl Partitioned {
    fn new(inner: Arc<dyn Lease>) -> Arc<Partitioned> {
        Arc::new(Partitioned {
            inner,
            cut: AtomicBool::new(false),
            hang: AtomicBool::new(false),
        })
    }

    async fn check(&self) -> Result<(), LeaseError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.cut.load(Ordering::SeqCst) {
            return Err(LeaseError::Unavailable("cut off by the test".to_owned()));
        }
        Ok(())
    }
}

#[async_trait]
impl Lease for Partitioned {
    async fn acquire(&self, n: &str, h: &str, ttl: Duration) -> Result<Option<Epoch>, LeaseError> {
        self.check().await?;
        self.inner.acquire(n, h, ttl).await
    }
    async fn renew(&self, n: &str, h: &str, e: Epoch, ttl: Duration) -> Result<bool, LeaseError> {
        self.check().await?;
        self.inner.renew(n, h, e, ttl).await
    }
    async fn release(&self, n: &str, h: &str, e: Epoch) -> Result<bool, LeaseError> {
        self.check().await?;
        self.inner.release(n, h, e).await
    }
    async fn current(&self, n: &str) -> Result<Option<LeaseState>, LeaseError> {
        self.check().await?;
        self.inner.current(n).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Samples both runners' watch channels until stopped; counts states where both led.
fn sample_overlap(
    a: tokio::sync::watch::Receiver<Option<Epoch>>,
    b: tokio::sync::watch::Receiver<Option<Epoch>>,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<usize>,
) {
    let (stop, both) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (stop2, both2) = (stop.clone(), both.clone());
    let task = tokio::spawn(async move {
        let mut samples = 0;
        while !stop2.load(Ordering::SeqCst) {
            if a.borrow().is_some() && b.borrow().is_some() {
                both2.fetch_add(1, Ordering::SeqCst);
            }
            samples += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        samples
    });
    (stop, both, task)
}

/// Two runners on one name: one leads; when its renewals fail the other takes over (with a higher
/// epoch); when that one stops, releasing, the first leads again. Never both at once.
async fn failover(backend: Arc<dyn Lease>) {
    let ttl = Duration::from_millis(600);
    let leases = [Partitioned::new(backend.clone()), Partitioned::new(backend)];
    let mut runners: Vec<Option<Leadership>> = leases
        .iter()
        .enumerate()
        .map(|(i, lease)| {
            let lease: Arc<dyn Lease> = lease.clone();
            Some(Leadership::start(lease, "scheduler", &format!("runner-{i}"), ttl).unwrap())
        })
        .collect();
    let watches: Vec<_> = runners
        .iter()
        .map(|r| r.as_ref().unwrap().watch())
        .collect();
    let (stop, both, sampler) = sample_overlap(watches[0].clone(), watches[1].clone());
    let leading = |i: usize| watches[i].borrow().is_some();

    eventually("one runner leads", || leading(0) || leading(1)).await;
    let leader = if leading(0) { 0 } else { 1 };
    let other = 1 - leader;
    let first_epoch = watches[leader].borrow().unwrap();

    leases[leader].cut.store(true, Ordering::SeqCst);
    eventually("the cut-off leader steps down", || !leading(leader)).await;
    eventually("the other runner takes over", || leading(other)).await;
    let second_epoch = watches[other].borrow().unwrap();
    assert!(second_epoch > first_epoch, "{first_epoch} → {second_epoch}");

    // The first runner's backend comes back; the second stops (releasing): the first leads.
    leases[leader].cut.store(false, Ordering::SeqCst);
    runners[other].take().unwrap().shutdown().await;
    assert!(!leading(other));
    eventually("the first runner leads again", || leading(leader)).await;
    assert!(watches[leader].borrow().unwrap() > second_epoch);

    stop.store(true, Ordering::SeqCst);
    let samples = sampler.await.unwrap();
    assert!(samples > 100, "the sampler ran ({samples} samples)");
    assert_eq!(both.load(Ordering::SeqCst), 0, "both led at once");
    drop(runners);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_fails_over_on_postgres() {
    let pg = Postgres::start();
    failover(postgres_lease(&pg).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_fails_over_on_redis() {
    let redis = Redis::start();
    failover(Arc::new(RedisLease::new(&redis.url()).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_leader_releases_and_the_other_leads() {
    let pg = Postgres::start();
    let lease = postgres_lease(&pg).await;
    // A TTL far longer than the wait: the takeover comes from the release, not from expiry.
    let ttl = Duration::from_secs(60);
    let a = Leadership::start(lease.clone(), "maintenance", "a", ttl).unwrap();
    let mut a_watch = a.watch();
    a_watch.wait_for(Option::is_some).await.unwrap();
    let b = Leadership::start(
        lease.clone(),
        "maintenance",
        "b",
        Duration::from_millis(300),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.epoch(), None, "a holds a 60 s lease");
    drop(a);
    let mut b_watch = b.watch();
    tokio::time::timeout(Duration::from_secs(20), b_watch.wait_for(Option::is_some))
        .await
        .expect("b leads after a let go")
        .unwrap();
    assert_eq!(*a_watch.borrow(), None);
    let state = lease.current("maintenance").await.unwrap().unwrap();
    assert_eq!(state.holder, "b");
    b.shutdown().await;
    assert_eq!(
        lease.current("maintenance").await.unwrap(),
        None,
        "released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_steps_down_when_redis_goes_away() {
    let mut redis = Redis::start();
    let lease: Arc<dyn Lease> = Arc::new(RedisLease::new(&redis.url()).unwrap());
    let leader = Leadership::start(lease, "scheduler", "only", Duration::from_millis(600)).unwrap();
    let mut watch = leader.watch();
    tokio::time::timeout(Duration::from_secs(20), watch.wait_for(Option::is_some))
        .await
        .expect("leads while Redis is up")
        .unwrap();
    redis.stop();
    tokio::time::timeout(Duration::from_secs(20), watch.wait_for(Option::is_none))
        .await
        .expect("steps down once its renewals fail")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_runner_always_leads_with_epoch_one() {
    let leader = Leadership::start(
        Arc::new(LocalLease::new()),
        "scheduler",
        "embedded",
        Duration::from_millis(60),
    )
    .unwrap();
    let mut watch = leader.watch();
    watch.wait_for(Option::is_some).await.unwrap();
    // Several renewal periods later it still leads, on the same tenure.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(leader.epoch(), Some(Epoch(1)));
}

#[tokio::test]
async fn leadership_refuses_a_zero_ttl_or_an_empty_name() {
    let lease: Arc<dyn Lease> = Arc::new(LocalLease::new());
    let zero = Leadership::start(lease.clone(), "scheduler", "a", Duration::ZERO);
    let error = zero.err().expect("a zero TTL is refused");
    assert!(
        error.to_string().contains("TTL must be at least 1 ms"),
        "{error}"
    );
    let empty = Leadership::start(lease.clone(), "", "a", LONG);
    let error = empty.err().expect("an empty name is refused");
    assert!(error.to_string().contains("name is empty"), "{error}");
    assert_eq!(
        lease.current("scheduler").await.unwrap(),
        None,
        "nothing taken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_epochs_keep_growing_after_redis_loses_its_data() {
    let mut redis = Redis::start();
    let lease = RedisLease::new(&redis.url()).unwrap();
    let before = lease
        .acquire("scheduler", "a", LONG)
        .await
        .unwrap()
        .unwrap();
    // The test Redis keeps nothing on disk: after a restart the lease and its epoch key are gone.
    redis.restart();
    let mut after = None;
    let start = std::time::Instant::now();
    while after.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "Redis never answered again"
        );
        if let Ok(epoch) = lease.acquire("scheduler", "b", LONG).await {
            after = Some(epoch.expect("the restarted Redis has no lease"));
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let after = after.unwrap();
    assert!(
        after > before,
        "a fresh Redis still fences out {before}: got {after}"
    );
    // The old holder, fenced out, cannot touch the new tenure.
    assert!(!lease.renew("scheduler", "a", before, LONG).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_renewals_hang_steps_down_before_its_lease_lapses() {
    let pg = Postgres::start();
    let backend = postgres_lease(&pg).await;
    let lease = Partitioned::new(backend.clone());
    let ttl = Duration::from_millis(600);
    let stalled = Leadership::start(lease.clone(), "scheduler", "stalled", ttl).unwrap();
    let mut watch = stalled.watch();
    watch.wait_for(Option::is_some).await.unwrap();
    lease.hang.store(true, Ordering::SeqCst);
    // Once the lease lapses in the database another runner can take it; by then the stalled one
    // must have stepped down on its own deadline, without any answer from the backend.
    let other = Leadership::start(backend, "scheduler", "other", ttl).unwrap();
    let mut other_watch = other.watch();
    tokio::time::timeout(
        Duration::from_secs(20),
        other_watch.wait_for(Option::is_some),
    )
    .await
    .expect("the other runner takes over")
    .unwrap();
    assert_eq!(*watch.borrow(), None, "the stalled leader stepped down");
    // The stalled runner's pending release never answers; dropping it must not block.
    drop(stalled);
}
