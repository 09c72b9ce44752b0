//! Real processes for integration tests, on free loopback ports and temporary directories, torn
//! down on drop (so also when a test panics): tinct servers, PostgreSQL (primary and streaming
//! replicas), Redis and nginx.

mod browser;
mod nginx;
mod postgres;
mod process;
mod redis;
mod tinct;

pub use browser::{Browser, Page};
pub use nginx::Nginx;
pub use postgres::Postgres;
pub use process::free_port;
pub use redis::Redis;
pub use tinct::{TinctServer, post_command, tinct_command};
