//! What every command handler shares: the platform ports, and the write path (begin, log, commit,
//! publish) written once.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tinct_command::{CommandError, Context};
use tinct_platform::{Bus, Cache, EventFeed, NewEvent, NewHistory, Store, StoreRead, StoreTx};

use crate::errors::from_store;

pub struct Services {
    pub store: Arc<dyn Store>,
    pub cache: Arc<dyn Cache>,
    pub bus: Arc<dyn Bus>,
    pub feed: Arc<EventFeed>,
    pub instance: String,
    pub started: Instant,
}

/// One change inside a write: becomes a history entry and a change event in the same transaction.
pub struct Change<'a> {
    pub node: &'a str,
    pub path: Option<&'a str>,
    pub action: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Services {
    /// Where this call's reads go: a view at least as new as the caller's consistency token.
    pub async fn reader(&self, ctx: &Context) -> Result<&dyn StoreRead, CommandError> {
        self.store
            .read_view(ctx.consistency)
            .await
            .map_err(from_store)
    }

    pub async fn begin(&self) -> Result<Box<dyn StoreTx>, CommandError> {
        self.store.begin().await.map_err(from_store)
    }

    pub async fn log(
        &self,
        tx: &dyn StoreTx,
        ctx: &Context,
        change: Change<'_>,
    ) -> Result<(), CommandError> {
        tx.record(&NewHistory {
            node: change.node.to_owned(),
            path: change.path.map(str::to_owned),
            action: change.action.to_owned(),
            before: change.before,
            after: change.after,
            actor: ctx.actor.clone(),
            trace_id: ctx.trace_id.clone(),
        })
        .await
        .map_err(from_store)?;
        tx.emit(&NewEvent {
            node: change.node.to_owned(),
            kind: change.action.to_owned(),
            paths: change.path.map(str::to_owned).into_iter().collect(),
            actor: ctx.actor.clone(),
            trace_id: ctx.trace_id.clone(),
        })
        .await
        .map_err(from_store)
    }

    /// Commits, hands the revision to the envelope, and wakes this instance's event feed and the
    /// other instances.
    pub async fn commit(&self, tx: Box<dyn StoreTx>, ctx: &Context) -> Result<(), CommandError> {
        let (revision, events) = tx.commit().await.map_err(from_store)?;
        ctx.set_revision(revision);
        if let Some(seq) = events.iter().map(|e| e.seq).max() {
            ctx.set_change_seq(u64::try_from(seq).unwrap_or(0));
        }
        if !events.is_empty() {
            self.feed.wake();
            self.bus.announce().await;
        }
        Ok(())
    }
}
