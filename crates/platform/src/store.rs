//! The Store port. Reads are one trait so that a transaction, a primary and a replica all answer
//! them; writes happen only inside a transaction, which commits them with their history and change
//! events (outbox) or not at all.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{
    ChangeEvent, HistoryEntry, LayeredTokens, NewEvent, NewHistory, NewNode, Node, TokenRecord,
};
use crate::queue::{Enqueued, NewJob, QueueResult};
use crate::webhook::WebhookTarget;

pub type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait StoreRead: Send + Sync {
    async fn node(&self, id: &str) -> Result<Option<Node>>;
    /// Nodes in id order after `after`; children of `parent` when given, else every node.
    async fn nodes(
        &self,
        parent: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Node>>;
    async fn child_count(&self, id: &str) -> Result<u64>;
    /// The node and its ancestors, root first; empty when the node does not exist.
    async fn lineage(&self, id: &str) -> Result<Vec<Node>>;
    /// The node and all its descendants, parents before children.
    async fn subtree(&self, id: &str) -> Result<Vec<Node>>;
    /// Every definition and override held by the given nodes.
    async fn tokens(&self, node_ids: &[String]) -> Result<Vec<TokenRecord>>;
    /// The node's lineage ids and every token they hold (`None` when the node does not exist).
    /// Adapters answer it in one query; this default takes two.
    async fn layered_tokens(&self, id: &str) -> Result<Option<LayeredTokens>> {
        let lineage: Vec<String> = self.lineage(id).await?.into_iter().map(|n| n.id).collect();
        if lineage.is_empty() {
            return Ok(None);
        }
        let tokens = self.tokens(&lineage).await?;
        Ok(Some(LayeredTokens { lineage, tokens }))
    }
    async fn token(&self, node: &str, path: &str) -> Result<Option<TokenRecord>>;
    /// The node's stored resolved answer (JSON text), if the resolved projection holds one.
    async fn resolved(&self, node: &str) -> Result<Option<String>>;
    /// Ids of the nodes the resolved projection holds no answer for, in id order after `after`,
    /// at most `limit`: one query per page, however many nodes are answered.
    async fn unanswered_nodes(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>>;
    /// Newest first.
    async fn history(
        &self,
        node: &str,
        path: Option<&str>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>>;
    async fn events_since(&self, seq: i64, limit: u32) -> Result<Vec<ChangeEvent>>;
    /// The sequence of the newest stored event (0 when there is none).
    async fn latest_event_seq(&self) -> Result<i64>;
    /// The latest committed revision.
    async fn revision(&self) -> Result<String>;
}

#[async_trait]
pub trait StoreTx: StoreRead {
    /// The revision this transaction will commit as.
    fn revision_number(&self) -> String;
    async fn insert_node(&self, node: &NewNode) -> Result<()>;
    async fn update_node(&self, id: &str, name: &str, description: Option<&str>) -> Result<()>;
    /// Deletes the nodes and their tokens; callers pass children before parents.
    async fn delete_nodes(&self, ids: &[String]) -> Result<()>;
    async fn put_token(&self, token: &TokenRecord) -> Result<()>;
    async fn delete_token(&self, node: &str, path: &str) -> Result<bool>;
    async fn record(&self, entry: &NewHistory) -> Result<()>;
    async fn emit(&self, event: &NewEvent) -> Result<()>;
    /// The nodes this transaction has emitted change events for, in emission order.
    fn changed_nodes(&self) -> Vec<String>;
    /// Holds the design system rooted at `root` until the transaction ends, so transactions that
    /// rewrite the resolved answers of its nodes do so one after the other, each reading what the
    /// previous one committed.
    async fn lock_tree(&self, root: &str) -> Result<()>;
    /// Stores each (node, resolved answer) in the resolved projection, replacing what was there.
    async fn put_resolved(&self, answers: &[(String, String)]) -> Result<()>;
    /// Removes the nodes' resolved answers (reads of them resolve live).
    async fn drop_resolved(&self, nodes: &[String]) -> Result<()>;
    /// The change number of the node's last write (0 when it does not exist), held until the
    /// transaction ends so no other write slips in between a check and the write.
    async fn lock_node_revision(&self, id: &str) -> Result<i64>;
    /// The change number of the last write of the node's own entry for `path` (0 when it has
    /// none), held like [`StoreTx::lock_node_revision`].
    async fn lock_token_revision(&self, node: &str, path: &str) -> Result<i64>;
    /// Marks the idempotency key `token` holds as committed, in this transaction; false when the
    /// claim is no longer `token`'s (its lease ran out and another request took it over).
    async fn seal_key(&self, scope: &str, key: &str, token: &str) -> Result<bool>;
    /// Enqueues a job that commits with this transaction's writes, or not at all.
    async fn enqueue(&self, job: &NewJob) -> QueueResult<Enqueued>;
    /// The active webhooks on `node` and on its ancestors, as this transaction sees them (so a
    /// change can enqueue their deliveries with itself). Empty when the node does not exist.
    async fn webhook_targets(&self, node: &str) -> Result<Vec<WebhookTarget>>;
    /// Commits and returns the committed events; dropping the transaction instead rolls back.
    async fn commit(self: Box<Self>) -> Result<(String, Vec<ChangeEvent>)>;
}

#[async_trait]
pub trait Store: StoreRead {
    async fn begin(&self) -> Result<Box<dyn StoreTx>>;
    /// Where a read should go: a view that has every commit up to revision `at_least`
    /// (a replica that has replayed past it, else the primary). Single-server stores return
    /// themselves.
    async fn read_view(&self, at_least: Option<u64>) -> Result<&dyn StoreRead>;
    /// Where the data lives, for banners and `tinct config` (no secrets).
    fn describe(&self) -> String;
    /// Read replicas with their health and lag behind the primary; none for single-server stores.
    async fn replicas(&self) -> Vec<ReplicaStatus> {
        Vec::new()
    }
    /// This instance's connection pools and their use, for metrics; none unless overridden.
    fn pools(&self) -> Vec<PoolStatus> {
        Vec::new()
    }
}

/// One read replica as health reports show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    pub name: String,
    pub healthy: bool,
    /// WAL bytes the replica has not replayed yet (unknown while it is down).
    pub lag_bytes: Option<u64>,
}

/// One connection pool as metrics show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolStatus {
    /// `writer` / `readers` (SQLite), `primary` or the replica's name (PostgreSQL).
    pub name: String,
    /// Connections open now, idle or lent out.
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolStatus {
    pub fn of<DB: sqlx::Database>(name: impl Into<String>, pool: &sqlx::Pool<DB>) -> Self {
        PoolStatus {
            name: name.into(),
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
}
