//! Real processes for integration tests, on free loopback ports and temporary directories, torn
//! down on drop (so also when a test panics).

mod tinct;

pub use tinct::{TinctServer, tinct_command};
