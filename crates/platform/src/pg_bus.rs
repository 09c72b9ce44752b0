//! The bus over PostgreSQL LISTEN/NOTIFY. The payload is the sender's instance id.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::Mutex;

use crate::bus::Bus;
use crate::error::StoreError;

const CHANNEL: &str = "tinct_events";

pub struct PgBus {
    pool: PgPool,
    listener: Mutex<Option<PgListener>>,
    instance: String,
}

impl PgBus {
    pub async fn connect(url: &str, instance: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        Ok(PgBus {
            pool,
            listener: Mutex::new(None),
            instance: instance.to_owned(),
        })
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }
}

#[async_trait]
impl Bus for PgBus {
    async fn announce(&self) {
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&self.instance)
            .execute(&self.pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not announce events; other instances will poll");
        }
    }

    async fn next_announcement(&self) {
        let mut slot = self.listener.lock().await;
        loop {
            let listener = match slot.as_mut() {
                Some(listener) => listener,
                None => match self.listen().await {
                    Ok(listener) => {
                        *slot = Some(listener);
                        // Freshly (re)connected: anything may have been missed.
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event bus: cannot listen; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            match listener.try_recv().await {
                Ok(Some(n)) if n.payload() == self.instance => continue,
                Ok(Some(_)) => return,
                // Connection lost and re-established: catch up.
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "event bus: listener failed; reconnecting");
                    *slot = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    fn describe(&self) -> String {
        "postgres LISTEN/NOTIFY".to_owned()
    }
}
