//! node.create, node.get, node.list, node.update, node.delete.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tinct_command::{CommandDef, CommandError, Context, ErrorCode};
use tinct_platform::NewNode;

use super::{NODE_READS, TREE_READS};
use crate::errors::from_store;
use crate::services::{Change, Services};
use crate::tree::{node_not_found, require_node};
use crate::views::NodeView;

const MAX_ID_LEN: usize = 64;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateIn {
    /// 1–64 lowercase letters, digits, '-' or '_', starting with a letter or digit.
    pub id: String,
    /// Display name; defaults to the id.
    pub name: Option<String>,
    /// The parent node; omit to create a root (a design system).
    pub parent: Option<String>,
    pub description: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdIn {
    pub id: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListIn {
    /// Only the children of this node; omit for every node.
    pub parent: Option<String>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListOut {
    pub nodes: Vec<NodeView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetOut {
    #[serde(flatten)]
    pub node: NodeView,
    /// Ids from the root down to this node.
    pub lineage: Vec<String>,
    pub child_count: u64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIn {
    pub id: String,
    pub name: Option<String>,
    /// Set to a string to change it, or to null to clear it.
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
}

/// Distinguishes `"description": null` (clear) from an absent field (keep).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteIn {
    pub id: String,
    /// Also delete every descendant and their tokens.
    #[serde(default)]
    pub cascade: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct DeleteOut {
    /// Every node removed, descendants first.
    pub deleted: Vec<String>,
}

pub fn validate_node_id(id: &str) -> Result<(), CommandError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CommandError::validation(format!(
            "node id '{id}' is not valid: use 1–{MAX_ID_LEN} lowercase letters, digits, '-' or '_', starting with a letter or digit"
        ))
        .suggest(format!("Try '{}'.", slug(id))))
    }
}

fn slug(s: &str) -> String {
    let mut out: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    out = out.trim_matches('-').to_owned();
    out.truncate(MAX_ID_LEN);
    if out.is_empty() {
        "my-node".to_owned()
    } else {
        out
    }
}

fn validate_name(name: &str) -> Result<(), CommandError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(
            CommandError::validation("name must be 1–200 characters and not only spaces")
                .suggest("Give a readable name such as \"Acme Web\", or omit it to use the id."),
        );
    }
    Ok(())
}

pub fn defs(s: &Arc<Services>) -> Vec<CommandDef> {
    let (c, g, l, u, d) = (s.clone(), s.clone(), s.clone(), s.clone(), s.clone());
    vec![
        CommandDef::new(
            "node.create",
            "Create a node. A node without parent is a root (a design system); children are products, themes, modes.",
            move |i: CreateIn, ctx: Context| {
                let s = c.clone();
                async move { create(&s, i, ctx).await }
            },
        )
        .mutation(TREE_READS)
        .tags(&["nodes"])
        .example("a design system", json!({"id": "acme", "name": "Acme Design System"}))
        .example("a dark theme under a product", json!({"id": "acme-web-dark", "parent": "acme-web", "name": "Dark"})),
        CommandDef::new(
            "node.get",
            "Get one node with its lineage (root first) and number of children.",
            move |i: IdIn, ctx: Context| {
                let s = g.clone();
                async move {
                    let store = s.reader(&ctx).await?;
                    let node = require_node(store, &i.id).await?;
                    let lineage = store.lineage(&i.id).await.map_err(from_store)?;
                    let child_count = store.child_count(&i.id).await.map_err(from_store)?;
                    Ok(GetOut {
                        node: node.into(),
                        lineage: lineage.into_iter().map(|n| n.id).collect(),
                        child_count,
                    })
                }
            },
        )
        .tags(&["nodes"])
        .example("a node", json!({"id": "acme"})),
        CommandDef::new(
            "node.list",
            "List nodes in id order, a page at a time: every node, or the children of `parent`.",
            move |i: ListIn, ctx: Context| {
                let s = l.clone();
                async move { list(&s, i, ctx).await }
            },
        )
        .tags(&["nodes"])
        .example("every node", json!({}))
        .example("children of a node", json!({"parent": "acme", "limit": 50})),
        CommandDef::new(
            "node.update",
            "Rename a node or change its description.",
            move |i: UpdateIn, ctx: Context| {
                let s = u.clone();
                async move { update(&s, i, ctx).await }
            },
        )
        .mutation(NODE_READS)
        .tags(&["nodes"])
        .example("rename", json!({"id": "acme", "name": "Acme DS"})),
        CommandDef::new(
            "node.delete",
            "Delete a node and its tokens. Refused with NODE_HAS_CHILDREN unless `cascade` is true.",
            move |i: DeleteIn, ctx: Context| {
                let s = d.clone();
                async move { delete(&s, i, ctx).await }
            },
        )
        .mutation(TREE_READS)
        .tags(&["nodes"])
        .example("a leaf", json!({"id": "acme-web-dark"}))
        .example("a subtree", json!({"id": "acme-web", "cascade": true})),
    ]
}

async fn create(s: &Services, i: CreateIn, ctx: Context) -> Result<NodeView, CommandError> {
    validate_node_id(&i.id)?;
    let name = i.name.unwrap_or_else(|| i.id.clone());
    validate_name(&name)?;
    let tx = s.begin().await?;
    s.expect_node(tx.as_ref(), &ctx, &i.id).await?;
    if tx.node(&i.id).await.map_err(from_store)?.is_some() {
        return Err(CommandError::new(
            ErrorCode::AlreadyExists,
            format!("a node with id '{}' exists already", i.id),
        )
        .suggest("Pick another id, or change the existing node with node.update."));
    }
    if let Some(parent) = &i.parent
        && tx.node(parent).await.map_err(from_store)?.is_none()
    {
        let e = node_not_found(tx.as_ref(), parent).await;
        return Err(CommandError {
            message: format!("parent node '{parent}' does not exist"),
            ..e
        });
    }
    let new = NewNode {
        id: i.id.clone(),
        parent: i.parent,
        name,
        description: i.description,
    };
    tx.insert_node(&new).await.map_err(from_store)?;
    let node = tx.node(&i.id).await.map_err(from_store)?;
    let after = serde_json::to_value(&node).ok();
    s.log(
        tx.as_ref(),
        &ctx,
        Change {
            node: &i.id,
            path: None,
            action: "node.created",
            before: None,
            after,
        },
    )
    .await?;
    s.commit(tx, &ctx).await?;
    node.map(NodeView::from)
        .ok_or_else(|| CommandError::internal("node vanished after insert"))
}

async fn list(s: &Services, i: ListIn, ctx: Context) -> Result<ListOut, CommandError> {
    let limit = super::page_limit(i.limit, 100)?;
    let store = s.reader(&ctx).await?;
    if let Some(parent) = &i.parent {
        require_node(store, parent).await?;
    }
    // One extra row tells whether another page follows.
    let mut nodes = store
        .nodes(i.parent.as_deref(), i.cursor.as_deref(), limit + 1)
        .await
        .map_err(from_store)?;
    let next_cursor = if nodes.len() > limit as usize {
        nodes.truncate(limit as usize);
        nodes.last().map(|n| n.id.clone())
    } else {
        None
    };
    Ok(ListOut {
        nodes: nodes.into_iter().map(NodeView::from).collect(),
        next_cursor,
    })
}

async fn update(s: &Services, i: UpdateIn, ctx: Context) -> Result<NodeView, CommandError> {
    if i.name.is_none() && i.description.is_none() {
        return Err(CommandError::validation("nothing to update")
            .suggest("Pass `name` and/or `description`."));
    }
    let tx = s.begin().await?;
    s.expect_node(tx.as_ref(), &ctx, &i.id).await?;
    let before = require_node(tx.as_ref(), &i.id).await?;
    let name = i.name.unwrap_or_else(|| before.name.clone());
    validate_name(&name)?;
    let description = match i.description {
        Some(d) => d,
        None => before.description.clone(),
    };
    tx.update_node(&i.id, &name, description.as_deref())
        .await
        .map_err(from_store)?;
    let after = require_node(tx.as_ref(), &i.id).await?;
    s.log(
        tx.as_ref(),
        &ctx,
        Change {
            node: &i.id,
            path: None,
            action: "node.updated",
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    s.commit(tx, &ctx).await?;
    Ok(after.into())
}

async fn delete(s: &Services, i: DeleteIn, ctx: Context) -> Result<DeleteOut, CommandError> {
    let tx = s.begin().await?;
    s.expect_node(tx.as_ref(), &ctx, &i.id).await?;
    require_node(tx.as_ref(), &i.id).await?;
    let subtree = tx.subtree(&i.id).await.map_err(from_store)?;
    if subtree.len() > 1 && !i.cascade {
        let children: Vec<&str> = subtree
            .iter()
            .filter(|n| n.parent.as_deref() == Some(i.id.as_str()))
            .map(|n| n.id.as_str())
            .collect();
        return Err(CommandError::new(
            ErrorCode::NodeHasChildren,
            format!(
                "node '{}' has {} child node(s): {}",
                i.id,
                children.len(),
                children.join(", ")
            ),
        )
        .suggest(
            "Delete the children first, or pass \"cascade\": true to delete the whole subtree.",
        )
        .details(json!({"children": children, "descendants": subtree.len() - 1})));
    }
    // Children before parents, so no row ever points at a deleted parent.
    let deleted: Vec<String> = subtree.iter().rev().map(|n| n.id.clone()).collect();
    // Logged while the nodes still exist, so the webhooks of their ancestors are found.
    for node in subtree.iter().rev() {
        s.log(
            tx.as_ref(),
            &ctx,
            Change {
                node: &node.id,
                path: None,
                action: "node.deleted",
                before: serde_json::to_value(node).ok(),
                after: None,
            },
        )
        .await?;
    }
    tx.delete_nodes(&deleted).await.map_err(from_store)?;
    s.commit(tx, &ctx).await?;
    Ok(DeleteOut { deleted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_follow_the_rule() {
        for ok in ["acme", "acme-web_dark", "a", "0x"] {
            assert!(validate_node_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "-acme", "a b", "é", &"a".repeat(65)] {
            let e = validate_node_id(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ValidationError, "{bad}");
        }
        assert_eq!(
            validate_node_id("Acme Web")
                .unwrap_err()
                .suggestion
                .as_deref(),
            Some("Try 'acme-web'.")
        );
    }
}
