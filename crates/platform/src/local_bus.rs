//! The embedded bus: a tokio broadcast channel inside one process.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::bus::Bus;
use crate::model::ChangeEvent;

pub struct LocalBus {
    sender: broadcast::Sender<ChangeEvent>,
}

impl LocalBus {
    pub fn new(capacity: usize) -> Self {
        LocalBus {
            sender: broadcast::channel(capacity.max(1)).0,
        }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, events: &[ChangeEvent]) {
        for event in events {
            // No subscriber is not an error: nobody is listening right now.
            let _ = self.sender.send(event.clone());
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.sender.subscribe()
    }
}
