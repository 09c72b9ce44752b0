//! Keeps this instance's command cache true to changes made anywhere: every change event from the
//! feed (local or from another instance) raises the generations of the reads it affects to the
//! event's sequence, with the store's current revision as the floor for refills. Raising is
//! idempotent, so the writer's own immediate invalidation and this later one do not double up.

use std::sync::Arc;

use tinct_platform::{Cache, ChangeEvent, EventFeed, Generation, Store};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::commands::{TOKEN_READS, TREE_READS};

/// The reads a change of this kind can alter.
pub fn affected_reads(kind: &str) -> &'static [&'static str] {
    if kind.starts_with("token.") {
        TOKEN_READS
    } else {
        TREE_READS
    }
}

pub fn spawn(feed: Arc<EventFeed>, cache: Arc<dyn Cache>, store: Arc<dyn Store>) -> JoinHandle<()> {
    let mut events = feed.subscribe();
    tokio::spawn(async move {
        loop {
            let mut batch: Vec<ChangeEvent> = Vec::new();
            let mut lagged = false;
            match events.recv().await {
                Ok(event) => batch.push(event),
                // Fell behind: some events are unknown, so every read may be stale.
                Err(RecvError::Lagged(_)) => lagged = true,
                Err(RecvError::Closed) => return,
            }
            while let Ok(more) = events.try_recv() {
                batch.push(more);
            }
            let floor = store
                .revision()
                .await
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            if lagged {
                let all: Vec<String> = TREE_READS.iter().map(|s| (*s).to_owned()).collect();
                let number = u64::try_from(feed.position().await).unwrap_or(0);
                cache
                    .invalidate(
                        &all,
                        Generation {
                            number,
                            revision: floor,
                        },
                    )
                    .await;
            }
            for event in &batch {
                let scopes: Vec<String> = affected_reads(&event.kind)
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                let number = u64::try_from(event.seq).unwrap_or(0);
                cache
                    .invalidate(
                        &scopes,
                        Generation {
                            number,
                            revision: floor,
                        },
                    )
                    .await;
            }
        }
    })
}
