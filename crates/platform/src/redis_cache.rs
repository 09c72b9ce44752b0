//! The two-level cache: L1 in-process (moka) in front of L2 Redis, shared by every instance.
//!
//! Generations stay in L1: each instance derives them from the change log it follows, so instances
//! that have seen the same changes build the same keys and share L2 entries. Redis being down makes
//! the cache degraded, not the service down: a circuit breaker (`redis-cache`) opens after a few
//! failed calls, L2 is then skipped at once instead of waiting on a dead Redis, and after a
//! cool-down one trial call finds out whether Redis is back.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::breaker::{Breaker, BreakerConfig, Permit};
use crate::cache::{Cache, Cached, CachedValue, Generation};
use crate::local_cache::LocalCache;

/// How long one Redis call may take before the cache gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_millis(100);
/// Failed calls in a row that open the breaker, and how long L2 is then skipped before a trial.
const BREAKER: BreakerConfig = BreakerConfig {
    failure_threshold: 3,
    cool_down: Duration::from_secs(1),
    half_open_trials: 1,
};
const PREFIX: &str = "tinct:cache:";

pub struct RedisCache {
    l1: LocalCache,
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    breaker: Breaker,
    ttl: Duration,
}

impl RedisCache {
    /// Never fails on an unreachable Redis: the cache starts degraded and recovers by itself.
    pub fn new(url: &str, max_entries: u64, ttl: Duration) -> Result<Self, redis::RedisError> {
        Self::with_breaker(url, max_entries, ttl, Breaker::new("redis-cache", BREAKER))
    }

    /// As `new`, with the breaker given (tests pass one on a manual clock).
    pub fn with_breaker(
        url: &str,
        max_entries: u64,
        ttl: Duration,
        breaker: Breaker,
    ) -> Result<Self, redis::RedisError> {
        Ok(RedisCache {
            l1: LocalCache::new(max_entries, ttl),
            client: redis::Client::open(url)?,
            connection: tokio::sync::Mutex::new(None),
            breaker,
            ttl,
        })
    }

    /// Whether L2 is in use right now (for health reports): the breaker is not open.
    pub fn l2_available(&self) -> bool {
        self.breaker.is_closed()
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// A connection and the breaker's permit for one call; `None` while the breaker is open.
    async fn connection(&self) -> Option<(ConnectionManager, Permit)> {
        let permit = self.breaker.try_acquire()?;
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            match tokio::time::timeout(CALL_TIMEOUT * 5, self.client.get_connection_manager()).await
            {
                Ok(Ok(manager)) => *slot = Some(manager),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "redis connect failed");
                    permit.failure();
                    return None;
                }
                Err(_) => {
                    tracing::debug!("redis connect timed out");
                    permit.failure();
                    return None;
                }
            }
        }
        slot.clone().map(|c| (c, permit))
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Option<CachedValue> {
        if let Some(hit) = self.l1.get(key).await {
            return Some(hit);
        }
        let (mut conn, permit) = self.connection().await?;
        let fetched: Result<Result<Option<Vec<u8>>, _>, _> =
            tokio::time::timeout(CALL_TIMEOUT, conn.get(format!("{PREFIX}{key}"))).await;
        match fetched {
            Ok(Ok(bytes)) => {
                permit.success();
                let entry: Cached = serde_json::from_slice(&bytes?).ok()?;
                let entry = std::sync::Arc::new(entry);
                self.l1.put(key, entry.clone()).await;
                Some(entry)
            }
            _ => {
                permit.failure();
                None
            }
        }
    }

    fn get_local(&self, key: &str) -> Option<CachedValue> {
        self.l1.get_local(key)
    }

    async fn put(&self, key: &str, value: CachedValue) {
        self.l1.put(key, value.clone()).await;
        let Some((mut conn, permit)) = self.connection().await else {
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
            Ok(Ok(())) => permit.success(),
            _ => permit.failure(),
        }
    }

    fn generation(&self, scope: &str) -> Generation {
        self.l1.generation(scope)
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
