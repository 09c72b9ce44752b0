//! Merging a node's layers and resolving aliases against the merged map, with lineage.
//!
//! Resolution is an iterative depth-first search with an explicit stack and memoised results, so
//! alias chains of any length neither recurse nor repeat work.

use std::collections::{BTreeMap, HashMap};
/// A hash map keyed by token paths. Keyed SipHash on purpose: paths come from users (imports,
/// uploaded files), and a fast unkeyed hash would let crafted collisions make resolution
/// quadratic.
pub(crate) type FastMap<K, V> = HashMap<K, V>;

use serde_json::Value;

use crate::TokenType;
use crate::path::nearest_paths;
use crate::value::{alias_in, alias_target, ref_pointer, split_ref};

/// Longest `alias_chain` recorded per token. A longer chain keeps its first `MAX_ALIAS_CHAIN - 1`
/// hops and its final hop (the token that holds the literal value); recording every hop for every
/// token would be quadratic in chain length (a 100,000-deep chain would need 5·10⁹ strings).
pub const MAX_ALIAS_CHAIN: usize = 16;

/// Deepest nesting (arrays/objects) a resolved value may reach. Substituting composite aliases
/// nests values, so a chain like `a = ["{b}"]`, `b = ["{c}"]`, … could otherwise grow values
/// until cloning or dropping them overflows the stack.
pub const MAX_VALUE_DEPTH: usize = 32;

/// One node's own contribution, root first in the slice passed to [`resolve`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    pub node: String,
    pub entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Define {
        token_type: TokenType,
        value: Value,
        description: Option<String>,
    },
    /// Replaces the value of a token defined by a layer above; keeps its type and description.
    Override { value: Value },
}

/// Every token of a node, keyed and ordered by path.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Resolved {
    pub tokens: BTreeMap<String, ResolvedToken>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedToken {
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// Every alias, whole or inside a composite, replaced by its resolved value.
    pub value: Value,
    /// The node whose Define or Override of this path won (the deepest layer that has it).
    pub source: String,
    /// Paths followed for a whole-value alias, in order; empty when the value is not an alias.
    /// Capped at [`MAX_ALIAS_CHAIN`] entries.
    pub alias_chain: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `$deprecated` of the winning definition: `true` or a reason string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Value>,
    /// `$extensions` of the winning definition, kept so DTCG output round-trips them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Map<String, Value>>,
    /// The winning value as written, when it holds references (`{…}` or `$ref`); what
    /// `outputReferences` exports. `None` for literal values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<Value>,
}

/// Metadata of a definition that resolution carries through to [`ResolvedToken`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenMeta {
    pub deprecated: Option<Value>,
    pub extensions: Option<serde_json::Map<String, Value>>,
}

/// Per-layer metadata for [`resolve_with_meta`], keyed by path like [`Layer::entries`].
pub type LayerMeta = BTreeMap<String, TokenMeta>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    /// Every path in the cycle, in reference order, starting from the smallest path.
    #[error(
        "circular reference: {}; give one of these tokens a literal value",
        show_cycle(cycle)
    )]
    Circular { cycle: Vec<String> },
    #[error(
        "token {token:?} references \"{{{reference}}}\", which does not exist{}",
        show_suggestions(suggestions)
    )]
    Broken {
        token: String,
        reference: String,
        suggestions: Vec<String>,
    },
    #[error(
        "node {node:?} overrides {path:?}, but no ancestor node defines it; define the token in an ancestor, or define it here instead of overriding"
    )]
    OrphanOverride { node: String, path: String },
    /// The resolved value would nest deeper than [`MAX_VALUE_DEPTH`].
    #[error(
        "token {token:?} nests values deeper than {} levels once its aliases are substituted; flatten its value or the composites it references",
        MAX_VALUE_DEPTH
    )]
    TooDeep { token: String },
    /// A `$ref` JSON pointer into a token's value that names nothing in the resolved value.
    #[error(
        "token {token:?} references {pointer:?}, but the resolved value of {target:?} has nothing at {inner:?}; point at an existing property such as \"#/{}/$value\"",
        target.replace('.', "/")
    )]
    BadPointer {
        token: String,
        pointer: String,
        target: String,
        inner: String,
    },
}

fn show_cycle(cycle: &[String]) -> String {
    let mut shown: Vec<&str> = cycle.iter().map(String::as_str).collect();
    shown.extend(cycle.first().map(String::as_str));
    shown.join(" -> ")
}

fn show_suggestions(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        "; define it or fix the reference".to_owned()
    } else {
        let quoted: Vec<String> = suggestions.iter().map(|s| format!("{s:?}")).collect();
        format!("; did you mean {}?", quoted.join(", "))
    }
}

/// All errors of one resolution: orphan overrides in layer order first, then the others by path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", show_errors(.0))]
pub struct ResolveErrors(pub Vec<ResolveError>);

fn show_errors(errors: &[ResolveError]) -> String {
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    match all.len() {
        1 => all.concat(),
        n => format!("{n} errors resolving tokens: {}", all.join("; ")),
    }
}

/// Merges `layers` (root first) and resolves every alias against the merged map.
///
/// A later layer's Define or Override replaces an earlier value; type and description come from
/// the nearest Define. Aliases resolve against the merged map, so an ancestor's alias follows a
/// descendant's override. Values are not validated here (see [`crate::validate_value`]).
///
/// Every problem is reported: each cycle once, each missing reference once per token that
/// contains it, each orphan override. Tokens that only depend on a failing token get no error
/// of their own.
pub fn resolve(layers: &[Layer]) -> Result<Resolved, ResolveErrors> {
    resolve_with_meta(layers, &[])
}

/// [`resolve`], carrying `$deprecated` and `$extensions` from `meta[i]` (the metadata of
/// `layers[i]`; missing entries mean none) to each token's winning definition.
pub fn resolve_with_meta(layers: &[Layer], meta: &[LayerMeta]) -> Result<Resolved, ResolveErrors> {
    resolve_with(layers, meta, &ResolveOptions::default())
}

/// What [`resolve_with`] records besides values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolveOptions {
    /// Record each token's `alias_chain` (on by default). A build that only exports values can
    /// turn it off: on long chains it is most of resolution's allocations.
    pub alias_chains: bool,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions { alias_chains: true }
    }
}

/// [`resolve_with_meta`] with options.
pub fn resolve_with(
    layers: &[Layer],
    meta: &[LayerMeta],
    options: &ResolveOptions,
) -> Result<Resolved, ResolveErrors> {
    let mut errors = Vec::new();
    let tokens = merge(layers, meta, &mut errors);
    let mut resolver = Resolver::new(tokens);
    resolver.run();
    resolver
        .errors
        .sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    errors.append(&mut resolver.errors);
    if errors.is_empty() {
        Ok(resolver.finish(options))
    } else {
        Err(ResolveErrors(errors))
    }
}

fn sort_key(e: &ResolveError) -> (&str, &str) {
    match e {
        ResolveError::Circular { cycle } => (cycle.first().map_or("", String::as_str), ""),
        ResolveError::Broken {
            token, reference, ..
        } => (token, reference),
        ResolveError::OrphanOverride { path, .. } | ResolveError::TooDeep { token: path } => {
            (path, "")
        }
        ResolveError::BadPointer { token, pointer, .. } => (token, pointer),
    }
}

/// A token of the merged map, borrowing from the layers so nothing is cloned before it is needed.
struct Merged<'a> {
    path: &'a str,
    token_type: TokenType,
    value: &'a Value,
    description: Option<&'a str>,
    source: &'a str,
    meta: Option<&'a TokenMeta>,
}

/// The merged map in path order; orphan overrides go to `errors` in layer order.
///
/// Each layer's entries are already sorted, so a k-way merge walks them once without building
/// an intermediate map.
fn merge<'a>(
    layers: &'a [Layer],
    meta: &'a [LayerMeta],
    errors: &mut Vec<ResolveError>,
) -> Vec<Merged<'a>> {
    let mut cursors: Vec<_> = layers.iter().map(|l| l.entries.iter().peekable()).collect();
    let mut merged = Vec::with_capacity(layers.iter().map(|l| l.entries.len()).max().unwrap_or(0));
    let mut orphans = Vec::new();
    while let Some(path) = cursors
        .iter_mut()
        .filter_map(|c| c.peek().map(|&(p, _)| p.as_str()))
        .min()
    {
        let mut token: Option<Merged<'a>> = None;
        for (depth, (layer, cursor)) in layers.iter().zip(&mut cursors).enumerate() {
            let Some((_, entry)) = cursor.next_if(|&(p, _)| p == path) else {
                continue;
            };
            match (entry, &mut token) {
                (
                    Entry::Define {
                        token_type,
                        value,
                        description,
                    },
                    _,
                ) => {
                    token = Some(Merged {
                        path,
                        token_type: *token_type,
                        value,
                        description: description.as_deref(),
                        source: &layer.node,
                        meta: meta.get(depth).and_then(|m| m.get(path)),
                    });
                }
                (Entry::Override { value }, Some(merged)) => {
                    merged.value = value;
                    merged.source = &layer.node;
                }
                (Entry::Override { .. }, None) => orphans.push((
                    depth,
                    ResolveError::OrphanOverride {
                        node: layer.node.clone(),
                        path: path.to_owned(),
                    },
                )),
            }
        }
        merged.extend(token);
    }
    orphans.sort_by_key(|&(depth, _)| depth);
    errors.extend(orphans.into_iter().map(|(_, e)| e));
    merged
}

#[derive(Clone, Copy)]
enum State {
    Unvisited,
    /// On the DFS stack at this frame index.
    OnStack(usize),
    Done,
    Failed,
}

/// A token whose dependencies are being resolved.
struct Frame {
    token: usize,
    /// Where this frame's dependencies start in the shared `deps` stack.
    deps_start: usize,
    /// The next dependency to visit, as an index into `deps`.
    next: usize,
    /// Nesting depth of the value itself, aliases not yet substituted.
    depth: usize,
    failed: bool,
}

/// Where a whole-value alias leads: enough to rebuild its chain without storing one per token.
#[derive(Clone, Copy)]
struct Link {
    /// The token it references.
    next: usize,
    /// Length of the full chain.
    len: usize,
    /// The end of the chain, which holds the literal value.
    last: usize,
}

struct Resolver<'a> {
    tokens: Vec<Merged<'a>>,
    index: FastMap<&'a str, usize>,
    state: Vec<State>,
    values: Vec<Option<(Value, usize)>>,
    links: Vec<Option<Link>>,
    /// Whether a token's own value holds references (its `original` is kept).
    has_refs: Vec<bool>,
    /// Dependencies of every frame on the stack, each frame's a contiguous run.
    deps: Vec<usize>,
    /// Scratch stack for scanning values, kept to avoid an allocation per token.
    scan: Vec<(&'a Value, usize)>,
    errors: Vec<ResolveError>,
}

impl<'a> Resolver<'a> {
    fn new(tokens: Vec<Merged<'a>>) -> Self {
        let mut index = FastMap::default();
        index.reserve(tokens.len());
        index.extend(tokens.iter().enumerate().map(|(i, t)| (t.path, i)));
        let n = tokens.len();
        Resolver {
            tokens,
            index,
            state: vec![State::Unvisited; n],
            values: std::iter::repeat_with(|| None).take(n).collect(),
            links: vec![None; n],
            has_refs: vec![false; n],
            deps: Vec::new(),
            scan: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn run(&mut self) {
        let mut frames: Vec<Frame> = Vec::new();
        for root in 0..self.tokens.len() {
            if !matches!(self.state[root], State::Unvisited) {
                continue;
            }
            self.enter(root, &mut frames);
            while let Some(top) = frames.last_mut() {
                let Some(&dep) = self.deps.get(top.next) else {
                    self.leave(&mut frames);
                    continue;
                };
                top.next += 1;
                let failed = match self.state[dep] {
                    State::Done => false,
                    State::Failed => true,
                    State::OnStack(at) => {
                        self.report_cycle(&frames[at..]);
                        true
                    }
                    State::Unvisited => !self.enter(dep, &mut frames),
                };
                if failed && let Some(top) = frames.last_mut() {
                    top.failed = true;
                }
            }
        }
    }

    /// Scans a token's value for references and pushes its frame; false when it failed outright.
    fn enter(&mut self, token: usize, frames: &mut Vec<Frame>) -> bool {
        let deps_start = self.deps.len();
        let mut broken: Vec<&str> = Vec::new();
        let mut broken_refs: Vec<String> = Vec::new();
        let mut depth = 0;
        let mut scan = std::mem::take(&mut self.scan);
        scan.push((self.tokens[token].value, 0));
        while let Some((v, d)) = scan.pop() {
            match v {
                Value::String(s) => {
                    let Some(target) = alias_in(s) else { continue };
                    self.has_refs[token] = true;
                    match self.index.get(target) {
                        Some(&dep) if !self.deps[deps_start..].contains(&dep) => {
                            self.deps.push(dep);
                        }
                        Some(_) => {}
                        None if broken.contains(&target) => {}
                        None => {
                            broken.push(target);
                            let own = self.tokens[token].path;
                            self.errors.push(ResolveError::Broken {
                                token: own.to_owned(),
                                reference: target.to_owned(),
                                suggestions: nearest_paths(
                                    target,
                                    self.tokens.iter().map(|t| t.path).filter(|p| *p != own),
                                    3,
                                ),
                            });
                        }
                    }
                }
                Value::Array(items) => {
                    depth = depth.max(d + 1);
                    scan.extend(items.iter().map(|c| (c, d + 1)));
                }
                Value::Object(fields) => {
                    depth = depth.max(d + 1);
                    if let Some(pointer) = ref_pointer(v) {
                        self.has_refs[token] = true;
                        let target = split_ref(pointer).map(|(path, _)| path);
                        let target = target.as_deref().unwrap_or(pointer);
                        match self.index.get(target) {
                            Some(&dep) if !self.deps[deps_start..].contains(&dep) => {
                                self.deps.push(dep);
                            }
                            Some(_) => {}
                            None if broken_refs.iter().any(|b| b == target) => {}
                            None => {
                                broken_refs.push(target.to_owned());
                                let own = self.tokens[token].path;
                                self.errors.push(ResolveError::Broken {
                                    token: own.to_owned(),
                                    reference: target.to_owned(),
                                    suggestions: nearest_paths(
                                        target,
                                        self.tokens.iter().map(|t| t.path).filter(|p| *p != own),
                                        3,
                                    ),
                                });
                            }
                        }
                        continue;
                    }
                    scan.extend(fields.values().map(|c| (c, d + 1)));
                }
                _ => {}
            }
            if depth > MAX_VALUE_DEPTH {
                scan.clear();
                self.scan = scan;
                self.deps.truncate(deps_start);
                self.fail_too_deep(token);
                return false;
            }
        }
        self.scan = scan;
        self.state[token] = State::OnStack(frames.len());
        frames.push(Frame {
            token,
            deps_start,
            next: deps_start,
            depth,
            failed: !broken.is_empty() || !broken_refs.is_empty(),
        });
        true
    }

    /// Pops the finished top frame, resolving its value unless something it needs failed.
    fn leave(&mut self, frames: &mut Vec<Frame>) {
        let Some(frame) = frames.pop() else { return };
        let ok = !frame.failed && self.substitute(&frame);
        self.deps.truncate(frame.deps_start);
        if ok {
            self.state[frame.token] = State::Done;
        } else {
            self.state[frame.token] = State::Failed;
            if let Some(parent) = frames.last_mut() {
                parent.failed = true;
            }
        }
    }

    /// Stores the resolved value of a token whose dependencies are all done; false if too deep.
    fn substitute(&mut self, frame: &Frame) -> bool {
        let own = self.tokens[frame.token].value;
        let deps = &self.deps[frame.deps_start..];
        if alias_target(own).is_some()
            && let [dep] = *deps
            && let Some((value, depth)) = &self.values[dep]
        {
            let link = match self.links[dep] {
                Some(next) => Link {
                    next: dep,
                    len: next.len + 1,
                    last: next.last,
                },
                None => Link {
                    next: dep,
                    len: 1,
                    last: dep,
                },
            };
            self.values[frame.token] = Some((value.clone(), *depth));
            self.links[frame.token] = Some(link);
            return true;
        }
        let mut value = own.clone();
        let mut depth = frame.depth;
        let mut bad_pointer = None;
        if !deps.is_empty() {
            let mut stack = vec![(&mut value, 0)];
            while let Some((v, d)) = stack.pop() {
                match v {
                    Value::String(s) => {
                        let dep = alias_in(s).and_then(|t| self.index.get(t));
                        if let Some((resolved, dep_depth)) =
                            dep.and_then(|&dep| self.values[dep].as_ref())
                        {
                            depth = depth.max(d + dep_depth);
                            *v = resolved.clone();
                        }
                    }
                    Value::Array(items) => stack.extend(items.iter_mut().map(|c| (c, d + 1))),
                    Value::Object(_) if ref_pointer(v).is_some() => {
                        let pointer = ref_pointer(v).unwrap_or_default().to_owned();
                        let Some((target, inner)) = split_ref(&pointer) else {
                            continue;
                        };
                        let found = self
                            .index
                            .get(target.as_str())
                            .and_then(|&dep| self.values[dep].as_ref())
                            .and_then(|(resolved, dep_depth)| {
                                resolved.pointer(&inner).map(|x| (x.clone(), *dep_depth))
                            });
                        match found {
                            Some((resolved, dep_depth)) => {
                                depth = depth.max(d + dep_depth);
                                *v = resolved;
                            }
                            None => {
                                bad_pointer = Some((pointer, target, inner));
                                break;
                            }
                        }
                    }
                    Value::Object(fields) => {
                        stack.extend(fields.values_mut().map(|c| (c, d + 1)));
                    }
                    _ => {}
                }
            }
        }
        if let Some((pointer, target, inner)) = bad_pointer {
            self.state[frame.token] = State::Failed;
            self.errors.push(ResolveError::BadPointer {
                token: self.tokens[frame.token].path.to_owned(),
                pointer,
                target,
                inner,
            });
            return false;
        }
        if depth > MAX_VALUE_DEPTH {
            self.fail_too_deep(frame.token);
            return false;
        }
        self.values[frame.token] = Some((value, depth));
        true
    }

    /// The recorded alias chain of `token`: the full chain, or its first hops and final hop.
    fn chain(&self, token: usize) -> Vec<String> {
        let Some(link) = self.links[token] else {
            return Vec::new();
        };
        let walked = if link.len > MAX_ALIAS_CHAIN {
            MAX_ALIAS_CHAIN - 1
        } else {
            link.len
        };
        let mut chain = Vec::with_capacity(walked + 1);
        let mut hop = Some(link);
        while chain.len() < walked
            && let Some(l) = hop
        {
            chain.push(self.tokens[l.next].path.to_owned());
            hop = self.links[l.next];
        }
        if link.len > MAX_ALIAS_CHAIN {
            chain.push(self.tokens[link.last].path.to_owned());
        }
        chain
    }

    fn fail_too_deep(&mut self, token: usize) {
        self.state[token] = State::Failed;
        self.errors.push(ResolveError::TooDeep {
            token: self.tokens[token].path.to_owned(),
        });
    }

    /// Reports the cycle formed by `frames` (each references the next, the last the first).
    fn report_cycle(&mut self, frames: &[Frame]) {
        let mut cycle: Vec<String> = frames
            .iter()
            .map(|f| self.tokens[f.token].path.to_owned())
            .collect();
        let start = cycle
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.cmp(b.1))
            .map_or(0, |(i, _)| i);
        cycle.rotate_left(start);
        self.errors.push(ResolveError::Circular { cycle });
    }

    fn finish(mut self, options: &ResolveOptions) -> Resolved {
        let values = std::mem::take(&mut self.values);
        let tokens = values
            .into_iter()
            .enumerate()
            .filter_map(|(i, resolved)| {
                let (value, _) = resolved?;
                let merged = &self.tokens[i];
                Some((
                    merged.path.to_owned(),
                    ResolvedToken {
                        token_type: merged.token_type,
                        value,
                        source: merged.source.to_owned(),
                        alias_chain: if options.alias_chains {
                            self.chain(i)
                        } else {
                            Vec::new()
                        },
                        description: merged.description.map(str::to_owned),
                        deprecated: merged.meta.and_then(|m| m.deprecated.clone()),
                        extensions: merged.meta.and_then(|m| m.extensions.clone()),
                        original: self.has_refs[i].then(|| merged.value.clone()),
                    },
                ))
            })
            .collect();
        Resolved { tokens }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn define(ty: TokenType, value: Value) -> Entry {
        Entry::Define {
            token_type: ty,
            value,
            description: None,
        }
    }

    fn layer(node: &str, entries: Vec<(&str, Entry)>) -> Layer {
        Layer {
            node: node.to_owned(),
            entries: entries
                .into_iter()
                .map(|(p, e)| (p.to_owned(), e))
                .collect(),
        }
    }

    fn color(v: &str) -> Entry {
        define(TokenType::Color, json!(v))
    }

    fn errors(layers: &[Layer]) -> Vec<ResolveError> {
        resolve(layers).expect_err("should fail").0
    }

    fn circular(cycle: &[&str]) -> ResolveError {
        ResolveError::Circular {
            cycle: cycle.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn plain_tokens() {
        let root = layer(
            "root",
            vec![
                ("color.red", color("#ff0000")),
                (
                    "space.sm",
                    Entry::Define {
                        token_type: TokenType::Dimension,
                        value: json!("4px"),
                        description: Some("small gap".into()),
                    },
                ),
            ],
        );
        let resolved = resolve(&[root]).unwrap();
        assert_eq!(resolved.tokens.len(), 2);
        assert_eq!(
            resolved.tokens["space.sm"],
            ResolvedToken {
                token_type: TokenType::Dimension,
                value: json!("4px"),
                source: "root".into(),
                alias_chain: vec![],
                description: Some("small gap".into()),
                deprecated: None,
                extensions: None,
                original: None,
            }
        );
        assert_eq!(resolve(&[]).unwrap().tokens.len(), 0);
    }

    #[test]
    fn alias_and_chain_with_lineage() {
        let root = layer(
            "root",
            vec![
                ("color.base.violet", color("#6d28d9")),
                ("color.brand", color("{color.base.violet}")),
                ("color.button", color("{color.brand}")),
            ],
        );
        let resolved = resolve(&[root]).unwrap();
        let brand = &resolved.tokens["color.brand"];
        assert_eq!(brand.value, json!("#6d28d9"));
        assert_eq!(brand.alias_chain, ["color.base.violet"]);
        let button = &resolved.tokens["color.button"];
        assert_eq!(button.value, json!("#6d28d9"));
        assert_eq!(button.alias_chain, ["color.brand", "color.base.violet"]);
        assert_eq!(button.source, "root");
        assert!(resolved.tokens["color.base.violet"].alias_chain.is_empty());
    }

    #[test]
    fn alias_inside_composite() {
        let root = layer(
            "root",
            vec![
                ("color.shadow", color("{color.black}")),
                ("color.black", color("#000000")),
                ("space.2", define(TokenType::Dimension, json!("2px"))),
                (
                    "shadow.sm",
                    define(
                        TokenType::Shadow,
                        json!([{"color": "{color.shadow}", "offsetX": "0px", "offsetY": "{space.2}", "blur": "{space.2}", "spread": "0px"}]),
                    ),
                ),
            ],
        );
        let resolved = resolve(&[root]).unwrap();
        let shadow = &resolved.tokens["shadow.sm"];
        assert_eq!(
            shadow.value,
            json!([{"color": "#000000", "offsetX": "0px", "offsetY": "2px", "blur": "2px", "spread": "0px"}])
        );
        assert!(
            shadow.alias_chain.is_empty(),
            "composite is not a whole-value alias"
        );
    }

    #[test]
    fn leaf_override_changes_aliases_of_root_tokens() {
        let root = layer(
            "root",
            vec![
                ("color.base.violet", color("#6d28d9")),
                ("color.primary", color("{color.base.violet}")),
            ],
        );
        let product = layer("product", vec![]);
        let theme = layer(
            "dark",
            vec![(
                "color.base.violet",
                Entry::Override {
                    value: json!("#a78bfa"),
                },
            )],
        );
        let resolved = resolve(&[root.clone(), product, theme]).unwrap();
        let primary = &resolved.tokens["color.primary"];
        assert_eq!(primary.value, json!("#a78bfa"));
        assert_eq!(primary.source, "root");
        assert_eq!(primary.alias_chain, ["color.base.violet"]);
        assert_eq!(resolved.tokens["color.base.violet"].source, "dark");
        // the root alone still sees its own violet
        assert_eq!(
            resolve(&[root]).unwrap().tokens["color.primary"].value,
            json!("#6d28d9")
        );
    }

    #[test]
    fn override_keeps_type_and_description_redefine_replaces_them() {
        let root = layer(
            "root",
            vec![
                (
                    "a",
                    Entry::Define {
                        token_type: TokenType::Color,
                        value: json!("#fff"),
                        description: Some("from root".into()),
                    },
                ),
                (
                    "b",
                    Entry::Define {
                        token_type: TokenType::Color,
                        value: json!("#fff"),
                        description: Some("old".into()),
                    },
                ),
            ],
        );
        let leaf = layer(
            "leaf",
            vec![
                (
                    "a",
                    Entry::Override {
                        value: json!("#000"),
                    },
                ),
                ("b", define(TokenType::Number, json!(2))),
            ],
        );
        let resolved = resolve(&[root, leaf]).unwrap();
        let a = &resolved.tokens["a"];
        assert_eq!(
            (a.token_type, &a.value, a.source.as_str()),
            (TokenType::Color, &json!("#000"), "leaf")
        );
        assert_eq!(a.description.as_deref(), Some("from root"));
        let b = &resolved.tokens["b"];
        assert_eq!(
            (b.token_type, &b.value, &b.description),
            (TokenType::Number, &json!(2), &None)
        );
    }

    #[test]
    fn cycle_of_two_reported_once_with_both_members() {
        let root = layer(
            "root",
            vec![
                ("b", color("{a}")),
                ("a", color("{b}")),
                ("c", color("{a}")),
            ],
        );
        assert_eq!(errors(&[root]), [circular(&["a", "b"])]);
    }

    #[test]
    fn cycle_of_three_in_reference_order_from_smallest() {
        let root = layer(
            "root",
            vec![
                ("m", color("{z}")),
                ("z", color("{k}")),
                ("k", color("{m}")),
                ("ok", color("#fff")),
            ],
        );
        let errs = errors(&[root]);
        assert_eq!(errs, [circular(&["k", "m", "z"])]);
        assert_eq!(
            errs[0].to_string(),
            "circular reference: k -> m -> z -> k; give one of these tokens a literal value"
        );
    }

    #[test]
    fn self_reference() {
        let root = layer("root", vec![("a", color("{a}"))]);
        assert_eq!(errors(&[root]), [circular(&["a"])]);
    }

    #[test]
    fn cycle_through_composite_and_overlapping_cycles() {
        let root = layer(
            "root",
            vec![
                ("a", color("{b}")),
                (
                    "b",
                    define(
                        TokenType::Border,
                        json!({"color": "{a}", "width": "{c}", "style": "solid"}),
                    ),
                ),
                ("c", define(TokenType::Dimension, json!("{b}"))),
            ],
        );
        assert_eq!(
            errors(&[root]),
            [circular(&["a", "b"]), circular(&["b", "c"])]
        );
    }

    #[test]
    fn broken_reference_with_suggestions() {
        let root = layer(
            "root",
            vec![
                ("color.base.violet", color("#6d28d9")),
                ("color.base.violets", color("#6d28d9")),
                ("color.brand", color("{color.base.violot}")),
                ("color.button", color("{color.brand}")),
            ],
        );
        let errs = errors(&[root]);
        assert_eq!(
            errs,
            [ResolveError::Broken {
                token: "color.brand".into(),
                reference: "color.base.violot".into(),
                suggestions: vec!["color.base.violet".into(), "color.base.violets".into()],
            }]
        );
        assert_eq!(
            errs[0].to_string(),
            r#"token "color.brand" references "{color.base.violot}", which does not exist; did you mean "color.base.violet", "color.base.violets"?"#
        );
        let twice = layer(
            "root",
            vec![(
                "s",
                define(
                    TokenType::Border,
                    json!({"color": "{x}", "width": "{x}", "style": "solid"}),
                ),
            )],
        );
        assert_eq!(
            errors(&[twice]).len(),
            1,
            "one error per missing reference per token"
        );
        let lonely = layer("root", vec![("a", color("{zzzzzzzzzz}"))]);
        assert!(
            errors(&[lonely])[0]
                .to_string()
                .ends_with("does not exist; define it or fix the reference")
        );
    }

    #[test]
    fn orphan_override() {
        let root = layer("root", vec![("a", color("#fff"))]);
        let leaf = layer(
            "leaf",
            vec![(
                "b",
                Entry::Override {
                    value: json!("#000"),
                },
            )],
        );
        let errs = errors(&[root, leaf]);
        assert_eq!(
            errs,
            [ResolveError::OrphanOverride {
                node: "leaf".into(),
                path: "b".into()
            }]
        );
        assert!(
            errs[0]
                .to_string()
                .starts_with(r#"node "leaf" overrides "b", but no ancestor node defines it"#)
        );
        // the root has no layer above it, so any override there is an orphan
        let root_only = layer("root", vec![("a", Entry::Override { value: json!(1) })]);
        assert_eq!(errors(&[root_only]).len(), 1);
    }

    #[test]
    fn several_errors_at_once_in_deterministic_order() {
        let root = layer(
            "root",
            vec![
                ("z.self", color("{z.self}")),
                ("b.broken", color("{nowhere}")),
                ("a.x", color("{a.y}")),
                ("a.y", color("{a.x}")),
                ("fine", color("#fff")),
            ],
        );
        let leaf = layer("leaf", vec![("ghost", Entry::Override { value: json!(1) })]);
        let errs = errors(&[root.clone(), leaf.clone()]);
        assert_eq!(
            errs,
            [
                ResolveError::OrphanOverride {
                    node: "leaf".into(),
                    path: "ghost".into()
                },
                circular(&["a.x", "a.y"]),
                ResolveError::Broken {
                    token: "b.broken".into(),
                    reference: "nowhere".into(),
                    suggestions: vec![]
                },
                circular(&["z.self"]),
            ]
        );
        let whole = ResolveErrors(errs).to_string();
        assert!(whole.starts_with("4 errors resolving tokens: node \"leaf\" overrides \"ghost\""));
        assert_eq!(errors(&[root, leaf]).len(), 4, "deterministic");
    }

    #[test]
    fn single_error_displays_alone() {
        let e = resolve(&[layer("root", vec![("a", color("{a}"))])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "circular reference: a -> a; give one of these tokens a literal value"
        );
    }

    #[test]
    fn hundred_thousand_deep_chain_resolves_without_recursion() {
        const N: usize = 100_000;
        let path = |i: usize| format!("t.{i:06}");
        let mut entries: BTreeMap<String, Entry> = (0..N - 1)
            .map(|i| (path(i), color(&format!("{{{}}}", path(i + 1)))))
            .collect();
        entries.insert(path(N - 1), color("#123456"));
        let resolved = resolve(&[Layer {
            node: "root".into(),
            entries,
        }])
        .unwrap();
        assert_eq!(resolved.tokens.len(), N);
        let head = &resolved.tokens[&path(0)];
        assert_eq!(head.value, json!("#123456"));
        assert_eq!(head.alias_chain.len(), MAX_ALIAS_CHAIN);
        assert_eq!(head.alias_chain[0], path(1));
        assert_eq!(
            head.alias_chain[MAX_ALIAS_CHAIN - 2],
            path(MAX_ALIAS_CHAIN - 1)
        );
        assert_eq!(
            head.alias_chain[MAX_ALIAS_CHAIN - 1],
            path(N - 1),
            "final hop kept"
        );
        let near_end = &resolved.tokens[&path(N - 3)];
        assert_eq!(near_end.alias_chain, [path(N - 2), path(N - 1)]);
    }

    #[test]
    fn chain_exactly_at_cap_is_complete() {
        let n = MAX_ALIAS_CHAIN + 1;
        let mut entries: Vec<(String, Entry)> = (0..n - 1)
            .map(|i| (format!("t{i:02}"), color(&format!("{{t{:02}}}", i + 1))))
            .collect();
        entries.push((format!("t{:02}", n - 1), color("#fff")));
        let resolved = resolve(&[Layer {
            node: "root".into(),
            entries: entries.into_iter().collect(),
        }])
        .unwrap();
        let chain = &resolved.tokens["t00"].alias_chain;
        let expected: Vec<String> = (1..n).map(|i| format!("t{i:02}")).collect();
        assert_eq!(chain, &expected);
    }

    #[test]
    fn long_cycle_is_found_iteratively() {
        const N: usize = 50_000;
        let entries: BTreeMap<String, Entry> = (0..N)
            .map(|i| {
                (
                    format!("t{i:05}"),
                    color(&format!("{{t{:05}}}", (i + 1) % N)),
                )
            })
            .collect();
        let errs = errors(&[Layer {
            node: "root".into(),
            entries,
        }]);
        assert_eq!(errs.len(), 1);
        match &errs[0] {
            ResolveError::Circular { cycle } => {
                assert_eq!(cycle.len(), N);
                assert_eq!(cycle[0], "t00000");
                assert_eq!(cycle[1], "t00001");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nesting_composites_deeper_than_the_limit_is_an_error() {
        let mut entries: Vec<(String, Entry)> =
            vec![("n00".into(), define(TokenType::Shadow, json!([])))];
        for i in 1..=40 {
            entries.push((
                format!("n{i:02}"),
                define(TokenType::Shadow, json!([format!("{{n{:02}}}", i - 1)])),
            ));
        }
        let errs = errors(&[Layer {
            node: "root".into(),
            entries: entries.into_iter().collect(),
        }]);
        assert_eq!(
            errs,
            [ResolveError::TooDeep {
                token: format!("n{:02}", MAX_VALUE_DEPTH)
            }]
        );
        assert!(errs[0].to_string().contains("deeper than 32 levels"));
    }

    #[test]
    fn deeply_nested_input_value_is_rejected_without_recursion() {
        let mut deep = json!(1);
        for _ in 0..1_000 {
            deep = json!([deep]);
        }
        let errs = errors(&[layer(
            "root",
            vec![("deep", define(TokenType::Number, deep))],
        )]);
        assert_eq!(
            errs,
            [ResolveError::TooDeep {
                token: "deep".into()
            }]
        );
    }

    #[test]
    fn serializes_camel_case_without_empty_description() {
        let resolved = resolve(&[layer(
            "root",
            vec![("a", color("#fff")), ("b", color("{a}"))],
        )])
        .unwrap();
        assert_eq!(
            serde_json::to_value(&resolved).unwrap(),
            json!({"tokens": {
                "a": {"type": "color", "value": "#fff", "source": "root", "aliasChain": []},
                "b": {"type": "color", "value": "#fff", "source": "root", "aliasChain": ["a"], "original": "{a}"},
            }})
        );
    }
}
