//! The embedded bus: one process needs no messages. Other processes writing the same SQLite file
//! (a `tinct call` next to `tinct serve`) are picked up by the event feed's polling.

use async_trait::async_trait;

use crate::bus::Bus;

#[derive(Default)]
pub struct LocalBus;

#[async_trait]
impl Bus for LocalBus {
    async fn announce(&self) {}

    async fn next_announcement(&self) {
        std::future::pending::<()>().await;
    }

    fn describe(&self) -> String {
        "in-process".to_owned()
    }
}
