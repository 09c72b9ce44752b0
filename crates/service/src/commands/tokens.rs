//! tokens.resolve and tokens.export: the reads products and pipelines make.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tinct_command::{CacheStatus, CommandDef, CommandError, Context, Data, ErrorCode};
use tinct_engine::{
    ColorFormat, ExportOption, ExportOptions, Format, Layer, NameCase, Theme, export,
    export_themes, resolve, to_resolver_document,
};
use tinct_platform::{JobState, StoreRead};

use crate::errors::{from_queue, from_resolve, from_store};
use crate::jobs::artifacts;
use crate::projection;
use crate::services::Services;
use crate::tree::{layers, node_not_found, resolve_node, resolve_with_revisions};
use crate::views::ResolveOut;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    pub node: String,
    /// Only tokens whose path starts with this, e.g. `color.`.
    pub prefix: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportIn {
    pub node: String,
    /// css, json, json-flat, scss, less, js, ts, dtcg, swift, android, compose, or resolver (a
    /// DTCG resolver document of the node and its children); a file extension such as `xml`,
    /// `kt` or `resolver.json` also works.
    pub format: String,
    /// css: selector of the rule that holds the properties (default `:root`).
    pub selector: Option<String>,
    /// Prefix for generated names, e.g. `acme` gives `--acme-color-…` (formats with flat names).
    pub prefix: Option<String>,
    /// Keep references (`var(--x)`, `$x`, `{x}`, constant names) instead of resolved values:
    /// css, scss, less, js, dtcg, swift and compose.
    pub output_references: Option<bool>,
    /// kebab, camel, pascal, snake or constant (default: the format's own; formats with flat names).
    pub name_case: Option<String>,
    /// How colours are written: auto, hex, rgb, hsl, oklch or display-p3 (css, scss, less, js).
    pub color_format: Option<String>,
    /// css: after the node's rule, one rule per direct child, `[data-theme="<child id>"]`,
    /// holding only the tokens that differ from the node.
    pub themes: Option<bool>,
    /// Run the export as a background job: the answer is `{jobId, status, artifact}` at once;
    /// poll `jobs.get` (or the status URL) and download the file from the artifact URL.
    pub r#async: Option<bool>,
}

/// What `tokens.export` answers: the file, or (with `async: true`) the job that makes it.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ExportResult {
    File(ExportOut),
    Started(ExportStarted),
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportStarted {
    /// The background job; read it with `jobs.get {"id": jobId}`.
    pub job_id: i64,
    /// The job's state now (`available`).
    pub state: String,
    /// Where the job's state is read (GET).
    pub status: String,
    /// Where the file is downloaded once the job has completed (GET).
    pub artifact: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportOut {
    pub node: String,
    pub format: String,
    pub content_type: String,
    pub content: String,
    /// Strong validator of `content` and the options that produced it, quoted as an HTTP ETag.
    pub etag: String,
}

pub fn defs(s: &Arc<Services>) -> Vec<CommandDef> {
    let (r, e) = (s.clone(), s.clone());
    vec![
        CommandDef::encoded::<_, ResolveOut, _, _>(
            "tokens.resolve",
            "Resolve every token a node sees: inherited definitions, its overrides, aliases followed in the node's own context.",
            move |i: ResolveIn, ctx: Context| {
                let s = r.clone();
                async move {
                    let store = s.reader(&ctx).await?;
                    let prefix = i.prefix.filter(|p| !p.is_empty());
                    if prefix.is_none()
                        && let Some(stored) = projection::read(store, &i.node).await?
                    {
                        return Ok(stored);
                    }
                    let (resolved, revisions) = resolve_with_revisions(store, &i.node).await?;
                    let out = ResolveOut::new(i.node, resolved, &revisions, prefix.as_deref());
                    Data::encode(&out).map_err(|e| {
                        CommandError::internal(format!("could not encode output: {e}"))
                    })
                }
            },
        )
        .tags(&["tokens"])
        .example("a theme", json!({"node": "acme-web-dark"}))
        .example("only colours", json!({"node": "acme", "prefix": "color."})),
        CommandDef::new(
            "tokens.export",
            "Export a node's resolved tokens as a file in any format (css, scss, less, js, ts, json, json-flat, dtcg, swift, android, compose; css optionally with a rule per child theme), or the node and its children as a DTCG resolver document; with an ETag.",
            move |i: ExportIn, ctx: Context| {
                let s = e.clone();
                async move {
                    if i.r#async == Some(true) {
                        return start_export(&s, i, &ctx).await.map(ExportResult::Started);
                    }
                    export_node(&s, i, ctx).await.map(ExportResult::File)
                }
            },
        )
        .tags(&["tokens", "export"])
        .example("CSS custom properties", json!({"node": "acme-web-dark", "format": "css"}))
        .example(
            "scoped and prefixed",
            json!({"node": "acme-web-dark", "format": "css", "selector": "[data-theme=\"dark\"]", "prefix": "acme"}),
        )
        .example(
            "a rule per theme, references kept",
            json!({"node": "acme-web", "format": "css", "themes": true, "outputReferences": true}),
        )
        .example(
            "TypeScript-style names, oklch colours",
            json!({"node": "acme", "format": "js", "nameCase": "camel", "colorFormat": "oklch"}),
        )
        .example("a resolver document", json!({"node": "acme-web", "format": "resolver"}))
        .example(
            "in the background (poll jobs.get, then download the artifact)",
            json!({"node": "acme-web", "format": "css", "async": true}),
        ),
    ]
}

/// What `tokens.export` writes: an engine format, or the node and its direct children as a
/// DTCG resolver document.
#[derive(Clone, Copy)]
enum Target {
    Tokens(Format),
    Resolver,
}

impl Target {
    fn parse(name: &str) -> Result<Target, CommandError> {
        if name == "resolver" || name == "resolver.json" {
            return Ok(Target::Resolver);
        }
        // A format name, or a file extension (`xml`, `kt`, `d.ts`) as export routes receive them.
        let by_extension = Format::ALL.into_iter().find(|f| f.extension() == name);
        let format = name.parse::<Format>().ok().or(by_extension);
        format.map(Target::Tokens).ok_or_else(|| {
            let valid: Vec<&str> = Format::ALL
                .iter()
                .map(|f| f.as_str())
                .chain(["resolver"])
                .collect();
            let problem = format!(
                "unknown export format {name:?}; supported formats are {}",
                valid.join(", ")
            );
            invalid("format", &problem, &valid)
        })
    }

    fn name(self) -> &'static str {
        match self {
            Target::Tokens(f) => f.as_str(),
            Target::Resolver => "resolver",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Target::Tokens(f) => f.content_type(),
            Target::Resolver => "application/json",
        }
    }

    /// A resolver document keeps every token as written, so no option applies to it.
    fn reads(self, option: ExportOption) -> bool {
        matches!(self, Target::Tokens(f) if f.reads(option))
    }
}

/// A VALIDATION_ERROR for `field` whose suggestion names the values it takes.
fn invalid(field: &str, problem: &str, valid: &[&str]) -> CommandError {
    CommandError::validation(format!("{field}: {problem}"))
        .suggest(format!("Use one of: {}.", valid.join(", ")))
        .details(json!({"field": field, "valid": valid}))
}

/// The engine options of `i`; an option the target would ignore is refused, not dropped.
fn export_options(i: &ExportIn, target: Target) -> Result<ExportOptions, CommandError> {
    let given = [
        ("selector", i.selector.is_some(), ExportOption::Selector),
        // Theme rules are selectors too.
        ("themes", i.themes == Some(true), ExportOption::Selector),
        ("prefix", i.prefix.is_some(), ExportOption::Prefix),
        ("nameCase", i.name_case.is_some(), ExportOption::NameCase),
        (
            "outputReferences",
            i.output_references == Some(true),
            ExportOption::OutputReferences,
        ),
        ("colorFormat", i.color_format.is_some(), ExportOption::Color),
    ];
    for (field, set, option) in given {
        if set && !target.reads(option) {
            let formats: Vec<&str> = Format::ALL
                .into_iter()
                .filter(|f| f.reads(option))
                .map(Format::as_str)
                .collect();
            return Err(CommandError::validation(format!(
                "{field} does not apply to {} exports",
                target.name()
            ))
            .suggest(format!(
                "{field} works with {}; leave it out for {}.",
                formats.join(", "),
                target.name()
            ))
            .details(json!({"field": field, "formats": formats})));
        }
    }
    let mut options = ExportOptions::default();
    if let Some(selector) = &i.selector {
        if selector.trim().is_empty() || selector.contains(['{', '}']) {
            return Err(CommandError::validation(
                "selector must be a non-empty CSS selector without braces",
            )
            .suggest("Use e.g. :root or [data-theme=\"dark\"].")
            .details(json!({"field": "selector"})));
        }
        options.selector = selector.clone();
    }
    options.prefix = i.prefix.clone();
    if let Some(case) = &i.name_case {
        options.name_case = Some(case.parse::<NameCase>().map_err(|_| {
            let valid = NameCase::ALL.map(NameCase::as_str);
            invalid("nameCase", &format!("unknown name case {case:?}"), &valid)
        })?);
    }
    if let Some(color) = &i.color_format {
        options.color = color.parse::<ColorFormat>().map_err(|_| {
            let valid = ColorFormat::ALL.map(ColorFormat::as_str);
            invalid(
                "colorFormat",
                &format!("unknown colour format {color:?}"),
                &valid,
            )
        })?;
    }
    options.output_references = i.output_references.unwrap_or(false);
    Ok(options)
}

/// `async: true`: checks the request as the export would (bad input is refused now, not by a
/// failing job), then enqueues it. A job id is never served from the command cache: each call
/// starts its own job.
async fn start_export(
    s: &Services,
    i: ExportIn,
    ctx: &Context,
) -> Result<ExportStarted, CommandError> {
    ctx.set_cache(CacheStatus::Bypass);
    let target = Target::parse(&i.format)?;
    export_options(&i, target)?;
    let store = s.reader(ctx).await?;
    if store.node(&i.node).await.map_err(from_store)?.is_none() {
        return Err(node_not_found(store, &i.node).await);
    }
    let partition = s.design_system(store, &i.node).await?;
    let job = artifacts::export_job(&artifacts::ExportArgs {
        request: i,
        at_least: ctx.consistency,
    })?
    .partition(partition)
    .trace(ctx.trace_id.clone());
    let done = s.queue.enqueue(&job).await.map_err(from_queue)?;
    s.jobs_wake.notify_one();
    Ok(ExportStarted {
        job_id: done.id,
        state: JobState::Available.as_str().to_owned(),
        status: artifacts::status_url(done.id),
        artifact: artifacts::artifact_url(done.id),
    })
}

pub(crate) async fn export_node(
    s: &Services,
    i: ExportIn,
    ctx: Context,
) -> Result<ExportOut, CommandError> {
    let target = Target::parse(&i.format)?;
    let options = export_options(&i, target)?;
    let themes = i.themes.unwrap_or(false);
    let store = s.reader(&ctx).await?;
    let content = match target {
        Target::Resolver => {
            let base = layers(store, &i.node).await?;
            let mut contexts = child_layers(store, &i.node).await?;
            // The node itself is the default context, so the document resolves to the node
            // when no theme is chosen (a lone context would only draw a warning).
            let default = (!contexts.is_empty()).then(|| {
                let own = Layer {
                    node: i.node.clone(),
                    entries: Default::default(),
                };
                contexts.insert(0, own);
                i.node.as_str()
            });
            let doc = to_resolver_document(&base, "theme", &contexts, default)
                .map_err(|e| from_resolve(&i.node, e))?;
            let mut text = serde_json::to_string_pretty(&doc)
                .map_err(|e| CommandError::internal(format!("resolver document: {e}")))?;
            text.push('\n');
            text
        }
        Target::Tokens(_) if themes => {
            let base = layers(store, &i.node).await?;
            let resolved = resolve(&base).map_err(|e| from_resolve(&i.node, e))?;
            let mut themed = Vec::new();
            for child in child_layers(store, &i.node).await? {
                let selector = format!("[data-theme=\"{}\"]", child.node);
                let id = child.node.clone();
                let mut chain = base.clone();
                chain.push(child);
                themed.push((selector, resolve(&chain).map_err(|e| from_resolve(&id, e))?));
            }
            let themes: Vec<Theme<'_>> = themed
                .iter()
                .map(|(selector, resolved)| Theme { selector, resolved })
                .collect();
            export_themes(&resolved, &themes, &options)
        }
        Target::Tokens(format) => {
            let resolved = resolve_node(store, &i.node).await?;
            export(&resolved, format, &options)
        }
    };
    // The options are part of the representation: two exports that happen to render the same
    // bytes still get their own ETag, so a cache never answers one with the other.
    let variant = json!([
        target.name(),
        options.selector,
        options.prefix,
        options.name_case.map(NameCase::as_str),
        options.output_references,
        options.color.as_str(),
        themes,
    ]);
    Ok(ExportOut {
        etag: etag_of(&variant.to_string(), &content),
        node: i.node,
        format: target.name().to_owned(),
        content_type: target.content_type().to_owned(),
        content,
    })
}

/// The own layer of each direct child of `id`, in id order.
async fn child_layers(store: &dyn StoreRead, id: &str) -> Result<Vec<Layer>, CommandError> {
    let mut children = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .nodes(Some(id), after.as_deref(), PAGE)
            .await
            .map_err(from_store)?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|n| n.id.clone());
        for child in page {
            // The child's lineage ends with its own layer; a child deleted since the listing is
            // simply no longer one.
            match layers(store, &child.id).await {
                Ok(mut lineage) => children.extend(lineage.pop()),
                Err(e) if e.code == ErrorCode::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if !full {
            return Ok(children);
        }
    }
}

const PAGE: u32 = 1000;

fn etag_of(variant: &str, content: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(variant.as_bytes());
    hasher.update([0]);
    hasher.update(content.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}
