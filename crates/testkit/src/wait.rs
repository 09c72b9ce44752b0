//! Waiting for something another process does, without asserting how long it takes.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a condition may take before the test fails: generous, since a loaded CI machine is
/// slow; timings themselves are never asserted.
const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `check` until it holds; fails the test naming `what` after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < PATIENCE,
            "{what} did not happen within {} s",
            PATIENCE.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
