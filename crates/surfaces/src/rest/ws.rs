//! `GET /v1/ws`: live change events over WebSocket.
//!
//! Query: `node=ID` (only that node), `subtree=true` (and its descendants), `since=SEQ` (first replay
//! every event after SEQ from the change log, then go live — no gap, no duplicate). Messages are
//! JSON: a `hello` with this instance and the feed position, then `event`s in sequence order. On
//! shutdown the server closes with 1001 (going away); clients reconnect with `since`.
//!
//! Auth: `Authorization: Bearer …`, or `access_token=…` in the query (browsers cannot set headers
//! on a WebSocket). The upgrade is authorized once, as reading the change log (`events.list`); a
//! refused one answers 401/403 with the envelope instead of upgrading.

use std::collections::HashMap;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tinct_command::{CommandError, Context, Credential, Surface};
use tinct_platform::ChangeEvent;
use tokio::sync::broadcast::error::RecvError;

use super::RestState;
use super::call::{credential, early_error, envelope};

const GOING_AWAY: u16 = 1001;
const TRY_AGAIN_LATER: u16 = 1013;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    node: Option<String>,
    #[serde(default)]
    subtree: bool,
    since: Option<i64>,
    access_token: Option<String>,
}

pub async fn upgrade(
    State(state): State<RestState>,
    headers: HeaderMap,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    ws: WebSocketUpgrade,
) -> Response {
    let ctx = Context::new(Surface::WebSocket).with_trace_id(
        headers
            .get(super::call::TRACE_HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    let Query(mut query) = match query {
        Ok(q) => q,
        Err(e) => {
            let error = CommandError::validation(format!("invalid WebSocket query: {e}")).suggest(
                "Use /v1/ws?node=ID&subtree=true&since=SEQ&access_token=TOKEN (all optional).",
            );
            return early_error(&state, &ctx, "ws", error);
        }
    };
    let presented =
        credential(&headers).or_else(|| query.access_token.take().map(Credential::Bearer));
    let ctx = ctx
        .with_credential(presented)
        .with_client(super::call::client_addr(&headers, None));
    let position = state.services.feed.position().await;
    let allowed = state
        .registry
        .execute(
            "events.list",
            json!({"since": position, "limit": 1}),
            ctx.clone(),
        )
        .await;
    if !allowed.success {
        return envelope(allowed);
    }
    if let Some(node) = &query.node {
        let found = state
            .registry
            .execute("node.get", json!({ "id": node }), ctx.clone())
            .await;
        if !found.success {
            return envelope(found);
        }
    }
    // Authorized above, like the request that opened the stream: its own lookups run as internal
    // calls, so a token that expires mid-stream cannot silently drop events from the filter.
    let mut inner = ctx;
    inner.surface = Surface::Internal;
    inner.credential = None;
    ws.on_upgrade(move |socket| stream(socket, state, query, inner))
}

/// Which events a connection wants.
struct Filter {
    node: Option<String>,
    subtree: bool,
    /// Whether a node is inside the subscribed subtree, learned once per node.
    known: HashMap<String, bool>,
}

impl Filter {
    async fn wants(&mut self, state: &RestState, ctx: &Context, event: &ChangeEvent) -> bool {
        let Some(node) = &self.node else {
            return true;
        };
        if &event.node == node {
            return true;
        }
        if !self.subtree {
            return false;
        }
        if let Some(inside) = self.known.get(&event.node) {
            return *inside;
        }
        // Read at least where the store is now (past the event's commit): a lagging replica
        // would not know a node just created, and its events would be dropped as outside.
        let mut lookup = ctx.child();
        if let Some(now) = state
            .services
            .store
            .revision()
            .await
            .ok()
            .and_then(|r| r.parse().ok())
        {
            lookup.require_at_least(now);
        }
        let found = state
            .registry
            .execute("node.get", json!({ "id": event.node }), lookup)
            .await;
        let inside = found.data.map(|d| d.to_value()).is_some_and(|d| {
            d["lineage"]
                .as_array()
                .is_some_and(|l| l.iter().any(|id| id.as_str() == Some(node)))
        });
        // A deleted node cannot be looked up; it was inside only if we saw it before.
        if found.success {
            self.known.insert(event.node.clone(), inside);
        }
        inside
    }
}

fn event_message(e: &ChangeEvent) -> Message {
    let v = json!({
        "type": "event", "seq": e.seq, "revision": e.revision, "node": e.node, "kind": e.kind,
        "paths": e.paths, "actor": e.actor, "traceId": e.trace_id, "at": e.at,
    });
    Message::Text(Utf8Bytes::from(v.to_string()))
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

async fn stream(mut socket: WebSocket, state: RestState, query: WsQuery, ctx: Context) {
    let _open = super::metrics::OpenSocket::count();
    // Subscribe before replaying, so nothing committed meanwhile falls between the two.
    let mut live = state.services.feed.subscribe();
    let mut shutdown = state.shutdown.clone();
    let mut filter = Filter {
        node: query.node,
        subtree: query.subtree,
        known: HashMap::new(),
    };
    let position = state.services.feed.position().await;
    let hello =
        json!({"type": "hello", "instance": state.registry.instance(), "position": position});
    if socket
        .send(Message::Text(Utf8Bytes::from(hello.to_string())))
        .await
        .is_err()
    {
        return;
    }
    let mut last = query.since.unwrap_or(position);
    if query.since.is_some() {
        match replay(&mut socket, &state, &ctx, &mut filter, last).await {
            Some(seq) => last = seq,
            None => return,
        }
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = socket.send(close(GOING_AWAY, "server shutting down; reconnect with since")).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            event = live.recv() => match event {
                Ok(event) if event.seq <= last => {}
                Ok(event) => {
                    last = event.seq;
                    if filter.wants(&state, &ctx, &event).await
                        && socket.send(event_message(&event)).await.is_err()
                    {
                        return;
                    }
                }
                // Too slow to keep up with the live feed: catch up from the log instead.
                Err(RecvError::Lagged(_)) => match replay(&mut socket, &state, &ctx, &mut filter, last).await {
                    Some(seq) => last = seq,
                    None => return,
                },
                Err(RecvError::Closed) => {
                    let _ = socket.send(close(TRY_AGAIN_LATER, "event feed stopped")).await;
                    return;
                }
            }
        }
    }
}

/// Sends every logged event after `since`; returns the last sequence sent (None: socket gone).
async fn replay(
    socket: &mut WebSocket,
    state: &RestState,
    ctx: &Context,
    filter: &mut Filter,
    mut since: i64,
) -> Option<i64> {
    loop {
        let page = state
            .registry
            .execute(
                "events.list",
                json!({"since": since, "limit": 500}),
                ctx.child(),
            )
            .await;
        let Some(data) = page.data.filter(|_| page.success).map(|d| d.to_value()) else {
            let _ = socket
                .send(close(TRY_AGAIN_LATER, "cannot read the change log"))
                .await;
            return None;
        };
        let events: Vec<ChangeEvent> = data["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| serde_json::from_value(e.clone()).ok())
            .collect();
        for event in &events {
            since = event.seq;
            if filter.wants(state, ctx, event).await
                && socket.send(event_message(event)).await.is_err()
            {
                return None;
            }
        }
        if data["more"] != Value::Bool(true) {
            return Some(since);
        }
    }
}
