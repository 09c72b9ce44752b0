//! Every command tinct serves, one module per family.

pub mod node;
pub mod system;
pub mod token;
pub mod tokens;

/// Reads whose answers depend on tokens.
pub const TOKEN_READS: &[&str] = &["tokens.resolve", "tokens.export", "token.history"];
/// Reads whose answers depend on node attributes.
pub const NODE_READS: &[&str] = &["node.get", "node.list", "token.history"];
/// Reads whose answers depend on the shape of the tree (everything).
pub const TREE_READS: &[&str] = &[
    "node.get",
    "node.list",
    "tokens.resolve",
    "tokens.export",
    "token.history",
];
