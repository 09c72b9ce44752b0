//! Rows as the service sees them, independent of the backend.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub id: String,
    pub parent: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The change number of the node's last write (create or update); `expectedRevision` on
    /// `node.*` compares with it.
    #[serde(default)]
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewNode {
    pub id: String,
    pub parent: Option<String>,
    pub name: String,
    pub description: Option<String>,
}

/// A node either defines a token or overrides the value of one it inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Define,
    Override,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Define => "define",
            TokenKind::Override => "override",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "define" => Some(TokenKind::Define),
            "override" => Some(TokenKind::Override),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub node: String,
    pub path: String,
    pub kind: TokenKind,
    /// The DTCG type; only definitions carry one.
    pub token_type: Option<String>,
    pub value: Value,
    pub description: Option<String>,
    /// The change number of its last write, as stored (`put_token` writes the transaction's own
    /// change number instead; this field is only read).
    pub revision: i64,
}

/// What resolving a node reads: the ids from its root down to it, and every definition and
/// override those nodes hold.
#[derive(Debug, Clone, PartialEq)]
pub struct LayeredTokens {
    /// Root first, the node itself last.
    pub lineage: Vec<String>,
    pub tokens: Vec<TokenRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
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

#[derive(Debug, Clone, PartialEq)]
pub struct NewHistory {
    pub node: String,
    pub path: Option<String>,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub actor: String,
    pub trace_id: String,
}

/// A committed change, as instances and WebSocket clients receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    pub seq: i64,
    pub revision: String,
    pub node: String,
    pub kind: String,
    pub paths: Vec<String>,
    pub actor: String,
    pub trace_id: String,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub node: String,
    pub kind: String,
    pub paths: Vec<String>,
    pub actor: String,
    pub trace_id: String,
}
