//! tokens.resolve and tokens.export: the reads products and pipelines make.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tinct_command::{CommandDef, CommandError, Context};
use tinct_engine::{ExportOptions, Format, export};

use crate::services::Services;
use crate::tree::resolve_node;
use crate::views::{ResolvedTokenView, TokenMap};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    pub node: String,
    /// Only tokens whose path starts with this, e.g. `color.`.
    pub prefix: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ResolveOut {
    pub node: String,
    pub count: usize,
    /// Each path with its resolved value, type, winning node and alias chain.
    pub tokens: TokenMap,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportIn {
    pub node: String,
    /// css, json, json-flat, scss, less, js, ts, dtcg, swift, android or compose (a file extension
    /// such as `xml` or `kt` also works).
    pub format: String,
    /// CSS selector that holds the properties (default `:root`).
    pub selector: Option<String>,
    /// Prefix for generated names, e.g. `acme` gives `--acme-color-…`.
    pub prefix: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportOut {
    pub node: String,
    pub format: String,
    pub content_type: String,
    pub content: String,
    /// Strong validator of `content`, quoted as an HTTP ETag.
    pub etag: String,
}

pub fn defs(s: &Arc<Services>) -> Vec<CommandDef> {
    let (r, e) = (s.clone(), s.clone());
    vec![
        CommandDef::new(
            "tokens.resolve",
            "Resolve every token a node sees: inherited definitions, its overrides, aliases followed in the node's own context.",
            move |i: ResolveIn, ctx: Context| {
                let s = r.clone();
                async move {
                    let resolved = resolve_node(s.reader(&ctx).await?, &i.node).await?;
                    let prefix = i.prefix.unwrap_or_default();
                    let tokens: TokenMap = resolved
                        .tokens
                        .into_iter()
                        .filter(|(path, _)| path.starts_with(&prefix))
                        .map(|(path, t)| (path, ResolvedTokenView::from(t)))
                        .collect();
                    Ok(ResolveOut {
                        node: i.node,
                        count: tokens.len(),
                        tokens,
                    })
                }
            },
        )
        .tags(&["tokens"])
        .example("a theme", json!({"node": "acme-web-dark"}))
        .example("only colours", json!({"node": "acme", "prefix": "color."})),
        CommandDef::new(
            "tokens.export",
            "Export a node's resolved tokens as a file (css or json), with an ETag.",
            move |i: ExportIn, ctx: Context| {
                let s = e.clone();
                async move { export_node(&s, i, ctx).await }
            },
        )
        .tags(&["tokens", "export"])
        .example("CSS custom properties", json!({"node": "acme-web-dark", "format": "css"}))
        .example(
            "scoped and prefixed",
            json!({"node": "acme-web-dark", "format": "css", "selector": "[data-theme=\"dark\"]", "prefix": "acme"}),
        ),
    ]
}

async fn export_node(s: &Services, i: ExportIn, ctx: Context) -> Result<ExportOut, CommandError> {
    // A format name, or a file extension (`xml`, `kt`, `d.ts`) as export routes receive them.
    let by_extension = Format::ALL.into_iter().find(|f| f.extension() == i.format);
    let format: Format = i
        .format
        .parse()
        .or_else(|e| by_extension.ok_or(e))
        .map_err(|e| {
            let valid: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
            CommandError::validation(format!("format: {e}"))
                .suggest(format!("Use one of: {}.", valid.join(", ")))
                .details(json!({"field": "format"}))
        })?;
    let mut options = ExportOptions::default();
    if let Some(selector) = i.selector {
        if selector.trim().is_empty() || selector.contains(['{', '}']) {
            return Err(CommandError::validation(
                "selector must be a non-empty CSS selector without braces",
            )
            .suggest("Use e.g. :root or [data-theme=\"dark\"]."));
        }
        options.selector = selector;
    }
    options.prefix = i.prefix;
    let resolved = resolve_node(s.reader(&ctx).await?, &i.node).await?;
    let content = export(&resolved, format, &options);
    Ok(ExportOut {
        etag: etag_of(&content),
        node: i.node,
        format: format.as_str().to_owned(),
        content_type: format.content_type().to_owned(),
        content,
    })
}

fn etag_of(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}
