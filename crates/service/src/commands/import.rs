//! tokens.import: a DTCG token document, or a DTCG resolver document (sets and modifiers), into the
//! node tree. A token document becomes the node's own tokens (overrides where the node inherits the
//! path); a resolver document becomes the node (its base sets) plus one child per modifier context
//! that overrides what that context changes. `dryRun` reports the diff and changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tinct_command::{CommandDef, CommandError, Context};
use tinct_engine::{
    Diagnostic, Entry, Layer, PlannedNode, is_resolver_document, parse_document, parse_resolver,
};
use tinct_platform::{NewNode, StoreTx, TokenKind, TokenRecord};

use super::TREE_READS;
use super::node::validate_node_id;
use crate::errors::from_store;
use crate::services::{Change, Services};
use crate::tree::{check_subtree, layers};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportIn {
    /// The node to import into; for a resolver document, the root it becomes (created if missing).
    pub node: String,
    /// A DTCG token document, or a DTCG resolver document.
    pub document: Value,
    /// Files a resolver document's sources reference by name (`{"$ref": "base.json"}`).
    #[serde(default)]
    pub files: BTreeMap<String, Value>,
    /// Report what would change, and any error, without changing anything.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Serialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct NodeDiff {
    pub node: String,
    /// The node did not exist and is created.
    pub created: bool,
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub overridden: Vec<String>,
    pub unchanged: usize,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportOut {
    pub dry_run: bool,
    /// `tokens` or `resolver`.
    pub kind: String,
    pub nodes: Vec<NodeDiff>,
}

pub fn defs(s: &Arc<Services>) -> Vec<CommandDef> {
    let i = s.clone();
    vec![
        CommandDef::new(
            "tokens.import",
            "Import a DTCG token document (into a node) or a DTCG resolver document (a node plus one child per modifier context); dryRun shows the diff.",
            move |input: ImportIn, ctx: Context| {
                let s = i.clone();
                async move { import(&s, input, ctx).await }
            },
        )
        .mutation(TREE_READS)
        .tags(&["tokens", "import"])
        .example(
            "a token file, dry run",
            json!({"node": "acme", "dryRun": true, "document": {"color": {"$type": "color", "accent": {"$value": "#ff5500"}}}}),
        ),
    ]
}

fn invalid_document(errors: &[Diagnostic]) -> CommandError {
    let first = errors.first().map(ToString::to_string).unwrap_or_default();
    CommandError::validation(format!(
        "the document has {} error(s); first: {first}",
        errors.len()
    ))
    .suggest("Fix every listed error (each names its JSON pointer) and import again; dryRun checks without writing.")
    .details(json!({ "errors": errors }))
}

/// The nodes to write: one for a token document, a small tree for a resolver document.
fn plan(i: &ImportIn, ctx: &Context) -> Result<(String, Vec<PlannedNode>), CommandError> {
    let warn = |diagnostics: Vec<Diagnostic>| {
        for d in diagnostics {
            ctx.warn(d.to_string());
        }
    };
    if is_resolver_document(&i.document) {
        let (resolver, warnings) = parse_resolver(&i.document).map_err(|e| invalid_document(&e))?;
        warn(warnings);
        let planned = resolver
            .to_tree(&i.node, &i.files, "document")
            .map_err(|e| invalid_document(&e))?;
        return Ok(("resolver".to_owned(), planned));
    }
    let (document, warnings) = parse_document(&i.document).map_err(|e| invalid_document(&e))?;
    warn(warnings);
    let planned = PlannedNode {
        id: i.node.clone(),
        parent: None,
        modifier: None,
        context: None,
        layer: document.layer(&i.node),
    };
    Ok(("tokens".to_owned(), vec![planned]))
}

async fn import(s: &Services, i: ImportIn, ctx: Context) -> Result<ImportOut, CommandError> {
    validate_node_id(&i.node)?;
    let (kind, planned) = plan(&i, &ctx)?;
    let tx = s.begin().await?;
    let resolver = kind == "resolver";
    if !resolver && tx.node(&i.node).await.map_err(from_store)?.is_none() {
        return Err(crate::tree::node_not_found(tx.as_ref(), &i.node).await);
    }
    let mut diffs = Vec::new();
    for node in &planned {
        diffs.push(apply(s, tx.as_ref(), &ctx, node).await?);
    }
    check_subtree(tx.as_ref(), &i.node).await?;
    if !i.dry_run {
        s.commit(tx, &ctx).await?;
    }
    Ok(ImportOut {
        dry_run: i.dry_run,
        kind,
        nodes: diffs,
    })
}

/// Writes one planned node inside the transaction and says what changed.
async fn apply(
    s: &Services,
    tx: &dyn StoreTx,
    ctx: &Context,
    planned: &PlannedNode,
) -> Result<NodeDiff, CommandError> {
    let mut diff = NodeDiff {
        node: planned.id.clone(),
        ..NodeDiff::default()
    };
    if tx.node(&planned.id).await.map_err(from_store)?.is_none() {
        tx.insert_node(&NewNode {
            id: planned.id.clone(),
            parent: planned.parent.clone(),
            name: planned.id.clone(),
            description: planned
                .context
                .as_ref()
                .map(|c| format!("imported context {c}")),
        })
        .await
        .map_err(from_store)?;
        diff.created = true;
        s.log(
            tx,
            ctx,
            Change {
                node: &planned.id,
                path: None,
                action: "node.created",
                before: None,
                after: None,
            },
        )
        .await?;
    }
    let existing = layers(tx, &planned.id).await?;
    let (own, inherited) = existing
        .split_last()
        .map_or((None, &[][..]), |(o, a)| (Some(o), a));
    for (path, entry) in &planned.layer.entries {
        let record = record_for(&planned.id, path, entry, inherits(inherited, path));
        let current = own.and_then(|l| l.entries.get(path));
        let same = current.map(entry_value).as_ref() == Some(&record.value)
            && current_kind(current) == Some(record.kind);
        if same {
            diff.unchanged += 1;
            continue;
        }
        let list = match (current, record.kind) {
            (_, TokenKind::Override) => &mut diff.overridden,
            (Some(_), TokenKind::Define) => &mut diff.updated,
            (None, TokenKind::Define) => &mut diff.added,
        };
        list.push(path.clone());
        tx.put_token(&record).await.map_err(from_store)?;
        let after = json!({"kind": record.kind.as_str(), "value": record.value});
        s.log(
            tx,
            ctx,
            Change {
                node: &planned.id,
                path: Some(path),
                action: "token.imported",
                before: current.map(entry_value),
                after: Some(after),
            },
        )
        .await?;
    }
    Ok(diff)
}

fn current_kind(entry: Option<&Entry>) -> Option<TokenKind> {
    entry.map(|e| match e {
        Entry::Define { .. } => TokenKind::Define,
        Entry::Override { .. } => TokenKind::Override,
    })
}

fn entry_value(entry: &Entry) -> Value {
    match entry {
        Entry::Define { value, .. } | Entry::Override { value } => value.clone(),
    }
}

fn inherits(ancestors: &[Layer], path: &str) -> bool {
    ancestors
        .iter()
        .any(|l| matches!(l.entries.get(path), Some(Entry::Define { .. })))
}

/// A definition of a path the node inherits is stored as an override of it.
fn record_for(node: &str, path: &str, entry: &Entry, inherited: bool) -> TokenRecord {
    match entry {
        Entry::Define {
            token_type,
            value,
            description,
        } if !inherited => TokenRecord {
            node: node.to_owned(),
            path: path.to_owned(),
            kind: TokenKind::Define,
            token_type: Some(token_type.as_str().to_owned()),
            value: value.clone(),
            description: description.clone(),
            revision: 0,
        },
        other => TokenRecord {
            node: node.to_owned(),
            path: path.to_owned(),
            kind: TokenKind::Override,
            token_type: None,
            value: entry_value(other),
            description: None,
            revision: 0,
        },
    }
}
