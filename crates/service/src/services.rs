//! What every command handler shares: the platform ports, and the write path (begin, log, commit,
//! publish) written once.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tinct_command::{CommandError, Context, ErrorCode};
use tinct_platform::{
    Blobs, Bus, Cache, EventFeed, Lease, NewEvent, NewHistory, Queue, Schedules, Store, StoreRead,
    StoreTx,
};
use tokio::sync::Notify;

use crate::errors::from_store;

pub struct Services {
    pub store: Arc<dyn Store>,
    pub cache: Arc<dyn Cache>,
    pub bus: Arc<dyn Bus>,
    pub feed: Arc<EventFeed>,
    /// Background jobs, in the same database as the data (so a change and its jobs commit
    /// together).
    pub queue: Arc<dyn Queue>,
    /// Files jobs produce (export artifacts, snapshots), in the store so every instance serves
    /// them.
    pub blobs: Arc<dyn Blobs>,
    /// Webhooks and their delivery log (deliveries are jobs enqueued by [`Services::log`]).
    pub webhooks: Arc<dyn tinct_platform::Webhooks>,
    /// Cron schedules (from `schedule.create` and the leader's configuration).
    pub schedules: Arc<dyn Schedules>,
    /// The leader lease the scheduler competes for.
    pub lease: Arc<dyn Lease>,
    /// Wakes this process's workers after a commit that may have enqueued jobs (other instances
    /// hear of them through NOTIFY or polling).
    pub jobs_wake: Arc<Notify>,
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

    /// The design system (root node) `node` belongs to: jobs about it are partitioned by it, so
    /// one busy design system cannot starve the others' jobs.
    pub async fn design_system(
        &self,
        store: &dyn StoreRead,
        node: &str,
    ) -> Result<String, CommandError> {
        let lineage = store.lineage(node).await.map_err(from_store)?;
        Ok(lineage
            .first()
            .map_or_else(|| node.to_owned(), |root| root.id.clone()))
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
        let paths: Vec<String> = change.path.map(str::to_owned).into_iter().collect();
        // In this transaction: the change and its webhook deliveries commit together.
        crate::jobs::webhook::enqueue_deliveries(tx, ctx, change.node, change.action, &paths)
            .await?;
        tx.emit(&NewEvent {
            node: change.node.to_owned(),
            kind: change.action.to_owned(),
            paths,
            actor: ctx.actor.clone(),
            trace_id: ctx.trace_id.clone(),
        })
        .await
        .map_err(from_store)
    }

    /// `expectedRevision` against the node's revision, inside the write transaction (which holds
    /// the node until it ends). No-op when the caller sent none.
    pub async fn expect_node(
        &self,
        tx: &dyn StoreTx,
        ctx: &Context,
        id: &str,
    ) -> Result<(), CommandError> {
        let Some(expected) = ctx.expected_revision else {
            return Ok(());
        };
        let current = tx.lock_node_revision(id).await.map_err(from_store)?;
        ctx.mark_revision_checked();
        compare(expected, current, &format!("node '{id}'"), "node.get")
    }

    /// `expectedRevision` against the revision of the node's own entry for `path`, like
    /// [`Services::expect_node`].
    pub async fn expect_token(
        &self,
        tx: &dyn StoreTx,
        ctx: &Context,
        node: &str,
        path: &str,
    ) -> Result<(), CommandError> {
        let Some(expected) = ctx.expected_revision else {
            return Ok(());
        };
        let current = tx
            .lock_token_revision(node, path)
            .await
            .map_err(from_store)?;
        ctx.mark_revision_checked();
        compare(
            expected,
            current,
            &format!("token {path} on node '{node}'"),
            "token.history",
        )
    }

    /// Commits, hands the revision to the envelope, and wakes this instance's event feed and the
    /// other instances. A call that holds an idempotency key seals it in the same transaction.
    pub async fn commit(&self, tx: Box<dyn StoreTx>, ctx: &Context) -> Result<(), CommandError> {
        if ctx.expected_revision.is_some() && !ctx.revision_checked() {
            return Err(CommandError::validation(
                "this command does not take expectedRevision; nothing was changed",
            )
            .suggest("Leave expectedRevision out; node.* and token.* changes take it.")
            .details(json!({"field": "expectedRevision"})));
        }
        crate::projection::refresh(tx.as_ref()).await?;
        if let Some(hold) = &ctx.idempotency {
            let ours = tx
                .seal_key(&hold.scope, &hold.key, &hold.token)
                .await
                .map_err(from_store)?;
            if !ours {
                return Err(CommandError::new(
                    ErrorCode::Conflict,
                    format!(
                        "this request outlived its claim on idempotency key '{}' and another request with the key took over; nothing was changed",
                        hold.key
                    ),
                )
                .suggest("Retry with the same key: you get the other request's result."));
            }
        }
        let (revision, events) = tx.commit().await.map_err(from_store)?;
        ctx.set_revision(revision);
        if let Some(seq) = events.iter().map(|e| e.seq).max() {
            ctx.set_change_seq(u64::try_from(seq).unwrap_or(0));
        }
        if !events.is_empty() {
            self.feed.wake();
            self.bus.announce().await;
        }
        self.jobs_wake.notify_one();
        Ok(())
    }
}

/// The change number a transaction writes (what `revision` on nodes, tokens and history shows).
pub fn change_number(tx: &dyn StoreTx) -> i64 {
    tx.revision_number().parse().unwrap_or(0)
}

fn compare(expected: u64, current: i64, target: &str, read_with: &str) -> Result<(), CommandError> {
    if i64::try_from(expected).ok() == Some(current) {
        return Ok(());
    }
    let now = if current == 0 {
        "does not exist (revision 0)".to_owned()
    } else {
        format!("is at revision {current}")
    };
    Err(CommandError::new(
        ErrorCode::Conflict,
        format!("{target} {now}, not at the expected revision {expected}: it changed since it was read; nothing was changed"),
    )
    .suggest(format!(
        "Re-read it ({read_with}), then retry with expectedRevision {current} if the change still applies."
    ))
    .details(json!({"expectedRevision": expected, "currentRevision": current})))
}
