//! Every command tinct serves, one module per family.

pub mod events;
pub mod import;
pub mod jobs;
pub mod node;
pub mod schedule;
pub mod system;
pub mod token;
pub mod tokens;
pub mod webhook;

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

/// A page size from the input: `default` when absent, else 1–1000.
pub fn page_limit(limit: Option<u32>, default: u32) -> Result<u32, tinct_command::CommandError> {
    let limit = limit.unwrap_or(default);
    if (1..=1000).contains(&limit) {
        Ok(limit)
    } else {
        Err(tinct_command::CommandError::validation(format!(
            "limit must be between 1 and 1000, got {limit}"
        ))
        .suggest("Pass a limit between 1 and 1000, and page on with the returned cursor."))
    }
}
