use std::sync::Arc;

use async_trait::async_trait;

pub type CachedValue = Arc<serde_json::Value>;

/// The Cache port: a key-value cache plus a generation counter per scope. Bumping a scope's
/// generation invalidates every key built with the old generation.
#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> Option<CachedValue>;
    async fn put(&self, key: &str, value: CachedValue);
    async fn generation(&self, scope: &str) -> u64;
    async fn invalidate(&self, scopes: &[String]);
}
