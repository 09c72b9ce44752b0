//! The embedded cache: in-process moka, with generations in a map.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::cache::{Cache, CachedValue};

pub struct LocalCache {
    entries: moka::sync::Cache<String, CachedValue>,
    generations: Mutex<HashMap<String, u64>>,
}

impl LocalCache {
    pub fn new(max_entries: u64, ttl: Duration) -> Self {
        LocalCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
            generations: Mutex::default(),
        }
    }

    fn generations(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.generations.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Cache for LocalCache {
    async fn get(&self, key: &str) -> Option<CachedValue> {
        self.entries.get(key)
    }

    async fn put(&self, key: &str, value: CachedValue) {
        self.entries.insert(key.to_owned(), value);
    }

    async fn generation(&self, scope: &str) -> u64 {
        self.generations().get(scope).copied().unwrap_or(0)
    }

    async fn invalidate(&self, scopes: &[String]) {
        let mut generations = self.generations();
        for scope in scopes {
            *generations.entry(scope.clone()).or_insert(0) += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn invalidation_bumps_only_named_scopes() {
        let cache = LocalCache::new(100, Duration::from_secs(60));
        cache.put("k", Arc::new(serde_json::json!(1))).await;
        assert_eq!(cache.get("k").await.as_deref(), Some(&serde_json::json!(1)));
        assert_eq!(cache.generation("a").await, 0);
        cache.invalidate(&["a".to_owned()]).await;
        assert_eq!(cache.generation("a").await, 1);
        assert_eq!(cache.generation("b").await, 0);
    }
}
