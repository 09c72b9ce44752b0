//! The tinct commands, wiring the pure engine to the platform ports. Surfaces reach everything here
//! through `App::registry`.

mod app;
pub mod auth;
pub mod commands;
mod config;
pub mod demo;
mod errors;
mod invalidation;
pub mod jobs;
mod projection;
mod services;
pub mod telemetry;
mod tree;
mod views;

pub use app::{App, StartError};
pub use config::{
    BusKind, CacheKind, Config, ConfigError, LeaderLeaseKind, LimiterKind, LogFormat,
    ScheduleConfig, Secret,
};
pub use services::Services;
