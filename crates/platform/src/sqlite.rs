//! The embedded Store: one SQLite file in WAL mode. One writer connection (SQLite allows one writer
//! at a time anyway, and `BEGIN IMMEDIATE` makes other processes wait on the busy timeout rather than
//! fail mid-transaction) and a small pool of readers.

use std::borrow::Cow;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::StoreError;
use crate::idempotency::{
    Claimed, IdempotencyStore, KeyClaim, KeyRow, KeyRows, KeyState, StoredKey, claim_with, millis,
};
use crate::model::{
    ChangeEvent, HistoryEntry, LayeredTokens, NewEvent, NewHistory, NewNode, Node, TokenKind,
    TokenRecord,
};
use crate::store::{Result, Store, StoreRead, StoreTx};

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    location: String,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and applies pending migrations.
    pub async fn open_file(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::open_with(options, path.display().to_string()).await
    }

    /// Opens a `sqlite:` URL such as `sqlite://tinct.db` or `sqlite::memory:`.
    pub async fn open_url(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL: {e}")))?;
        Self::open_with(options, url.to_owned()).await
    }

    async fn open_with(options: SqliteConnectOptions, location: String) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        migrator()
            .run(&writer)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore {
            writer,
            readers,
            location,
        })
    }
}

impl SqliteStore {
    /// The writer and reader pools, for the job queue in the same database.
    pub(crate) fn queue_pools(&self) -> (SqlitePool, SqlitePool) {
        (self.writer.clone(), self.readers.clone())
    }
}

fn migrator() -> Migrator {
    let migrations = [
        (
            1,
            "init",
            include_str!("../migrations/sqlite/0001_init.sql"),
        ),
        (
            2,
            "idempotency_revisions",
            include_str!("../migrations/sqlite/0002_idempotency_revisions.sql"),
        ),
        (
            3,
            "node_lineage",
            include_str!("../migrations/sqlite/0003_node_lineage.sql"),
        ),
        (
            4,
            "jobs",
            include_str!("../migrations/sqlite/0004_jobs.sql"),
        ),
        (
            5,
            "leases",
            include_str!("../migrations/sqlite/0005_leases.sql"),
        ),
        (
            6,
            "schedules",
            include_str!("../migrations/sqlite/0006_schedules.sql"),
        ),
        (
            7,
            "blobs",
            include_str!("../migrations/sqlite/0007_blobs.sql"),
        ),
        (
            8,
            "webhooks",
            include_str!("../migrations/sqlite/0008_webhooks.sql"),
        ),
        (
            9,
            "jobs_partitions",
            include_str!("../migrations/sqlite/0009_jobs_partitions.sql"),
        ),
        (
            10,
            "job_traces",
            include_str!("../migrations/sqlite/0010_job_traces.sql"),
        ),
        (
            11,
            "resolved",
            include_str!("../migrations/sqlite/0011_resolved.sql"),
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

/// Anything that lends a SQLite connection: the reader pool or an open transaction. All reads are
/// written once, against this.
#[async_trait]
trait Connected: Send + Sync {
    type Conn<'a>: DerefMut<Target = SqliteConnection> + Send
    where
        Self: 'a;
    async fn conn(&self) -> Result<Self::Conn<'_>>;
}

#[async_trait]
impl Connected for SqliteStore {
    type Conn<'a> = PoolConnection<Sqlite>;
    async fn conn(&self) -> Result<Self::Conn<'_>> {
        Ok(self.readers.acquire().await?)
    }
}

pub struct SqliteTx {
    tx: Mutex<Transaction<'static, Sqlite>>,
    revision: i64,
    events: std::sync::Mutex<Vec<ChangeEvent>>,
}

pub struct TxConn<'a>(MutexGuard<'a, Transaction<'static, Sqlite>>);

impl Deref for TxConn<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.0
    }
}

impl DerefMut for TxConn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.0
    }
}

#[async_trait]
impl Connected for SqliteTx {
    type Conn<'a> = TxConn<'a>;
    async fn conn(&self) -> Result<Self::Conn<'_>> {
        Ok(TxConn(self.tx.lock().await))
    }
}

const NODE_COLUMNS: &str = "id, parent, name, description, created_at, updated_at, revision";

fn node_from(row: &SqliteRow) -> Result<Node> {
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

fn token_from(row: &SqliteRow) -> Result<TokenRecord> {
    let kind: String = row.try_get("kind")?;
    Ok(TokenRecord {
        node: row.try_get("node")?,
        path: row.try_get("path")?,
        kind: TokenKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown token kind {kind}")))?,
        token_type: row.try_get("type")?,
        value: json_from(row.try_get("value")?)?.unwrap_or(Value::Null),
        description: row.try_get("description")?,
        revision: row.try_get("revision")?,
    })
}

fn event_from(row: &SqliteRow) -> Result<ChangeEvent> {
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

fn ids_json(ids: &[String]) -> String {
    Value::from(ids.to_vec()).to_string()
}

#[async_trait]
impl<T: Connected> StoreRead for T {
    async fn node(&self, id: &str) -> Result<Option<Node>> {
        let mut conn = self.conn().await?;
        let sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(node_from).transpose()
    }

    async fn nodes(
        &self,
        parent: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Node>> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "SELECT {NODE_COLUMNS} FROM nodes WHERE (?1 IS NULL OR parent = ?1) \
             AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(parent)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(node_from).collect()
    }

    async fn child_count(&self, id: &str) -> Result<u64> {
        let mut conn = self.conn().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM nodes WHERE parent = ?")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn lineage(&self, id: &str) -> Result<Vec<Node>> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "WITH RECURSIVE up(id, depth) AS ( \
                 SELECT id, 0 FROM nodes WHERE id = ?1 \
                 UNION ALL SELECT n.parent, up.depth + 1 FROM nodes n JOIN up ON n.id = up.id \
                 WHERE n.parent IS NOT NULL AND up.depth < 10000) \
             SELECT {NODE_COLUMNS} FROM nodes JOIN up USING (id) ORDER BY up.depth DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(node_from).collect()
    }

    async fn subtree(&self, id: &str) -> Result<Vec<Node>> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "WITH RECURSIVE down(id, depth) AS ( \
                 SELECT id, 0 FROM nodes WHERE id = ?1 \
                 UNION ALL SELECT n.id, down.depth + 1 FROM nodes n JOIN down ON n.parent = down.id \
                 WHERE down.depth < 10000) \
             SELECT {NODE_COLUMNS} FROM nodes JOIN down USING (id) ORDER BY down.depth, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(node_from).collect()
    }

    async fn tokens(&self, node_ids: &[String]) -> Result<Vec<TokenRecord>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT node, path, kind, type, value, description, revision FROM tokens \
             WHERE node IN (SELECT value FROM json_each(?)) ORDER BY node, path",
        )
        .bind(ids_json(node_ids))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(token_from).collect()
    }

    async fn layered_tokens(&self, id: &str) -> Result<Option<LayeredTokens>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT n.lineage, t.node, t.path, t.kind, t.type, t.value, t.description, t.revision \
             FROM nodes n LEFT JOIN tokens t ON t.node IN (SELECT value FROM json_each(n.lineage)) \
             WHERE n.id = ?",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let lineage: String = first.try_get("lineage")?;
        let lineage: Vec<String> =
            serde_json::from_str(&lineage).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // A node without tokens in its lineage comes back as one row of NULL token columns.
        let mut tokens = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<Option<String>, _>("path")?.is_some() {
                tokens.push(token_from(row)?);
            }
        }
        Ok(Some(LayeredTokens { lineage, tokens }))
    }

    async fn resolved(&self, node: &str) -> Result<Option<String>> {
        let mut conn = self.conn().await?;
        Ok(
            sqlx::query_scalar("SELECT body FROM resolved WHERE node = ?")
                .bind(node)
                .fetch_optional(&mut *conn)
                .await?,
        )
    }

    async fn unanswered_nodes(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>> {
        let mut conn = self.conn().await?;
        Ok(sqlx::query_scalar(
            "SELECT id FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM resolved r WHERE r.node = n.id) \
             AND (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?)
    }

    async fn token(&self, node: &str, path: &str) -> Result<Option<TokenRecord>> {
        let mut conn = self.conn().await?;
        let row = sqlx::query(
            "SELECT node, path, kind, type, value, description, revision FROM tokens \
             WHERE node = ? AND path = ?",
        )
        .bind(node)
        .bind(path)
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(token_from).transpose()
    }

    async fn history(
        &self,
        node: &str,
        path: Option<&str>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT seq, node, path, action, before, after, actor, trace_id, revision, at \
             FROM history WHERE node = ?1 AND (?2 IS NULL OR path = ?2) \
             ORDER BY seq DESC LIMIT ?3",
        )
        .bind(node)
        .bind(path)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
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

    async fn events_since(&self, seq: i64, limit: u32) -> Result<Vec<ChangeEvent>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT seq, revision, node, kind, paths, actor, trace_id, at FROM events \
             WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(event_from).collect()
    }

    async fn latest_event_seq(&self) -> Result<i64> {
        let mut conn = self.conn().await?;
        let seq: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM events")
            .fetch_one(&mut *conn)
            .await?;
        Ok(seq)
    }

    async fn revision(&self) -> Result<String> {
        let mut conn = self.conn().await?;
        let value: i64 = sqlx::query_scalar("SELECT value FROM revision WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
        Ok(value.to_string())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn StoreTx>> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let revision: i64 = sqlx::query_scalar(
            "UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok(Box::new(SqliteTx {
            tx: Mutex::new(tx),
            revision,
            events: std::sync::Mutex::default(),
        }))
    }

    async fn read_view(&self, _at_least: Option<u64>) -> Result<&dyn StoreRead> {
        Ok(self)
    }

    fn describe(&self) -> String {
        format!("sqlite {}", self.location)
    }

    fn pools(&self) -> Vec<crate::PoolStatus> {
        vec![
            crate::PoolStatus::of("writer", &self.writer),
            crate::PoolStatus::of("readers", &self.readers),
        ]
    }
}

#[async_trait]
impl StoreTx for SqliteTx {
    fn revision_number(&self) -> String {
        self.revision.to_string()
    }

    async fn insert_node(&self, node: &NewNode) -> Result<()> {
        let mut conn = self.conn().await?;
        sqlx::query(
            // The lineage column is filled in by the database (migration 0003).
            "INSERT INTO nodes (id, parent, name, description, revision) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&node.id)
        .bind(&node.parent)
        .bind(&node.name)
        .bind(&node.description)
        .bind(self.revision)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn update_node(&self, id: &str, name: &str, description: Option<&str>) -> Result<()> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "UPDATE nodes SET name = ?, description = ?, updated_at = {NOW}, revision = ? WHERE id = ?"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .bind(description)
            .bind(self.revision)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn delete_nodes(&self, ids: &[String]) -> Result<()> {
        let mut conn = self.conn().await?;
        let ids = ids_json(ids);
        sqlx::query("DELETE FROM tokens WHERE node IN (SELECT value FROM json_each(?))")
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM nodes WHERE id IN (SELECT value FROM json_each(?))")
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn put_token(&self, token: &TokenRecord) -> Result<()> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "INSERT INTO tokens (node, path, kind, type, value, description, revision) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (node, path) DO UPDATE SET kind = excluded.kind, type = excluded.type, \
             value = excluded.value, description = excluded.description, updated_at = {NOW}, \
             revision = excluded.revision"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&token.node)
            .bind(&token.path)
            .bind(token.kind.as_str())
            .bind(&token.token_type)
            .bind(token.value.to_string())
            .bind(&token.description)
            .bind(self.revision)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn delete_token(&self, node: &str, path: &str) -> Result<bool> {
        let mut conn = self.conn().await?;
        let done = sqlx::query("DELETE FROM tokens WHERE node = ? AND path = ?")
            .bind(node)
            .bind(path)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record(&self, entry: &NewHistory) -> Result<()> {
        let mut conn = self.conn().await?;
        sqlx::query(
            "INSERT INTO history (node, path, action, before, after, actor, trace_id, revision) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&entry.node)
        .bind(&entry.path)
        .bind(&entry.action)
        .bind(entry.before.as_ref().map(Value::to_string))
        .bind(entry.after.as_ref().map(Value::to_string))
        .bind(&entry.actor)
        .bind(&entry.trace_id)
        .bind(self.revision)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn emit(&self, event: &NewEvent) -> Result<()> {
        let mut conn = self.conn().await?;
        let row = sqlx::query(
            "INSERT INTO events (revision, node, kind, paths, actor, trace_id) \
             VALUES (?, ?, ?, ?, ?, ?) \
             RETURNING seq, revision, node, kind, paths, actor, trace_id, at",
        )
        .bind(self.revision)
        .bind(&event.node)
        .bind(&event.kind)
        .bind(Value::from(event.paths.clone()).to_string())
        .bind(&event.actor)
        .bind(&event.trace_id)
        .fetch_one(&mut *conn)
        .await?;
        let committed = event_from(&row)?;
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(committed);
        Ok(())
    }

    async fn lock_node_revision(&self, id: &str) -> Result<i64> {
        // The transaction began IMMEDIATE: it is the only writer until it ends.
        let mut conn = self.conn().await?;
        let revision: Option<i64> = sqlx::query_scalar("SELECT revision FROM nodes WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(revision.unwrap_or(0))
    }

    async fn lock_token_revision(&self, node: &str, path: &str) -> Result<i64> {
        let mut conn = self.conn().await?;
        let revision: Option<i64> =
            sqlx::query_scalar("SELECT revision FROM tokens WHERE node = ? AND path = ?")
                .bind(node)
                .bind(path)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(revision.unwrap_or(0))
    }

    async fn seal_key(&self, scope: &str, key: &str, token: &str) -> Result<bool> {
        let mut conn = self.conn().await?;
        let done = sqlx::query(
            "UPDATE idempotency_keys SET state = 'committed' \
             WHERE scope = ? AND key = ? AND token = ? AND state = 'running'",
        )
        .bind(scope)
        .bind(key)
        .bind(token)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn enqueue(&self, job: &crate::NewJob) -> crate::QueueResult<crate::Enqueued> {
        crate::sqlite_queue::insert(&mut *self.conn().await?, job).await
    }

    async fn webhook_targets(&self, node: &str) -> Result<Vec<crate::WebhookTarget>> {
        crate::sqlite_webhook::targets(&mut *self.conn().await?, node).await
    }

    fn changed_nodes(&self) -> Vec<String> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.iter().map(|e| e.node.clone()).collect()
    }

    async fn lock_tree(&self, _root: &str) -> Result<()> {
        // One writer at a time already (BEGIN IMMEDIATE).
        Ok(())
    }

    async fn put_resolved(&self, answers: &[(String, String)]) -> Result<()> {
        let mut conn = self.conn().await?;
        for (node, body) in answers {
            sqlx::query(
                "INSERT INTO resolved (node, body) VALUES (?, ?) \
                 ON CONFLICT (node) DO UPDATE SET body = excluded.body",
            )
            .bind(node)
            .bind(body)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn drop_resolved(&self, nodes: &[String]) -> Result<()> {
        let mut conn = self.conn().await?;
        sqlx::query("DELETE FROM resolved WHERE node IN (SELECT value FROM json_each(?))")
            .bind(ids_json(nodes))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(String, Vec<ChangeEvent>)> {
        let SqliteTx {
            tx,
            revision,
            events,
        } = *self;
        tx.into_inner().commit().await?;
        let events = events.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok((revision.to_string(), events))
    }
}

/// Milliseconds since the Unix epoch, by the database's clock.
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

// Keys are written on the writer connection, outside any mutation's transaction.
#[async_trait]
impl KeyRows for SqliteStore {
    async fn insert_key(&self, claim: &KeyClaim<'_>) -> Result<bool> {
        let sql = format!(
            "INSERT INTO idempotency_keys \
             (scope, key, command, fingerprint, state, token, created_at, lease_until, expires_at) \
             VALUES (?1, ?2, ?3, ?4, 'running', ?5, {NOW_MS}, {NOW_MS} + ?6, {NOW_MS} + ?7) \
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
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fetch_key(&self, scope: &str, key: &str) -> Result<Option<KeyRow>> {
        let sql = format!(
            "SELECT command, fingerprint, state, token, result, \
             strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000.0, 'unixepoch') AS first_used, \
             lease_until < {NOW_MS} AS lease_over, expires_at < {NOW_MS} AS expired \
             FROM idempotency_keys WHERE scope = ? AND key = ?"
        );
        // From the writer: the reader pool may not see a claim committed a moment ago.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.writer)
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
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND token = ?")
            .bind(scope)
            .bind(key)
            .bind(token)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn take_over_key(&self, claim: &KeyClaim<'_>, old_token: &str) -> Result<bool> {
        let sql = format!(
            "UPDATE idempotency_keys SET command = ?1, fingerprint = ?2, token = ?3, \
             created_at = {NOW_MS}, lease_until = {NOW_MS} + ?4, expires_at = {NOW_MS} + ?5 \
             WHERE scope = ?6 AND key = ?7 AND token = ?8 AND state = 'running'"
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
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
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
            "UPDATE idempotency_keys SET state = 'done', result = ? \
             WHERE scope = ? AND key = ? AND token = ?",
        )
        .bind(result.to_string())
        .bind(scope)
        .bind(key)
        .bind(token)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_key(&self, scope: &str, key: &str, token: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE scope = ? AND key = ? AND token = ? AND state = 'running'",
        )
        .bind(scope)
        .bind(key)
        .bind(token)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_keys(&self, limit: u32) -> Result<u64> {
        let sql = format!(
            "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys \
             WHERE expires_at < {NOW_MS} AND (state = 'done' OR lease_until < {NOW_MS}) LIMIT ?)"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}
