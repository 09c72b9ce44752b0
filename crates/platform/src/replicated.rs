//! Read/write split over PostgreSQL: writes (transactions) go to the primary; reads go to a healthy
//! replica, and a read that carries a consistency token only to a replica that has replayed past
//! it — else, after a bounded wait, to the primary. No replica, or none healthy: the primary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::task::JoinHandle;

use crate::model::{ChangeEvent, HistoryEntry, Node, TokenRecord};
use crate::postgres::PgStore;
use crate::store::{ReplicaStatus, Result, Store, StoreRead, StoreTx};

/// How often replicas are probed for health and replay position.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long one probe may take before the replica counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

struct Replica {
    store: PgStore,
    healthy: AtomicBool,
    /// Last seen replay position (a consistency token value).
    position: AtomicU64,
}

impl Replica {
    /// Asks the replica for its replay position; records health and position.
    async fn probe(&self) -> Option<u64> {
        let position = tokio::time::timeout(PROBE_TIMEOUT, self.store.revision())
            .await
            .ok()
            .and_then(|r| r.ok())
            .and_then(|p| p.parse::<u64>().ok());
        let was = self.healthy.swap(position.is_some(), Ordering::Relaxed);
        match position {
            Some(p) => {
                self.position.fetch_max(p, Ordering::Relaxed);
                if !was {
                    tracing::info!(replica = %self.store.describe(), "replica is back");
                }
            }
            None if was => {
                tracing::warn!(replica = %self.store.describe(), "replica unreachable; reading from others or the primary");
            }
            None => {}
        }
        position
    }
}

pub struct ReplicatedStore {
    primary: PgStore,
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
    /// now are used once they answer.
    pub async fn open(
        primary_url: &str,
        replica_urls: &[String],
        pool_size: u32,
        catch_up_wait: Duration,
    ) -> Result<Self> {
        let primary = PgStore::open_primary(primary_url, pool_size).await?;
        let schema_floor = primary.revision().await?.parse().unwrap_or(0);
        let mut replicas = Vec::with_capacity(replica_urls.len());
        for url in replica_urls {
            replicas.push(Replica {
                store: PgStore::open_lazy(url, pool_size)?,
                healthy: AtomicBool::new(false),
                position: AtomicU64::new(0),
            });
        }
        let replicas = Arc::new(replicas);
        for replica in replicas.iter() {
            replica.probe().await;
        }
        let probed = Arc::clone(&replicas);
        let prober = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
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

    fn healthy(&self) -> Vec<&Replica> {
        self.replicas
            .iter()
            .filter(|r| r.healthy.load(Ordering::Relaxed))
            .collect()
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
            return Ok(&self.primary);
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
                return Ok(&r.store);
            }
            if Instant::now() >= deadline {
                return Ok(&self.primary);
            }
            for r in &order {
                if r.probe().await.is_some_and(|p| p >= floor) {
                    return Ok(&r.store);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
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
                let healthy = r.healthy.load(Ordering::Relaxed);
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

/// Direct reads without a consistency token: any healthy replica.
#[async_trait]
impl StoreRead for ReplicatedStore {
    async fn node(&self, id: &str) -> Result<Option<Node>> {
        self.read_view(None).await?.node(id).await
    }
    async fn nodes(
        &self,
        parent: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Node>> {
        self.read_view(None)
            .await?
            .nodes(parent, after, limit)
            .await
    }
    async fn child_count(&self, id: &str) -> Result<u64> {
        self.read_view(None).await?.child_count(id).await
    }
    async fn lineage(&self, id: &str) -> Result<Vec<Node>> {
        self.read_view(None).await?.lineage(id).await
    }
    async fn subtree(&self, id: &str) -> Result<Vec<Node>> {
        self.read_view(None).await?.subtree(id).await
    }
    async fn tokens(&self, node_ids: &[String]) -> Result<Vec<TokenRecord>> {
        self.read_view(None).await?.tokens(node_ids).await
    }
    async fn token(&self, node: &str, path: &str) -> Result<Option<TokenRecord>> {
        self.read_view(None).await?.token(node, path).await
    }
    async fn history(
        &self,
        node: &str,
        path: Option<&str>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>> {
        self.read_view(None).await?.history(node, path, limit).await
    }
    async fn events_since(&self, seq: i64, limit: u32) -> Result<Vec<ChangeEvent>> {
        // The event log is read from the primary: a consumer catching up must not miss the tail.
        self.primary.events_since(seq, limit).await
    }
    async fn latest_event_seq(&self) -> Result<i64> {
        self.primary.latest_event_seq().await
    }
    /// The primary's position: the newest revision anyone can ask for.
    async fn revision(&self) -> Result<String> {
        self.primary.revision().await
    }
}
