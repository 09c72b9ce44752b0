//! Keeps this instance's command cache true to changes made anywhere: every change event from the
//! feed (local or from another instance) bumps the generations of the reads it affects, with the
//! store's current revision as the floor for refills.

use std::sync::Arc;

use tinct_platform::{Cache, ChangeEvent, EventFeed, Store};
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

pub fn spawn(feed: &EventFeed, cache: Arc<dyn Cache>, store: Arc<dyn Store>) -> JoinHandle<()> {
    let mut events = feed.subscribe();
    tokio::spawn(async move {
        loop {
            let first = match events.recv().await {
                Ok(event) => Some(event),
                // Fell behind: some events are unknown, so everything may be stale.
                Err(RecvError::Lagged(_)) => None,
                Err(RecvError::Closed) => return,
            };
            let mut batch: Vec<ChangeEvent> = first.into_iter().collect();
            let mut lagged = batch.is_empty();
            while let Ok(more) = events.try_recv() {
                batch.push(more);
            }
            lagged |= batch.is_empty();
            let mut scopes: Vec<String> = if lagged {
                TREE_READS.iter().map(|s| (*s).to_owned()).collect()
            } else {
                batch
                    .iter()
                    .flat_map(|e| affected_reads(&e.kind).iter().map(|s| (*s).to_owned()))
                    .collect()
            };
            scopes.sort();
            scopes.dedup();
            let floor = store
                .revision()
                .await
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            cache.invalidate(&scopes, floor).await;
        }
    })
}
