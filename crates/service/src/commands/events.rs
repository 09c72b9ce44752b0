//! events.list: the committed change log, for clients catching up (WebSocket resume, polling).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tinct_command::{CachePolicy, CommandDef, CommandError, Context};
use tinct_platform::ChangeEvent;

use crate::errors::from_store;
use crate::services::Services;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListIn {
    /// Events after this sequence number (0 for the beginning).
    #[serde(default)]
    pub since: i64,
    /// At most this many (1–1000, default 500).
    pub limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// Position in the change log; strictly increasing in commit order.
    pub seq: i64,
    /// The change number of the write that made this event.
    pub revision: String,
    pub node: String,
    pub kind: String,
    pub paths: Vec<String>,
    pub actor: String,
    pub trace_id: String,
    pub at: String,
}

impl From<ChangeEvent> for EventView {
    fn from(e: ChangeEvent) -> Self {
        EventView {
            seq: e.seq,
            revision: e.revision,
            node: e.node,
            kind: e.kind,
            paths: e.paths,
            actor: e.actor,
            trace_id: e.trace_id,
            at: e.at,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ListOut {
    pub events: Vec<EventView>,
    /// True when more events follow the last one returned.
    pub more: bool,
}

pub fn defs(s: &Arc<Services>) -> Vec<CommandDef> {
    let l = s.clone();
    vec![
        CommandDef::new(
            "events.list",
            "The change log in commit order: events after `since`, a page at a time.",
            move |i: ListIn, _ctx: Context| {
                let s = l.clone();
                async move {
                    let limit = super::page_limit(i.limit, 500)?;
                    if i.since < 0 {
                        return Err(CommandError::validation(
                            "since must be 0 or a sequence number from an earlier event",
                        )
                        .suggest("Pass the seq of the last event you processed, or 0."));
                    }
                    // The log is read where it is complete (the primary), never a lagging replica.
                    let mut events = s
                        .store
                        .events_since(i.since, limit + 1)
                        .await
                        .map_err(from_store)?;
                    let more = events.len() > limit as usize;
                    events.truncate(limit as usize);
                    Ok(ListOut {
                        events: events.into_iter().map(EventView::from).collect(),
                        more,
                    })
                }
            },
        )
        .cache(CachePolicy::Never)
        .tags(&["events"])
        .example("from the start", json!({"since": 0}))
        .example("after a known event", json!({"since": 42, "limit": 100})),
    ]
}
