//! Wiring: configuration in, a ready registry out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tinct_command::Registry;
use tinct_command::middleware::{CommandCache, ValidateInput};
use tinct_platform::{LocalBus, LocalCache, SqliteStore, Store, StoreError};

use crate::commands;
use crate::config::Config;
use crate::services::Services;

pub struct App {
    pub registry: Arc<Registry>,
    pub services: Arc<Services>,
    pub config: Config,
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
        "unsupported database URL '{0}': this build serves SQLite (sqlite://path); leave TINCT_DATABASE_URL unset to use the data directory"
    )]
    UnsupportedDatabase(String),
}

impl App {
    pub async fn open(config: Config) -> Result<App, StartError> {
        let store = open_store(&config).await?;
        let instance = config.instance_name();
        let services = Arc::new(Services {
            store,
            bus: Arc::new(LocalBus::new(1024)),
            instance: instance.clone(),
            started: Instant::now(),
        });
        let cache = Arc::new(LocalCache::new(
            config.cache_entries,
            Duration::from_secs(config.cache_ttl_secs),
        ));
        let cell: commands::system::RegistryCell = Arc::default();
        let mut builder = Registry::builder();
        builder
            .instance(instance)
            .middleware(Arc::new(ValidateInput))
            .middleware(Arc::new(CommandCache::new(cache)));
        let defs = [
            commands::node::defs(&services),
            commands::token::defs(&services),
            commands::tokens::defs(&services),
            commands::system::defs(&services, &cell),
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
            config,
        })
    }
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let store = match &config.database_url {
        Some(url) if url.starts_with("sqlite:") => {
            SqliteStore::open_url(url)
                .await
                .map_err(|source| StartError::Store {
                    location: url.clone(),
                    source,
                })?
        }
        Some(url) => return Err(StartError::UnsupportedDatabase(url.clone())),
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
    Ok(Arc::new(store))
}
