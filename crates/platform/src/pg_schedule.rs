//! Schedules on PostgreSQL, beside the jobs their firings enqueue.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::error::StoreError;
use crate::pg_queue;
use crate::postgres::PgStore;
use crate::queue::{Enqueued, NewJob, QueueResult};
use crate::schedule::{MissedPolicy, NewSchedule, Schedule, ScheduleSource, Schedules};

macro_rules! columns {
    () => {
        "name, cron, kind, args::text AS args, missed, source, last_fire_at, created_at"
    };
}

macro_rules! now {
    () => {
        "(extract(epoch FROM statement_timestamp()) * 1000)::bigint"
    };
}

pub struct PgSchedules {
    pool: PgPool,
}

impl PgSchedules {
    pub fn new(store: &PgStore) -> Self {
        PgSchedules {
            pool: store.pool().clone(),
        }
    }
}

fn schedule_from(row: &PgRow) -> QueueResult<Schedule> {
    let args: String = row.try_get("args")?;
    let missed: String = row.try_get("missed")?;
    let source: String = row.try_get("source")?;
    Ok(Schedule {
        name: row.try_get("name")?,
        cron: row.try_get("cron")?,
        kind: row.try_get("kind")?,
        args: serde_json::from_str(&args).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        missed: MissedPolicy::parse(&missed)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown missed policy {missed}")))?,
        source: if source == "config" {
            ScheduleSource::Config
        } else {
            ScheduleSource::Api
        },
        last_fire_at: row.try_get("last_fire_at")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl Schedules for PgSchedules {
    async fn create(&self, s: &NewSchedule) -> QueueResult<Option<Schedule>> {
        let row = sqlx::query(concat!(
            "INSERT INTO schedules (name, cron, kind, args, missed, source, created_at) \
             VALUES ($1, $2, $3, $4::jsonb, $5, $6, ",
            now!(),
            ") ON CONFLICT (name) DO NOTHING \
             RETURNING ",
            columns!()
        ))
        .bind(&s.name)
        .bind(&s.cron)
        .bind(&s.kind)
        .bind(s.args.to_string())
        .bind(s.missed.as_str())
        .bind(s.source.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(schedule_from).transpose()
    }

    async fn upsert(&self, s: &NewSchedule) -> QueueResult<Schedule> {
        let row = sqlx::query(concat!(
            "INSERT INTO schedules (name, cron, kind, args, missed, source, created_at) \
             VALUES ($1, $2, $3, $4::jsonb, $5, $6, ",
            now!(),
            ") ON CONFLICT (name) DO UPDATE SET \
                 last_fire_at = CASE WHEN schedules.cron = excluded.cron \
                     THEN schedules.last_fire_at ELSE excluded.created_at END, \
                 cron = excluded.cron, kind = excluded.kind, args = excluded.args, \
                 missed = excluded.missed, source = excluded.source \
             RETURNING ",
            columns!()
        ))
        .bind(&s.name)
        .bind(&s.cron)
        .bind(&s.kind)
        .bind(s.args.to_string())
        .bind(s.missed.as_str())
        .bind(s.source.as_str())
        .fetch_one(&self.pool)
        .await?;
        schedule_from(&row)
    }

    async fn get(&self, name: &str) -> QueueResult<Option<Schedule>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM schedules WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(schedule_from).transpose()
    }

    async fn list(&self) -> QueueResult<Vec<Schedule>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM schedules ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(schedule_from).collect()
    }

    async fn delete(&self, name: &str) -> QueueResult<bool> {
        let done = sqlx::query("DELETE FROM schedules WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fire(&self, name: &str, fire_at: i64, job: &NewJob) -> QueueResult<Option<Enqueued>> {
        job.validate()?;
        let mut tx = self.pool.begin().await?;
        let advanced = sqlx::query(
            "UPDATE schedules SET last_fire_at = $2 WHERE name = $1 \
             AND (last_fire_at IS NULL OR last_fire_at < $2)",
        )
        .bind(name)
        .bind(fire_at)
        .execute(&mut *tx)
        .await?;
        if advanced.rows_affected() == 0 {
            return Ok(None);
        }
        let enqueued = pg_queue::insert(&mut tx, job).await?;
        tx.commit().await?;
        Ok(Some(enqueued))
    }

    async fn skip_to(&self, name: &str, fire_at: i64) -> QueueResult<bool> {
        let done = sqlx::query(
            "UPDATE schedules SET last_fire_at = $2 WHERE name = $1 \
             AND (last_fire_at IS NULL OR last_fire_at < $2)",
        )
        .bind(name)
        .bind(fire_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn now(&self) -> QueueResult<i64> {
        Ok(sqlx::query_scalar(concat!("SELECT ", now!()))
            .fetch_one(&self.pool)
            .await?)
    }
}
