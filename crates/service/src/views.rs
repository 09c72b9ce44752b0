//! Output shapes of the commands, with JSON Schema. Kept apart from the platform's rows so the
//! public contract does not move when storage does.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use tinct_platform::{HistoryEntry, Node};

use crate::tree::Revisions;

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub id: String,
    /// None for a root (a design system).
    pub parent: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The change number of the node's last write; send it back as `expectedRevision` so a
    /// change is refused if someone else changed the node meanwhile.
    pub revision: i64,
}

impl From<Node> for NodeView {
    fn from(n: Node) -> Self {
        NodeView {
            id: n.id,
            parent: n.parent,
            name: n.name,
            description: n.description,
            created_at: n.created_at,
            updated_at: n.updated_at,
            revision: n.revision,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedTokenView {
    #[serde(rename = "type")]
    pub token_type: String,
    pub value: Value,
    /// The node whose definition or override won.
    pub source: String,
    /// Paths followed through aliases, in order; empty when the value is literal.
    pub alias_chain: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The change number of the last write to the winning entry (on `source`): send it as
    /// `expectedRevision` when changing this path on that node.
    pub revision: i64,
}

pub type TokenMap = BTreeMap<String, ResolvedTokenView>;

/// What `tokens.resolve` answers (and the resolved projection stores for every node).
#[derive(Serialize, JsonSchema)]
pub struct ResolveOut {
    pub node: String,
    pub count: usize,
    /// Each path with its resolved value, type, winning node and alias chain.
    pub tokens: TokenMap,
}

impl ResolveOut {
    /// The answer for `node`: its resolved tokens whose path starts with `prefix` (all without).
    pub fn new(
        node: String,
        resolved: tinct_engine::Resolved,
        revisions: &Revisions,
        prefix: Option<&str>,
    ) -> Self {
        let prefix = prefix.unwrap_or_default();
        let tokens: TokenMap = resolved
            .tokens
            .into_iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .map(|(path, t)| {
                let view = ResolvedTokenView::new(&path, t, revisions);
                (path, view)
            })
            .collect();
        ResolveOut {
            node,
            count: tokens.len(),
            tokens,
        }
    }
}

impl ResolvedTokenView {
    /// The view of `t` at `path`, its revision looked up in `revisions` (0 when unknown).
    pub fn new(path: &str, t: tinct_engine::ResolvedToken, revisions: &Revisions) -> Self {
        let revision = revisions
            .get(&t.source)
            .and_then(|paths| paths.get(path))
            .copied()
            .unwrap_or(0);
        ResolvedTokenView {
            token_type: t.token_type.as_str().to_owned(),
            value: t.value,
            source: t.source,
            alias_chain: t.alias_chain,
            description: t.description,
            revision,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView {
    pub seq: i64,
    pub node: String,
    pub path: Option<String>,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub actor: String,
    pub trace_id: String,
    pub revision: String,
    pub at: String,
}

impl From<HistoryEntry> for HistoryView {
    fn from(h: HistoryEntry) -> Self {
        HistoryView {
            seq: h.seq,
            node: h.node,
            path: h.path,
            action: h.action,
            before: h.before,
            after: h.after,
            actor: h.actor,
            trace_id: h.trace_id,
            revision: h.revision,
            at: h.at,
        }
    }
}
