//! The DTCG 2025.10 Resolver module: sets, modifiers with contexts and a default, and the
//! `resolutionOrder` that lays them over each other for an input such as `{"theme": "dark"}`.
//!
//! The engine does no I/O: [`ResolverDocument::files`] lists the files a document references,
//! and the caller passes their parsed JSON to [`ResolverDocument::token_set`] and friends.
//!
//! The service maps a resolver onto its node tree with [`ResolverDocument::to_tree`] (the base
//! sets become the root node, each modifier context a child that overrides), and exports a node
//! with its children back with [`to_resolver_document`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::TokenType;
use crate::dtcg::{Code, Diagnostic, Document, TokenSet};
use crate::path::nearest_paths;
use crate::resolve::{Entry, Layer, ResolveError, ResolveErrors, Resolved};

/// Where a set or context gets tokens from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Tokens written in the resolver document itself.
    Inline(Value),
    /// Another file (`"colors.json"` or `"colors.json#/light"`): the path and the pointer.
    File { path: String, pointer: String },
    /// The sources of a set of this document (`#/sets/name`).
    Set(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Modifier {
    /// Context names in document order (JSON object order, i.e. sorted).
    pub contexts: BTreeMap<String, Vec<Source>>,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Set(String),
    Modifier(String),
}

/// A parsed resolver document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResolverDocument {
    pub name: Option<String>,
    pub sets: BTreeMap<String, Vec<Source>>,
    pub modifiers: BTreeMap<String, Modifier>,
    pub resolution_order: Vec<Step>,
}

/// A resolver input: modifier name → context name.
pub type Input = BTreeMap<String, String>;

fn error(pointer: &str, message: String) -> Diagnostic {
    Diagnostic {
        code: Code::InvalidRef,
        file: None,
        pointer: pointer.to_owned(),
        path: None,
        message,
    }
}

fn warning(code: Code, pointer: &str, message: String) -> Diagnostic {
    Diagnostic {
        code,
        file: None,
        pointer: pointer.to_owned(),
        path: None,
        message,
    }
}

/// Whether a JSON document looks like a resolver document rather than a token file.
pub fn is_resolver_document(doc: &Value) -> bool {
    doc.as_object().is_some_and(|o| {
        (o.contains_key("resolutionOrder") || o.contains_key("composition"))
            && !o.contains_key("$value")
    })
}

/// Parses a resolver document, reporting every broken rule.
pub fn parse_resolver(doc: &Value) -> Result<(ResolverDocument, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let Some(root) = doc.as_object() else {
        return Err(vec![error(
            "",
            "a resolver document must be a JSON object with \"version\", \"sets\", \"modifiers\" and \"resolutionOrder\"".into(),
        )]);
    };
    match root.get("version").and_then(Value::as_str) {
        Some("2025.10") => {}
        Some(other) => warnings.push(warning(
            Code::UnknownProperty,
            "/version",
            format!("resolver version {other:?} is not \"2025.10\"; it was read as 2025.10"),
        )),
        None => warnings.push(warning(
            Code::UnknownProperty,
            "/version",
            "the resolver document has no \"version\"; add \"version\": \"2025.10\"".into(),
        )),
    }
    let mut resolver = ResolverDocument {
        name: root.get("name").and_then(Value::as_str).map(str::to_owned),
        ..ResolverDocument::default()
    };
    if let Some(sets) = root.get("sets") {
        match sets.as_object() {
            Some(sets) => {
                for (name, set) in sets {
                    let ptr = format!("/sets/{}", escape(name));
                    if let Some(sources) = read_set(set, &ptr, &mut errors) {
                        resolver.sets.insert(name.clone(), sources);
                    }
                }
            }
            None => errors.push(error(
                "/sets",
                "\"sets\" must be an object of named sets".into(),
            )),
        }
    }
    if let Some(modifiers) = root.get("modifiers") {
        match modifiers.as_object() {
            Some(modifiers) => {
                for (name, m) in modifiers {
                    let ptr = format!("/modifiers/{}", escape(name));
                    if let Some(m) = read_modifier(m, &ptr, &mut errors, &mut warnings) {
                        resolver.modifiers.insert(name.clone(), m);
                    }
                }
            }
            None => errors.push(error(
                "/modifiers",
                "\"modifiers\" must be an object of named modifiers".into(),
            )),
        }
    }
    let (order_key, order) = match (root.get("resolutionOrder"), root.get("composition")) {
        (Some(order), _) => ("resolutionOrder", Some(order)),
        (None, Some(order)) => {
            warnings.push(warning(
                Code::LegacyFormat,
                "/composition",
                "\"composition\" is the older draft name of \"resolutionOrder\"".into(),
            ));
            ("composition", Some(order))
        }
        (None, None) => ("resolutionOrder", None),
    };
    let Some(items) = order.and_then(Value::as_array) else {
        errors.push(error(
            &format!("/{order_key}"),
            "a resolver document needs \"resolutionOrder\": an array of {\"$ref\": \"#/sets/…\"} and {\"$ref\": \"#/modifiers/…\"}".into(),
        ));
        return Err(errors);
    };
    let mut inline_names = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let ptr = format!("/{order_key}/{i}");
        if let Some(pointer) = item.get("$ref").and_then(Value::as_str) {
            if let Some(name) = pointer.strip_prefix("#/sets/") {
                if resolver.sets.contains_key(name) {
                    resolver.resolution_order.push(Step::Set(name.to_owned()));
                } else {
                    errors.push(missing(&ptr, "set", name, resolver.sets.keys()));
                }
            } else if let Some(name) = pointer.strip_prefix("#/modifiers/") {
                if resolver.modifiers.contains_key(name) {
                    resolver
                        .resolution_order
                        .push(Step::Modifier(name.to_owned()));
                } else {
                    errors.push(missing(&ptr, "modifier", name, resolver.modifiers.keys()));
                }
            } else {
                errors.push(error(
                    &ptr,
                    format!(
                        "{pointer:?} is not a set or modifier of this document; resolutionOrder items reference \"#/sets/NAME\" or \"#/modifiers/NAME\""
                    ),
                ));
            }
            continue;
        }
        let name = item.get("name").and_then(Value::as_str);
        let kind = item.get("type").and_then(Value::as_str);
        let Some(name) = name else {
            errors.push(error(
                &ptr,
                "an inline set or modifier in resolutionOrder needs a \"name\" and a \"type\" (\"set\" or \"modifier\")".into(),
            ));
            continue;
        };
        if !inline_names.insert(name.to_owned()) {
            errors.push(error(
                &ptr,
                format!("the name {name:?} is used twice in resolutionOrder; inline names must be unique"),
            ));
            continue;
        }
        match kind {
            Some("set") => {
                if let Some(sources) = read_set(item, &ptr, &mut errors) {
                    let key = unique(&resolver.sets, name);
                    resolver.sets.insert(key.clone(), sources);
                    resolver.resolution_order.push(Step::Set(key));
                }
            }
            Some("modifier") => {
                if let Some(m) = read_modifier(item, &ptr, &mut errors, &mut warnings) {
                    let key = unique(&resolver.modifiers, name);
                    resolver.modifiers.insert(key.clone(), m);
                    resolver.resolution_order.push(Step::Modifier(key));
                }
            }
            _ => errors.push(error(
                &format!("{ptr}/type"),
                "an inline item's \"type\" must be \"set\" or \"modifier\"".into(),
            )),
        }
    }
    // A set may name other sets; they must exist and not loop.
    errors.extend(set_loops(&resolver.sets));
    for (name, sources) in &resolver.sets {
        for (i, source) in sources.iter().enumerate() {
            if let Source::Set(other) = source
                && !resolver.sets.contains_key(other)
            {
                errors.push(missing(
                    &format!("/sets/{}/sources/{i}", escape(name)),
                    "set",
                    other,
                    resolver.sets.keys(),
                ));
            }
        }
    }
    for (name, m) in &resolver.modifiers {
        for (context, sources) in &m.contexts {
            for (i, source) in sources.iter().enumerate() {
                if let Source::Set(other) = source
                    && !resolver.sets.contains_key(other)
                {
                    errors.push(missing(
                        &format!(
                            "/modifiers/{}/contexts/{}/{i}",
                            escape(name),
                            escape(context)
                        ),
                        "set",
                        other,
                        resolver.sets.keys(),
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok((resolver, warnings))
    } else {
        Err(errors)
    }
}

/// One error per loop of sets that include each other (`a` → `b` → `a`, or `a` → `a`), named
/// from its smallest set and placed at that set's source that starts the loop.
fn set_loops(sets: &BTreeMap<String, Vec<Source>>) -> Vec<Diagnostic> {
    let mut loops: Vec<Vec<&str>> = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for start in sets.keys() {
        if done.contains(start.as_str()) {
            continue;
        }
        // Iterative DFS: the open path of sets, each with the index of its next source.
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some(&(name, next)) = path.last() {
            let Some(source) = sets[name].get(next) else {
                done.insert(name);
                path.pop();
                continue;
            };
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            let Source::Set(other) = source else { continue };
            let Some((other, _)) = sets.get_key_value(other) else {
                continue; // reported as a missing set
            };
            if let Some(at) = path.iter().position(|(n, _)| *n == other) {
                let mut cycle: Vec<&str> = path[at..].iter().map(|(n, _)| *n).collect();
                let smallest = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, n)| **n)
                    .map_or(0, |(i, _)| i);
                cycle.rotate_left(smallest);
                if !loops.contains(&cycle) {
                    loops.push(cycle);
                }
            } else if !done.contains(other.as_str()) {
                path.push((other, 0));
            }
        }
    }
    loops
        .into_iter()
        .map(|cycle| {
            let first = cycle[0];
            let second = cycle.get(1).copied().unwrap_or(first);
            let at = sets[first]
                .iter()
                .position(|s| matches!(s, Source::Set(n) if n == second))
                .unwrap_or(0);
            let mut shown = cycle.clone();
            shown.push(first);
            Diagnostic {
                code: Code::CircularReference,
                file: None,
                pointer: format!("/sets/{}/sources/{at}", escape(first)),
                path: None,
                message: format!(
                    "set {first:?} includes itself: {}; remove one of these \"#/sets/…\" sources",
                    shown.join(" -> ")
                ),
            }
        })
        .collect()
}

fn unique<T>(map: &BTreeMap<String, T>, name: &str) -> String {
    if !map.contains_key(name) {
        return name.to_owned();
    }
    (2..)
        .map(|i| format!("{name}-{i}"))
        .find(|n| !map.contains_key(n))
        .unwrap_or_else(|| name.to_owned())
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn missing<'a>(
    ptr: &str,
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a String>,
) -> Diagnostic {
    let close = nearest_paths(name, known.map(String::as_str), 3);
    let hint = if close.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", close.join(", "))
    };
    error(ptr, format!("there is no {what} named {name:?}{hint}"))
}

fn read_sources(v: &Value, ptr: &str, errors: &mut Vec<Diagnostic>) -> Option<Vec<Source>> {
    let Some(items) = v.as_array() else {
        errors.push(error(
            ptr,
            "sources must be an array of {\"$ref\": \"file.json\"} references and inline token groups".into(),
        ));
        return None;
    };
    let mut sources = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_ptr = format!("{ptr}/{i}");
        match item.get("$ref") {
            Some(Value::String(r)) => {
                if let Some(name) = r.strip_prefix("#/sets/") {
                    sources.push(Source::Set(name.to_owned()));
                } else if r.starts_with("#/modifiers/") {
                    errors.push(error(
                        &item_ptr,
                        format!("{r:?}: sets and modifier contexts must not reference a modifier; only resolutionOrder may"),
                    ));
                } else if r.starts_with('#') {
                    errors.push(error(
                        &item_ptr,
                        format!("{r:?}: a source may reference a file or \"#/sets/NAME\", nothing else in this document"),
                    ));
                } else {
                    let (path, pointer) = r.split_once('#').unwrap_or((r, ""));
                    sources.push(Source::File {
                        path: path.to_owned(),
                        pointer: pointer.to_owned(),
                    });
                }
            }
            Some(_) => errors.push(error(&item_ptr, "\"$ref\" must be a string".into())),
            None if item.is_object() => sources.push(Source::Inline(item.clone())),
            None => errors.push(error(
                &item_ptr,
                "each source must be a {\"$ref\": …} object or an object of inline tokens".into(),
            )),
        }
    }
    Some(sources)
}

fn read_set(v: &Value, ptr: &str, errors: &mut Vec<Diagnostic>) -> Option<Vec<Source>> {
    match v.get("sources") {
        Some(sources) => read_sources(sources, &format!("{ptr}/sources"), errors),
        None => {
            errors.push(error(ptr, "a set needs a \"sources\" array".into()));
            None
        }
    }
}

fn read_modifier(
    v: &Value,
    ptr: &str,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Option<Modifier> {
    let Some(contexts) = v.get("contexts").and_then(Value::as_object) else {
        errors.push(error(
            ptr,
            "a modifier needs \"contexts\": an object of context name → sources".into(),
        ));
        return None;
    };
    if contexts.is_empty() {
        errors.push(error(
            &format!("{ptr}/contexts"),
            "a modifier must have at least one context (and should have two or more)".into(),
        ));
        return None;
    }
    if contexts.len() == 1 {
        warnings.push(warning(
            Code::UnknownProperty,
            &format!("{ptr}/contexts"),
            "a modifier with one context always applies; make it a set".into(),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, sources) in contexts {
        let cptr = format!("{ptr}/contexts/{}", escape(name));
        if let Some(sources) = read_sources(sources, &cptr, errors) {
            out.insert(name.clone(), sources);
        }
    }
    let default = match v.get("default") {
        None => None,
        Some(Value::String(d)) if contexts.contains_key(d) => Some(d.clone()),
        Some(d) => {
            errors.push(missing(
                &format!("{ptr}/default"),
                "context",
                d.as_str().unwrap_or_default(),
                contexts.keys(),
            ));
            None
        }
    };
    Some(Modifier {
        contexts: out,
        default,
    })
}

impl ResolverDocument {
    /// The files the document references, for the caller to load (paths as written).
    pub fn files(&self) -> BTreeSet<String> {
        let sets = self.sets.values().flatten();
        let contexts = self
            .modifiers
            .values()
            .flat_map(|m| m.contexts.values().flatten());
        sets.chain(contexts)
            .filter_map(|s| match s {
                Source::File { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect()
    }

    /// Modifiers in resolution order.
    pub fn modifier_order(&self) -> Vec<&str> {
        self.resolution_order
            .iter()
            .filter_map(|s| match s {
                Step::Modifier(m) => Some(m.as_str()),
                Step::Set(_) => None,
            })
            .collect()
    }

    /// `input` checked against the modifiers (unknown modifiers or contexts are errors) and
    /// completed with defaults; a modifier with neither an input nor a default is an error.
    pub fn complete_input(&self, input: &Input) -> Result<Input, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut out = Input::new();
        for (name, context) in input {
            match self.modifiers.get(name) {
                None => errors.push(missing("", "modifier", name, self.modifiers.keys())),
                Some(m) if !m.contexts.contains_key(context) => errors.push(missing(
                    "",
                    &format!("context of modifier {name:?}"),
                    context,
                    m.contexts.keys(),
                )),
                Some(_) => {
                    out.insert(name.clone(), context.clone());
                }
            }
        }
        for name in self.modifier_order() {
            if out.contains_key(name) {
                continue;
            }
            match &self.modifiers[name].default {
                Some(d) => {
                    out.insert(name.to_owned(), d.clone());
                }
                None => errors.push(error(
                    "",
                    format!(
                        "modifier {name:?} has no default; choose one of its contexts ({})",
                        self.modifiers[name]
                            .contexts
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// The input of defaults (modifiers without a default take their first context).
    pub fn default_input(&self) -> Input {
        self.modifier_order()
            .into_iter()
            .filter_map(|name| {
                let m = &self.modifiers[name];
                let context = m
                    .default
                    .clone()
                    .or_else(|| m.contexts.keys().next().cloned())?;
                Some((name.to_owned(), context))
            })
            .collect()
    }

    /// Every combination of contexts, the default input first, then in context order.
    pub fn all_inputs(&self) -> Vec<Input> {
        let mut inputs = vec![Input::new()];
        for name in self.modifier_order() {
            let contexts: Vec<&String> = self.modifiers[name].contexts.keys().collect();
            inputs = inputs
                .into_iter()
                .flat_map(|input| {
                    contexts.iter().map(move |c| {
                        let mut next = input.clone();
                        next.insert(name.to_owned(), (*c).clone());
                        next
                    })
                })
                .collect();
        }
        let default = self.default_input();
        inputs.sort_by_key(|i| *i != default);
        inputs
    }

    /// `sources` in order, sets expanded in place (each with its set name as origin); `set` is
    /// the set they belong to, if any. Iterative; a set already being expanded is skipped, so
    /// even a hand-built document with a loop ([`parse_resolver`] refuses those) ends.
    fn sources<'a>(
        &'a self,
        sources: &'a [Source],
        out: &mut Vec<(&'a Source, String)>,
        origin: &str,
        set: Option<&str>,
    ) {
        // Each frame: what is left of a list, its origin, and its set (every frame on the
        // stack is an enclosing set of the source being looked at).
        let mut stack: Vec<(&'a [Source], &str, Option<&str>)> = vec![(sources, origin, set)];
        while let Some((list, origin, set)) = stack.pop() {
            let Some((source, rest)) = list.split_first() else {
                continue;
            };
            stack.push((rest, origin, set));
            match source {
                Source::Set(name) => {
                    let open = stack.iter().any(|(_, _, s)| *s == Some(name.as_str()));
                    if let Some((name, inner)) = self.sets.get_key_value(name)
                        && !open
                    {
                        stack.push((inner, name, Some(name)));
                    }
                }
                other => out.push((other, origin.to_owned())),
            }
        }
    }

    /// The sources of `input`'s resolution, in order, each with its origin (set name, or
    /// `modifier:context`); `bases_only` leaves out modifiers.
    fn plan(&self, input: &Input, bases_only: bool) -> Vec<(&Source, String)> {
        let mut out = Vec::new();
        for step in &self.resolution_order {
            match step {
                Step::Set(name) => {
                    if let Some(sources) = self.sets.get(name) {
                        self.sources(sources, &mut out, name, Some(name));
                    }
                }
                Step::Modifier(name) if !bases_only => {
                    let m = &self.modifiers[name];
                    let context = input.get(name).or(m.default.as_ref());
                    if let Some((context, sources)) =
                        context.and_then(|c| m.contexts.get_key_value(c))
                    {
                        self.sources(sources, &mut out, &format!("{name}:{context}"), None);
                    }
                }
                Step::Modifier(_) => {}
            }
        }
        out
    }

    fn load(
        source: &Source,
        origin: &str,
        files: &BTreeMap<String, Value>,
        label: &str,
    ) -> TokenSet {
        match source {
            Source::Inline(tokens) => TokenSet::parse_as(tokens, Some(label), origin),
            Source::File { path, pointer } => {
                let doc = files.get(path).and_then(|d| {
                    if pointer.is_empty() {
                        Some(d)
                    } else {
                        d.pointer(pointer.strip_prefix('#').unwrap_or(pointer))
                    }
                });
                match doc {
                    Some(doc) => TokenSet::parse_as(doc, Some(path), origin),
                    None => {
                        let mut set = TokenSet::new();
                        set.push_error(Diagnostic {
                            code: Code::InvalidRef,
                            file: Some(label.to_owned()),
                            pointer: String::new(),
                            path: None,
                            message: if files.contains_key(path) {
                                format!("{path:?} has nothing at {pointer:?}")
                            } else {
                                format!("the source file {path:?} was not loaded (is the path right, relative to the resolver document?)")
                            },
                        });
                        set
                    }
                }
            }
            Source::Set(_) => TokenSet::default(),
        }
    }

    /// The merged tokens of `input` (completed with defaults), not yet finished.
    pub fn token_set(
        &self,
        input: &Input,
        files: &BTreeMap<String, Value>,
        label: &str,
    ) -> TokenSet {
        let mut set = TokenSet::new();
        for (source, origin) in self.plan(input, false) {
            set.merge(Self::load(source, &origin, files, label));
        }
        set
    }

    /// Resolves `input`: every source merged in order, checked, and every reference resolved.
    /// Lineage names the set or `modifier:context` each token's value came from.
    pub fn resolve(
        &self,
        input: &Input,
        files: &BTreeMap<String, Value>,
        label: &str,
    ) -> Result<(Resolved, Vec<Diagnostic>), Vec<Diagnostic>> {
        let input = self.complete_input(input)?;
        self.token_set(&input, files, label)
            .resolve(&crate::ResolveOptions::default())
    }

    /// The node tree for the service: the root holds the default resolution (every set plus
    /// each modifier's default context), so it resolves on its own; each modifier context
    /// becomes a child `{root}-{modifier}-{context}` that overrides what that context changes
    /// (and defines what only it has). Each child's layers, root first, resolve exactly like
    /// the document with that context selected.
    pub fn to_tree(
        &self,
        root: &str,
        files: &BTreeMap<String, Value>,
        label: &str,
    ) -> Result<Vec<PlannedNode>, Vec<Diagnostic>> {
        let default = self.default_input();
        let (base_doc, _) = self.token_set(&default, files, label).finish()?;
        let mut nodes = vec![PlannedNode {
            id: root.to_owned(),
            parent: None,
            modifier: None,
            context: None,
            layer: base_doc.layer(root),
        }];
        let mut errors = Vec::new();
        for name in self.modifier_order() {
            for context in self.modifiers[name].contexts.keys() {
                let mut input = default.clone();
                input.insert(name.to_owned(), context.clone());
                let doc: Document = match self.token_set(&input, files, label).finish() {
                    Ok((doc, _)) => doc,
                    Err(e) => {
                        for d in e {
                            if !errors.contains(&d) {
                                errors.push(d);
                            }
                        }
                        continue;
                    }
                };
                let id = node_id(&format!("{root}-{name}-{context}"));
                let mut layer = Layer {
                    node: id.clone(),
                    entries: BTreeMap::new(),
                };
                for (path, token) in &doc.tokens {
                    let entry = match base_doc.tokens.get(path) {
                        Some(b) if b.value == token.value => continue,
                        Some(_) => Entry::Override {
                            value: token.value.clone(),
                        },
                        None => Entry::Define {
                            token_type: token.token_type,
                            value: token.value.clone(),
                            description: token.description.clone(),
                        },
                    };
                    layer.entries.insert(path.clone(), entry);
                }
                nodes.push(PlannedNode {
                    id,
                    parent: Some(root.to_owned()),
                    modifier: Some(name.to_owned()),
                    context: Some(context.clone()),
                    layer,
                });
            }
        }
        if errors.is_empty() {
            Ok(nodes)
        } else {
            Err(errors)
        }
    }
}

/// A node [`ResolverDocument::to_tree`] plans: its id, parent, and its own layer.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedNode {
    pub id: String,
    pub parent: Option<String>,
    pub modifier: Option<String>,
    pub context: Option<String>,
    pub layer: Layer,
}

/// A node id from free text: lowercase ASCII letters, digits and `-`.
fn node_id(s: &str) -> String {
    let mut id = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_matches('-').to_owned()
}

/// Inserts a DTCG token object at `path` into a nested group tree; a path that is also a group
/// keeps its own token under `$root`.
fn insert_token(tree: &mut Map<String, Value>, path: &str, token: Value) {
    let segments: Vec<&str> = path.split('.').collect();
    let Some((last, groups)) = segments.split_last() else {
        return;
    };
    let mut node = tree;
    for group in groups {
        let entry = node
            .entry((*group).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.get("$value").is_some() {
            let own = std::mem::replace(entry, Value::Object(Map::new()));
            if let Value::Object(o) = entry {
                o.insert(crate::ROOT_TOKEN.to_owned(), own);
            }
        }
        let Value::Object(next) = entry else { return };
        node = next;
    }
    match node.get_mut(*last) {
        Some(Value::Object(existing)) if !existing.contains_key("$value") => {
            existing.insert(crate::ROOT_TOKEN.to_owned(), token);
        }
        _ => {
            node.insert((*last).to_owned(), token);
        }
    }
}

fn token_object(ty: TokenType, value: &Value, description: Option<&String>) -> Value {
    let mut o = Map::new();
    o.insert("$type".into(), Value::from(ty.as_str()));
    o.insert("$value".into(), value.clone());
    if let Some(d) = description {
        o.insert("$description".into(), Value::from(d.as_str()));
    }
    Value::Object(o)
}

/// A resolver document for a node and its children: `base` (the node's layers, root first)
/// merged into the set `base`, and each child layer a context of `modifier` (overrides keep the
/// type of the base token). Values keep their references. Fails on overrides of tokens the
/// base does not define.
pub fn to_resolver_document(
    base: &[Layer],
    modifier: &str,
    contexts: &[Layer],
    default: Option<&str>,
) -> Result<Value, ResolveErrors> {
    let mut merged: BTreeMap<&str, (TokenType, &Value, Option<&String>)> = BTreeMap::new();
    let mut errors = Vec::new();
    for layer in base {
        for (path, entry) in &layer.entries {
            match entry {
                Entry::Define {
                    token_type,
                    value,
                    description,
                } => {
                    merged.insert(path, (*token_type, value, description.as_ref()));
                }
                Entry::Override { value } => match merged.get_mut(path.as_str()) {
                    Some(t) => t.1 = value,
                    None => errors.push(ResolveError::OrphanOverride {
                        node: layer.node.clone(),
                        path: path.clone(),
                    }),
                },
            }
        }
    }
    let mut base_tree = Map::new();
    for (path, (ty, value, description)) in &merged {
        insert_token(&mut base_tree, path, token_object(*ty, value, *description));
    }
    let mut context_map = Map::new();
    for layer in contexts {
        let mut tree = Map::new();
        for (path, entry) in &layer.entries {
            let token = match entry {
                Entry::Define {
                    token_type,
                    value,
                    description,
                } => token_object(*token_type, value, description.as_ref()),
                Entry::Override { value } => match merged.get(path.as_str()) {
                    Some((ty, _, description)) => token_object(*ty, value, *description),
                    None => {
                        errors.push(ResolveError::OrphanOverride {
                            node: layer.node.clone(),
                            path: path.clone(),
                        });
                        continue;
                    }
                },
            };
            insert_token(&mut tree, path, token);
        }
        context_map.insert(layer.node.clone(), Value::Array(vec![Value::Object(tree)]));
    }
    if !errors.is_empty() {
        return Err(ResolveErrors(errors));
    }
    let mut m = Map::new();
    m.insert("contexts".into(), Value::Object(context_map));
    if let Some(d) = default {
        m.insert("default".into(), Value::from(d));
    }
    let mut order = vec![json!({"$ref": "#/sets/base"})];
    let mut modifiers = Map::new();
    if !contexts.is_empty() {
        modifiers.insert(modifier.to_owned(), Value::Object(m));
        order.push(json!({"$ref": format!("#/modifiers/{modifier}")}));
    }
    Ok(json!({
        "version": "2025.10",
        "sets": {"base": {"sources": [Value::Object(base_tree)]}},
        "modifiers": Value::Object(modifiers),
        "resolutionOrder": order,
    }))
}
