//! The scale-out Store on PostgreSQL. A `PgStore` is one server: the primary for writes, or a
//! streaming replica for reads (`ReplicatedStore` routes between them).
//!
//! The consistency token of a commit is the WAL position after it (`pg_current_wal_insert_lsn()`,
//! as a decimal number): a replica whose replay position has passed it has the commit.

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnection, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::StoreError;
use crate::idempotency::{
    Claimed, IdempotencyStore, KeyClaim, KeyRow, KeyRows, KeyState, StoredKey, claim_with, millis,
};
use crate::model::{
    ChangeEvent, HistoryEntry, LayeredTokens, NewEvent, NewHistory, NewNode, Node, TokenKind,
    TokenRecord,
};
use crate::pg_read_conns::{Lent, ReadConns};
use crate::store::{Result, Store, StoreRead, StoreTx};

/// Renders a timestamptz column as the same RFC 3339 text SQLite stores.
macro_rules! ts {
    ($col:literal) => {
        concat!(
            "to_char(",
            $col,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS ",
            $col
        )
    };
}

const NODE_COLUMNS: &str = concat!(
    "id, parent, name, description, ",
    ts!("created_at"),
    ", ",
    ts!("updated_at"),
    ", revision"
);
const EVENT_COLUMNS: &str = concat!(
    "seq, revision, node, kind, paths::text AS paths, actor, trace_id, ",
    ts!("at")
);
/// Serialises event inserts at commit so `events.seq` follows commit order.
const EVENT_ORDER_LOCK: i64 = 0x7469_6e63_7401;
/// The WAL position: replay position on a replica, insert position on the primary.
const POSITION: &str = "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                        ELSE pg_current_wal_insert_lsn() END - '0/0'::pg_lsn)::bigint";

pub struct PgStore {
    /// Transactions and the other adapters on this database (queue, leases, blobs …).
    pool: PgPool,
    /// Reads outside a transaction.
    reads: ReadConns,
    location: String,
}

impl PgStore {
    /// Connects to a primary and applies pending migrations (under PostgreSQL's advisory lock, so
    /// many instances may start at once).
    pub async fn open_primary(url: &str, pool_size: u32) -> Result<Self> {
        let store = Self::connect(url, pool_size).await?;
        migrator()
            .run(&store.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(store)
    }

    /// Connects to a replica (no migrations: it replays the primary's).
    pub async fn open_replica(url: &str, pool_size: u32) -> Result<Self> {
        Self::connect(url, pool_size).await
    }

    /// A handle that connects on first use (a replica that is down now is used once it answers).
    pub fn open_lazy(url: &str, pool_size: u32) -> Result<Self> {
        const WAIT: Duration = Duration::from_secs(2);
        let pool = pool_options(pool_size)
            .acquire_timeout(WAIT)
            .connect_lazy(url)?;
        Self::with_pool(pool, url, pool_size, WAIT)
    }

    async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        const WAIT: Duration = Duration::from_secs(5);
        let pool = pool_options(pool_size)
            .acquire_timeout(WAIT)
            .connect(url)
            .await?;
        Self::with_pool(pool, url, pool_size, WAIT)
    }

    /// `pool`, and a pool of the same size for reads (opened on first use).
    fn with_pool(pool: PgPool, url: &str, pool_size: u32, wait: Duration) -> Result<Self> {
        let reads = pool_options(pool_size)
            .acquire_timeout(wait)
            .connect_lazy(url)?;
        Ok(PgStore {
            pool,
            reads: ReadConns::new(reads),
            location: redact_url(url),
        })
    }

    async fn read_conn(&self) -> Result<Lent<'_>> {
        self.reads.lend().await
    }

    /// The read pool's use, for metrics.
    pub(crate) fn read_pool(&self, name: &str) -> crate::PoolStatus {
        self.reads.status(name)
    }

    /// The pool, for adapters that share this database (leases).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The redacted URL, for `describe`.
    pub(crate) fn location(&self) -> &str {
        &self.location
    }
}

/// How long a connection may sit idle and still be used without a ping first.
pub(crate) const TRUST_IDLE_FOR: Duration = Duration::from_millis(500);

/// Connections are pinged before use only when they sat idle for a while (as HikariCP does):
/// a ping before every acquire is a round trip per query — as much as a simple read costs —
/// while under load connections are never idle long enough to have died unseen.
fn pool_options(pool_size: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(pool_size.max(1))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > TRUST_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db` for logs and banners.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn migrator() -> Migrator {
    let migrations = [
        (
            1,
            "init",
            include_str!("../migrations/postgres/0001_init.sql"),
        ),
        (
            2,
            "idempotency_revisions",
            include_str!("../migrations/postgres/0002_idempotency_revisions.sql"),
        ),
        (
            3,
            "node_lineage",
            include_str!("../migrations/postgres/0003_node_lineage.sql"),
        ),
        (
            4,
            "jobs",
            include_str!("../migrations/postgres/0004_jobs.sql"),
        ),
        (
            5,
            "leases",
            include_str!("../migrations/postgres/0005_leases.sql"),
        ),
        (
            6,
            "schedules",
            include_str!("../migrations/postgres/0006_schedules.sql"),
        ),
        (
            7,
            "blobs",
            include_str!("../migrations/postgres/0007_blobs.sql"),
        ),
        (
            8,
            "webhooks",
            include_str!("../migrations/postgres/0008_webhooks.sql"),
        ),
        (
            9,
            "jobs_partitions",
            include_str!("../migrations/postgres/0009_jobs_partitions.sql"),
        ),
        (
            10,
            "job_traces",
            include_str!("../migrations/postgres/0010_job_traces.sql"),
        ),
        (
            11,
            "resolved",
            include_str!("../migrations/postgres/0011_resolved.sql"),
        ),
    ];
    Migrator::with_migrations(
        migrations
            .into_iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(sql),
                    false,
                )
            })
            .collect(),
    )
}

pub struct PgTx {
    tx: Mutex<Transaction<'static, Postgres>>,
    change: i64,
    events: std::sync::Mutex<Vec<NewEvent>>,
    pool: PgPool,
}

impl PgTx {
    async fn conn(&self) -> Result<MutexGuard<'_, Transaction<'static, Postgres>>> {
        Ok(self.tx.lock().await)
    }

    async fn read_conn(&self) -> Result<TxRead<'_>> {
        Ok(TxRead(self.tx.lock().await))
    }
}

/// A read inside the transaction: its connection stays with the transaction whatever happens.
struct TxRead<'a>(MutexGuard<'a, Transaction<'static, Postgres>>);

impl TxRead<'_> {
    fn done<T>(self, _outcome: &Result<T>) {}
}

impl std::ops::Deref for TxRead<'_> {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.0
    }
}

impl std::ops::DerefMut for TxRead<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0
    }
}

fn node_from(row: &PgRow) -> Result<Node> {
    Ok(Node {
        id: row.try_get("id")?,
        parent: row.try_get("parent")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        revision: row.try_get("revision")?,
    })
}

fn json_from(text: Option<String>) -> Result<Option<Value>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// The columns every token query selects from `tokens t`, in this order (read by position: a
/// lookup by name per column per row shows up in the profile of a resolve).
macro_rules! token_columns {
    () => {
        "t.node, t.path, t.kind, t.type, t.value::text AS value, t.description, t.revision"
    };
}

fn token_from(row: &PgRow) -> Result<TokenRecord> {
    token_at(row, 0)
}

/// A token from the row's `token_columns!()`, starting at column `first`.
fn token_at(row: &PgRow, first: usize) -> Result<TokenRecord> {
    let kind: &str = row.try_get(first + 2)?;
    Ok(TokenRecord {
        node: row.try_get(first)?,
        path: row.try_get(first + 1)?,
        kind: TokenKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown token kind {kind}")))?,
        token_type: row.try_get(first + 3)?,
        value: json_from(row.try_get(first + 4)?)?.unwrap_or(Value::Null),
        description: row.try_get(first + 5)?,
        revision: row.try_get(first + 6)?,
    })
}

fn event_from(row: &PgRow) -> Result<ChangeEvent> {
    let paths: String = row.try_get("paths")?;
    Ok(ChangeEvent {
        seq: row.try_get("seq")?,
        revision: row.try_get::<i64, _>("revision")?.to_string(),
        node: row.try_get("node")?,
        kind: row.try_get("kind")?,
        paths: serde_json::from_str(&paths).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        actor: row.try_get("actor")?,
        trace_id: row.try_get("trace_id")?,
        at: row.try_get("at")?,
    })
}

/// The read queries, written once against a connection; both the pool and a transaction use them.
mod reads {
    use super::*;

    pub async fn node(c: &mut PgConnection, id: &str) -> Result<Option<Node>> {
        let sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await?;
        row.as_ref().map(node_from).transpose()
    }

    pub async fn nodes(
        c: &mut PgConnection,
        parent: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Node>> {
        let sql = format!(
            "SELECT {NODE_COLUMNS} FROM nodes WHERE ($1::text IS NULL OR parent = $1) \
             AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(parent)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(c)
            .await?;
        rows.iter().map(node_from).collect()
    }

    pub async fn child_count(c: &mut PgConnection, id: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM nodes WHERE parent = $1")
            .bind(id)
            .fetch_one(c)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub async fn lineage(c: &mut PgConnection, id: &str) -> Result<Vec<Node>> {
        let sql = format!(
            "WITH RECURSIVE up(id, depth) AS ( \
                 SELECT id, 0 FROM nodes WHERE id = $1 \
                 UNION ALL SELECT n.parent, up.depth + 1 FROM nodes n JOIN up ON n.id = up.id \
                 WHERE n.parent IS NOT NULL AND up.depth < 10000) \
             SELECT {NODE_COLUMNS} FROM nodes JOIN up USING (id) ORDER BY up.depth DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(c)
            .await?;
        rows.iter().map(node_from).collect()
    }

    pub async fn subtree(c: &mut PgConnection, id: &str) -> Result<Vec<Node>> {
        let sql = format!(
            "WITH RECURSIVE down(id, depth) AS ( \
                 SELECT id, 0 FROM nodes WHERE id = $1 \
                 UNION ALL SELECT n.id, down.depth + 1 FROM nodes n JOIN down ON n.parent = down.id \
                 WHERE down.depth < 10000) \
             SELECT {NODE_COLUMNS} FROM nodes JOIN down USING (id) ORDER BY down.depth, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(c)
            .await?;
        rows.iter().map(node_from).collect()
    }

    pub async fn tokens(c: &mut PgConnection, ids: &[String]) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens t WHERE t.node = ANY($1) ORDER BY t.node, t.path"
        ))
        .bind(ids)
        .fetch_all(c)
        .await?;
        rows.iter().map(token_from).collect()
    }

    pub async fn layered_tokens(c: &mut PgConnection, id: &str) -> Result<Option<LayeredTokens>> {
        let rows = sqlx::query(concat!(
            "SELECT n.lineage, ",
            token_columns!(),
            " FROM nodes n LEFT JOIN tokens t ON t.node = ANY(n.lineage) WHERE n.id = $1"
        ))
        .bind(id)
        .fetch_all(c)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let lineage: Vec<String> = first.try_get(0)?;
        // A node without tokens in its lineage comes back as one row of NULL token columns.
        let mut tokens = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<Option<&str>, _>(2)?.is_some() {
                tokens.push(token_at(row, 1)?);
            }
        }
        Ok(Some(LayeredTokens { lineage, tokens }))
    }

    pub async fn resolved(c: &mut PgConnection, node: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT body FROM resolved WHERE node = $1")
                .bind(node)
                .fetch_optional(c)
                .await?,
        )
    }

    pub async fn unanswered_nodes(
        c: &mut PgConnection,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM resolved r WHERE r.node = n.id) \
             AND ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await?)
    }

    pub async fn token(
        c: &mut PgConnection,
        node: &str,
        path: &str,
    ) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens t WHERE t.node = $1 AND t.path = $2"
        ))
        .bind(node)
        .bind(path)
        .fetch_optional(c)
        .await?;
        row.as_ref().map(token_from).transpose()
    }

    pub async fn history(
        c: &mut PgConnection,
        node: &str,
        path: Option<&str>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>> {
        let sql = concat!(
            "SELECT seq, node, path, action, before::text AS before, after::text AS after, actor, \
             trace_id, revision, ",
            ts!("at"),
            " FROM history WHERE node = $1 AND ($2::text IS NULL OR path = $2) \
             ORDER BY seq DESC LIMIT $3"
        );
        let rows = sqlx::query(sql)
            .bind(node)
            .bind(path)
            .bind(i64::from(limit))
            .fetch_all(c)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(HistoryEntry {
                    seq: row.try_get("seq")?,
                    node: row.try_get("node")?,
                    path: row.try_get("path")?,
                    action: row.try_get("action")?,
                    before: json_from(row.try_get("before")?)?,
                    after: json_from(row.try_get("after")?)?,
                    actor: row.try_get("actor")?,
                    trace_id: row.try_get("trace_id")?,
                    revision: row.try_get::<i64, _>("revision")?.to_string(),
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    pub async fn events_since(
        c: &mut PgConnection,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<ChangeEvent>> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seq)
            .bind(i64::from(limit))
            .fetch_all(c)
            .await?;
        rows.iter().map(event_from).collect()
    }

    pub async fn latest_event_seq(c: &mut PgConnection) -> Result<i64> {
        let seq: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM events")
            .fetch_one(c)
            .await?;
        Ok(seq)
    }

    pub async fn position(c: &mut PgConnection) -> Result<String> {
        let lsn: i64 = sqlx::query_scalar(POSITION).fetch_one(c).await?;
        Ok(lsn.to_string())
    }
}

/// One read on `$self.read_conn()`, which learns how it went (so a pooled connection is kept
/// only after a clean read).
macro_rules! read {
    ($self:ident, $c:ident => $read:expr) => {{
        let mut lent = $self.read_conn().await?;
        let outcome = {
            let $c: &mut PgConnection = &mut lent;
            $read.await
        };
        lent.done(&outcome);
        outcome
    }};
}

/// Both the pool and a transaction answer reads through the same queries.
macro_rules! pg_reads {
    ($t:ty) => {
        #[async_trait]
        impl StoreRead for $t {
            async fn node(&self, id: &str) -> Result<Option<Node>> {
                read!(self, c => reads::node(c, id))
            }
            async fn nodes(
                &self,
                parent: Option<&str>,
                after: Option<&str>,
                limit: u32,
            ) -> Result<Vec<Node>> {
                read!(self, c => reads::nodes(c, parent, after, limit))
            }
            async fn child_count(&self, id: &str) -> Result<u64> {
                read!(self, c => reads::child_count(c, id))
            }
            async fn lineage(&self, id: &str) -> Result<Vec<Node>> {
                read!(self, c => reads::lineage(c, id))
            }
            async fn subtree(&self, id: &str) -> Result<Vec<Node>> {
                read!(self, c => reads::subtree(c, id))
            }
            async fn tokens(&self, node_ids: &[String]) -> Result<Vec<TokenRecord>> {
                read!(self, c => reads::tokens(c, node_ids))
            }
            async fn layered_tokens(&self, id: &str) -> Result<Option<LayeredTokens>> {
                read!(self, c => reads::layered_tokens(c, id))
            }
            async fn token(&self, node: &str, path: &str) -> Result<Option<TokenRecord>> {
                read!(self, c => reads::token(c, node, path))
            }
            async fn resolved(&self, node: &str) -> Result<Option<String>> {
                read!(self, c => reads::resolved(c, node))
            }
            async fn unanswered_nodes(
                &self,
                after: Option<&str>,
                limit: u32,
            ) -> Result<Vec<String>> {
                read!(self, c => reads::unanswered_nodes(c, after, limit))
            }
            async fn history(
                &self,
                node: &str,
                path: Option<&str>,
                limit: u32,
            ) -> Result<Vec<HistoryEntry>> {
                read!(self, c => reads::history(c, node, path, limit))
            }
            async fn events_since(&self, seq: i64, limit: u32) -> Result<Vec<ChangeEvent>> {
                read!(self, c => reads::events_since(c, seq, limit))
            }
            async fn latest_event_seq(&self) -> Result<i64> {
                read!(self, c => reads::latest_event_seq(c))
            }
            async fn revision(&self) -> Result<String> {
                read!(self, c => reads::position(c))
            }
        }
    };
}

pg_reads!(PgStore);
pg_reads!(PgTx);

#[async_trait]
impl Store for PgStore {
    async fn begin(&self) -> Result<Box<dyn StoreTx>> {
        let mut tx = self.pool.begin().await?;
        let change: i64 = sqlx::query_scalar("SELECT nextval('changes')")
            .fetch_one(&mut *tx)
            .await?;
        Ok(Box::new(PgTx {
            tx: Mutex::new(tx),
            change,
            events: std::sync::Mutex::default(),
            pool: self.pool.clone(),
        }))
    }

    async fn read_view(&self, _at_least: Option<u64>) -> Result<&dyn StoreRead> {
        Ok(self)
    }

    fn describe(&self) -> String {
        format!("postgres {}", self.location)
    }

    fn pools(&self) -> Vec<crate::PoolStatus> {
        vec![
            crate::PoolStatus::of("primary", &self.pool),
            self.read_pool("primary-reads"),
        ]
    }
}

#[async_trait]
impl StoreTx for PgTx {
    fn revision_number(&self) -> String {
        self.change.to_string()
    }

    async fn insert_node(&self, node: &NewNode) -> Result<()> {
        sqlx::query(
            // The lineage column is filled in by the database (migration 0003).
            "INSERT INTO nodes (id, parent, name, description, revision) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&node.id)
        .bind(&node.parent)
        .bind(&node.name)
        .bind(&node.description)
        .bind(self.change)
        .execute(&mut **self.conn().await?)
        .await?;
        Ok(())
    }

    async fn update_node(&self, id: &str, name: &str, description: Option<&str>) -> Result<()> {
        sqlx::query(
            "UPDATE nodes SET name = $1, description = $2, updated_at = now(), revision = $4 \
             WHERE id = $3",
        )
        .bind(name)
        .bind(description)
        .bind(id)
        .bind(self.change)
        .execute(&mut **self.conn().await?)
        .await?;
        Ok(())
    }

    async fn delete_nodes(&self, ids: &[String]) -> Result<()> {
        let mut tx = self.conn().await?;
        sqlx::query("DELETE FROM tokens WHERE node = ANY($1)")
            .bind(ids)
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM nodes WHERE id = ANY($1)")
            .bind(ids)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn put_token(&self, token: &TokenRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (node, path, kind, type, value, description, revision) \
             VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) \
             ON CONFLICT (node, path) DO UPDATE SET kind = excluded.kind, type = excluded.type, \
             value = excluded.value, description = excluded.description, updated_at = now(), \
             revision = excluded.revision",
        )
        .bind(&token.node)
        .bind(&token.path)
        .bind(token.kind.as_str())
        .bind(&token.token_type)
        .bind(token.value.to_string())
        .bind(&token.description)
        .bind(self.change)
        .execute(&mut **self.conn().await?)
        .await?;
        Ok(())
    }

    async fn delete_token(&self, node: &str, path: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE node = $1 AND path = $2")
            .bind(node)
            .bind(path)
            .execute(&mut **self.conn().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record(&self, entry: &NewHistory) -> Result<()> {
        sqlx::query(
            "INSERT INTO history (node, path, action, before, after, actor, trace_id, revision) \
             VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8)",
        )
        .bind(&entry.node)
        .bind(&entry.path)
        .bind(&entry.action)
        .bind(entry.before.as_ref().map(Value::to_string))
        .bind(entry.after.as_ref().map(Value::to_string))
        .bind(&entry.actor)
        .bind(&entry.trace_id)
        .bind(self.change)
        .execute(&mut **self.conn().await?)
        .await?;
        Ok(())
    }

    async fn emit(&self, event: &NewEvent) -> Result<()> {
        // Inserted at commit, under the ordering lock.
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }

    fn changed_nodes(&self) -> Vec<String> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.iter().map(|e| e.node.clone()).collect()
    }

    async fn lock_tree(&self, root: &str) -> Result<()> {
        lock_key(&mut *self.conn().await?, &format!("tree\u{1f}{root}")).await
    }

    async fn put_resolved(&self, answers: &[(String, String)]) -> Result<()> {
        let (nodes, bodies): (Vec<&str>, Vec<&str>) = answers
            .iter()
            .map(|(node, body)| (node.as_str(), body.as_str()))
            .unzip();
        sqlx::query(
            "INSERT INTO resolved (node, body) SELECT * FROM unnest($1::text[], $2::text[]) \
             ON CONFLICT (node) DO UPDATE SET body = excluded.body",
        )
        .bind(nodes)
        .bind(bodies)
        .execute(&mut **self.conn().await?)
        .await?;
        Ok(())
    }

    async fn drop_resolved(&self, nodes: &[String]) -> Result<()> {
        sqlx::query("DELETE FROM resolved WHERE node = ANY($1)")
            .bind(nodes)
            .execute(&mut **self.conn().await?)
            .await?;
        Ok(())
    }

    async fn lock_node_revision(&self, id: &str) -> Result<i64> {
        let mut tx = self.conn().await?;
        // The advisory lock covers a node that does not exist yet (no row to lock); the row lock
        // waits for any writer of the node and then reads its committed revision. NO KEY UPDATE,
        // so token writes under the node (their foreign-key check) do not queue behind it.
        lock_key(&mut tx, &format!("node\u{1f}{id}")).await?;
        let revision: Option<i64> =
            sqlx::query_scalar("SELECT revision FROM nodes WHERE id = $1 FOR NO KEY UPDATE")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        Ok(revision.unwrap_or(0))
    }

    async fn lock_token_revision(&self, node: &str, path: &str) -> Result<i64> {
        let mut tx = self.conn().await?;
        lock_key(&mut tx, &format!("token\u{1f}{node}\u{1f}{path}")).await?;
        let revision: Option<i64> = sqlx::query_scalar(
            "SELECT revision FROM tokens WHERE node = $1 AND path = $2 FOR UPDATE",
        )
        .bind(node)
        .bind(path)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(revision.unwrap_or(0))
    }

    async fn seal_key(&self, scope: &str, key: &str, token: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE idempotency_keys SET state = 'committed' \
             WHERE scope = $1 AND key = $2 AND token = $3 AND state = 'running'",
        )
        .bind(scope)
        .bind(key)
        .bind(token)
        .execute(&mut **self.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn enqueue(&self, job: &crate::NewJob) -> crate::QueueResult<crate::Enqueued> {
        crate::pg_queue::insert(&mut **self.conn().await?, job).await
    }

    async fn webhook_targets(&self, node: &str) -> Result<Vec<crate::WebhookTarget>> {
        crate::pg_webhook::targets(&mut **self.conn().await?, node).await
    }

    async fn commit(self: Box<Self>) -> Result<(String, Vec<ChangeEvent>)> {
        let PgTx {
            tx,
            change,
            events,
            pool,
        } = *self;
        let mut tx = tx.into_inner();
        let pending = events.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut committed = Vec::with_capacity(pending.len());
        if !pending.is_empty() {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(EVENT_ORDER_LOCK)
                .execute(&mut *tx)
                .await?;
            let sql = format!(
                "INSERT INTO events (revision, node, kind, paths, actor, trace_id) \
                 VALUES ($1, $2, $3, $4::jsonb, $5, $6) RETURNING {EVENT_COLUMNS}"
            );
            for event in &pending {
                let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(change)
                    .bind(&event.node)
                    .bind(&event.kind)
                    .bind(Value::from(event.paths.clone()).to_string())
                    .bind(&event.actor)
                    .bind(&event.trace_id)
                    .fetch_one(&mut *tx)
                    .await?;
                committed.push(event_from(&row)?);
            }
        }
        tx.commit().await?;
        // Any position read after the commit returned is at or past the commit record.
        let token = reads::position(&mut *pool.acquire().await?).await?;
        Ok((token, committed))
    }
}

/// A transaction-scoped advisory lock on a name: conditional writes of one target queue up.
async fn lock_key(tx: &mut Transaction<'static, Postgres>, name: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Milliseconds since the Unix epoch, by the primary's clock (every instance agrees on it).
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

// Keys live on the primary, outside any mutation's transaction (autocommit statements).
#[async_trait]
impl KeyRows for PgStore {
    async fn insert_key(&self, claim: &KeyClaim<'_>) -> Result<bool> {
        let sql = format!(
            "INSERT INTO idempotency_keys \
             (scope, key, command, fingerprint, state, token, created_at, lease_until, expires_at) \
             VALUES ($1, $2, $3, $4, 'running', $5, {NOW_MS}, {NOW_MS} + $6, {NOW_MS} + $7) \
             ON CONFLICT (scope, key) DO NOTHING"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(claim.scope)
            .bind(claim.key)
            .bind(claim.command)
            .bind(claim.fingerprint)
            .bind(claim.token)
            .bind(millis(claim.lease))
            .bind(millis(claim.retention))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fetch_key(&self, scope: &str, key: &str) -> Result<Option<KeyRow>> {
        let sql = format!(
            "SELECT command, fingerprint, state, token, result::text AS result, \
             to_char(to_timestamp(created_at / 1000.0) AT TIME ZONE 'UTC', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS first_used, \
             lease_until < {NOW_MS} AS lease_over, expires_at < {NOW_MS} AS expired \
             FROM idempotency_keys WHERE scope = $1 AND key = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let state: String = row.try_get("state")?;
            Ok(KeyRow {
                token: row.try_get("token")?,
                expired: row.try_get("expired")?,
                stored: StoredKey {
                    command: row.try_get("command")?,
                    fingerprint: row.try_get("fingerprint")?,
                    state: KeyState::parse(&state).ok_or_else(|| {
                        StoreError::Corrupt(format!("unknown idempotency key state {state}"))
                    })?,
                    result: json_from(row.try_get("result")?)?,
                    first_used_at: row.try_get("first_used")?,
                    lease_expired: row.try_get("lease_over")?,
                },
            })
        })
        .transpose()
    }

    async fn delete_key(&self, scope: &str, key: &str, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND token = $3")
            .bind(scope)
            .bind(key)
            .bind(token)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_over_key(&self, claim: &KeyClaim<'_>, old_token: &str) -> Result<bool> {
        let sql = format!(
            "UPDATE idempotency_keys SET command = $1, fingerprint = $2, token = $3, \
             created_at = {NOW_MS}, lease_until = {NOW_MS} + $4, expires_at = {NOW_MS} + $5 \
             WHERE scope = $6 AND key = $7 AND token = $8 AND state = 'running'"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(claim.command)
            .bind(claim.fingerprint)
            .bind(claim.token)
            .bind(millis(claim.lease))
            .bind(millis(claim.retention))
            .bind(claim.scope)
            .bind(claim.key)
            .bind(old_token)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn claim_key(&self, claim: &KeyClaim<'_>) -> Result<Claimed> {
        claim_with(self, claim).await
    }

    async fn finish_key(
        &self,
        scope: &str,
        key: &str,
        token: &str,
        result: &Value,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', result = $1::jsonb \
             WHERE scope = $2 AND key = $3 AND token = $4",
        )
        .bind(result.to_string())
        .bind(scope)
        .bind(key)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_key(&self, scope: &str, key: &str, token: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE scope = $1 AND key = $2 AND token = $3 AND state = 'running'",
        )
        .bind(scope)
        .bind(key)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_keys(&self, limit: u32) -> Result<u64> {
        let sql = format!(
            "DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key \
             FROM idempotency_keys WHERE expires_at < {NOW_MS} \
             AND (state = 'done' OR lease_until < {NOW_MS}) LIMIT $1)"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:pw@db:5432/t"),
            "postgres://app:***@db:5432/t"
        );
        assert_eq!(redact_url("postgres://db/t"), "postgres://db/t");
    }
}
