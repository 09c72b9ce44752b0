//! The event feed: every instance reads committed change events from the store's event table, in
//! sequence order, and fans them out to local subscribers (cache invalidation, WebSocket clients).
//! It reads when woken (a local commit, a bus announcement) and on a timer, so no event is ever
//! skipped and none is delivered twice.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Notify, broadcast};
use tokio::task::JoinHandle;

use crate::bus::Bus;
use crate::model::ChangeEvent;
use crate::store::Store;

const BATCH: u32 = 500;

pub struct EventFeed {
    store: Arc<dyn Store>,
    sender: broadcast::Sender<ChangeEvent>,
    /// The sequence of the last event delivered.
    last: Mutex<i64>,
    wake: Notify,
}

pub struct FeedHandle {
    pub feed: Arc<EventFeed>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FeedHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl EventFeed {
    /// Starts after the newest event already stored, polling every `poll` as a safety net.
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        poll: Duration,
    ) -> Result<FeedHandle, crate::StoreError> {
        let start = store.latest_event_seq().await?;
        let feed = Arc::new(EventFeed {
            store,
            sender: broadcast::channel(4096).0,
            last: Mutex::new(start),
            wake: Notify::new(),
        });
        let reader = Arc::clone(&feed);
        let read_loop = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = reader.wake.notified() => {},
                    _ = tokio::time::sleep(poll) => {},
                }
                reader.catch_up().await;
            }
        });
        let listener = Arc::clone(&feed);
        let bus_loop = tokio::spawn(async move {
            loop {
                bus.next_announcement().await;
                listener.wake.notify_one();
            }
        });
        Ok(FeedHandle {
            feed,
            tasks: vec![read_loop, bus_loop],
        })
    }

    /// A local commit happened: read it now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.sender.subscribe()
    }

    /// The sequence of the newest event delivered so far.
    pub async fn position(&self) -> i64 {
        *self.last.lock().await
    }

    async fn catch_up(&self) {
        let mut last = self.last.lock().await;
        loop {
            let events = match self.store.events_since(*last, BATCH).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, "event feed: cannot read events; will retry");
                    return;
                }
            };
            let full = events.len() == BATCH as usize;
            for event in events {
                *last = event.seq;
                // No subscriber is fine: nobody is listening right now.
                let _ = self.sender.send(event);
            }
            if !full {
                return;
            }
        }
    }
}
