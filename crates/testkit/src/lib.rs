//! Real processes for integration tests, on free loopback ports and temporary directories, torn
//! down on drop (so also when a test panics): tinct servers, PostgreSQL (primary and streaming
//! replicas), Redis and nginx.

mod browser;
mod nginx;
mod postgres;
mod process;
mod promtool;
mod redis;
mod tinct;
mod wait;

pub use browser::{Browser, Page};
pub use nginx::Nginx;
pub use postgres::Postgres;
pub use process::free_port;
pub use promtool::promtool_check;
pub use redis::Redis;
pub use tinct::{TinctServer, metrics_text, post_command, tinct_command};
pub use wait::eventually;
