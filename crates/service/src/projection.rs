//! The resolved projection: every node's `tokens.resolve` answer, rewritten by each transaction
//! that changes what the node resolves to, before it commits. An uncached read of a whole node is
//! then one row instead of the lineage's tokens resolved again. The tokens stay the source of
//! truth: a node with no stored answer (data written before the projection existed, or a node that
//! does not resolve) is resolved live.

use std::collections::{BTreeSet, HashSet};

use tinct_command::{CommandError, Data};
use tinct_engine::resolve;
use tinct_platform::{Store, StoreRead, StoreTx};

use crate::errors::from_store;
use crate::tree::subtree_layers;
use crate::views::ResolveOut;

/// The node's stored answer, if the projection holds one.
pub async fn read(store: &dyn StoreRead, node: &str) -> Result<Option<Data>, CommandError> {
    let Some(json) = store.resolved(node).await.map_err(from_store)? else {
        return Ok(None);
    };
    Data::trusted(json).map(Some).map_err(|e| {
        CommandError::internal(format!("the stored answer of node '{node}' is broken: {e}"))
    })
}

/// Rewrites the answers of every node this transaction changed and of all their descendants, as
/// the transaction sees them. Called just before commit, after every write of the transaction.
pub async fn refresh(tx: &dyn StoreTx) -> Result<(), CommandError> {
    refresh_below(tx, tx.changed_nodes()).await.map(|_| ())
}

/// Stores the answers of nodes that have none (data written before the projection existed), one
/// such node and its subtree per transaction; returns how many nodes it answered. Reads resolve such nodes
/// live meanwhile, so this only makes them fast.
pub async fn backfill(store: &dyn Store) -> Result<usize, CommandError> {
    let mut missing = Vec::new();
    loop {
        let page = store
            .unanswered_nodes(missing.last().map(String::as_str), 500)
            .await
            .map_err(from_store)?;
        if page.is_empty() {
            break;
        }
        missing.extend(page);
    }
    let mut filled = 0;
    for node in missing {
        // Ancestors come first in no particular order here, so a node may be answered already.
        if store.resolved(&node).await.map_err(from_store)?.is_some() {
            continue;
        }
        let tx = store.begin().await.map_err(from_store)?;
        filled += refresh_below(tx.as_ref(), vec![node]).await?;
        tx.commit().await.map_err(from_store)?;
    }
    Ok(filled)
}

/// Rewrites the answers of `nodes` and of everything below them; returns how many it stored.
async fn refresh_below(tx: &dyn StoreTx, nodes: Vec<String>) -> Result<usize, CommandError> {
    let mut seen = HashSet::new();
    let changed: Vec<String> = nodes
        .into_iter()
        .filter(|node| seen.insert(node.clone()))
        .collect();
    if changed.is_empty() {
        return Ok(0);
    }
    // Nodes this transaction deleted have no lineage (their rows went with them).
    let mut roots = BTreeSet::new();
    let mut present = Vec::new();
    for node in changed {
        let lineage = tx.lineage(&node).await.map_err(from_store)?;
        if let Some(root) = lineage.first() {
            roots.insert(root.id.clone());
            present.push((lineage.len(), node));
        }
    }
    // Two transactions changing one design system rewrite its answers one after the other, and
    // the later one reads what the earlier committed: neither can leave an answer that misses
    // the other's change. Locked in name order, so two writers never wait on each other.
    for root in &roots {
        tx.lock_tree(root).await.map_err(from_store)?;
    }
    // Ancestors first: a subtree already rewritten covers every changed node inside it.
    present.sort();
    let mut done = HashSet::new();
    let mut answers = Vec::new();
    let mut unresolvable = Vec::new();
    for (_, node) in present {
        if done.contains(&node) {
            continue;
        }
        let (chains, revisions) = subtree_layers(tx, &node, true).await?;
        for (id, layers) in chains {
            if !done.insert(id.clone()) {
                continue;
            }
            match resolve(&layers) {
                Ok(resolved) => {
                    let answer = ResolveOut::new(id.clone(), resolved, &revisions, None);
                    let json = serde_json::to_string(&answer).map_err(|e| {
                        CommandError::internal(format!("could not encode node '{id}': {e}"))
                    })?;
                    answers.push((id, json));
                }
                // Reads of it resolve live and report why.
                Err(_) => unresolvable.push(id),
            }
        }
    }
    if !answers.is_empty() {
        tx.put_resolved(&answers).await.map_err(from_store)?;
    }
    if !unresolvable.is_empty() {
        tx.drop_resolved(&unresolvable).await.map_err(from_store)?;
    }
    Ok(answers.len())
}
