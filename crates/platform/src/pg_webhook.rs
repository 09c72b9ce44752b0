//! Webhooks on PostgreSQL, beside the nodes they watch and the jobs that deliver to them.

use async_trait::async_trait;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{PgPool, Row};

use crate::postgres::PgStore;
use crate::store::Result;
use crate::webhook::{
    Delivery, NewDelivery, NewWebhook, Webhook, WebhookTarget, Webhooks, events_from, events_to,
};

macro_rules! columns {
    () => {
        "id, node, url, secret, events::text AS events, active, created_at"
    };
}

macro_rules! delivery_columns {
    () => {
        "id, webhook, job, attempt, status, error, duration_ms, at"
    };
}

macro_rules! now {
    () => {
        "(extract(epoch FROM statement_timestamp()) * 1000)::bigint"
    };
}

pub struct PgWebhooks {
    pool: PgPool,
}

impl PgWebhooks {
    pub fn new(store: &PgStore) -> Self {
        PgWebhooks {
            pool: store.pool().clone(),
        }
    }
}

fn webhook_from(row: &PgRow) -> Result<Webhook> {
    Ok(Webhook {
        id: row.try_get("id")?,
        node: row.try_get("node")?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        events: events_from(row.try_get("events")?)?,
        active: row.try_get("active")?,
        created_at: row.try_get("created_at")?,
    })
}

fn delivery_from(row: &PgRow) -> Result<Delivery> {
    Ok(Delivery {
        id: row.try_get("id")?,
        webhook: row.try_get("webhook")?,
        job: row.try_get("job")?,
        attempt: row.try_get("attempt")?,
        status: row.try_get("status")?,
        error: row.try_get("error")?,
        duration_ms: row.try_get("duration_ms")?,
        at: row.try_get("at")?,
    })
}

/// The active webhooks on `node` and its ancestors, inside a write transaction.
pub(crate) async fn targets(conn: &mut PgConnection, node: &str) -> Result<Vec<WebhookTarget>> {
    let rows = sqlx::query(
        "SELECT w.id, w.events::text AS events FROM nodes n \
         JOIN webhooks w ON w.node = ANY(n.lineage) \
         WHERE n.id = $1 AND w.active ORDER BY w.id",
    )
    .bind(node)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(WebhookTarget {
                id: row.try_get("id")?,
                events: events_from(row.try_get("events")?)?,
            })
        })
        .collect()
}

#[async_trait]
impl Webhooks for PgWebhooks {
    async fn create(&self, w: &NewWebhook) -> Result<Option<Webhook>> {
        let row = sqlx::query(concat!(
            "INSERT INTO webhooks (id, node, url, secret, events, created_at) \
             SELECT $1, $2, $3, $4, $5::jsonb, ",
            now!(),
            " WHERE EXISTS (SELECT 1 FROM nodes WHERE id = $2) RETURNING ",
            columns!()
        ))
        .bind(&w.id)
        .bind(&w.node)
        .bind(&w.url)
        .bind(&w.secret)
        .bind(events_to(&w.events))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(webhook_from).transpose()
    }

    async fn get(&self, id: &str) -> Result<Option<Webhook>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM webhooks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(webhook_from).transpose()
    }

    async fn list(&self, node: Option<&str>) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM webhooks WHERE $1::text IS NULL OR node = $1 ORDER BY created_at, id"
        ))
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook_from).collect()
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record(&self, d: &NewDelivery) -> Result<Option<Delivery>> {
        let row = sqlx::query(concat!(
            "INSERT INTO webhook_deliveries \
                 (webhook, job, attempt, status, error, duration_ms, at) \
             SELECT $1, $2, $3, $4, $5, $6, ",
            now!(),
            " WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1) RETURNING ",
            delivery_columns!()
        ))
        .bind(&d.webhook)
        .bind(d.job)
        .bind(d.attempt)
        .bind(d.status)
        .bind(&d.error)
        .bind(d.duration_ms)
        .fetch_optional(&self.pool)
        .await;
        // The webhook was deleted between the check and the insert.
        let row = match row {
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => None,
            other => other?,
        };
        row.as_ref().map(delivery_from).transpose()
    }

    async fn deliveries(&self, webhook: &str, limit: u32) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries WHERE webhook = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(webhook)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from).collect()
    }

    async fn prune_deliveries(&self, before: i64, limit: u32) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE at < $1 ORDER BY at LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
