//! Read/write split over PostgreSQL: writes (transactions) go to the primary; reads go to a healthy
//! replica, and a read that carries a consistency token only to a replica that has replayed past
//! it — else, after a bounded wait, to the primary. No replica, or none healthy: the primary.
//! A read that fails on a replica is retried on the primary, so a replica dying between two
//! probes costs callers latency, never an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;

use crate::breaker::{Breaker, BreakerConfig};
use crate::error::StoreError;
use crate::model::{ChangeEvent, HistoryEntry, LayeredTokens, Node, TokenRecord};
use crate::postgres::PgStore;
use crate::store::{ReplicaStatus, Result, Store, StoreRead, StoreTx};

/// How replicas are watched. Each replica has a circuit breaker (`replica <host/db>`), and the
/// health probe is that breaker's trial call: a closed breaker is a healthy replica; a failed
/// probe or a read that lost its connection opens it (reads then go to the primary); once the
/// breaker has cooled down, the next probe (or read) is the trial that closes it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaProbe {
    /// How often each replica is asked for its replay position.
    pub every: Duration,
    /// How long one probe may take before the replica counts as down.
    pub timeout: Duration,
    /// How long a read waits for a replica before the primary is asked too (first answer wins;
    /// the primary winning opens the replica's breaker until its next probe).
    pub hedge_after: Duration,
}

impl Default for ReplicaProbe {
    fn default() -> Self {
        ReplicaProbe {
            every: Duration::from_millis(500),
            timeout: Duration::from_secs(1),
            hedge_after: Duration::from_millis(250),
        }
    }
}

struct Replica {
    store: PgStore,
    /// Where a read goes when this replica fails it.
    primary: Arc<PgStore>,
    breaker: Breaker,
    probe_timeout: Duration,
    hedge_after: Duration,
    /// Last seen replay position (a consistency token value).
    position: AtomicU64,
}

impl Replica {
    fn healthy(&self) -> bool {
        self.breaker.is_closed()
    }

    /// Asks the replica for its replay position, through the breaker: an open breaker that is
    /// still cooling down is not asked; after the cool-down this is the trial call.
    async fn probe(&self) -> Option<u64> {
        let permit = self.breaker.try_acquire()?;
        let position = tokio::time::timeout(self.probe_timeout, self.store.revision())
            .await
            .ok()
            .and_then(|r| r.ok())
            .and_then(|p| p.parse::<u64>().ok());
        match position {
            Some(p) => {
                self.position.fetch_max(p, Ordering::Relaxed);
                permit.success();
            }
            None => permit.failure(),
        }
        position
    }

    /// Runs `read` here, or on the primary when this replica's breaker is open or the replica
    /// fails it. Any failure is retried on the primary (it has every commit the replica has, so
    /// the answer is never older); one that lost the connection also opens the breaker now rather
    /// than at the next probe.
    ///
    /// A replica that just died does not fail fast: its pool keeps trying to connect until its
    /// acquire timeout (2 s). So a read the replica has not answered within `hedge_after` is also
    /// sent to the primary, and the first answer wins; when the primary's wins, the replica counts
    /// as failed (a slow call), so reads skip it until the next probe finds it answering. A read
    /// still waiting here when another read or the probe opens the breaker moves to the primary
    /// at once.
    async fn or_primary<'a, T>(
        &'a self,
        read: impl Fn(&'a dyn StoreRead) -> BoxFuture<'a, Result<T>> + Send,
    ) -> Result<T> {
        let Some(permit) = self.breaker.try_acquire() else {
            return read(&*self.primary).await;
        };
        let mut here = read(&self.store);
        let answered = tokio::select! {
            biased;
            answer = &mut here => Some(answer),
            () = self.breaker.opened() => None,
            () = tokio::time::sleep(self.hedge_after) => {
                let mut there = read(&*self.primary);
                tokio::select! {
                    biased;
                    answer = &mut here => match answer {
                        Ok(answer) => Some(Ok(answer)),
                        // The primary's answer is on its way already.
                        Err(e) => {
                            if connection_lost(&e) {
                                permit.failure();
                            }
                            return there.await;
                        }
                    },
                    answer = &mut there => {
                        // Slower than the primary: dead, or too busy to be worth waiting for.
                        // Either way reads go to the primary until a probe says otherwise.
                        permit.failure();
                        return answer;
                    }
                }
            }
        };
        match answered {
            Some(Ok(answer)) => {
                permit.success();
                Ok(answer)
            }
            Some(Err(e)) => {
                if connection_lost(&e) {
                    tracing::debug!(replica = %self.store.describe(), error = %e, "replica read failed; reading from the primary");
                    permit.failure();
                } else {
                    drop(permit);
                }
                read(&*self.primary).await
            }
            None => {
                drop(permit);
                read(&*self.primary).await
            }
        }
    }
}

/// Whether a replica's error means the replica is gone (down, restarting, unreachable) rather
/// than that one query failed.
fn connection_lost(e: &StoreError) -> bool {
    match e {
        StoreError::Unavailable(_) => true,
        // A replica shutting down ends its sessions with these (57P01, 57P03).
        StoreError::Database(message) => [
            "terminating connection",
            "the database system is shutting down",
            "the database system is starting up",
        ]
        .iter()
        .any(|m| message.contains(m)),
        _ => false,
    }
}

/// Implements `StoreRead` for `$t` by passing each data read to `self.$via(read)`; `$rest` holds
/// the event and revision reads, which the two implementors route differently.
macro_rules! routed_reads {
    ($t:ty, $via:ident, $($rest:tt)*) => {
        #[async_trait]
        impl StoreRead for $t {
            async fn node(&self, id: &str) -> Result<Option<Node>> {
                self.$via(|s| s.node(id)).await
            }
            async fn nodes(
                &self,
                parent: Option<&str>,
                after: Option<&str>,
                limit: u32,
            ) -> Result<Vec<Node>> {
                self.$via(|s| s.nodes(parent, after, limit)).await
            }
            async fn child_count(&self, id: &str) -> Result<u64> {
                self.$via(|s| s.child_count(id)).await
            }
            async fn lineage(&self, id: &str) -> Result<Vec<Node>> {
                self.$via(|s| s.lineage(id)).await
            }
            async fn subtree(&self, id: &str) -> Result<Vec<Node>> {
                self.$via(|s| s.subtree(id)).await
            }
            async fn tokens(&self, node_ids: &[String]) -> Result<Vec<TokenRecord>> {
                self.$via(|s| s.tokens(node_ids)).await
            }
            async fn token(&self, node: &str, path: &str) -> Result<Option<TokenRecord>> {
                self.$via(|s| s.token(node, path)).await
            }
            async fn layered_tokens(&self, id: &str) -> Result<Option<LayeredTokens>> {
                self.$via(|s| s.layered_tokens(id)).await
            }
            async fn resolved(&self, node: &str) -> Result<Option<String>> {
                self.$via(|s| s.resolved(node)).await
            }
            async fn history(
                &self,
                node: &str,
                path: Option<&str>,
                limit: u32,
            ) -> Result<Vec<HistoryEntry>> {
                self.$via(|s| s.history(node, path, limit)).await
            }
            $($rest)*
        }
    };
}

// A view on one replica, falling back to the primary read by read.
routed_reads! {
    Replica, or_primary,
    async fn events_since(&self, seq: i64, limit: u32) -> Result<Vec<ChangeEvent>> {
        self.or_primary(|s| s.events_since(seq, limit)).await
    }
    async fn unanswered_nodes(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>> {
        self.or_primary(|s| s.unanswered_nodes(after, limit)).await
    }
    async fn latest_event_seq(&self) -> Result<i64> {
        self.or_primary(|s| s.latest_event_seq()).await
    }
    async fn revision(&self) -> Result<String> {
        self.or_primary(|s| s.revision()).await
    }
}

pub struct ReplicatedStore {
    primary: Arc<PgStore>,
    replicas: Arc<Vec<Replica>>,
    next: AtomicUsize,
    /// How long a read with a consistency token waits for a replica before using the primary.
    catch_up_wait: Duration,
    /// The primary's position once migrations were applied: no read goes to a replica that has
    /// not replayed the schema this binary needs.
    schema_floor: u64,
    prober: JoinHandle<()>,
}

impl ReplicatedStore {
    /// Connects to the primary (migrating it) and, lazily, to each replica; replicas that are down
    /// now are used once they answer. Probes replicas on the default schedule.
    pub async fn open(
        primary_url: &str,
        replica_urls: &[String],
        pool_size: u32,
        catch_up_wait: Duration,
    ) -> Result<Self> {
        Self::open_with(
            primary_url,
            replica_urls,
            pool_size,
            catch_up_wait,
            ReplicaProbe::default(),
        )
        .await
    }

    /// As `open`, with the replicas' probe schedule given.
    pub async fn open_with(
        primary_url: &str,
        replica_urls: &[String],
        pool_size: u32,
        catch_up_wait: Duration,
        probe: ReplicaProbe,
    ) -> Result<Self> {
        let primary = Arc::new(PgStore::open_primary(primary_url, pool_size).await?);
        let schema_floor = primary.revision().await?.parse().unwrap_or(0);
        let every = probe.every.max(Duration::from_millis(10));
        let breaker = BreakerConfig {
            // One lost connection is enough: the primary can answer every read meanwhile.
            failure_threshold: 1,
            // Shorter than the probe interval, so every probe after a failure is a trial.
            cool_down: every / 2,
            half_open_trials: 1,
        };
        let mut replicas = Vec::with_capacity(replica_urls.len());
        for url in replica_urls {
            let store = PgStore::open_lazy(url, pool_size)?;
            replicas.push(Replica {
                breaker: Breaker::new(format!("replica {}", store.describe()), breaker),
                store,
                primary: Arc::clone(&primary),
                probe_timeout: probe.timeout,
                hedge_after: probe.hedge_after,
                position: AtomicU64::new(0),
            });
        }
        let replicas = Arc::new(replicas);
        for replica in replicas.iter() {
            replica.probe().await;
        }
        let probed = Arc::clone(&replicas);
        let prober = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                for replica in probed.iter() {
                    replica.probe().await;
                }
            }
        });
        Ok(ReplicatedStore {
            primary,
            replicas,
            next: AtomicUsize::new(0),
            catch_up_wait,
            schema_floor,
            prober,
        })
    }

    /// Runs `read` on the view a read without a consistency token gets.
    async fn tokenless<'a, T>(
        &'a self,
        read: impl Fn(&'a dyn StoreRead) -> BoxFuture<'a, Result<T>> + Send,
    ) -> Result<T> {
        read(self.read_view(None).await?).await
    }

    fn healthy(&self) -> Vec<&Replica> {
        self.replicas.iter().filter(|r| r.healthy()).collect()
    }
}

impl Drop for ReplicatedStore {
    fn drop(&mut self) {
        self.prober.abort();
    }
}

#[async_trait]
impl Store for ReplicatedStore {
    async fn begin(&self) -> Result<Box<dyn StoreTx>> {
        self.primary.begin().await
    }

    async fn read_view(&self, at_least: Option<u64>) -> Result<&dyn StoreRead> {
        let healthy = self.healthy();
        if healthy.is_empty() {
            return Ok(&*self.primary);
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let rotated = (0..healthy.len()).map(|i| healthy[(start + i) % healthy.len()]);
        let floor = at_least.unwrap_or(0).max(self.schema_floor);
        let deadline = Instant::now() + self.catch_up_wait;
        let order: Vec<&Replica> = rotated.collect();
        loop {
            if let Some(r) = order
                .iter()
                .find(|r| r.position.load(Ordering::Relaxed) >= floor)
            {
                return Ok(*r);
            }
            if Instant::now() >= deadline {
                return Ok(&*self.primary);
            }
            for r in &order {
                if r.probe().await.is_some_and(|p| p >= floor) {
                    return Ok(*r);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn pools(&self) -> Vec<crate::PoolStatus> {
        let mut pools = self.primary.pools();
        for r in self.replicas.iter() {
            // Named like the replica's other series (tinct_replica_healthy).
            pools.push(r.store.read_pool(&r.store.describe()));
        }
        pools
    }

    async fn replicas(&self) -> Vec<ReplicaStatus> {
        let primary: Option<u64> = self
            .primary
            .revision()
            .await
            .ok()
            .and_then(|p| p.parse().ok());
        self.replicas
            .iter()
            .map(|r| {
                let healthy = r.healthy();
                let replayed = r.position.load(Ordering::Relaxed);
                ReplicaStatus {
                    name: r.store.describe(),
                    healthy,
                    lag_bytes: primary
                        .filter(|_| healthy)
                        .map(|p| p.saturating_sub(replayed)),
                }
            })
            .collect()
    }

    fn describe(&self) -> String {
        let healthy = self.healthy().len();
        format!(
            "{} with {healthy}/{} read replica(s) healthy",
            self.primary.describe(),
            self.replicas.len()
        )
    }
}

// Direct reads without a consistency token: any healthy replica.
routed_reads! {
    ReplicatedStore, tokenless,
    async fn events_since(&self, seq: i64, limit: u32) -> Result<Vec<ChangeEvent>> {
        // The event log is read from the primary: a consumer catching up must not miss the tail.
        self.primary.events_since(seq, limit).await
    }
    /// From the primary: a lagging replica would send the backfill after answers already stored.
    async fn unanswered_nodes(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>> {
        self.primary.unanswered_nodes(after, limit).await
    }
    async fn latest_event_seq(&self) -> Result<i64> {
        self.primary.latest_event_seq().await
    }
    /// The primary's position: the newest revision anyone can ask for.
    async fn revision(&self) -> Result<String> {
        self.primary.revision().await
    }
}
