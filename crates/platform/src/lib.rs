//! Ports (traits) the service depends on, and their adapters. The embedded defaults live here:
//! a SQLite store, an in-process cache and an in-process event bus. Scale-out adapters (PostgreSQL,
//! Redis) implement the same traits.

mod blob;
pub mod breaker;
mod bus;
mod cache;
mod error;
mod feed;
mod idempotency;
mod leadership;
mod lease;
mod limiter;
mod local_bus;
mod local_cache;
mod model;
mod pg_blob;
mod pg_bus;
mod pg_lease;
mod pg_queue;
mod pg_read_conns;
mod pg_schedule;
mod pg_wakeup;
mod pg_webhook;
mod postgres;
mod queue;
mod redis_bus;
mod redis_cache;
mod redis_lease;
mod redis_script;
mod replicated;
mod schedule;
mod sqlite;
mod sqlite_blob;
mod sqlite_queue;
mod sqlite_schedule;
mod sqlite_webhook;
mod store;
mod webhook;

pub use blob::{
    Blob, BlobError, BlobMeta, BlobResult, Blobs, MAX_BLOB_KEY, MAX_BLOB_LIST, PutMode, blob_etag,
};
pub use breaker::{Breaker, BreakerConfig, BreakerState, BreakerStatus};
pub use bus::Bus;
pub use cache::{Cache, Cached, CachedValue, Generation};
pub use error::StoreError;
pub use feed::{EventFeed, FeedHandle};
pub use idempotency::{Claimed, IdempotencyStore, KeyClaim, KeyState, StoredKey};
pub use leadership::Leadership;
pub use lease::{Epoch, Lease, LeaseError, LeaseState, LocalLease};
pub use limiter::{
    Clock, Decision, Limiter, LimiterError, LocalLimiter, PolicyError, RatePolicy, RedisLimiter,
    SystemClock,
};
pub use local_bus::LocalBus;
pub use local_cache::LocalCache;
pub use model::{
    ChangeEvent, HistoryEntry, LayeredTokens, NewEvent, NewHistory, NewNode, Node, TokenKind,
    TokenRecord,
};
pub use pg_blob::PgBlobs;
pub use pg_bus::PgBus;
pub use pg_lease::PgLease;
pub use pg_queue::{JOBS_CHANNEL, PgQueue};
pub use pg_schedule::PgSchedules;
pub use pg_wakeup::wake_on_enqueue;
pub use pg_webhook::PgWebhooks;
pub use postgres::{PgStore, redact_url};
pub use queue::{
    AttemptError, Claim, DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE, Enqueued, Heartbeat, Job, JobFilter,
    JobState, LEASE_EXPIRED, NewJob, Queue, QueueError, QueueResult, QueueStats, backoff,
    backoff_with,
};
pub use redis_bus::RedisBus;
pub use redis_cache::RedisCache;
pub use redis_lease::RedisLease;
pub use replicated::{ReplicaProbe, ReplicatedStore};
pub use schedule::{MissedPolicy, NewSchedule, Schedule, ScheduleSource, Schedules};
pub use sqlite::SqliteStore;
pub use sqlite_blob::SqliteBlobs;
pub use sqlite_queue::SqliteQueue;
pub use sqlite_schedule::SqliteSchedules;
pub use sqlite_webhook::SqliteWebhooks;
pub use store::{PoolStatus, ReplicaStatus, Store, StoreRead, StoreTx};
pub use webhook::{Delivery, NewDelivery, NewWebhook, Webhook, WebhookTarget, Webhooks};
