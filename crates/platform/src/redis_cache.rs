//! The two-level cache: L1 in-process (moka) in front of L2 Redis, shared by every instance.
//!
//! Generations stay in L1: each instance derives them from the change log it follows, so instances
//! that have seen the same changes build the same keys and share L2 entries. Redis being down makes
//! the cache degraded, not the service down: L2 is skipped for a moment after a failure and tried
//! again by itself.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::cache::{Cache, Cached, CachedValue, Generation};
use crate::local_cache::LocalCache;

/// How long one Redis call may take before the cache gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_millis(100);
/// How long L2 is skipped after a failure before it is tried again.
const BACKOFF: Duration = Duration::from_secs(1);
const PREFIX: &str = "tinct:cache:";

pub struct RedisCache {
    l1: LocalCache,
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// Set while Redis is considered down: L2 is skipped until then.
    down_until: Mutex<Option<Instant>>,
    ttl: Duration,
}

impl RedisCache {
    /// Never fails on an unreachable Redis: the cache starts degraded and recovers by itself.
    pub fn new(url: &str, max_entries: u64, ttl: Duration) -> Result<Self, redis::RedisError> {
        Ok(RedisCache {
            l1: LocalCache::new(max_entries, ttl),
            client: redis::Client::open(url)?,
            connection: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
            ttl,
        })
    }

    /// Whether L2 is in use right now (for health reports).
    pub fn l2_available(&self) -> bool {
        self.down_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|until| Instant::now() >= until)
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        if !self.l2_available() {
            return None;
        }
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            match tokio::time::timeout(CALL_TIMEOUT * 5, self.client.get_connection_manager()).await
            {
                Ok(Ok(manager)) => *slot = Some(manager),
                _ => {
                    drop(slot);
                    self.mark_down("connect");
                    return None;
                }
            }
        }
        slot.clone()
    }

    fn mark_down(&self, during: &str) {
        let mut until = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        if until.is_none_or(|u| Instant::now() >= u) {
            tracing::warn!(
                during,
                "redis unavailable; serving without the L2 cache for now"
            );
        }
        *until = Some(Instant::now() + BACKOFF);
    }

    fn mark_up(&self) {
        let mut until = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        if until.take().is_some() {
            tracing::info!("redis is back; L2 cache in use again");
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Option<CachedValue> {
        if let Some(hit) = self.l1.get(key).await {
            return Some(hit);
        }
        let mut conn = self.connection().await?;
        let fetched: Result<Result<Option<Vec<u8>>, _>, _> =
            tokio::time::timeout(CALL_TIMEOUT, conn.get(format!("{PREFIX}{key}"))).await;
        match fetched {
            Ok(Ok(bytes)) => {
                self.mark_up();
                let entry: Cached = serde_json::from_slice(&bytes?).ok()?;
                let entry = std::sync::Arc::new(entry);
                self.l1.put(key, entry.clone()).await;
                Some(entry)
            }
            _ => {
                self.mark_down("get");
                None
            }
        }
    }

    async fn put(&self, key: &str, value: CachedValue) {
        self.l1.put(key, value.clone()).await;
        let Some(mut conn) = self.connection().await else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(value.as_ref()) else {
            return;
        };
        let stored: Result<Result<(), _>, _> = tokio::time::timeout(
            CALL_TIMEOUT,
            conn.set_ex(format!("{PREFIX}{key}"), bytes, self.ttl.as_secs().max(1)),
        )
        .await;
        match stored {
            Ok(Ok(())) => self.mark_up(),
            _ => self.mark_down("put"),
        }
    }

    async fn generation(&self, scope: &str) -> Generation {
        self.l1.generation(scope).await
    }

    async fn invalidate(&self, scopes: &[String], to: Generation) {
        self.l1.invalidate(scopes, to).await;
    }

    fn describe(&self) -> String {
        if self.l2_available() {
            "in-process + redis".to_owned()
        } else {
            "in-process; redis unavailable (degraded)".to_owned()
        }
    }
}
