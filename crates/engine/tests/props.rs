//! Arbitrary input never panics the engine, and every successful resolution is alias-free.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tinct_engine::{
    Entry, ExportOptions, Format, Layer, ResolveError, TokenType, alias_target, export, resolve,
    validate_value,
};

const PATHS: [&str; 6] = ["a", "b", "c", "d.e", "d.f", "g.h.i"];

fn token_type() -> impl Strategy<Value = TokenType> {
    prop::sample::select(TokenType::ALL.to_vec())
}

/// Strings that hit the interesting branches: aliases, colours, measures, keywords, junk.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "{a}",
            "{d.e}",
            "{missing}",
            "{}",
            "{a b}",
            "{$x}",
            "#fff",
            "#6d28d9",
            "#12",
            "rgb(1 2 3)",
            "oklch(0.5 0.2 300",
            "16px",
            "1.5rem",
            "0",
            "-0",
            "200ms",
            "0.2s",
            "1e3px",
            "bold",
            "solid",
            "none",
            "px",
            "",
            "{{a}}",
            ";}",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-2.0f64..1002.0).prop_map(Value::from),
        interesting_string().prop_map(Value::String),
    ];
    let keys = prop::sample::select(vec![
        "color",
        "offsetX",
        "offsetY",
        "blur",
        "spread",
        "inset",
        "value",
        "unit",
        "colorSpace",
        "components",
        "alpha",
        "hex",
        "width",
        "style",
        "duration",
        "delay",
        "timingFunction",
        "position",
        "fontFamily",
        "fontSize",
        "fontWeight",
        "letterSpacing",
        "lineHeight",
        "dashArray",
        "lineCap",
        "colour",
        "x",
    ]);
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone().prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Values for resolve: literals, aliases among PATHS (plus a missing one), composites holding them.
fn token_value() -> impl Strategy<Value = Value> {
    let reference = prop::sample::select(
        PATHS
            .iter()
            .map(|p| format!("{{{p}}}"))
            .chain(["{nope}".to_owned()])
            .collect::<Vec<_>>(),
    );
    let scalar = prop_oneof![
        3 => reference.prop_map(Value::String),
        1 => Just(json!("#fff")),
        1 => any::<i32>().prop_map(Value::from),
    ];
    scalar.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(Value::Array),
            (inner.clone(), inner).prop_map(|(c, x)| json!({"color": c, "offsetX": x})),
        ]
    })
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        3 => (token_type(), token_value(), prop::option::of("[a-z ]{0,8}")).prop_map(
            |(token_type, value, description)| Entry::Define { token_type, value, description }
        ),
        1 => token_value().prop_map(|value| Entry::Override { value }),
    ]
}

fn layers() -> impl Strategy<Value = Vec<Layer>> {
    let layer = prop::collection::btree_map(prop::sample::select(PATHS.to_vec()), entry(), 0..6);
    prop::collection::vec(layer, 0..4).prop_map(|layers| {
        layers
            .into_iter()
            .enumerate()
            .map(|(i, entries)| Layer {
                node: format!("node{i}"),
                entries: entries
                    .into_iter()
                    .map(|(p, e)| (p.to_owned(), e))
                    .collect(),
            })
            .collect()
    })
}

/// A value for `PATHS[i]` that only references later paths, so the set is acyclic and complete.
fn forward_value(i: usize) -> BoxedStrategy<Value> {
    let later: Vec<String> = PATHS[i + 1..].iter().map(|p| format!("{{{p}}}")).collect();
    let literal = prop_oneof![Just(json!("#fff")), any::<i32>().prop_map(Value::from)];
    if later.is_empty() {
        return literal.boxed();
    }
    let reference = prop::sample::select(later).prop_map(Value::String);
    prop_oneof![
        literal,
        reference.clone(),
        (reference.clone(), reference).prop_map(|(c, x)| json!([{"color": c, "offsetX": x}])),
    ]
    .boxed()
}

/// A root defining every path and a leaf overriding some, all references resolvable.
fn resolvable_layers() -> impl Strategy<Value = Vec<Layer>> {
    let defines: Vec<_> = (0..PATHS.len())
        .map(|i| (token_type(), forward_value(i)))
        .collect();
    let overrides: Vec<_> = (0..PATHS.len())
        .map(|i| prop::option::of(forward_value(i)))
        .collect();
    (defines, overrides).prop_map(|(defines, overrides)| {
        let root = PATHS
            .iter()
            .zip(defines)
            .map(|(p, (token_type, value))| {
                let entry = Entry::Define {
                    token_type,
                    value,
                    description: None,
                };
                (p.to_string(), entry)
            })
            .collect();
        let leaf = PATHS
            .iter()
            .zip(overrides)
            .filter_map(|(p, value)| Some((p.to_string(), Entry::Override { value: value? })))
            .collect();
        vec![
            Layer {
                node: "root".into(),
                entries: root,
            },
            Layer {
                node: "leaf".into(),
                entries: leaf,
            },
        ]
    })
}

/// Every string anywhere in `v` that is an alias (walked iteratively).
fn has_alias(v: &Value) -> bool {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        if alias_target(v).is_some() {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(fields) => stack.extend(fields.values()),
            _ => {}
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validate_never_panics_and_points_inside_the_value(ty in token_type(), v in json_value()) {
        if let Err(e) = validate_value(ty, &v) {
            prop_assert!(v.pointer(&e.pointer).is_some(), "{} not in {}", e.pointer, v);
            prop_assert!(!e.message.is_empty() && !e.expected.is_empty());
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn resolve_never_panics_and_ok_is_alias_free(layers in layers()) {
        match resolve(&layers) {
            Ok(resolved) => {
                let defined: BTreeMap<&str, ()> = layers
                    .iter()
                    .flat_map(|l| &l.entries)
                    .filter(|(_, e)| matches!(e, Entry::Define { .. }))
                    .map(|(p, _)| (p.as_str(), ()))
                    .collect();
                prop_assert_eq!(resolved.tokens.len(), defined.len());
                for (path, token) in &resolved.tokens {
                    prop_assert!(!has_alias(&token.value), "{} still has an alias: {}", path, token.value);
                    for hop in &token.alias_chain {
                        prop_assert!(resolved.tokens.contains_key(hop));
                    }
                    prop_assert!(layers.iter().any(|l| l.node == token.source));
                }
                for format in Format::ALL {
                    let out = export(&resolved, format, &ExportOptions::default());
                    prop_assert!(out.ends_with('\n'));
                }
                let json = export(&resolved, Format::Json, &ExportOptions::default());
                prop_assert!(serde_json::from_str::<Value>(&json).is_ok());
            }
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                for (i, e) in errors.0.iter().enumerate() {
                    prop_assert!(!errors.0[..i].contains(e), "duplicate error {}", e);
                    if let ResolveError::Circular { cycle } = e {
                        prop_assert!(cycle.iter().all(|p| cycle[0] <= *p), "cycle must start at its smallest path");
                    }
                }
                prop_assert_eq!(resolve(&layers).unwrap_err(), errors, "errors must be deterministic");
            }
        }
    }

    #[test]
    fn complete_acyclic_sets_always_resolve_alias_free(layers in resolvable_layers()) {
        let resolved = resolve(&layers).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(resolved.tokens.len(), PATHS.len());
        for (path, token) in &resolved.tokens {
            prop_assert!(!has_alias(&token.value), "{} still has an alias: {}", path, token.value);
            let leaf_overrides = layers[1].entries.contains_key(path);
            prop_assert_eq!(&token.source, if leaf_overrides { "leaf" } else { "root" });
            // the chain is exactly the whole-value aliases followed, in the merged map
            let merged = |p: &str| match (layers[1].entries.get(p), layers[0].entries.get(p)) {
                (Some(Entry::Override { value }), _) | (_, Some(Entry::Define { value, .. })) => value.clone(),
                _ => Value::Null,
            };
            let mut expected = Vec::new();
            let mut current = merged(path);
            while let Some(target) = alias_target(&current) {
                expected.push(target.to_owned());
                current = merged(target);
            }
            prop_assert_eq!(&token.alias_chain, &expected);
            if !expected.is_empty() {
                prop_assert_eq!(&token.value, &resolved.tokens[expected.last().unwrap()].value);
            }
        }
    }

    #[test]
    fn export_never_panics_on_arbitrary_values(ty in token_type(), v in json_value()) {
        let mut tokens = BTreeMap::new();
        tokens.insert("x.fontSize".to_owned(), tinct_engine::ResolvedToken {
            token_type: ty,
            value: v,
            source: "root".into(),
            alias_chain: vec![],
            description: None,
            deprecated: None,
            extensions: None,
            original: None,
        });
        let resolved = tinct_engine::Resolved { tokens };
        let css = export(&resolved, Format::Css, &ExportOptions::default());
        // one declaration, nothing in the value can end it or the rule early
        prop_assert_eq!(css.matches(";\n").count(), 1);
        let head = ":root {\n  --x-font-size: ";
        prop_assert!(css.starts_with(head), "{}", css);
        let json = export(&resolved, Format::Json, &ExportOptions::default());
        prop_assert!(serde_json::from_str::<Value>(&json).is_ok());
    }
}
