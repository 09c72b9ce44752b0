//! token.add, token.update, token.override, token.remove, token.reset, token.history.
//!
//! Every write re-resolves the node and its descendants inside the transaction, so a write that
//! would leave a cycle, a broken alias or an orphaned override anywhere below is refused and
//! changes nothing.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tinct_command::{CommandDef, CommandError, Context, ErrorCode};
use tinct_engine::{Entry, Layer, TokenType, nearest_paths, validate_path, validate_value};
use tinct_platform::{StoreTx, TokenKind, TokenRecord};

use super::TOKEN_READS;
use crate::errors::from_store;
use crate::services::{Change, Services, change_number};
use crate::tree::{check_subtree, layers, node_not_found};
use crate::views::HistoryView;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddIn {
    pub node: String,
    /// Dot-separated, e.g. `color.brand.primary`.
    pub path: String,
    /// A DTCG type: color, dimension, fontFamily, fontWeight, duration, cubicBezier, number,
    /// strokeStyle, border, transition, shadow, gradient, typography.
    #[serde(rename = "type")]
    pub token_type: String,
    /// A DTCG value for the type, or an alias such as `"{color.base.violet}"`.
    pub value: Value,
    pub description: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIn {
    pub node: String,
    pub path: String,
    #[serde(rename = "type")]
    pub token_type: Option<String>,
    pub value: Option<Value>,
    pub description: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideIn {
    pub node: String,
    pub path: String,
    /// The node's own value for a token it inherits; an alias is allowed.
    pub value: Value,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathIn {
    pub node: String,
    pub path: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryIn {
    pub node: String,
    /// Only this token's history.
    pub path: Option<String>,
    /// Newest first, at most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct TokenView {
    pub node: String,
    pub path: String,
    /// `define` (the node defines the token) or `override` (it replaces an inherited value).
    pub kind: String,
    #[serde(rename = "type")]
    pub token_type: String,
    pub value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The change number of this write; send it back as `expectedRevision` so a later change is
    /// refused if someone else changed the entry meanwhile.
    pub revision: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct RemovedOut {
    pub node: String,
    pub path: String,
    /// The value that was removed.
    pub value: Value,
}

#[derive(Serialize, JsonSchema)]
pub struct HistoryOut {
    pub entries: Vec<HistoryView>,
}

pub fn defs(s: &Arc<Services>) -> Vec<CommandDef> {
    let (a, u, o, r, z, h) = (
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
    );
    vec![
        CommandDef::new(
            "token.add",
            "Define a token on a node. Descendants inherit it and may override its value.",
            move |i: AddIn, ctx: Context| {
                let s = a.clone();
                async move { add(&s, i, ctx).await }
            },
        )
        .mutation(TOKEN_READS)
        .tags(&["tokens"])
        .example(
            "a colour",
            json!({"node": "acme", "path": "color.base.violet", "type": "color", "value": "#6d28d9"}),
        )
        .example(
            "an alias",
            json!({"node": "acme", "path": "color.brand.primary", "type": "color", "value": "{color.base.violet}"}),
        ),
        CommandDef::new(
            "token.update",
            "Change the value, type or description of a token the node defines itself.",
            move |i: UpdateIn, ctx: Context| {
                let s = u.clone();
                async move { update(&s, i, ctx).await }
            },
        )
        .mutation(TOKEN_READS)
        .tags(&["tokens"])
        .example(
            "a new value",
            json!({"node": "acme", "path": "color.base.violet", "value": "#7c3aed"}),
        ),
        CommandDef::new(
            "token.override",
            "Give a node its own value for a token it inherits from an ancestor.",
            move |i: OverrideIn, ctx: Context| {
                let s = o.clone();
                async move { override_token(&s, i, ctx).await }
            },
        )
        .mutation(TOKEN_READS)
        .tags(&["tokens"])
        .example(
            "a dark background",
            json!({"node": "acme-web-dark", "path": "color.bg.default", "value": "#0b0b10"}),
        ),
        CommandDef::new(
            "token.remove",
            "Remove a token the node defines. Refused while anything below still uses it.",
            move |i: PathIn, ctx: Context| {
                let s = r.clone();
                async move { remove(&s, i, ctx).await }
            },
        )
        .mutation(TOKEN_READS)
        .tags(&["tokens"])
        .example("a token", json!({"node": "acme", "path": "color.base.violet"})),
        CommandDef::new(
            "token.reset",
            "Drop a node's override so it inherits the value again.",
            move |i: PathIn, ctx: Context| {
                let s = z.clone();
                async move { reset(&s, i, ctx).await }
            },
        )
        .mutation(TOKEN_READS)
        .tags(&["tokens"])
        .example("an override", json!({"node": "acme-web-dark", "path": "color.bg.default"})),
        CommandDef::new(
            "token.history",
            "Who changed what and when on a node (or one of its tokens), newest first, with trace ids.",
            move |i: HistoryIn, ctx: Context| {
                let s = h.clone();
                async move { history(&s, i, ctx).await }
            },
        )
        .tags(&["tokens"])
        .example("one token", json!({"node": "acme", "path": "color.base.violet"})),
    ]
}

fn check_path(path: &str) -> Result<(), CommandError> {
    validate_path(path).map_err(|e| {
        CommandError::validation(format!("path: {e}"))
            .suggest("Use dot-separated names such as color.brand.primary.")
            .details(json!({"field": "path"}))
    })
}

fn parse_type(name: &str) -> Result<TokenType, CommandError> {
    name.parse::<TokenType>().map_err(|e| {
        let valid: Vec<&str> = TokenType::ALL.iter().map(|t| t.as_str()).collect();
        CommandError::validation(format!("type: {e}"))
            .suggest(format!("Use one of: {}.", valid.join(", ")))
            .details(json!({"field": "type"}))
    })
}

fn check_value(ty: TokenType, value: &Value) -> Result<(), CommandError> {
    validate_value(ty, value).map_err(|e| {
        CommandError::validation(format!("value for a {ty} token: {e}"))
            .suggest(format!(
                "Give a {ty} value such as {}, or an alias like \"{{path.to.token}}\".",
                e.expected
            ))
            .details(json!({
                "field": "value", "pointer": e.pointer, "expected": e.expected
            }))
    })
}

/// The definition of `path` nearest above the node (the node's own layer is last and skipped).
fn inherited<'a>(layers: &'a [Layer], path: &str) -> Option<(&'a str, TokenType, &'a Value)> {
    let ancestors = &layers[..layers.len().saturating_sub(1)];
    let mut found = None;
    for layer in ancestors {
        match layer.entries.get(path) {
            Some(Entry::Define {
                token_type, value, ..
            }) => found = Some((layer.node.as_str(), *token_type, value)),
            Some(Entry::Override { value }) => {
                if let Some(f) = found.as_mut() {
                    *f = (layer.node.as_str(), f.1, value);
                }
            }
            None => {}
        }
    }
    found
}

fn inherited_paths(layers: &[Layer]) -> impl Iterator<Item = &str> {
    layers[..layers.len().saturating_sub(1)]
        .iter()
        .flat_map(|l| l.entries.keys().map(String::as_str))
}

async fn node_layers(tx: &dyn StoreTx, node: &str) -> Result<Vec<Layer>, CommandError> {
    if tx.node(node).await.map_err(from_store)?.is_none() {
        return Err(node_not_found(tx, node).await);
    }
    layers(tx, node).await
}

fn view(record: &TokenRecord, token_type: TokenType, revision: i64) -> TokenView {
    TokenView {
        node: record.node.clone(),
        path: record.path.clone(),
        kind: record.kind.as_str().to_owned(),
        token_type: token_type.as_str().to_owned(),
        value: record.value.clone(),
        description: record.description.clone(),
        revision,
    }
}

async fn add(s: &Services, i: AddIn, ctx: Context) -> Result<TokenView, CommandError> {
    check_path(&i.path)?;
    let ty = parse_type(&i.token_type)?;
    check_value(ty, &i.value)?;
    let tx = s.begin().await?;
    s.expect_token(tx.as_ref(), &ctx, &i.node, &i.path).await?;
    let layers = node_layers(tx.as_ref(), &i.node).await?;
    let own = layers.last().and_then(|l| l.entries.get(&i.path));
    let conflict = match own {
        Some(Entry::Define { .. }) => Some((
            format!("node '{}' already defines {}", i.node, i.path),
            "Change it with token.update, or remove it first with token.remove.".to_owned(),
        )),
        Some(Entry::Override { .. }) => Some((
            format!(
                "node '{}' already overrides the inherited {}",
                i.node, i.path
            ),
            "Change its value with token.override.".to_owned(),
        )),
        None => inherited(&layers, &i.path).map(|(from, _, _)| {
            (
                format!("{} is already defined by ancestor '{from}'", i.path),
                format!(
                    "Give '{}' its own value with token.override instead.",
                    i.node
                ),
            )
        }),
    };
    if let Some((message, suggestion)) = conflict {
        return Err(CommandError::new(ErrorCode::AlreadyExists, message).suggest(suggestion));
    }
    let record = TokenRecord {
        node: i.node.clone(),
        path: i.path.clone(),
        kind: TokenKind::Define,
        token_type: Some(ty.as_str().to_owned()),
        value: i.value,
        description: i.description,
        revision: 0,
    };
    tx.put_token(&record).await.map_err(from_store)?;
    check_subtree(tx.as_ref(), &i.node).await?;
    s.log(
        tx.as_ref(),
        &ctx,
        Change {
            node: &i.node,
            path: Some(&i.path),
            action: "token.added",
            before: None,
            after: Some(json!({"type": ty.as_str(), "value": record.value})),
        },
    )
    .await?;
    let revision = change_number(tx.as_ref());
    s.commit(tx, &ctx).await?;
    Ok(view(&record, ty, revision))
}

async fn update(s: &Services, i: UpdateIn, ctx: Context) -> Result<TokenView, CommandError> {
    if i.token_type.is_none() && i.value.is_none() && i.description.is_none() {
        return Err(CommandError::validation("nothing to update")
            .suggest("Pass `value`, `type` and/or `description`."));
    }
    check_path(&i.path)?;
    let tx = s.begin().await?;
    s.expect_token(tx.as_ref(), &ctx, &i.node, &i.path).await?;
    let layers = node_layers(tx.as_ref(), &i.node).await?;
    let Some(Entry::Define {
        token_type,
        value,
        description,
    }) = layers.last().and_then(|l| l.entries.get(&i.path))
    else {
        return Err(not_defined_here(&layers, &i.node, &i.path));
    };
    let ty = match &i.token_type {
        Some(name) => parse_type(name)?,
        None => *token_type,
    };
    let new_value = i.value.unwrap_or_else(|| value.clone());
    check_value(ty, &new_value)?;
    let record = TokenRecord {
        node: i.node.clone(),
        path: i.path.clone(),
        kind: TokenKind::Define,
        token_type: Some(ty.as_str().to_owned()),
        value: new_value,
        description: i.description.or_else(|| description.clone()),
        revision: 0,
    };
    let before = json!({"type": token_type.as_str(), "value": value});
    tx.put_token(&record).await.map_err(from_store)?;
    check_subtree(tx.as_ref(), &i.node).await?;
    s.log(
        tx.as_ref(),
        &ctx,
        Change {
            node: &i.node,
            path: Some(&i.path),
            action: "token.updated",
            before: Some(before),
            after: Some(json!({"type": ty.as_str(), "value": record.value})),
        },
    )
    .await?;
    let revision = change_number(tx.as_ref());
    s.commit(tx, &ctx).await?;
    Ok(view(&record, ty, revision))
}

fn not_defined_here(layers: &[Layer], node: &str, path: &str) -> CommandError {
    let own = layers.last().map(|l| &l.entries);
    if let Some(Entry::Override { .. }) = own.and_then(|e| e.get(path)) {
        return CommandError::not_found(format!(
            "node '{node}' overrides {path} but does not define it"
        ))
        .suggest("Change the override with token.override, or drop it with token.reset.");
    }
    if let Some((from, _, _)) = inherited(layers, path) {
        return CommandError::not_found(format!(
            "{path} is defined by ancestor '{from}', not by '{node}'"
        ))
        .suggest(format!(
            "Change it on '{from}', or give '{node}' its own value with token.override."
        ));
    }
    let close = nearest_paths(
        path,
        own.into_iter().flat_map(|e| e.keys().map(String::as_str)),
        3,
    );
    let hint = if close.is_empty() {
        "Define it with token.add.".to_owned()
    } else {
        format!("Did you mean {}?", close.join(", "))
    };
    CommandError::not_found(format!("node '{node}' does not define {path}")).suggest(hint)
}

async fn override_token(
    s: &Services,
    i: OverrideIn,
    ctx: Context,
) -> Result<TokenView, CommandError> {
    check_path(&i.path)?;
    let tx = s.begin().await?;
    s.expect_token(tx.as_ref(), &ctx, &i.node, &i.path).await?;
    let layers = node_layers(tx.as_ref(), &i.node).await?;
    let own = layers.last().and_then(|l| l.entries.get(&i.path)).cloned();
    if let Some(Entry::Define { .. }) = own {
        return Err(CommandError::not_found(format!(
            "node '{}' defines {} itself, so there is nothing inherited to override",
            i.node, i.path
        ))
        .suggest("Change its value with token.update."));
    }
    let Some((_, ty, inherited_value)) = inherited(&layers, &i.path) else {
        let close = nearest_paths(&i.path, inherited_paths(&layers), 3);
        let hint = if close.is_empty() {
            format!(
                "No ancestor of '{}' defines it: define it with token.add.",
                i.node
            )
        } else {
            format!(
                "Did you mean {}? Or define a new token with token.add.",
                close.join(", ")
            )
        };
        return Err(
            CommandError::not_found(format!("'{}' inherits no token {}", i.node, i.path))
                .suggest(hint),
        );
    };
    check_value(ty, &i.value)?;
    let before = match &own {
        Some(Entry::Override { value }) => value.clone(),
        _ => inherited_value.clone(),
    };
    let record = TokenRecord {
        node: i.node.clone(),
        path: i.path.clone(),
        kind: TokenKind::Override,
        token_type: None,
        value: i.value,
        description: None,
        revision: 0,
    };
    tx.put_token(&record).await.map_err(from_store)?;
    check_subtree(tx.as_ref(), &i.node).await?;
    s.log(
        tx.as_ref(),
        &ctx,
        Change {
            node: &i.node,
            path: Some(&i.path),
            action: "token.overridden",
            before: Some(before),
            after: Some(record.value.clone()),
        },
    )
    .await?;
    let revision = change_number(tx.as_ref());
    s.commit(tx, &ctx).await?;
    Ok(view(&record, ty, revision))
}

async fn remove(s: &Services, i: PathIn, ctx: Context) -> Result<RemovedOut, CommandError> {
    check_path(&i.path)?;
    let tx = s.begin().await?;
    s.expect_token(tx.as_ref(), &ctx, &i.node, &i.path).await?;
    let layers = node_layers(tx.as_ref(), &i.node).await?;
    let Some(Entry::Define { value, .. }) = layers.last().and_then(|l| l.entries.get(&i.path))
    else {
        let e = not_defined_here(&layers, &i.node, &i.path);
        return Err(e);
    };
    let value = value.clone();
    drop_entry(s, tx, ctx, i, value, "token.removed").await
}

/// Deletes the node's own entry for the path (a definition or an override), checks that
/// everything below still resolves, logs and commits.
async fn drop_entry(
    s: &Services,
    tx: Box<dyn StoreTx>,
    ctx: Context,
    i: PathIn,
    value: Value,
    action: &str,
) -> Result<RemovedOut, CommandError> {
    tx.delete_token(&i.node, &i.path)
        .await
        .map_err(from_store)?;
    check_subtree(tx.as_ref(), &i.node).await?;
    s.log(
        tx.as_ref(),
        &ctx,
        Change {
            node: &i.node,
            path: Some(&i.path),
            action,
            before: Some(value.clone()),
            after: None,
        },
    )
    .await?;
    s.commit(tx, &ctx).await?;
    Ok(RemovedOut {
        node: i.node,
        path: i.path,
        value,
    })
}

async fn reset(s: &Services, i: PathIn, ctx: Context) -> Result<RemovedOut, CommandError> {
    check_path(&i.path)?;
    let tx = s.begin().await?;
    s.expect_token(tx.as_ref(), &ctx, &i.node, &i.path).await?;
    let layers = node_layers(tx.as_ref(), &i.node).await?;
    let Some(Entry::Override { value }) = layers.last().and_then(|l| l.entries.get(&i.path)) else {
        let hint = match layers.last().and_then(|l| l.entries.get(&i.path)) {
            Some(Entry::Define { .. }) => {
                "It is defined here, not overridden: remove it with token.remove.".to_owned()
            }
            _ => {
                let overridden: Vec<&str> = layers
                    .last()
                    .into_iter()
                    .flat_map(|l| l.entries.iter())
                    .filter(|(_, e)| matches!(e, Entry::Override { .. }))
                    .map(|(p, _)| p.as_str())
                    .collect();
                let close = nearest_paths(&i.path, overridden, 3);
                if close.is_empty() {
                    "Nothing to reset.".to_owned()
                } else {
                    format!("Did you mean {}?", close.join(", "))
                }
            }
        };
        return Err(CommandError::not_found(format!(
            "node '{}' has no override of {}",
            i.node, i.path
        ))
        .suggest(hint));
    };
    let value = value.clone();
    drop_entry(s, tx, ctx, i, value, "token.reset").await
}

async fn history(s: &Services, i: HistoryIn, ctx: Context) -> Result<HistoryOut, CommandError> {
    let limit = super::page_limit(i.limit, 100)?;
    let store = s.reader(&ctx).await?;
    let entries = store
        .history(&i.node, i.path.as_deref(), limit)
        .await
        .map_err(from_store)?;
    // History outlives deleted nodes; only a node that never existed is unknown.
    if entries.is_empty() && store.node(&i.node).await.map_err(from_store)?.is_none() {
        return Err(node_not_found(store, &i.node).await);
    }
    Ok(HistoryOut {
        entries: entries.into_iter().map(HistoryView::from).collect(),
    })
}
