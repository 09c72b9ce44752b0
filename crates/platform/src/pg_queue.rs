//! The Queue on PostgreSQL. Workers on many instances fetch from one table: a fetch claims its
//! jobs in one statement with `FOR UPDATE SKIP LOCKED`, so two fetchers never take the same job
//! and never wait on each other. Every enqueue sends `NOTIFY tinct_jobs` (payload: the queue) as a
//! wake-up for idle workers; in a transaction it is delivered at commit.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{PgPool, Row};

use crate::error::StoreError;
use crate::postgres::PgStore;
use crate::queue::{
    AttemptError, Claim, Enqueued, Heartbeat, Job, JobFilter, JobState, LEASE_EXPIRED, NewJob,
    PRUNE_BATCH, Queue, QueueError, QueueResult, QueueStats, check_fetch, check_lease, fair_order,
    ms,
};

/// The channel enqueues notify.
pub const JOBS_CHANNEL: &str = "tinct_jobs";

/// Milliseconds since the Unix epoch at the start of the statement, by the server's clock
/// (stable within a statement, so it can bound an index scan).
macro_rules! now {
    () => {
        "(extract(epoch FROM statement_timestamp()) * 1000)::bigint"
    };
}

macro_rules! job_columns {
    () => {
        "id, kind, args::text AS args, queue, priority, state, run_at, attempt, max_attempts, \
         unique_key, partition_key, trace_id, locked_by, locked_until, cancel_requested, \
         errors::text AS errors, created_at, attempted_at, finished_at"
    };
}

/// The due jobs of partition `$alias.part` of queue `$alias.queue` (an index condition on
/// `jobs_fetch_partitions`).
macro_rules! due_in {
    ($alias:literal) => {
        concat!(
            "state IN ('available', 'scheduled', 'retryable') AND queue = ",
            $alias,
            ".queue AND coalesce(partition_key, '') = ",
            $alias,
            ".part AND run_at <= ",
            now!()
        )
    };
}

macro_rules! pending {
    () => {
        "('available', 'scheduled', 'running', 'retryable')"
    };
}

pub struct PgQueue {
    pool: PgPool,
}

impl PgQueue {
    /// A queue on the store's primary (the same pool: jobs live beside the data).
    pub fn new(store: &PgStore) -> Self {
        PgQueue {
            pool: store.pool().clone(),
        }
    }

    /// A queue on its own pool (a worker process may keep its queue connections apart).
    pub fn with_pool(pool: PgPool) -> Self {
        PgQueue { pool }
    }
}

fn job_from(row: &PgRow) -> QueueResult<Job> {
    let state: String = row.try_get("state")?;
    let args: String = row.try_get("args")?;
    let errors: String = row.try_get("errors")?;
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        args: serde_json::from_str(&args).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        queue: row.try_get("queue")?,
        priority: row.try_get("priority")?,
        state: state
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("unknown job state {state}")))?,
        run_at: row.try_get("run_at")?,
        attempt: row.try_get("attempt")?,
        max_attempts: row.try_get("max_attempts")?,
        unique_key: row.try_get("unique_key")?,
        partition_key: row.try_get("partition_key")?,
        trace_id: row.try_get("trace_id")?,
        locked_by: row.try_get("locked_by")?,
        locked_until: row.try_get("locked_until")?,
        cancel_requested: row.try_get("cancel_requested")?,
        errors: serde_json::from_str::<Vec<AttemptError>>(&errors)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: row.try_get("created_at")?,
        attempted_at: row.try_get("attempted_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Inserts a job on `conn` (a pool connection or an open transaction).
pub(crate) async fn insert(conn: &mut PgConnection, job: &NewJob) -> QueueResult<Enqueued> {
    job.validate()?;
    // A finished job may free the key between the insert and the look-up: then insert again.
    for _ in 0..5 {
        let id: Option<i64> = sqlx::query_scalar(concat!(
            "WITH r AS (SELECT ",
            now!(),
            " AS now, coalesce($5, ",
            now!(),
            " + $6) AS at), \
             ins AS (INSERT INTO jobs (kind, args, queue, priority, state, run_at, max_attempts, \
                     unique_key, partition_key, trace_id, created_at) \
                 SELECT $1, $2::jsonb, $3, $4, \
                     CASE WHEN r.at > r.now THEN 'scheduled' ELSE 'available' END, \
                     r.at, $7, $8, $9, $10, r.now FROM r \
                 ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ",
            pending!(),
            " DO NOTHING RETURNING id, queue) \
             SELECT id FROM ins, LATERAL (SELECT pg_notify('tinct_jobs', ins.queue)::text) n"
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
        let existing: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT id FROM jobs WHERE unique_key = $1 AND state IN ",
            pending!()
        ))
        .bind(&job.unique_key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = existing {
            return Ok(Enqueued {
                id,
                duplicate: true,
            });
        }
    }
    Err(StoreError::Unavailable(format!(
        "unique key '{}' kept changing under concurrent enqueues",
        job.unique_key.as_deref().unwrap_or_default()
    ))
    .into())
}

impl PgQueue {
    /// Explains why `action` did not apply to job `id`.
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

#[async_trait]
impl Queue for PgQueue {
    async fn enqueue(&self, job: &NewJob) -> QueueResult<Enqueued> {
        insert(&mut *self.pool.acquire().await?, job).await
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
        // DESC, run_at, id):
        // - parts: a loose index scan lists each queue's partitions with pending jobs ('' is
        //   the keyless one), one probe each;
        // - heads: each partition's first due job; only the `limit` partitions with the first
        //   heads can be in the batch (those heads all come before any job of the others);
        // - candidates: up to `limit - pos + 1` due jobs of the partition whose head is at
        //   `pos` (the heads before it all come before its jobs), with each job's turn;
        // - shares: how many jobs of each partition the batch takes (all `limit` when only one
        //   partition has due jobs: then `candidates` and `batch` are never read, and the fetch
        //   costs what a plain per-queue fetch did);
        // - due: those jobs, locked `SKIP LOCKED` per partition, so a fetcher running at the
        //   same time makes this one take the partition's next jobs instead of none; only the
        //   jobs claimed are locked (the candidates are read without locks).
        let rows = sqlx::query(concat!(
            "WITH RECURSIVE parts(queue, part) AS ( \
                 SELECT q.name, (SELECT coalesce(partition_key, '') FROM jobs \
                     WHERE state IN ('available', 'scheduled', 'retryable') AND queue = q.name \
                     ORDER BY coalesce(partition_key, '') LIMIT 1) \
                 FROM unnest($2::text[]) AS q(name) \
               UNION ALL \
                 SELECT p.queue, (SELECT coalesce(partition_key, '') FROM jobs \
                     WHERE state IN ('available', 'scheduled', 'retryable') AND queue = p.queue \
                     AND coalesce(partition_key, '') > p.part \
                     ORDER BY coalesce(partition_key, '') LIMIT 1) \
                 FROM parts p WHERE p.part IS NOT NULL), \
             heads AS (SELECT p.queue, p.part, \
                     row_number() OVER (ORDER BY h.priority DESC, h.run_at, h.id) AS pos \
                 FROM parts p CROSS JOIN LATERAL (SELECT priority, run_at, id FROM jobs WHERE ",
            due_in!("p"),
            " ORDER BY priority DESC, run_at, id LIMIT 1) h \
                 WHERE p.part IS NOT NULL \
                 ORDER BY h.priority DESC, h.run_at, h.id LIMIT $3), \
             candidates AS (SELECT h.queue, h.part, c.priority, c.run_at, c.id, \
                     row_number() OVER (PARTITION BY h.queue, h.part, c.priority \
                         ORDER BY c.run_at, c.id) AS turn \
                 FROM heads h CROSS JOIN LATERAL (SELECT priority, run_at, id FROM jobs WHERE ",
            due_in!("h"),
            " ORDER BY priority DESC, run_at, id LIMIT $3 - h.pos + 1) c), \
             batch AS MATERIALIZED (SELECT queue, part FROM candidates \
                 ORDER BY priority DESC, turn, run_at, id LIMIT $3), \
             shares AS (SELECT h.queue, h.part, \
                 CASE WHEN (SELECT count(*) FROM heads) = 1 THEN $3 \
                 ELSE (SELECT count(*) FROM batch b WHERE b.queue = h.queue AND b.part = h.part) \
                 END AS n FROM heads h), \
             due AS (SELECT j.id AS due_id FROM shares s CROSS JOIN LATERAL (SELECT id FROM jobs \
                     WHERE ",
            due_in!("s"),
            " ORDER BY priority DESC, run_at, id LIMIT s.n FOR UPDATE SKIP LOCKED) j LIMIT $3) \
             UPDATE jobs SET state = 'running', attempt = attempt + 1, locked_by = $1, \
                 locked_until = ",
            now!(),
            " + $4, attempted_at = ",
            now!(),
            // An id array, not a join: a generic plan would hash-join `due` against a scan of
            // the whole table.
            " WHERE id = ANY (ARRAY(SELECT due_id FROM due)) RETURNING ",
            job_columns!()
        ))
        .bind(worker)
        .bind(queues)
        .bind(i64::from(limit))
        .bind(ms(lease))
        .fetch_all(&self.pool)
        .await?;
        let jobs = rows.iter().map(job_from).collect::<QueueResult<Vec<_>>>()?;
        // RETURNING does not keep the chosen order.
        Ok(fair_order(jobs))
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> QueueResult<Heartbeat> {
        check_lease(lease)?;
        let cancel: Option<bool> = sqlx::query_scalar(concat!(
            "UPDATE jobs SET locked_until = ",
            now!(),
            " + $3 WHERE id = $1 AND locked_by = $2 AND attempt = $4 \
             AND state = 'running' RETURNING cancel_requested"
        ))
        .bind(claim.id)
        .bind(&claim.worker)
        .bind(ms(lease))
        .bind(claim.attempt)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match cancel {
            None => Heartbeat::Lost,
            Some(true) => Heartbeat::CancelRequested,
            Some(false) => Heartbeat::Held,
        })
    }

    async fn complete(&self, claim: &Claim) -> QueueResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE jobs SET state = 'completed', locked_by = NULL, locked_until = NULL, \
             finished_at = ",
            now!(),
            " WHERE id = $1 AND locked_by = $2 AND attempt = $3 AND state = 'running'"
        ))
        .bind(claim.id)
        .bind(&claim.worker)
        .bind(claim.attempt)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_many(&self, claims: &[Claim]) -> QueueResult<Vec<i64>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = claims.iter().map(|c| c.id).collect();
        let workers: Vec<&str> = claims.iter().map(|c| c.worker.as_str()).collect();
        let attempts: Vec<i32> = claims.iter().map(|c| c.attempt).collect();
        Ok(sqlx::query_scalar(concat!(
            "UPDATE jobs SET state = 'completed', locked_by = NULL, locked_until = NULL, \
             finished_at = ",
            now!(),
            " FROM unnest($1::bigint[], $2::text[], $3::int[]) AS c(id, worker, attempt) \
             WHERE jobs.id = c.id AND jobs.locked_by = c.worker AND jobs.attempt = c.attempt \
             AND jobs.state = 'running' RETURNING jobs.id"
        ))
        .bind(&ids)
        .bind(&workers)
        .bind(&attempts)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn release(&self, claim: &Claim) -> QueueResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE jobs SET \
                 state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'available' END, \
                 attempt = attempt - 1, locked_by = NULL, locked_until = NULL, run_at = ",
            now!(),
            ", finished_at = CASE WHEN cancel_requested THEN ",
            now!(),
            " END WHERE id = $1 AND locked_by = $2 AND attempt = $3 AND state = 'running'"
        ))
        .bind(claim.id)
        .bind(&claim.worker)
        .bind(claim.attempt)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail(
        &self,
        claim: &Claim,
        error: &str,
        retry_in: Duration,
    ) -> QueueResult<Option<JobState>> {
        let state: Option<String> = sqlx::query_scalar(concat!(
            "WITH next AS (SELECT id AS next_id, CASE WHEN cancel_requested THEN 'cancelled' \
                 WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END AS next_state \
                 FROM jobs WHERE id = $1 AND locked_by = $2 AND attempt = $5 AND state = 'running' \
                 FOR UPDATE) \
             UPDATE jobs SET state = next_state, locked_by = NULL, locked_until = NULL, \
                 run_at = CASE WHEN next_state = 'retryable' THEN ",
            now!(),
            " + $4 ELSE run_at END, \
                 finished_at = CASE WHEN next_state = 'retryable' THEN NULL ELSE ",
            now!(),
            " END, errors = errors || jsonb_build_array(jsonb_build_object( \
                 'attempt', attempt, 'error', $3::text, 'at', ",
            now!(),
            ")) FROM next WHERE jobs.id = next.next_id RETURNING state"
        ))
        .bind(claim.id)
        .bind(&claim.worker)
        .bind(error)
        .bind(ms(retry_in))
        .bind(claim.attempt)
        .fetch_optional(&self.pool)
        .await?;
        state
            .map(|s| {
                s.parse()
                    .map_err(|_| StoreError::Corrupt(format!("unknown job state {s}")).into())
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
            " END WHERE id = $1 AND state IN ",
            pending!(),
            " RETURNING ",
            job_columns!()
        ))
        .bind(id)
        .fetch_optional(&self.pool)
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
            ", max_attempts = greatest(max_attempts, attempt + 1), cancel_requested = false, \
             finished_at = NULL WHERE id = $1 AND state IN ('discarded', 'cancelled') \
             RETURNING ",
            job_columns!()
        ))
        .bind(id)
        .fetch_optional(&self.pool)
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
            " FROM jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
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
            " FROM jobs WHERE ($1::text IS NULL OR state = $1) \
             AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR queue = $3) \
             AND ($4::bigint IS NULL OR id > $4) ORDER BY id LIMIT $5"
        ))
        .bind(filter.state.map(JobState::as_str))
        .bind(&filter.kind)
        .bind(&filter.queue)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from).collect()
    }

    async fn rescue_expired(&self) -> QueueResult<u64> {
        let done = sqlx::query(concat!(
            "WITH expired AS (SELECT id AS expired_id, CASE WHEN cancel_requested THEN 'cancelled' \
                 WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END AS next_state \
                 FROM jobs WHERE state = 'running' AND locked_until < ",
            now!(),
            " FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET state = next_state, locked_by = NULL, locked_until = NULL, \
                 run_at = ",
            now!(),
            ", finished_at = CASE WHEN next_state = 'retryable' THEN NULL ELSE ",
            now!(),
            " END, errors = errors || jsonb_build_array(jsonb_build_object( \
                 'attempt', attempt, 'error', $1::text, 'at', ",
            now!(),
            ")) FROM expired WHERE jobs.id = expired.expired_id"
        ))
        .bind(LEASE_EXPIRED)
        .execute(&self.pool)
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
                " - $1 LIMIT $2)"
            ))
            .bind(ms(retention))
            .bind(PRUNE_BATCH)
            .execute(&self.pool)
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
        .fetch_all(&self.pool)
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
