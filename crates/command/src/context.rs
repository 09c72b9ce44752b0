//! Per-call context: who calls, through which surface, by when, and what the call produced besides
//! its data (warnings, revision, cache status).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::auth::{Credential, Principal};
use crate::client::ClientAddr;
use crate::envelope::CacheStatus;
use crate::middleware::KeyHold;

/// The transport a call arrived through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Surface {
    Cli,
    Rest,
    WebSocket,
    Mcp,
    Web,
    Internal,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Cli => "cli",
            Surface::Rest => "rest",
            Surface::WebSocket => "websocket",
            Surface::Mcp => "mcp",
            Surface::Web => "web",
            Surface::Internal => "internal",
        }
    }
}

/// What a call produced besides its data; shared by clones of one context.
#[derive(Debug, Default)]
struct Produced {
    warnings: Vec<String>,
    revision: Option<String>,
    /// Position in the change log of the newest change a mutation made.
    change_seq: Option<u64>,
    cache: Option<CacheStatus>,
    /// A handler compared `expectedRevision` with its target (see `Context::expected_revision`).
    revision_checked: bool,
}

#[derive(Debug, Clone)]
pub struct Context {
    pub trace_id: String,
    /// Who acts: recorded in history and events.
    pub actor: String,
    pub surface: Surface,
    pub deadline: Option<Instant>,
    /// A consistency token the caller holds (`Tinct-Consistency`, an earlier `metadata.revision`):
    /// reads must not see data older than it.
    pub consistency: Option<u64>,
    /// What the caller presented (an `Authorization: Bearer` token); the auth middleware checks it.
    pub credential: Option<Credential>,
    /// Who the credential proved, set only by the auth middleware.
    principal: Option<Principal>,
    /// The caller's network address, set by network surfaces (REST, WebSocket, MCP over HTTP);
    /// the rate limiter keys anonymous callers by it.
    pub client: Option<ClientAddr>,
    /// An `Idempotency-Key` the transport carried (REST header); the idempotency middleware
    /// checks and applies it, like an `idempotencyKey` input field.
    pub idempotency_key: Option<String>,
    /// The `expectedRevision` of a mutation's input: the handler compares it with its target's
    /// revision inside the write transaction.
    pub expected_revision: Option<u64>,
    /// The idempotency key this call holds, which the write path seals in its transaction.
    pub idempotency: Option<KeyHold>,
    produced: Arc<Mutex<Produced>>,
}

impl Context {
    pub fn new(surface: Surface) -> Self {
        Context {
            trace_id: new_trace_id(),
            actor: "anonymous".to_owned(),
            surface,
            deadline: None,
            consistency: None,
            credential: None,
            principal: None,
            client: None,
            idempotency_key: None,
            expected_revision: None,
            idempotency: None,
            produced: Arc::default(),
        }
    }

    /// Keep a caller-supplied trace id when it is usable, so one id follows a request everywhere.
    pub fn with_trace_id(mut self, trace_id: Option<&str>) -> Self {
        if let Some(id) = trace_id.filter(|id| is_valid_trace_id(id)) {
            self.trace_id = id.to_owned();
        }
        self
    }

    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    pub fn with_consistency(mut self, token: Option<u64>) -> Self {
        self.consistency = token;
        self
    }

    pub fn with_credential(mut self, credential: Option<Credential>) -> Self {
        self.credential = credential;
        self
    }

    pub fn with_idempotency_key(mut self, key: Option<String>) -> Self {
        self.idempotency_key = key;
        self
    }

    pub fn with_client(mut self, client: Option<ClientAddr>) -> Self {
        self.client = client;
        self
    }

    /// The verified caller; `None` for anonymous and internal calls.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// The principal's subject becomes the actor recorded in history and events.
    pub(crate) fn set_principal(&mut self, principal: Principal) {
        self.actor = principal.subject.clone();
        self.principal = Some(principal);
    }

    /// A context for one item of a batch: same caller and trace, its own produced state. A
    /// transport's idempotency key names one request, not each item: items carry their own
    /// `idempotencyKey` fields.
    pub fn child(&self) -> Self {
        Context {
            produced: Arc::default(),
            idempotency_key: None,
            expected_revision: None,
            idempotency: None,
            ..self.clone()
        }
    }

    pub fn warn(&self, warning: impl Into<String>) {
        self.lock().warnings.push(warning.into());
    }

    pub fn set_revision(&self, revision: impl Into<String>) {
        self.lock().revision = Some(revision.into());
    }

    pub fn set_change_seq(&self, seq: u64) {
        let mut p = self.lock();
        p.change_seq = p.change_seq.max(Some(seq));
    }

    pub fn change_seq(&self) -> Option<u64> {
        self.lock().change_seq
    }

    pub fn set_cache(&self, status: CacheStatus) {
        self.lock().cache = Some(status);
    }

    /// Raises the consistency floor (never lowers it).
    pub fn require_at_least(&mut self, revision: u64) {
        self.consistency = self.consistency.max(Some(revision));
    }

    /// Records that the handler compared `expected_revision` with its target.
    pub fn mark_revision_checked(&self) {
        self.lock().revision_checked = true;
    }

    pub fn revision_checked(&self) -> bool {
        self.lock().revision_checked
    }

    pub(crate) fn warnings(&self) -> Vec<String> {
        self.lock().warnings.clone()
    }

    pub fn cache_status(&self) -> Option<CacheStatus> {
        self.lock().cache
    }

    pub fn revision(&self) -> Option<String> {
        self.lock().revision.clone()
    }

    /// What the call produces, readable after the context itself has been handed on.
    pub(crate) fn produced(&self) -> ProducedHandle {
        ProducedHandle(Arc::clone(&self.produced))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Produced> {
        // A poisoned lock only means another clone panicked mid-push; the data is still usable.
        self.produced.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle on what a call produced, kept by the registry while the context runs the chain.
pub(crate) struct ProducedHandle(Arc<Mutex<Produced>>);

impl ProducedHandle {
    pub(crate) fn take(&self) -> (Vec<String>, Option<String>, Option<CacheStatus>) {
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut p.warnings), p.revision.clone(), p.cache)
    }
}

pub fn new_trace_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn is_valid_trace_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_trace_id_is_kept_only_when_safe() {
        let ctx = Context::new(Surface::Rest).with_trace_id(Some("abc-123"));
        assert_eq!(ctx.trace_id, "abc-123");
        let ctx = Context::new(Surface::Rest).with_trace_id(Some("bad id\n"));
        assert_eq!(ctx.trace_id.len(), 32);
    }

    #[test]
    fn child_shares_caller_but_not_produced_state() {
        let ctx = Context::new(Surface::Cli).with_actor("ana");
        ctx.warn("parent");
        let child = ctx.child();
        assert_eq!(child.actor, "ana");
        assert_eq!(child.trace_id, ctx.trace_id);
        assert!(child.produced().take().0.is_empty());
        assert_eq!(ctx.produced().take().0, vec!["parent".to_owned()]);
    }
}
