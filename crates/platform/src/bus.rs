use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::model::ChangeEvent;

/// The Bus port: committed change events fanned out to every subscriber (WebSocket clients, cache
/// invalidation on other instances). Events are already durable in the store's event table; the bus
/// only carries them quickly.
#[async_trait]
pub trait Bus: Send + Sync {
    async fn publish(&self, events: &[ChangeEvent]);
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent>;
}
