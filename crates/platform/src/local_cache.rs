//! The embedded cache: in-process moka, with generations in a map.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::cache::{Cache, CachedValue, Generation};

// Keys are hashed on every read: foldhash (randomly seeded per process) instead of SipHash.
type Hasher = foldhash::fast::RandomState;

pub struct LocalCache {
    entries: moka::sync::Cache<String, CachedValue, Hasher>,
    generations: Mutex<HashMap<String, Generation, Hasher>>,
}

impl LocalCache {
    pub fn new(max_entries: u64, ttl: Duration) -> Self {
        LocalCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build_with_hasher(Hasher::default()),
            generations: Mutex::default(),
        }
    }

    fn generations(&self) -> std::sync::MutexGuard<'_, HashMap<String, Generation, Hasher>> {
        self.generations.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Cache for LocalCache {
    async fn get(&self, key: &str) -> Option<CachedValue> {
        self.get_local(key)
    }

    fn get_local(&self, key: &str) -> Option<CachedValue> {
        self.entries.get(key)
    }

    async fn put(&self, key: &str, value: CachedValue) {
        self.entries.insert(key.to_owned(), value);
    }

    fn stores(&self) -> bool {
        self.entries.policy().max_capacity() != Some(0)
    }

    fn generation(&self, scope: &str) -> Generation {
        self.generations().get(scope).copied().unwrap_or_default()
    }

    fn describe(&self) -> String {
        "in-process".to_owned()
    }

    async fn invalidate(&self, scopes: &[String], to: Generation) {
        let mut generations = self.generations();
        for scope in scopes {
            let g = generations.entry(scope.clone()).or_default();
            g.number = g.number.max(to.number);
            g.revision = g.revision.max(to.revision);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Cached;
    use std::sync::Arc;

    #[tokio::test]
    async fn invalidation_bumps_only_named_scopes() {
        let cache = LocalCache::new(100, Duration::from_secs(60));
        let value = Arc::from(serde_json::value::to_raw_value(&1).unwrap());
        cache
            .put("k", Arc::new(Cached { value, revision: 3 }))
            .await;
        let hit = cache.get("k").await.expect("just stored");
        assert_eq!((hit.value.get(), hit.revision), ("1", 3));
        assert_eq!(cache.generation("a"), Generation::default());
        let to = |number, revision| Generation { number, revision };
        cache.invalidate(&["a".to_owned()], to(4, 7)).await;
        cache.invalidate(&["a".to_owned()], to(3, 9)).await;
        assert_eq!(cache.generation("a"), to(4, 9), "field-wise maximum");
        assert_eq!(cache.generation("b"), Generation::default());
    }
}
