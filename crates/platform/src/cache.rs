use std::sync::Arc;

use async_trait::async_trait;

/// A cached answer and the revision it is known to be at least as new as.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Cached {
    /// The answer as JSON text, shared: a hit costs a reference count, not a copy.
    pub value: Arc<serde_json::value::RawValue>,
    pub revision: u64,
}

pub type CachedValue = Arc<Cached>;

/// A scope's generation: `number` is the change-log sequence of the newest change that affected
/// it (so every instance that has seen the same changes agrees on it, and an L2 shared between
/// instances is keyed alike); `revision` is the store revision behind it. Values cached under a
/// generation must be computed from data at least that new, so a lagging replica can never
/// refill the cache with old data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generation {
    pub number: u64,
    pub revision: u64,
}

/// The Cache port: a key-value cache plus a generation per scope. Bumping a scope's generation
/// invalidates every key built with the old one.
#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> Option<CachedValue>;
    /// The entry if this process holds it, without I/O (`get` also asks shared levels).
    fn get_local(&self, key: &str) -> Option<CachedValue>;
    async fn put(&self, key: &str, value: CachedValue);
    /// False when `put` keeps nothing (a cache of size 0), so callers need not build entries.
    fn stores(&self) -> bool {
        true
    }
    /// Kept in each process (the event feed raises it on every instance), so it needs no I/O.
    fn generation(&self, scope: &str) -> Generation;
    /// Raises each scope's generation to at least `to` (field by field), so applying the same
    /// change twice, or out of order, is harmless.
    async fn invalidate(&self, scopes: &[String], to: Generation);
    /// What the cache is and whether all its levels are in use, for health reports.
    fn describe(&self) -> String;
}
