//! Reading the node tree into engine layers, and checking that a subtree still resolves.

use std::collections::HashMap;

use tinct_command::CommandError;
use tinct_engine::{Entry, Layer, Resolved, TokenType, nearest_paths, resolve};
use tinct_platform::{LayeredTokens, Node, StoreRead, TokenKind, TokenRecord};

use crate::errors::{from_resolve, from_store};

/// The node, or `NOT_FOUND` with the closest existing ids.
pub async fn require_node(store: &dyn StoreRead, id: &str) -> Result<Node, CommandError> {
    match store.node(id).await.map_err(from_store)? {
        Some(node) => Ok(node),
        None => Err(node_not_found(store, id).await),
    }
}

pub async fn node_not_found(store: &dyn StoreRead, id: &str) -> CommandError {
    let known = store.nodes(None, None, 1000).await.unwrap_or_default();
    let close = nearest_paths(id, known.iter().map(|n| n.id.as_str()), 3);
    let suggestion = if close.is_empty() {
        "List nodes with node.list (GET /v1/nodes), or create it with node.create.".to_owned()
    } else {
        format!(
            "Did you mean {}? List nodes with node.list.",
            close.join(", ")
        )
    };
    CommandError::not_found(format!("no node with id '{id}'")).suggest(suggestion)
}

/// The change number of each stored entry's last write: node → path → revision.
pub type Revisions = HashMap<String, HashMap<String, i64>>;

/// The layers from the root down to `id`, ready for the engine.
pub async fn layers(store: &dyn StoreRead, id: &str) -> Result<Vec<Layer>, CommandError> {
    Ok(read_layers(store, id, false).await?.0)
}

/// The layers, and the revisions of their entries when `with_revisions`.
async fn read_layers(
    store: &dyn StoreRead,
    id: &str,
    with_revisions: bool,
) -> Result<(Vec<Layer>, Revisions), CommandError> {
    let Some(LayeredTokens { lineage, tokens }) =
        store.layered_tokens(id).await.map_err(from_store)?
    else {
        return Err(node_not_found(store, id).await);
    };
    let mut revisions = Revisions::new();
    if with_revisions {
        add_revisions(&mut revisions, &tokens);
    }
    let mut by_node = group_by_node(tokens)?;
    let layers = lineage
        .into_iter()
        .map(|node| Layer {
            entries: by_node.remove(&node).unwrap_or_default(),
            node,
        })
        .collect();
    Ok((layers, revisions))
}

pub async fn resolve_node(store: &dyn StoreRead, id: &str) -> Result<Resolved, CommandError> {
    let layers = layers(store, id).await?;
    resolve(&layers).map_err(|e| from_resolve(id, e))
}

/// Resolves `id`, with the revision of every stored entry on its lineage (so each resolved token
/// can say when its winning entry was last written).
pub async fn resolve_with_revisions(
    store: &dyn StoreRead,
    id: &str,
) -> Result<(Resolved, Revisions), CommandError> {
    let (layers, revisions) = read_layers(store, id, true).await?;
    let resolved = resolve(&layers).map_err(|e| from_resolve(id, e))?;
    Ok((resolved, revisions))
}

/// Resolves `id` and every descendant, so a write that breaks any of them is refused.
pub async fn check_subtree(store: &dyn StoreRead, id: &str) -> Result<(), CommandError> {
    let (chains, _) = subtree_layers(store, id, false).await?;
    for (node, chain) in &chains {
        resolve(chain).map_err(|e| from_resolve(node, e))?;
    }
    Ok(())
}

/// `id` and every node below it, parents before children, each with the layers it resolves; and
/// the revisions of every entry read when `with_revisions`.
pub async fn subtree_layers(
    store: &dyn StoreRead,
    id: &str,
    with_revisions: bool,
) -> Result<(Vec<(String, Vec<Layer>)>, Revisions), CommandError> {
    let (above, mut revisions) = read_layers(store, id, with_revisions).await?;
    let below = store.subtree(id).await.map_err(from_store)?;
    let ids: Vec<String> = below.iter().skip(1).map(|n| n.id.clone()).collect();
    let records = store.tokens(&ids).await.map_err(from_store)?;
    if with_revisions {
        add_revisions(&mut revisions, &records);
    }
    let mut tokens = group_by_node(records)?;
    // Each node's chain is its parent's plus its own layer (subtree order puts parents first).
    let mut at: HashMap<String, usize> = HashMap::from([(id.to_owned(), 0)]);
    let mut chains = vec![(id.to_owned(), above)];
    for node in below.iter().skip(1) {
        let parent = node.parent.as_deref().unwrap_or_default();
        let mut chain = at
            .get(parent)
            .map(|&i| chains[i].1.clone())
            .unwrap_or_default();
        chain.push(Layer {
            node: node.id.clone(),
            entries: tokens.remove(&node.id).unwrap_or_default(),
        });
        at.insert(node.id.clone(), chains.len());
        chains.push((node.id.clone(), chain));
    }
    Ok((chains, revisions))
}

fn add_revisions(revisions: &mut Revisions, tokens: &[TokenRecord]) {
    for t in tokens {
        revisions
            .entry(t.node.clone())
            .or_default()
            .insert(t.path.clone(), t.revision);
    }
}

type Entries = std::collections::BTreeMap<String, Entry>;

fn group_by_node(tokens: Vec<TokenRecord>) -> Result<HashMap<String, Entries>, CommandError> {
    let mut by_node: HashMap<String, Entries> = HashMap::new();
    for t in tokens {
        let (node, path, entry) = entry_of(t)?;
        by_node.entry(node).or_default().insert(path, entry);
    }
    Ok(by_node)
}

/// The record as the engine's entry (taking its value, not copying it), with its node and path.
fn entry_of(t: TokenRecord) -> Result<(String, String, Entry), CommandError> {
    let entry = match t.kind {
        TokenKind::Override => Entry::Override { value: t.value },
        TokenKind::Define => {
            let ty = t.token_type.as_deref().unwrap_or_default();
            let token_type: TokenType = ty.parse().map_err(|_| {
                CommandError::internal(format!(
                    "stored token {}/{} has unknown type '{ty}'",
                    t.node, t.path
                ))
            })?;
            Entry::Define {
                token_type,
                value: t.value,
                description: t.description,
            }
        }
    };
    Ok((t.node, t.path, entry))
}
