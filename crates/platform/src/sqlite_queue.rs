//! The Queue on the embedded SQLite store. Writes go through the store's single writer
//! connection, so a fetch (one `UPDATE … RETURNING` over the due jobs) is atomic without row locks;
//! reads use the reader pool.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Row, SqlitePool};

use crate::error::StoreError;
use crate::queue::{
    AttemptError, Claim, Enqueued, Heartbeat, Job, JobFilter, JobState, LEASE_EXPIRED, NewJob,
    PRUNE_BATCH, Queue, QueueError, QueueResult, QueueStats, check_fetch, check_lease, fair_order,
    ms,
};
use crate::sqlite::SqliteStore;

/// Milliseconds since the Unix epoch by the database's clock (fixed for a statement).
macro_rules! now {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    };
}

/// Completes one claimed attempt (?1 job, ?2 worker, ?3 attempt), if it is still that claim's.
const COMPLETE: &str = concat!(
    "UPDATE jobs SET state = 'completed', locked_by = NULL, locked_until = NULL, finished_at = ",
    now!(),
    " WHERE id = ?1 AND locked_by = ?2 AND attempt = ?3 AND state = 'running'"
);

macro_rules! job_columns {
    () => {
        "id, kind, args, queue, priority, state, run_at, attempt, max_attempts, unique_key, \
         partition_key, trace_id, locked_by, locked_until, cancel_requested, errors, created_at, \
         attempted_at, finished_at"
    };
}

macro_rules! pending {
    () => {
        "('available', 'scheduled', 'running', 'retryable')"
    };
}

/// What a failed or expired attempt leads to, from the row's old values.
macro_rules! next_state {
    () => {
        "CASE WHEN cancel_requested THEN 'cancelled' WHEN attempt >= max_attempts \
         THEN 'discarded' ELSE 'retryable' END"
    };
}

macro_rules! will_retry {
    () => {
        "(NOT cancel_requested AND attempt < max_attempts)"
    };
}

pub struct SqliteQueue {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteQueue {
    /// A queue in the store's database, through its writer connection and reader pool.
    pub fn new(store: &SqliteStore) -> Self {
        let (writer, readers) = store.queue_pools();
        SqliteQueue { writer, readers }
    }

    async fn refused(
        &self,
        id: i64,
        action: &'static str,
        allowed: &'static str,
    ) -> QueueResult<Job> {
        match self.get(id).await? {
            None => Err(QueueError::NotFound(id)),
            Some(job) => Err(QueueError::WrongState {
                id,
                state: job.state,
                action,
                allowed,
            }),
        }
    }
}

/// The due jobs of partition `alias.part` of queue `alias.queue` (an index condition on
/// `jobs_fetch_partitions`).
fn due_in(alias: &str) -> String {
    format!(
        "state IN ('available', 'scheduled', 'retryable') AND queue = {alias}.queue \
         AND coalesce(partition_key, '') = {alias}.part AND run_at <= {}",
        now!()
    )
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn job_from(row: &SqliteRow) -> QueueResult<Job> {
    let state: String = row.try_get("state")?;
    let args: String = row.try_get("args")?;
    let errors: String = row.try_get("errors")?;
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        args: serde_json::from_str::<Value>(&args).map_err(corrupt)?,
        queue: row.try_get("queue")?,
        priority: row.try_get("priority")?,
        state: state
            .parse()
            .map_err(|_| corrupt(format!("unknown job state {state}")))?,
        run_at: row.try_get("run_at")?,
        attempt: row.try_get("attempt")?,
        max_attempts: row.try_get("max_attempts")?,
        unique_key: row.try_get("unique_key")?,
        partition_key: row.try_get("partition_key")?,
        trace_id: row.try_get("trace_id")?,
        locked_by: row.try_get("locked_by")?,
        locked_until: row.try_get("locked_until")?,
        cancel_requested: row.try_get("cancel_requested")?,
        errors: serde_json::from_str::<Vec<AttemptError>>(&errors).map_err(corrupt)?,
        created_at: row.try_get("created_at")?,
        attempted_at: row.try_get("attempted_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Inserts a job on `conn` (the writer, or the open write transaction).
pub(crate) async fn insert(conn: &mut SqliteConnection, job: &NewJob) -> QueueResult<Enqueued> {
    job.validate()?;
    // `WHERE true` keeps SQLite from reading the upsert's ON as a join constraint.
    let id: Option<i64> = sqlx::query_scalar(concat!(
        "INSERT INTO jobs (kind, args, queue, priority, state, run_at, max_attempts, unique_key, \
             partition_key, trace_id, created_at) \
         SELECT ?1, ?2, ?3, ?4, CASE WHEN r.at > r.now THEN 'scheduled' ELSE 'available' END, \
             r.at, ?7, ?8, ?9, ?10, r.now \
         FROM (SELECT ",
        now!(),
        " AS now, coalesce(?5, ",
        now!(),
        " + ?6) AS at) r WHERE true \
         ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ",
        pending!(),
        " DO NOTHING RETURNING id"
    ))
    .bind(&job.kind)
    .bind(job.args.to_string())
    .bind(&job.queue)
    .bind(job.priority)
    .bind(job.run_at)
    .bind(ms(job.delay))
    .bind(job.max_attempts)
    .bind(&job.unique_key)
    .bind(&job.partition_key)
    .bind(&job.trace_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = id {
        return Ok(Enqueued {
            id,
            duplicate: false,
        });
    }
    // The single writer makes insert and look-up atomic: the holder is still there.
    let id: i64 = sqlx::query_scalar(concat!(
        "SELECT id FROM jobs WHERE unique_key = ? AND state IN ",
        pending!()
    ))
    .bind(&job.unique_key)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Enqueued {
        id,
        duplicate: true,
    })
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn enqueue(&self, job: &NewJob) -> QueueResult<Enqueued> {
        job.validate()?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let done = insert(&mut tx, job).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn fetch(
        &self,
        worker: &str,
        queues: &[String],
        limit: u32,
        lease: Duration,
    ) -> QueueResult<Vec<Job>> {
        check_fetch(queues, limit, lease)?;
        // Fair by partition (see `Queue::fetch`), in index probes rather than a sort of the
        // backlog, all on `jobs_fetch_partitions` (queue, coalesce(partition_key, ''), priority
        // DESC, run_at, id), as on PostgreSQL: a loose index scan lists each queue's partitions
        // with pending jobs ('' is the keyless one); each partition's first due job is its head,
        // and only the `limit` partitions with the first heads can be in the batch; up to
        // `limit` due jobs of each of those are the candidates, with their turns. The single
        // writer makes the statement atomic without row locks.
        let values: Vec<String> = (0..queues.len()).map(|i| format!("(?{})", i + 4)).collect();
        let sql = format!(
            "WITH RECURSIVE qs(name) AS (VALUES {values}), \
             parts(queue, part) AS ( \
                 SELECT name, (SELECT coalesce(partition_key, '') FROM jobs \
                     WHERE state IN ('available', 'scheduled', 'retryable') AND queue = qs.name \
                     ORDER BY coalesce(partition_key, '') LIMIT 1) FROM qs \
               UNION ALL \
                 SELECT queue, (SELECT coalesce(partition_key, '') FROM jobs \
                     WHERE state IN ('available', 'scheduled', 'retryable') \
                     AND queue = parts.queue AND coalesce(partition_key, '') > parts.part \
                     ORDER BY coalesce(partition_key, '') LIMIT 1) \
                 FROM parts WHERE part IS NOT NULL), \
             heads AS (SELECT queue, part FROM (SELECT p.queue, p.part, j.priority, j.run_at, \
                     j.id FROM parts p JOIN jobs j ON j.id = (SELECT id FROM jobs WHERE {due_p} \
                         ORDER BY priority DESC, run_at, id LIMIT 1) \
                     WHERE p.part IS NOT NULL) \
                 ORDER BY priority DESC, run_at, id LIMIT ?2), \
             candidates AS (SELECT j.id, j.priority, j.run_at, row_number() OVER ( \
                     PARTITION BY h.queue, h.part, j.priority ORDER BY j.run_at, j.id) AS turn \
                 FROM heads h JOIN jobs j ON j.id IN (SELECT id FROM jobs WHERE {due_h} \
                     ORDER BY priority DESC, run_at, id LIMIT ?2)) \
             UPDATE jobs SET state = 'running', attempt = attempt + 1, locked_by = ?1, \
                 locked_until = {now} + ?3, attempted_at = {now} \
             WHERE id IN (SELECT id FROM candidates \
                 ORDER BY priority DESC, turn, run_at, id LIMIT ?2) \
             RETURNING {columns}",
            values = values.join(", "),
            due_p = due_in("p"),
            due_h = due_in("h"),
            now = now!(),
            columns = job_columns!(),
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(i64::from(limit))
            .bind(ms(lease));
        for name in queues {
            query = query.bind(name);
        }
        let rows = query.fetch_all(&self.writer).await?;
        let jobs = rows.iter().map(job_from).collect::<QueueResult<Vec<_>>>()?;
        Ok(fair_order(jobs))
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> QueueResult<Heartbeat> {
        check_lease(lease)?;
        let cancel: Option<bool> = sqlx::query_scalar(concat!(
            "UPDATE jobs SET locked_until = ",
            now!(),
            " + ?3 WHERE id = ?1 AND locked_by = ?2 AND attempt = ?4 \
             AND state = 'running' RETURNING cancel_requested"
        ))
        .bind(claim.id)
        .bind(&claim.worker)
        .bind(ms(lease))
        .bind(claim.attempt)
        .fetch_optional(&self.writer)
        .await?;
        Ok(match cancel {
            None => Heartbeat::Lost,
            Some(true) => Heartbeat::CancelRequested,
            Some(false) => Heartbeat::Held,
        })
    }

    async fn complete(&self, claim: &Claim) -> QueueResult<bool> {
        let done = sqlx::query(COMPLETE)
            .bind(claim.id)
            .bind(&claim.worker)
            .bind(claim.attempt)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_many(&self, claims: &[Claim]) -> QueueResult<Vec<i64>> {
        // One transaction on the single writer: one commit (one fsync) for the batch.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut done = Vec::with_capacity(claims.len());
        for claim in claims {
            let completed = sqlx::query(COMPLETE)
                .bind(claim.id)
                .bind(&claim.worker)
                .bind(claim.attempt)
                .execute(&mut *tx)
                .await?;
            if completed.rows_affected() == 1 {
                done.push(claim.id);
            }
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn release(&self, claim: &Claim) -> QueueResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE jobs SET \
                 state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'available' END, \
                 attempt = attempt - 1, locked_by = NULL, locked_until = NULL, run_at = ",
            now!(),
            ", finished_at = CASE WHEN cancel_requested THEN ",
            now!(),
            " END WHERE id = ?1 AND locked_by = ?2 AND attempt = ?3 AND state = 'running'"
        ))
        .bind(claim.id)
        .bind(&claim.worker)
        .bind(claim.attempt)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail(
        &self,
        claim: &Claim,
        error: &str,
        retry_in: Duration,
    ) -> QueueResult<Option<JobState>> {
        // SET expressions all see the row's old values.
        let state: Option<String> = sqlx::query_scalar(concat!(
            "UPDATE jobs SET state = ",
            next_state!(),
            ", locked_by = NULL, locked_until = NULL, run_at = CASE WHEN ",
            will_retry!(),
            " THEN ",
            now!(),
            " + ?4 ELSE run_at END, finished_at = CASE WHEN ",
            will_retry!(),
            " THEN NULL ELSE ",
            now!(),
            " END, errors = json_insert(errors, '$[#]', json_object('attempt', attempt, \
                 'error', ?3, 'at', ",
            now!(),
            ")) WHERE id = ?1 AND locked_by = ?2 AND attempt = ?5 AND state = 'running' \
             RETURNING state"
        ))
        .bind(claim.id)
        .bind(&claim.worker)
        .bind(error)
        .bind(ms(retry_in))
        .bind(claim.attempt)
        .fetch_optional(&self.writer)
        .await?;
        state
            .map(|s| {
                s.parse()
                    .map_err(|_| corrupt(format!("unknown job state {s}")).into())
            })
            .transpose()
    }

    async fn cancel(&self, id: i64) -> QueueResult<Job> {
        let row = sqlx::query(concat!(
            "UPDATE jobs SET \
                 state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END, \
                 cancel_requested = (state = 'running'), \
                 finished_at = CASE WHEN state = 'running' THEN NULL ELSE ",
            now!(),
            " END WHERE id = ?1 AND state IN ",
            pending!(),
            " RETURNING ",
            job_columns!()
        ))
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        match row {
            Some(row) => job_from(&row),
            None => {
                self.refused(id, "cancel", "available, scheduled, retryable or running")
                    .await
            }
        }
    }

    async fn retry(&self, id: i64) -> QueueResult<Job> {
        let row = sqlx::query(concat!(
            "UPDATE jobs SET state = 'available', run_at = ",
            now!(),
            ", max_attempts = max(max_attempts, attempt + 1), cancel_requested = 0, \
             finished_at = NULL WHERE id = ?1 AND state IN ('discarded', 'cancelled') \
             RETURNING ",
            job_columns!()
        ))
        .bind(id)
        .fetch_optional(&self.writer)
        .await;
        match row {
            Ok(Some(row)) => job_from(&row),
            Ok(None) => self.refused(id, "retry", "discarded or cancelled").await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                let key = self.get(id).await?.and_then(|j| j.unique_key);
                Err(QueueError::UniqueTaken(key.unwrap_or_default()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn get(&self, id: i64) -> QueueResult<Option<Job>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref().map(job_from).transpose()
    }

    async fn list(
        &self,
        filter: &JobFilter,
        after: Option<i64>,
        limit: u32,
    ) -> QueueResult<Vec<Job>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR kind = ?2) \
             AND (?3 IS NULL OR queue = ?3) AND (?4 IS NULL OR id > ?4) ORDER BY id LIMIT ?5"
        ))
        .bind(filter.state.map(JobState::as_str))
        .bind(&filter.kind)
        .bind(&filter.queue)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(job_from).collect()
    }

    async fn rescue_expired(&self) -> QueueResult<u64> {
        let done = sqlx::query(concat!(
            "UPDATE jobs SET state = ",
            next_state!(),
            ", locked_by = NULL, locked_until = NULL, run_at = ",
            now!(),
            ", finished_at = CASE WHEN ",
            will_retry!(),
            " THEN NULL ELSE ",
            now!(),
            " END, errors = json_insert(errors, '$[#]', json_object('attempt', attempt, \
                 'error', ?1, 'at', ",
            now!(),
            ")) WHERE state = 'running' AND locked_until < ",
            now!()
        ))
        .bind(LEASE_EXPIRED)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn prune(&self, retention: Duration) -> QueueResult<u64> {
        // In batches, so no single statement holds the writer (or many row locks) for long.
        let mut pruned = 0;
        loop {
            let done = sqlx::query(concat!(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
                 WHERE state IN ('completed', 'discarded', 'cancelled') AND finished_at < ",
                now!(),
                " - ?1 LIMIT ?2)"
            ))
            .bind(ms(retention))
            .bind(PRUNE_BATCH)
            .execute(&self.writer)
            .await?;
            pruned += done.rows_affected();
            if done.rows_affected() < PRUNE_BATCH as u64 {
                return Ok(pruned);
            }
        }
    }

    async fn stats(&self) -> QueueResult<Vec<QueueStats>> {
        let rows = sqlx::query(concat!(
            "SELECT queue, count(*) AS available, ",
            now!(),
            " - min(run_at) AS oldest FROM jobs \
             WHERE state IN ('available', 'scheduled', 'retryable') AND run_at <= ",
            now!(),
            " GROUP BY queue ORDER BY queue"
        ))
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QueueStats {
                    queue: row.try_get("queue")?,
                    available: u64::try_from(row.try_get::<i64, _>("available")?).unwrap_or(0),
                    oldest_available_ms: row.try_get::<i64, _>("oldest")?.max(0),
                })
            })
            .collect()
    }
}
