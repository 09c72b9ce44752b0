//! Wiring: configuration in, a ready registry out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tinct_command::middleware::{Authorize, CommandCache, Idempotency, ValidateInput};
use tinct_command::{CommandMetrics, Registry};
use tinct_platform::{Blobs, PgBlobs, SqliteBlobs};
use tinct_platform::{
    Bus, Cache, EventFeed, FeedHandle, IdempotencyStore, Lease, LocalBus, LocalCache, LocalLease,
    PgBus, PgLease, PgQueue, PgSchedules, PgStore, Queue, RedisBus, RedisCache, RedisLease,
    ReplicatedStore, Schedules, SqliteQueue, SqliteSchedules, SqliteStore, Store, StoreError,
};
use tokio::task::JoinHandle;

use crate::auth::AuthConfigError;
use crate::commands;
use crate::config::{BusKind, CacheKind, Config, LeaderLeaseKind};
use crate::invalidation;
use crate::jobs::JobKinds;
use crate::services::Services;

pub struct App {
    pub registry: Arc<Registry>,
    pub services: Arc<Services>,
    /// What every call did, for `/metrics.json` (Prometheus gets the same through the recorder).
    pub metrics: Arc<CommandMetrics>,
    /// Every kind of background job this process can run.
    pub jobs: Arc<JobKinds>,
    pub config: Config,
    /// Background work that lives as long as the app: the event feed and cache invalidation.
    _feed: FeedHandle,
    _invalidator: AbortOnDrop,
}

/// Stops a background task when its owner goes away.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "could not create the data directory {path}: {source}; set TINCT_DATA_DIR to a writable directory"
    )]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not open the store at {location}: {source}")]
    Store {
        location: String,
        source: StoreError,
    },
    #[error(
        "unsupported database URL '{0}': use postgres://… (scale-out) or sqlite://… (embedded), or leave TINCT_DATABASE_URL unset to use the data directory"
    )]
    UnsupportedDatabase(String),
    #[error("TINCT_CACHE=redis needs TINCT_REDIS_URL (e.g. redis://127.0.0.1:6379)")]
    CacheNeedsRedisUrl,
    #[error("invalid Redis URL: {0}")]
    RedisUrl(String),
    #[error("TINCT_BUS=redis needs TINCT_REDIS_URL (e.g. redis://127.0.0.1:6379)")]
    BusNeedsRedisUrl,
    #[error("the postgres bus needs a postgres:// TINCT_DATABASE_URL")]
    BusNeedsPostgres,
    #[error("could not connect the event bus: {0}")]
    Bus(StoreError),
    #[error("TINCT_LEADER_LEASE=redis needs TINCT_REDIS_URL (e.g. redis://127.0.0.1:6379)")]
    LeaseNeedsRedisUrl,
    #[error("TINCT_LIMITER=redis needs TINCT_REDIS_URL (e.g. redis://127.0.0.1:6379)")]
    LimiterNeedsRedisUrl,
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
}

impl App {
    /// Stores resolved answers for nodes that have none (a database written before the resolved
    /// projection existed), in the background; logs what it did.
    pub fn backfill_projection(&self) -> JoinHandle<()> {
        let services = self.services.clone();
        tokio::spawn(async move {
            match crate::projection::backfill(services.store.as_ref()).await {
                Ok(0) => {}
                Ok(filled) => {
                    tracing::info!(nodes = filled, "stored resolved answers of existing nodes")
                }
                Err(e) => {
                    tracing::warn!(error = %e.message, "could not store resolved answers of existing nodes; their reads resolve live")
                }
            }
        })
    }

    pub async fn open(config: Config) -> Result<App, StartError> {
        // Before anything connects: a bad key is a configuration error, not a runtime one.
        let authenticator = crate::auth::authenticator(&config)?;
        let Backends {
            store,
            keys,
            queue,
            blobs,
            schedules,
            webhooks,
            mut lease,
        } = open_store(&config).await?;
        if config.leader_lease == LeaderLeaseKind::Redis {
            let url = config
                .redis_url
                .as_deref()
                .ok_or(StartError::LeaseNeedsRedisUrl)?;
            lease =
                Arc::new(RedisLease::new(url).map_err(|e| StartError::RedisUrl(e.to_string()))?);
        }
        let instance = config.instance_name();
        let bus = open_bus(&config, &instance).await?;
        // Without a bus, other processes on the same SQLite file are only seen by polling.
        let poll = match config.bus_kind() {
            BusKind::Local => Duration::from_millis(250),
            BusKind::Postgres | BusKind::Redis => Duration::from_secs(2),
        };
        let feed = EventFeed::start(store.clone(), bus.clone(), poll)
            .await
            .map_err(|source| StartError::Store {
                location: store.describe(),
                source,
            })?;
        let cache = open_cache(&config)?;
        let services = Arc::new(Services {
            store: store.clone(),
            cache: cache.clone(),
            bus,
            feed: feed.feed.clone(),
            queue,
            blobs,
            schedules,
            lease,
            webhooks,
            jobs_wake: Arc::default(),
            instance: instance.clone(),
            started: Instant::now(),
        });
        let invalidator = invalidation::spawn(feed.feed.clone(), cache.clone(), store);
        let jobs = Arc::new(JobKinds::new(
            [
                crate::jobs::builtin::defs(),
                crate::jobs::webhook::defs(Arc::new(crate::jobs::webhook::Deliverer::new(
                    services.webhooks.clone(),
                ))),
                crate::jobs::artifacts::defs(
                    &services,
                    keys.clone(),
                    Duration::from_secs(config.job_retention_secs),
                ),
            ]
            .into_iter()
            .flatten(),
        ));
        let cell: commands::system::RegistryCell = Arc::default();
        crate::telemetry::prometheus();
        let metrics = Arc::new(CommandMetrics::new());
        let mut builder = Registry::builder();
        builder
            .instance(instance)
            .metrics(metrics.clone())
            .middleware(Arc::new(Authorize::new(config.auth, authenticator)))
            .middleware(Arc::new(rate_limit(&config)?))
            .middleware(Arc::new(ValidateInput))
            .middleware(Arc::new(Idempotency::new(
                keys,
                Duration::from_secs(config.idempotency_retention_secs),
            )))
            .middleware(Arc::new(CommandCache::new(cache.clone())));
        let defs = [
            commands::node::defs(&services),
            commands::token::defs(&services),
            commands::tokens::defs(&services),
            commands::system::defs(&services, &cell),
            commands::events::defs(&services),
            commands::import::defs(&services),
            commands::webhook::defs(&services),
            commands::jobs::defs(&services, &jobs),
            commands::schedule::defs(&services, &jobs),
        ];
        for def in defs.into_iter().flatten() {
            builder
                .register(def)
                .expect("built-in commands have unique names and valid schemas");
        }
        let registry = builder.build();
        // Set once, right here: nothing else writes the cell.
        let _ = cell.set(Arc::downgrade(&registry));
        Ok(App {
            registry,
            services,
            metrics,
            jobs,
            config,
            _feed: feed,
            _invalidator: AbortOnDrop(invalidator),
        })
    }
}

fn open_cache(config: &Config) -> Result<Arc<dyn Cache>, StartError> {
    let ttl = Duration::from_secs(config.cache_ttl_secs);
    Ok(match config.cache {
        CacheKind::Local => Arc::new(LocalCache::new(config.cache_entries, ttl)),
        CacheKind::Redis => {
            let url = config
                .redis_url
                .as_deref()
                .ok_or(StartError::CacheNeedsRedisUrl)?;
            let cache = RedisCache::new(url, config.cache_entries, ttl)
                .map_err(|e| StartError::RedisUrl(e.to_string()))?;
            Arc::new(cache)
        }
    })
}

async fn open_bus(config: &Config, instance: &str) -> Result<Arc<dyn Bus>, StartError> {
    match config.bus_kind() {
        BusKind::Local => Ok(Arc::new(LocalBus)),
        BusKind::Postgres => {
            let url = config
                .database_url
                .as_deref()
                .filter(|u| is_postgres(u))
                .ok_or(StartError::BusNeedsPostgres)?;
            let bus = PgBus::connect(url, instance)
                .await
                .map_err(StartError::Bus)?;
            Ok(Arc::new(bus))
        }
        BusKind::Redis => {
            let url = config
                .redis_url
                .as_deref()
                .ok_or(StartError::BusNeedsRedisUrl)?;
            let bus =
                RedisBus::new(url, instance).map_err(|e| StartError::RedisUrl(e.to_string()))?;
            Ok(Arc::new(bus))
        }
    }
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// What lives in the database: the store, and beside the data on the primary the idempotency
/// keys, the job queue and the leader lease.
struct Backends {
    store: Arc<dyn Store>,
    keys: Arc<dyn IdempotencyStore>,
    queue: Arc<dyn Queue>,
    webhooks: Arc<dyn tinct_platform::Webhooks>,
    blobs: Arc<dyn Blobs>,
    schedules: Arc<dyn Schedules>,
    lease: Arc<dyn Lease>,
}

async fn open_store(config: &Config) -> Result<Backends, StartError> {
    let store = match &config.database_url {
        Some(url) if url.starts_with("sqlite:") => {
            SqliteStore::open_url(url)
                .await
                .map_err(|source| StartError::Store {
                    location: tinct_platform::redact_url(url),
                    source,
                })?
        }
        Some(url) if is_postgres(url) => {
            let store = ReplicatedStore::open(
                url,
                &config.read_replica_urls,
                config.pool_size,
                Duration::from_millis(config.consistency_wait_ms),
            )
            .await
            .map_err(|source| StartError::Store {
                location: tinct_platform::redact_url(url),
                source,
            })?;
            // A pool of its own on the primary (the replicated store keeps its primary) for keys,
            // jobs and the lease: a busy worker pool never takes a request's connection.
            let primary =
                PgStore::open_lazy(url, config.pool_size.clamp(2, 8)).map_err(|source| {
                    StartError::Store {
                        location: tinct_platform::redact_url(url),
                        source,
                    }
                })?;
            return Ok(Backends {
                store: Arc::new(store),
                queue: Arc::new(PgQueue::new(&primary)),
                webhooks: Arc::new(tinct_platform::PgWebhooks::new(&primary)),
                blobs: Arc::new(PgBlobs::new(&primary)),
                schedules: Arc::new(PgSchedules::new(&primary)),
                lease: Arc::new(PgLease::new(&primary)),
                keys: Arc::new(primary),
            });
        }
        Some(url) => {
            return Err(StartError::UnsupportedDatabase(tinct_platform::redact_url(
                url,
            )));
        }
        None => {
            std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
                path: config.data_dir.clone(),
                source,
            })?;
            let file = config.data_dir.join("tinct.db");
            SqliteStore::open_file(&file)
                .await
                .map_err(|source| StartError::Store {
                    location: file.display().to_string(),
                    source,
                })?
        }
    };
    let queue = Arc::new(SqliteQueue::new(&store));
    let webhooks = Arc::new(tinct_platform::SqliteWebhooks::new(&store));
    let blobs = Arc::new(SqliteBlobs::new(&store));
    let schedules = Arc::new(SqliteSchedules::new(&store));
    let store = Arc::new(store);
    Ok(Backends {
        store: store.clone(),
        keys: store,
        queue,
        webhooks,
        blobs,
        schedules,
        // One process owns an embedded store: it always leads.
        lease: Arc::new(LocalLease::new()),
    })
}

/// The rate-limit middleware: policies, the limiter that counts (this process, or Redis for the
/// whole cluster), what to do when it cannot, and whose `X-Forwarded-For` to believe.
fn rate_limit(config: &Config) -> Result<tinct_command::middleware::RateLimit, StartError> {
    let limiter: Arc<dyn tinct_platform::Limiter> = match config.limiter {
        crate::config::LimiterKind::Local => Arc::new(tinct_platform::LocalLimiter::new()),
        crate::config::LimiterKind::Redis => {
            let url = config
                .redis_url
                .as_deref()
                .ok_or(StartError::LimiterNeedsRedisUrl)?;
            Arc::new(
                tinct_platform::RedisLimiter::new(url)
                    .map_err(|e| StartError::RedisUrl(e.to_string()))?,
            )
        }
    };
    Ok(tinct_command::middleware::RateLimit::new(
        limiter,
        config.rate_policies()?,
        config.rate_limit_fail,
        config.trusted_proxies()?,
    ))
}
