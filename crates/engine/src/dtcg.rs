//! DTCG 2025.10 token documents: tokens and groups, `$type` inheritance, `$description`,
//! `$deprecated`, `$extensions`, `$root` tokens, `$extends` group inheritance, `{alias}` and
//! `$ref` JSON-pointer references, and every type's value rules.
//!
//! Parsing has two stages so many files (or resolver sets) can be combined before the rules
//! that need the whole set run:
//!
//! 1. [`TokenSet::parse`] reads one document's structure. Values are not checked yet.
//! 2. [`TokenSet::merge`] lays sets over each other (later wins), and [`TokenSet::finish`]
//!    applies `$extends`, takes the type of untyped alias tokens from their targets, checks
//!    every value against its type and every reference against the type it stands for.
//!    [`TokenSet::resolve`] does the same and resolves the valid tokens in the same pass.
//!
//! Every broken rule is collected; nothing stops at the first error. Files in the older draft
//! forms still found in the wild load with warnings: string colours and dimensions (`"#ff0000"`,
//! `"16px"`), Style Dictionary / Tokens Studio files with `value`/`type` keys instead of
//! `$value`/`$type`, and Tokens Studio type names such as `spacing` or `boxShadow`.
//!
//! Nothing here recurses on input depth: documents and values are walked with explicit stacks.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::path::{ROOT_TOKEN, nearest_paths};
use crate::resolve::{
    Entry, FastMap, Layer, LayerMeta, ResolveError, ResolveOptions, Resolved, TokenMeta,
    resolve_with,
};
use crate::value::{
    alias_target, is_legacy_form, ref_pointer, reference_at, split_ref, validate_value, visit_typed,
};
use crate::{TokenType, resolve_with_meta};

/// What kind of problem a [`Diagnostic`] reports. Warnings never stop a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    /// The document, a group or a token is not a JSON object.
    NotAnObject,
    /// A token or group name contains `.`, `{` or `}`.
    InvalidName,
    /// A token object also holds tokens or groups.
    TokenWithChildren,
    /// A token has no `$type` of its own, from a group, or from the token it aliases.
    MissingType,
    /// `$type` is not a DTCG type.
    UnknownType,
    /// `$value` breaks its type's rules.
    InvalidValue,
    /// `$description`, `$deprecated` or `$extensions` has the wrong JSON kind.
    InvalidProperty,
    /// `$extends` is malformed, names no group, names a token, or is circular.
    InvalidExtends,
    /// A `$ref` is not a JSON pointer into the document.
    InvalidRef,
    /// A reference points at a token of another type than its position needs.
    TypeMismatch,
    /// Two sources disagree: one's token is the other's group.
    Conflict,
    /// A reference cycle: tokens that alias each other, or resolver sets that include each other.
    CircularReference,
    /// Resolution: a reference to a token that does not exist.
    BrokenReference,
    /// Resolution: anything else (too deep, bad pointer, orphan override).
    Unresolvable,
    /// Warning: the file uses `value`/`type` instead of `$value`/`$type`.
    LegacyFormat,
    /// Warning: values in older draft string forms.
    LegacyValue,
    /// Warning: a Tokens Studio type name mapped to its DTCG type.
    LegacyType,
    /// Warning: a type guessed from the value (legacy files only; DTCG files must declare it).
    InferredType,
    /// Warning: a `$`-property the format does not define.
    UnknownProperty,
    /// Warning: a token of a type tinct cannot represent was skipped.
    UnsupportedType,
    /// Warning: a later source replaced a token of an earlier one.
    Overridden,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotAnObject => "NOT_AN_OBJECT",
            Code::InvalidName => "INVALID_NAME",
            Code::TokenWithChildren => "TOKEN_WITH_CHILDREN",
            Code::MissingType => "MISSING_TYPE",
            Code::UnknownType => "UNKNOWN_TYPE",
            Code::InvalidValue => "INVALID_VALUE",
            Code::InvalidProperty => "INVALID_PROPERTY",
            Code::InvalidExtends => "INVALID_EXTENDS",
            Code::InvalidRef => "INVALID_REF",
            Code::TypeMismatch => "TYPE_MISMATCH",
            Code::Conflict => "CONFLICT",
            Code::CircularReference => "CIRCULAR_REFERENCE",
            Code::BrokenReference => "BROKEN_REFERENCE",
            Code::Unresolvable => "UNRESOLVABLE",
            Code::LegacyFormat => "LEGACY_FORMAT",
            Code::LegacyValue => "LEGACY_VALUE",
            Code::LegacyType => "LEGACY_TYPE",
            Code::InferredType => "INFERRED_TYPE",
            Code::UnknownProperty => "UNKNOWN_PROPERTY",
            Code::UnsupportedType => "UNSUPPORTED_TYPE",
            Code::Overridden => "OVERRIDDEN",
        }
    }

    pub fn is_warning(self) -> bool {
        matches!(
            self,
            Code::LegacyFormat
                | Code::LegacyValue
                | Code::LegacyType
                | Code::InferredType
                | Code::UnknownProperty
                | Code::UnsupportedType
                | Code::Overridden
        )
    }
}

/// One error or warning about a token document: what, where (file and JSON pointer, and the
/// token path when it concerns a token), and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub code: Code,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// JSON pointer inside the file, e.g. `/color/brand/$value`.
    pub pointer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.pointer.is_empty()) {
            (Some(file), false) => write!(f, "{file} at {}: ", self.pointer)?,
            (Some(file), true) => write!(f, "{file}: ")?,
            (None, false) => write!(f, "at {}: ", self.pointer)?,
            (None, true) => {}
        }
        f.write_str(&self.message)
    }
}

/// Where a token was defined.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: Option<Arc<str>>,
    /// JSON pointer of the token object in its file.
    pub pointer: String,
    /// The file uses `value` rather than `$value` (older Style Dictionary / Tokens Studio).
    pub legacy: bool,
}

impl Location {
    /// JSON pointer of the token's value.
    pub fn value_pointer(&self) -> String {
        let key = if self.legacy { "value" } else { "$value" };
        format!("{}/{key}", self.pointer)
    }
}

/// A token of a finished [`Document`].
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub token_type: TokenType,
    /// As written (references kept), with `$ref`s to a whole token rewritten as `{alias}`.
    pub value: Value,
    pub description: Option<String>,
    pub deprecated: Option<Value>,
    pub extensions: Option<Map<String, Value>>,
    pub location: Location,
    /// The file, set or context the token came from (becomes its layer, i.e. its lineage).
    pub origin: Arc<str>,
}

/// A valid token document: every token typed and every value checked. References are not
/// resolved yet; see [`Document::resolve`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub tokens: BTreeMap<String, Token>,
}

#[derive(Debug, Clone)]
struct RawToken {
    token_type: Option<TokenType>,
    value: Value,
    description: Option<String>,
    deprecated: Option<Value>,
    extensions: Option<Map<String, Value>>,
    location: Location,
    origin: Arc<str>,
    /// From a legacy (`value`/`type`) file, where a missing type may be guessed.
    legacy: bool,
}

#[derive(Debug, Clone)]
struct Extends {
    group: String,
    target: String,
    location: Location,
}

/// The first stage of parsing: one or more documents' tokens, merged, not yet checked as a
/// whole. Build with [`TokenSet::parse`], combine with [`TokenSet::merge`], then
/// [`TokenSet::finish`].
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    tokens: BTreeMap<String, RawToken>,
    /// Tokens read by `parse`, sorted into `tokens` at its end (bulk-building the map is much
    /// cheaper than inserting large values one by one).
    pending: Vec<(String, RawToken)>,
    groups: BTreeMap<String, Location>,
    extends: Vec<Extends>,
    /// Paths of tokens left out because of an error of their own, so references to them are
    /// not reported a second time as broken.
    rejected: BTreeSet<String>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

/// What [`TokenSet::finish`] found: the valid tokens, and every problem.
struct Checked {
    document: Document,
    warnings: Vec<Diagnostic>,
    errors: Vec<Diagnostic>,
    rejected: BTreeSet<String>,
}

/// Parses and finishes one document: `Ok` with its tokens and warnings, or every error.
pub fn parse_document(doc: &Value) -> Result<(Document, Vec<Diagnostic>), Vec<Diagnostic>> {
    TokenSet::parse(doc, None).finish()
}

fn push_pointer(pointer: &str, key: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + key.len() + 1);
    out.push_str(pointer);
    out.push('/');
    if key.contains(['~', '/']) {
        out.push_str(&key.replace('~', "~0").replace('/', "~1"));
    } else {
        out.push_str(key);
    }
    out
}

/// Property names of the two dialects.
struct Keys {
    value: &'static str,
    ty: &'static str,
    description: &'static str,
}

const DTCG_KEYS: Keys = Keys {
    value: "$value",
    ty: "$type",
    description: "$description",
};
const LEGACY_KEYS: Keys = Keys {
    value: "value",
    ty: "type",
    description: "description",
};

/// Whether any object in `doc` has a `$value` key (walked iteratively).
fn has_key(doc: &Value, key: &str) -> bool {
    let mut stack = vec![doc];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(o) => {
                if o.contains_key(key) {
                    return true;
                }
                stack.extend(o.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

/// Tokens Studio / Style Dictionary type names and the DTCG type each maps to.
fn legacy_type(name: &str) -> Option<TokenType> {
    Some(match name {
        "sizing" | "spacing" | "borderRadius" | "borderWidth" | "fontSizes" | "letterSpacing"
        | "paragraphSpacing" | "paragraphIndent" | "size" => TokenType::Dimension,
        "fontFamilies" => TokenType::FontFamily,
        "fontWeights" => TokenType::FontWeight,
        "lineHeights" | "opacity" => TokenType::Number,
        "boxShadow" => TokenType::Shadow,
        "colors" => TokenType::Color,
        _ => return None,
    })
}

/// Type names some tools write that have no DTCG counterpart: such tokens are skipped.
const UNSUPPORTED_TYPES: [&str; 9] = [
    "text",
    "other",
    "textCase",
    "textDecoration",
    "asset",
    "boolean",
    "composition",
    "string",
    "link",
];

enum TypeName {
    Dtcg(TokenType),
    Legacy(TokenType),
    Unsupported,
}

fn read_type(name: &str) -> Result<TypeName, String> {
    if let Ok(ty) = name.parse::<TokenType>() {
        return Ok(TypeName::Dtcg(ty));
    }
    if let Some(ty) = legacy_type(name) {
        return Ok(TypeName::Legacy(ty));
    }
    if UNSUPPORTED_TYPES.contains(&name) {
        return Ok(TypeName::Unsupported);
    }
    Err(name
        .parse::<TokenType>()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default())
}

struct Frame<'a> {
    group: &'a Map<String, Value>,
    path: String,
    pointer: String,
    ty: Option<TokenType>,
    deprecated: Option<Value>,
    /// A group above has an invalid `$type` (already reported): untyped tokens are skipped.
    bad_type: bool,
}

impl TokenSet {
    pub fn new() -> TokenSet {
        TokenSet::default()
    }

    /// Reads one document. `file` names it in diagnostics and lineage (default "document").
    pub fn parse(doc: &Value, file: Option<&str>) -> TokenSet {
        TokenSet::parse_as(doc, file, file.unwrap_or("document"))
    }

    /// [`TokenSet::parse`], recording `origin` (a set or context name) as each token's layer.
    pub fn parse_as(doc: &Value, file: Option<&str>, origin: &str) -> TokenSet {
        let mut set = TokenSet::new();
        let file: Option<Arc<str>> = file.map(Arc::from);
        let origin: Arc<str> = Arc::from(origin);
        let Some(root) = doc.as_object() else {
            set.error(
                Code::NotAnObject,
                &file,
                "",
                None,
                "a token document must be a JSON object of groups and tokens".to_owned(),
            );
            return set;
        };
        let legacy = !has_key(doc, "$value") && has_key(doc, "value");
        // (has_key stops at the first `$value`, so DTCG files are walked only until then.)
        if legacy {
            set.warn(
                Code::LegacyFormat,
                &file,
                "",
                None,
                "this file uses the Style Dictionary / Tokens Studio format (\"value\" and \"type\" without '$'); it was read as DTCG, which writes \"$value\" and \"$type\"".to_owned(),
            );
        }
        let keys = if legacy { &LEGACY_KEYS } else { &DTCG_KEYS };
        let mut legacy_types: BTreeSet<String> = BTreeSet::new();
        let mut stack = vec![Frame {
            group: root,
            path: String::new(),
            pointer: String::new(),
            ty: None,
            deprecated: None,
            bad_type: false,
        }];
        while let Some(frame) = stack.pop() {
            let errors_before = set.errors.len();
            let group_ty = set.group_properties(&frame, &file, keys, legacy, &mut legacy_types);
            let bad_type = frame.bad_type
                || (group_ty.is_none()
                    && set.errors[errors_before..]
                        .iter()
                        .any(|e| e.code == Code::UnknownType));
            let ty = group_ty.or(frame.ty);
            let deprecated = match frame.group.get("$deprecated") {
                Some(Value::Bool(false)) => None,
                Some(d @ (Value::Bool(_) | Value::String(_))) => Some(d.clone()),
                _ => frame.deprecated.clone(),
            };
            for (name, child) in frame.group {
                let is_root_token = name == ROOT_TOKEN;
                if name.starts_with('$') && !is_root_token {
                    continue;
                }
                if legacy && (name == keys.ty || name == keys.description) {
                    continue;
                }
                let pointer = push_pointer(&frame.pointer, name);
                let path = if frame.path.is_empty() {
                    name.clone()
                } else {
                    format!("{}.{name}", frame.path)
                };
                if let Some(bad) = name.chars().find(|c| matches!(c, '.' | '{' | '}')) {
                    set.error(
                        Code::InvalidName,
                        &file,
                        &pointer,
                        Some(&path),
                        format!(
                            "the name {name:?} contains {bad:?}; token and group names must not contain '.', '{{' or '}}' (they are the path and alias syntax)"
                        ),
                    );
                    continue;
                }
                if name.is_empty() {
                    set.error(
                        Code::InvalidName,
                        &file,
                        &pointer,
                        Some(&path),
                        "a token or group name must not be empty".to_owned(),
                    );
                    continue;
                }
                let Some(object) = child.as_object() else {
                    set.rejected.insert(path.clone());
                    set.error(
                        Code::NotAnObject,
                        &file,
                        &pointer,
                        Some(&path),
                        format!(
                            "{path:?} is {}, but every group and token must be an object (a token is {{\"$value\": …}})",
                            kind(child)
                        ),
                    );
                    continue;
                };
                if object.contains_key(keys.value) {
                    if bad_type && ty.is_none() && !object.contains_key(keys.ty) {
                        set.rejected.insert(path);
                        continue;
                    }
                    set.token(
                        object,
                        path,
                        pointer,
                        ty,
                        deprecated.clone(),
                        (&file, &origin),
                        keys,
                        legacy,
                        &mut legacy_types,
                    );
                } else if is_root_token {
                    set.error(
                        Code::TokenWithChildren,
                        &file,
                        &pointer,
                        Some(&path),
                        "\"$root\" is reserved for the group's own token and must have a \"$value\"".to_owned(),
                    );
                } else {
                    set.groups.insert(
                        path.clone(),
                        Location {
                            file: file.clone(),
                            pointer: pointer.clone(),
                            legacy,
                        },
                    );
                    stack.push(Frame {
                        group: object,
                        path,
                        pointer,
                        ty,
                        deprecated: deprecated.clone(),
                        bad_type,
                    });
                }
            }
        }
        let mut pending = std::mem::take(&mut set.pending);
        pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        set.tokens = pending.into_iter().collect();
        for name in legacy_types {
            let mapped = legacy_type(&name).map_or("?", TokenType::as_str);
            set.warn(
                Code::LegacyType,
                &file,
                "",
                None,
                format!(
                    "the type {name:?} is a Tokens Studio name; it was read as the DTCG type {mapped:?}"
                ),
            );
        }
        set
    }

    /// Checks a group's own `$` properties; returns its `$type`.
    fn group_properties(
        &mut self,
        frame: &Frame<'_>,
        file: &Option<Arc<str>>,
        keys: &Keys,
        legacy: bool,
        legacy_types: &mut BTreeSet<String>,
    ) -> Option<TokenType> {
        let mut ty = None;
        let path = (!frame.path.is_empty()).then_some(frame.path.as_str());
        for (key, v) in frame.group {
            // Only properties ($type, …) are looked at here; children are walked elsewhere.
            if !(key.starts_with('$') || (legacy && key == keys.ty)) {
                continue;
            }
            let pointer = push_pointer(&frame.pointer, key);
            match key.as_str() {
                k if k == keys.ty => {
                    ty = self.type_property(v, file, &pointer, path, legacy_types);
                }
                "$description" | "$extensions" | "$deprecated" => {
                    self.meta_property(key, v, file, &pointer, path);
                }
                "$extends" => match extends_target(v) {
                    Some(target) => self.extends.push(Extends {
                        group: frame.path.clone(),
                        target,
                        location: Location {
                            file: file.clone(),
                            pointer,
                            legacy: false,
                        },
                    }),
                    None => self.error(
                        Code::InvalidExtends,
                        file,
                        &pointer,
                        path,
                        format!(
                            "$extends must name a group as \"{{group.path}}\" or {{\"$ref\": \"#/group/path\"}}, not {v}"
                        ),
                    ),
                },
                "$schema" | "$root" => {}
                k if k.starts_with('$') && !legacy => self.warn(
                    Code::UnknownProperty,
                    file,
                    &pointer,
                    path,
                    format!(
                        "{k:?} is not a DTCG group property ($type, $description, $deprecated, $extensions, $extends); it was ignored"
                    ),
                ),
                _ => {}
            }
        }
        ty
    }

    fn type_property(
        &mut self,
        v: &Value,
        file: &Option<Arc<str>>,
        pointer: &str,
        path: Option<&str>,
        legacy_types: &mut BTreeSet<String>,
    ) -> Option<TokenType> {
        let Some(name) = v.as_str() else {
            self.error(
                Code::UnknownType,
                file,
                pointer,
                path,
                format!("$type must be a string naming a DTCG type, not {v}"),
            );
            return None;
        };
        match read_type(name) {
            Ok(TypeName::Dtcg(ty)) => Some(ty),
            Ok(TypeName::Legacy(ty)) => {
                legacy_types.insert(name.to_owned());
                Some(ty)
            }
            Ok(TypeName::Unsupported) => None,
            Err(message) => {
                self.error(Code::UnknownType, file, pointer, path, message);
                None
            }
        }
    }

    fn meta_property(
        &mut self,
        key: &str,
        v: &Value,
        file: &Option<Arc<str>>,
        pointer: &str,
        path: Option<&str>,
    ) -> bool {
        let (ok, rule) = match key {
            "$description" => (v.is_string(), "$description must be a string"),
            "$deprecated" => (
                v.is_boolean() || v.is_string(),
                "$deprecated must be true, false or a string explaining what to use instead",
            ),
            _ => (
                v.is_object(),
                "$extensions must be an object keyed by vendor (reverse domain names such as \"com.example.tool\")",
            ),
        };
        if !ok {
            self.error(
                Code::InvalidProperty,
                file,
                pointer,
                path,
                format!("{rule}, not {}", kind(v)),
            );
        }
        ok
    }

    #[allow(clippy::too_many_arguments)]
    fn token(
        &mut self,
        object: &Map<String, Value>,
        path: String,
        pointer: String,
        inherited: Option<TokenType>,
        deprecated: Option<Value>,
        (file, origin): (&Option<Arc<str>>, &Arc<str>),
        keys: &Keys,
        legacy: bool,
        legacy_types: &mut BTreeSet<String>,
    ) {
        let mut token_type = inherited;
        let mut type_name: Option<&str> = None;
        let mut description = None;
        let mut deprecated = deprecated;
        let mut extensions = None;
        let mut ok = true;
        for (key, v) in object {
            if key == keys.value {
                continue;
            }
            let p = push_pointer(&pointer, key);
            match key.as_str() {
                k if k == keys.ty => {
                    type_name = v.as_str();
                    if v.as_str().is_some_and(|n| UNSUPPORTED_TYPES.contains(&n)) {
                        self.warn(
                            Code::UnsupportedType,
                            file,
                            &p,
                            Some(&path),
                            format!(
                                "{path:?} has type {v}, which DTCG does not define; the token was skipped"
                            ),
                        );
                        return;
                    }
                    match self.type_property(v, file, &p, Some(&path), legacy_types) {
                        Some(ty) => token_type = Some(ty),
                        None => ok = false,
                    }
                }
                k if k == keys.description || (legacy && k == "comment") => {
                    if self.meta_property("$description", v, file, &p, Some(&path)) {
                        description = v.as_str().map(str::to_owned);
                    } else {
                        ok = false;
                    }
                }
                "$deprecated" => {
                    if self.meta_property(key, v, file, &p, Some(&path)) {
                        deprecated = match v {
                            Value::Bool(false) => None,
                            other => Some(other.clone()),
                        };
                    } else {
                        ok = false;
                    }
                }
                "$extensions" => {
                    if self.meta_property(key, v, file, &p, Some(&path)) {
                        extensions = v.as_object().cloned();
                    } else {
                        ok = false;
                    }
                }
                k if k.starts_with('$') && !legacy => self.warn(
                    Code::UnknownProperty,
                    file,
                    &p,
                    Some(&path),
                    format!(
                        "{k:?} is not a DTCG token property ($value, $type, $description, $deprecated, $extensions); it was ignored"
                    ),
                ),
                _ if legacy => {}
                k => {
                    self.error(
                        Code::TokenWithChildren,
                        file,
                        &p,
                        Some(&path),
                        format!(
                            "{path:?} is a token (it has \"$value\") but also holds {k:?}; a token cannot contain tokens or groups — move {k:?} into a group, or make {path:?} a group with a \"$root\" token"
                        ),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            self.rejected.insert(path);
            return;
        }
        let raw = object.get(keys.value).cloned().unwrap_or(Value::Null);
        let Some(mut value) = self.rewrite_refs(raw, file, &pointer, keys.value, &path) else {
            self.rejected.insert(path);
            return;
        };
        if let (Some(ty), Some(name)) = (token_type, type_name)
            && legacy_type(name).is_some()
        {
            value = legacy_value(name, ty, value);
        } else if legacy && let Some(ty) = token_type {
            value = legacy_value("", ty, value);
        }
        self.pending.push((
            path,
            RawToken {
                token_type,
                value,
                description,
                deprecated,
                extensions,
                location: Location {
                    file: file.clone(),
                    pointer,
                    legacy,
                },
                origin: origin.clone(),
                legacy,
            },
        ));
    }

    /// Rewrites `{"$ref": "#/a/b/$value"}` (a whole token's value) to the alias `"{a.b}"`, and
    /// reports malformed references. Deeper pointers stay as `$ref` for the resolver.
    fn rewrite_refs(
        &mut self,
        mut value: Value,
        file: &Option<Arc<str>>,
        token_pointer: &str,
        value_key: &str,
        path: &str,
    ) -> Option<Value> {
        if !has_key(&value, "$ref") {
            return Some(value);
        }
        let pointer = push_pointer(token_pointer, value_key);
        let pointer = pointer.as_str();
        let mut ok = true;
        let mut errors = Vec::new();
        let mut stack: Vec<(&mut Value, String)> = vec![(&mut value, pointer.to_owned())];
        while let Some((v, ptr)) = stack.pop() {
            if let Value::Object(o) = v
                && o.contains_key("$ref")
            {
                match ref_pointer(v).map(|p| (p, split_ref(p))) {
                    Some((_, Some((target, inner)))) if inner.is_empty() => {
                        *v = Value::String(format!("{{{target}}}"));
                    }
                    Some((_, Some(_))) => {}
                    Some((p, None)) => {
                        errors.push((
                            push_pointer(&ptr, "$ref"),
                            format!(
                                "the reference {p:?} is not a JSON pointer into this document; write it like \"#/color/brand/$value\" (other files are combined with a resolver document)"
                            ),
                        ));
                        ok = false;
                    }
                    None => {
                        errors.push((
                            ptr.clone(),
                            "a reference object must hold only \"$ref\" with a JSON pointer string, like {\"$ref\": \"#/color/brand/$value\"}".to_owned(),
                        ));
                        ok = false;
                    }
                }
                continue;
            }
            match v {
                Value::Object(o) => {
                    for (k, c) in o.iter_mut() {
                        let p = push_pointer(&ptr, k);
                        stack.push((c, p));
                    }
                }
                Value::Array(items) => {
                    for (i, c) in items.iter_mut().enumerate() {
                        let p = push_pointer(&ptr, &i.to_string());
                        stack.push((c, p));
                    }
                }
                _ => {}
            }
        }
        for (p, message) in errors {
            self.error(Code::InvalidRef, file, &p, Some(path), message);
        }
        ok.then_some(value)
    }

    /// Lays `other` over this set: its tokens replace same-path tokens here (reported as an
    /// `OVERRIDDEN` warning when both came from different files).
    pub fn merge(&mut self, other: TokenSet) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
        type FilePair = (Option<Arc<str>>, Option<Arc<str>>);
        let mut replaced: BTreeMap<FilePair, (usize, String)> = BTreeMap::new();
        for (path, token) in other.tokens {
            if let Some(old) = self.tokens.get(&path) {
                if let (Some(a), Some(b)) = (old.token_type, token.token_type)
                    && a != b
                {
                    let message = format!(
                        "{path:?} is a {a} token in {} but a {b} token here; a later source may change a token's value, not its type",
                        old.location.file.as_deref().unwrap_or("an earlier source")
                    );
                    self.errors.push(diagnostic(
                        Code::Conflict,
                        &token.location.file,
                        &token.location.pointer,
                        Some(&path),
                        message,
                    ));
                }
                if old.location.file != token.location.file {
                    let entry = replaced
                        .entry((old.location.file.clone(), token.location.file.clone()))
                        .or_insert((0, path.clone()));
                    entry.0 += 1;
                }
            }
            self.tokens.insert(path, token);
        }
        for ((from, to), (count, first)) in replaced {
            let from = from.as_deref().unwrap_or("an earlier source").to_owned();
            self.warn(
                Code::Overridden,
                &to,
                "",
                None,
                format!(
                    "{count} token(s) defined in {from} are replaced by this file (first: {first:?}); later files win"
                ),
            );
        }
        for (path, location) in other.groups {
            self.groups.entry(path).or_insert(location);
        }
        self.extends.extend(other.extends);
        self.rejected.extend(other.rejected);
    }

    /// Adds an error found by the caller (e.g. a source file that could not be read), so it is
    /// reported with the others by [`TokenSet::finish`].
    pub fn push_error(&mut self, diagnostic: Diagnostic) {
        self.errors.push(diagnostic);
    }

    /// Number of tokens read so far.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    fn error(
        &mut self,
        code: Code,
        file: &Option<Arc<str>>,
        pointer: &str,
        path: Option<&str>,
        message: String,
    ) {
        self.errors
            .push(diagnostic(code, file, pointer, path, message));
    }

    fn warn(
        &mut self,
        code: Code,
        file: &Option<Arc<str>>,
        pointer: &str,
        path: Option<&str>,
        message: String,
    ) {
        self.warnings
            .push(diagnostic(code, file, pointer, path, message));
    }

    /// The rules that need the whole set: `$extends`, token/group conflicts, types of untyped
    /// aliases, every value and every reference's type. `Ok` with the warnings, or all errors.
    /// References are not followed; [`TokenSet::resolve`] also reports broken ones and cycles.
    pub fn finish(self) -> Result<(Document, Vec<Diagnostic>), Vec<Diagnostic>> {
        let checked = self.check();
        if checked.errors.is_empty() {
            Ok((checked.document, checked.warnings))
        } else {
            Err(checked.errors)
        }
    }

    /// [`TokenSet::finish`] and resolution in one pass, so every error of the set is reported
    /// at once: values, types, broken references and cycles. Tokens with errors of their own
    /// are left out of resolution, and references to them are not reported again as broken.
    pub fn resolve(
        self,
        options: &ResolveOptions,
    ) -> Result<(Resolved, Vec<Diagnostic>), Vec<Diagnostic>> {
        let Checked {
            document,
            warnings,
            mut errors,
            rejected,
        } = self.check();
        match document.resolve_skipping(options, &rejected) {
            Ok(resolved) if errors.is_empty() => Ok((resolved, warnings)),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    fn check(mut self) -> Checked {
        self.apply_extends();
        for (path, location) in &self.groups {
            if let Some(token) = self.tokens.get(path) {
                self.errors.push(diagnostic(
                    Code::Conflict,
                    &token.location.file,
                    &token.location.pointer,
                    Some(path),
                    format!(
                        "{path:?} is a token here but a group in {}{}; a name is either a token or a group (use \"$root\" for a group's own value)",
                        location.file.as_deref().unwrap_or("the document"),
                        if location.pointer.is_empty() { String::new() } else { format!(" at {}", location.pointer) }
                    ),
                ));
            }
        }
        let raw = std::mem::take(&mut self.tokens);
        let types = infer_types(&raw, &mut self.errors, &mut self.warnings);
        let mut keep: Vec<Option<TokenType>> = Vec::with_capacity(raw.len());
        let mut legacy_counts: BTreeMap<Option<Arc<str>>, (usize, String)> = BTreeMap::new();
        for (path, token) in &raw {
            keep.push(None);
            let Some(&ty) = types.get(path.as_str()) else {
                self.rejected.insert(path.clone());
                continue;
            };
            if let Err(e) = validate_value(ty, &token.value) {
                self.rejected.insert(path.clone());
                let pointer = format!("{}{}", token.location.value_pointer(), e.pointer);
                self.errors.push(diagnostic(
                    Code::InvalidValue,
                    &token.location.file,
                    &pointer,
                    Some(path),
                    format!("{path:?} ({ty}): {e}"),
                ));
                continue;
            }
            let mut legacy_form = false;
            let mut mismatches = Vec::new();
            visit_typed(ty, &token.value, &mut |field_ty, v, ptr| {
                legacy_form |= is_legacy_form(field_ty, v);
                let target: Option<Cow<'_, str>> = match alias_target(v) {
                    Some(path) => Some(Cow::Borrowed(path)),
                    None => reference_at(v)
                        .filter(|(_, inner)| inner.is_empty())
                        .map(|(path, _)| Cow::Owned(path)),
                };
                if let Some(target) = target
                    && let Some(&target_ty) = types.get(&*target)
                    && target_ty != field_ty
                {
                    mismatches.push((ptr.to_owned(), target.into_owned(), target_ty, field_ty));
                }
            });
            if legacy_form {
                let entry = legacy_counts
                    .entry(token.location.file.clone())
                    .or_insert((0, path.clone()));
                entry.0 += 1;
            }
            for (ptr, target, target_ty, field_ty) in &mismatches {
                let pointer = format!("{}{ptr}", token.location.value_pointer());
                let place = if ptr.is_empty() {
                    format!("{path:?}")
                } else {
                    format!("{path:?} at {ptr}")
                };
                self.errors.push(diagnostic(
                    Code::TypeMismatch,
                    &token.location.file,
                    &pointer,
                    Some(path),
                    format!(
                        "{place} needs a {field_ty} but references {target:?}, a {target_ty} token; reference a {field_ty} token or give a literal value"
                    ),
                ));
            }
            if !mismatches.is_empty() {
                self.rejected.insert(path.clone());
                continue;
            }
            if let Some(slot) = keep.last_mut() {
                *slot = Some(ty);
            }
        }
        drop(types);
        // Move the checked tokens out (sorted already, so the map is built in bulk).
        let tokens: BTreeMap<String, Token> = raw
            .into_iter()
            .zip(keep)
            .filter_map(|((path, token), ty)| {
                Some((
                    path,
                    Token {
                        token_type: ty?,
                        value: token.value,
                        description: token.description,
                        deprecated: token.deprecated,
                        extensions: token.extensions,
                        location: token.location,
                        origin: token.origin,
                    },
                ))
            })
            .collect();
        for (file, (count, first)) in legacy_counts {
            self.warnings.push(diagnostic(
                Code::LegacyValue,
                &file,
                "",
                None,
                format!(
                    "{count} token(s) use older draft string values (first: {first:?}); DTCG 2025.10 writes colours as {{\"colorSpace\", \"components\"}} objects and dimensions and durations as {{\"value\", \"unit\"}} objects"
                ),
            ));
        }
        Checked {
            document: Document { tokens },
            warnings: self.warnings,
            errors: self.errors,
            rejected: self.rejected,
        }
    }

    /// Copies each extended group's tokens into the extending group (local tokens win), in
    /// dependency order; circular or invalid `$extends` are errors.
    fn apply_extends(&mut self) {
        let mut pending = std::mem::take(&mut self.extends);
        pending.retain(|e| self.check_extends(e));
        loop {
            let ready = pending.iter().position(|e| {
                !pending
                    .iter()
                    .any(|other| other.group != e.group && within(&other.group, &e.target))
            });
            let Some(i) = ready else { break };
            let e = pending.remove(i);
            let prefix = format!("{}.", e.target);
            let copies: Vec<(String, RawToken)> = self
                .tokens
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .map(|(p, t)| (format!("{}.{}", e.group, &p[prefix.len()..]), t.clone()))
                .collect();
            for (path, token) in copies {
                self.tokens.entry(path).or_insert(token);
            }
            let groups: Vec<(String, Location)> = self
                .groups
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .map(|(p, l)| (format!("{}.{}", e.group, &p[prefix.len()..]), l.clone()))
                .collect();
            for (path, location) in groups {
                self.groups.entry(path).or_insert(location);
            }
        }
        for e in pending {
            self.errors.push(diagnostic(
                Code::InvalidExtends,
                &e.location.file,
                &e.location.pointer,
                (!e.group.is_empty()).then_some(e.group.as_str()),
                format!(
                    "group {:?} extends {:?}, which (through other $extends) extends it back; break the cycle",
                    e.group, e.target
                ),
            ));
        }
    }

    fn check_extends(&mut self, e: &Extends) -> bool {
        let path = (!e.group.is_empty()).then_some(e.group.as_str());
        let message = if self.tokens.contains_key(&e.target) {
            format!(
                "group {:?} extends {:?}, which is a token; $extends names a group",
                e.group, e.target
            )
        } else if !self.groups.contains_key(&e.target) {
            let close = nearest_paths(
                &e.target,
                self.groups
                    .keys()
                    .map(String::as_str)
                    .filter(|g| !within(g, &e.group)),
                3,
            );
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", quote_all(&close))
            };
            format!(
                "group {:?} extends {:?}, which is not a group{hint}",
                e.group, e.target
            )
        } else if within(&e.group, &e.target) || within(&e.target, &e.group) {
            format!(
                "group {:?} extends {:?}, its own ancestor or descendant, so it would contain itself",
                e.group, e.target
            )
        } else {
            return true;
        };
        self.errors.push(diagnostic(
            Code::InvalidExtends,
            &e.location.file,
            &e.location.pointer,
            path,
            message,
        ));
        false
    }
}

/// Every token's type: its own or inherited `$type`, else the type of the token its alias
/// chain ends at, else (legacy files only) a guess from the value. Untypable tokens are
/// reported and left out.
fn infer_types<'a>(
    raw: &'a BTreeMap<String, RawToken>,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> FastMap<&'a str, TokenType> {
    let mut types: FastMap<&str, TokenType> = FastMap::default();
    types.reserve(raw.len());
    let mut guessed: BTreeMap<Option<Arc<str>>, (usize, String)> = BTreeMap::new();
    for (path, token) in raw {
        if let Some(ty) = token.token_type {
            types.insert(path, ty);
            continue;
        }
        let mut current = token;
        let mut steps = 0;
        let mut found = None;
        while let Some(target) = alias_target(&current.value) {
            let Some(next) = raw.get(target) else {
                break;
            };
            if let Some(ty) = next.token_type {
                found = Some(ty);
                break;
            }
            if next.legacy && alias_target(&next.value).is_none() {
                found = guess_type(&next.value);
                break;
            }
            current = next;
            steps += 1;
            if steps > raw.len() {
                break;
            }
        }
        if found.is_none() && token.legacy {
            found = guess_type(&token.value);
            if found.is_some() {
                let entry = guessed
                    .entry(token.location.file.clone())
                    .or_insert((0, path.to_owned()));
                entry.0 += 1;
            }
        }
        match found {
            Some(ty) => {
                types.insert(path, ty);
            }
            None if alias_target(&token.value).is_some()
                && !raw
                    .contains_key(alias_target(&token.value).unwrap_or_default()) =>
            {
                // A broken alias: reported with suggestions at resolution; give it any type.
                types.insert(path, TokenType::Number);
            }
            None => errors.push(diagnostic(
                Code::MissingType,
                &token.location.file,
                &token.location.pointer,
                Some(path),
                format!(
                    "{path:?} has no $type: add \"$type\" to the token or to a group above it (a token whose whole value is an alias takes its target's type)"
                ),
            )),
        }
    }
    for (file, (count, first)) in guessed {
        warnings.push(diagnostic(
            Code::InferredType,
            &file,
            "",
            None,
            format!(
                "{count} token(s) have no type; it was guessed from their values (first: {first:?}); add \"$type\" to be explicit"
            ),
        ));
    }
    types
}

/// Whether `path` is `group` or inside it.
fn within(path: &str, group: &str) -> bool {
    group.is_empty()
        || path == group
        || (path.len() > group.len()
            && path.starts_with(group)
            && path.as_bytes()[group.len()] == b'.')
}

fn extends_target(v: &Value) -> Option<String> {
    if let Some(path) = alias_target(v) {
        return Some(path.to_owned());
    }
    let pointer = ref_pointer(v)?;
    let rest = pointer.strip_prefix("#/")?;
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    (!segments.iter().any(|s| s.is_empty() || s.starts_with('$'))).then(|| segments.join("."))
}

fn guess_type(v: &Value) -> Option<TokenType> {
    if alias_target(v).is_some() {
        return None;
    }
    let ty = match v {
        Value::Number(_) => TokenType::Number,
        Value::String(s) if crate::color::Color::parse_str(s).is_some() => TokenType::Color,
        Value::String(_) => {
            return [TokenType::Dimension, TokenType::Duration]
                .into_iter()
                .find(|&ty| validate_value(ty, v).is_ok());
        }
        Value::Array(items) if items.len() == 4 && items.iter().all(Value::is_number) => {
            TokenType::CubicBezier
        }
        _ => return None,
    };
    Some(ty)
}

/// Values in Tokens Studio's shapes rewritten to DTCG: unitless dimensions are pixels, numeric
/// strings are numbers, box shadows use `x`/`y`/`type`, weights may be written "Semi Bold".
fn legacy_value(type_name: &str, ty: TokenType, value: Value) -> Value {
    let dimension = |v: Value| match &v {
        Value::Number(n) => Value::String(format!("{n}px")),
        Value::String(s) if !s.is_empty() && s.parse::<f64>().is_ok() => {
            Value::String(format!("{s}px"))
        }
        _ => v,
    };
    match ty {
        TokenType::Dimension => dimension(value),
        TokenType::Number => match &value {
            Value::String(s) if s.ends_with('%') && type_name == "opacity" => s
                .trim_end_matches('%')
                .parse::<f64>()
                .map(|p| Value::from(p / 100.0))
                .unwrap_or(value),
            Value::String(s) if s.ends_with('%') => s
                .trim_end_matches('%')
                .parse::<f64>()
                .map(|p| Value::from(p / 100.0))
                .unwrap_or(value),
            Value::String(s) => s.parse::<f64>().map(Value::from).unwrap_or(value),
            _ => value,
        },
        TokenType::FontWeight => match &value {
            Value::String(s) => {
                if let Ok(n) = s.parse::<f64>() {
                    Value::from(n)
                } else {
                    let keyword = s.trim().to_ascii_lowercase().replace([' ', '_'], "-");
                    let keyword = match keyword.as_str() {
                        "semibold" => "semi-bold".to_owned(),
                        "extrabold" => "extra-bold".to_owned(),
                        "extralight" => "extra-light".to_owned(),
                        _ => keyword,
                    };
                    if crate::value::font_weight_keyword(&keyword).is_some() {
                        Value::String(keyword)
                    } else {
                        value
                    }
                }
            }
            _ => value,
        },
        TokenType::Shadow if type_name == "boxShadow" => {
            let layer = |v: Value| match v {
                Value::Object(mut o) => {
                    for (from, to) in [("x", "offsetX"), ("y", "offsetY")] {
                        if let Some(x) = o.remove(from) {
                            o.insert(to.to_owned(), x);
                        }
                    }
                    if let Some(kind) = o.remove("type") {
                        o.insert("inset".into(), Value::Bool(kind == "innerShadow"));
                    }
                    for key in ["offsetX", "offsetY", "blur", "spread"] {
                        if let Some(x) = o.remove(key) {
                            o.insert(key.to_owned(), dimension(x));
                        }
                    }
                    Value::Object(o)
                }
                other => other,
            };
            match value {
                Value::Array(layers) => Value::Array(layers.into_iter().map(layer).collect()),
                other => layer(other),
            }
        }
        _ => value,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn quote_all(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn diagnostic(
    code: Code,
    file: &Option<Arc<str>>,
    pointer: &str,
    path: Option<&str>,
    message: String,
) -> Diagnostic {
    Diagnostic {
        code,
        file: file.as_deref().map(str::to_owned),
        pointer: pointer.to_owned(),
        path: path.map(str::to_owned),
        message,
    }
}

impl Document {
    /// All tokens as definitions of one layer named `node` (what `tokens.import` stores).
    pub fn layer(&self, node: &str) -> Layer {
        Layer {
            node: node.to_owned(),
            entries: self
                .tokens
                .iter()
                .map(|(path, t)| (path.clone(), t.entry()))
                .collect(),
        }
    }

    /// One layer per origin (file, set or context) in order of first appearance, with the
    /// metadata [`resolve_with_meta`] carries; so lineage names where each token came from.
    pub fn layers(&self) -> (Vec<Layer>, Vec<LayerMeta>) {
        let mut order: Vec<Arc<str>> = Vec::new();
        let mut layers: BTreeMap<Arc<str>, (Layer, LayerMeta)> = BTreeMap::new();
        for (path, token) in &self.tokens {
            let (layer, meta) = layers.entry(token.origin.clone()).or_insert_with(|| {
                order.push(token.origin.clone());
                (
                    Layer {
                        node: token.origin.to_string(),
                        entries: BTreeMap::new(),
                    },
                    LayerMeta::new(),
                )
            });
            layer.entries.insert(path.clone(), token.entry());
            if token.deprecated.is_some() || token.extensions.is_some() {
                meta.insert(
                    path.clone(),
                    TokenMeta {
                        deprecated: token.deprecated.clone(),
                        extensions: token.extensions.clone(),
                    },
                );
            }
        }
        order.iter().filter_map(|o| layers.remove(o)).unzip()
    }

    /// Resolves every reference; errors carry the file, JSON pointer and suggestions.
    pub fn resolve(&self) -> Result<Resolved, Vec<Diagnostic>> {
        let (layers, meta) = self.layers();
        resolve_with_meta(&layers, &meta).map_err(|e| e.0.iter().map(|e| self.locate(e)).collect())
    }

    /// A resolution error placed at the token it concerns.
    pub fn locate(&self, error: &ResolveError) -> Diagnostic {
        locate(error, |path| self.tokens.get(path).map(|t| &t.location))
    }

    /// [`Document::resolve`] without copying: the tokens move into the layers. What a build
    /// uses; `options` can skip alias chains, which only lineage views need.
    pub fn into_resolved(self, options: &ResolveOptions) -> Result<Resolved, Vec<Diagnostic>> {
        self.resolve_skipping(options, &BTreeSet::new())
    }

    /// [`Document::into_resolved`], leaving out broken-reference errors that point at
    /// `rejected` tokens (already reported with their own error).
    fn resolve_skipping(
        self,
        options: &ResolveOptions,
        rejected: &BTreeSet<String>,
    ) -> Result<Resolved, Vec<Diagnostic>> {
        let mut order: Vec<Arc<str>> = Vec::new();
        type Pending = (Vec<(String, Entry)>, LayerMeta);
        let mut by_origin: HashMap<Arc<str>, Pending> = HashMap::new();
        let mut locations: Vec<(String, Location)> = Vec::with_capacity(self.tokens.len());
        for (path, token) in self.tokens {
            let (entries, meta) = by_origin.entry(token.origin.clone()).or_insert_with(|| {
                order.push(token.origin.clone());
                (Vec::new(), LayerMeta::new())
            });
            if token.deprecated.is_some() || token.extensions.is_some() {
                meta.insert(
                    path.clone(),
                    TokenMeta {
                        deprecated: token.deprecated,
                        extensions: token.extensions,
                    },
                );
            }
            entries.push((
                path.clone(),
                Entry::Define {
                    token_type: token.token_type,
                    value: token.value,
                    description: token.description,
                },
            ));
            locations.push((path, token.location));
        }
        let (layers, meta): (Vec<Layer>, Vec<LayerMeta>) = order
            .iter()
            .filter_map(|o| by_origin.remove(o).map(|e| (o, e)))
            .map(|(origin, (entries, meta))| {
                // entries are in path order: the map is built in bulk
                let entries: BTreeMap<String, Entry> = entries.into_iter().collect();
                (
                    Layer {
                        node: origin.to_string(),
                        entries,
                    },
                    meta,
                )
            })
            .unzip();
        resolve_with(&layers, &meta, options).map_err(|e| {
            e.0.iter()
                .filter(|e| {
                    !matches!(e, ResolveError::Broken { reference, .. } if rejected.contains(reference))
                })
                .map(|e| {
                    locate(e, |path| {
                        locations
                            .binary_search_by(|(p, _)| p.as_str().cmp(path))
                            .ok()
                            .map(|i| &locations[i].1)
                    })
                })
                .collect()
        })
    }
}

fn locate<'a>(error: &ResolveError, lookup: impl Fn(&str) -> Option<&'a Location>) -> Diagnostic {
    let (code, path) = match error {
        ResolveError::Circular { cycle } => {
            (Code::CircularReference, cycle.first().map(String::as_str))
        }
        ResolveError::Broken { token, .. } => (Code::BrokenReference, Some(token.as_str())),
        ResolveError::OrphanOverride { path, .. } => (Code::Unresolvable, Some(path.as_str())),
        ResolveError::TooDeep { token } | ResolveError::BadPointer { token, .. } => {
            (Code::Unresolvable, Some(token.as_str()))
        }
    };
    let location = path.and_then(lookup);
    Diagnostic {
        code,
        file: location.and_then(|l| l.file.as_deref()).map(str::to_owned),
        pointer: location.map(Location::value_pointer).unwrap_or_default(),
        path: path.map(str::to_owned),
        message: error.to_string(),
    }
}

impl Token {
    fn entry(&self) -> Entry {
        Entry::Define {
            token_type: self.token_type,
            value: self.value.clone(),
            description: self.description.clone(),
        }
    }
}
