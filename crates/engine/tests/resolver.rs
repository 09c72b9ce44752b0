//! The DTCG Resolver module: sets, modifiers, resolutionOrder, inputs, and the node-tree mapping.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tinct_engine::resolver::Source;
use tinct_engine::{Entry, Input, ResolverDocument, parse_resolver, resolve, to_resolver_document};

fn doc() -> Value {
    json!({
        "version": "2025.10",
        "name": "Acme",
        "sets": {
            "foundation": {"sources": [{"$ref": "foundation.json"}]},
            "components": {"sources": [{"button": {"bg": {"$value": "{theme.accent}"}, "pad": {"$type": "dimension", "$value": "8px"}}}]}
        },
        "modifiers": {
            "theme": {
                "contexts": {
                    "light": [{"theme": {"accent": {"$type": "color", "$value": "#6d28d9"}}}],
                    "dark": [{"$ref": "themes.json#/dark"}]
                },
                "default": "light"
            },
            "density": {
                "contexts": {
                    "comfortable": [],
                    "compact": [{"button": {"pad": {"$type": "dimension", "$value": "4px"}}}]
                },
                "default": "comfortable"
            }
        },
        "resolutionOrder": [
            {"$ref": "#/sets/foundation"},
            {"$ref": "#/sets/components"},
            {"$ref": "#/modifiers/theme"},
            {"$ref": "#/modifiers/density"}
        ]
    })
}

fn files() -> BTreeMap<String, Value> {
    BTreeMap::from([
        (
            "foundation.json".to_owned(),
            json!({"color": {"$type": "color", "violet": {"$value": "#6d28d9"}, "pink": {"$value": "#f472b6"}}}),
        ),
        (
            "themes.json".to_owned(),
            json!({"dark": {"theme": {"accent": {"$type": "color", "$value": "{color.pink}"}}}}),
        ),
    ])
}

fn input(pairs: &[(&str, &str)]) -> Input {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parsed() -> ResolverDocument {
    parse_resolver(&doc())
        .unwrap_or_else(|e| panic!("{e:#?}"))
        .0
}

#[test]
fn parses_sets_modifiers_and_order() {
    let (r, warnings) = parse_resolver(&doc()).unwrap();
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(r.name.as_deref(), Some("Acme"));
    assert_eq!(r.modifier_order(), ["theme", "density"]);
    assert_eq!(
        r.files().into_iter().collect::<Vec<_>>(),
        ["foundation.json", "themes.json"]
    );
    assert_eq!(
        r.modifiers["theme"].contexts["dark"],
        [Source::File {
            path: "themes.json".into(),
            pointer: "/dark".into()
        }]
    );
}

#[test]
fn resolves_an_input_with_lineage() {
    let r = parsed();
    let (light, _) = r
        .resolve(&Input::new(), &files(), "acme.resolver.json")
        .unwrap();
    assert_eq!(light.tokens["button.bg"].value, json!("#6d28d9"));
    assert_eq!(light.tokens["button.bg"].source, "components");
    assert_eq!(light.tokens["theme.accent"].source, "theme:light");
    let (dark, _) = r
        .resolve(
            &input(&[("theme", "dark"), ("density", "compact")]),
            &files(),
            "acme",
        )
        .unwrap();
    assert_eq!(dark.tokens["button.bg"].value, json!("#f472b6"));
    assert_eq!(
        dark.tokens["button.bg"].alias_chain,
        ["theme.accent", "color.pink"]
    );
    assert_eq!(dark.tokens["button.pad"].value, json!("4px"));
    assert_eq!(dark.tokens["button.pad"].source, "density:compact");
}

#[test]
fn enumerates_every_combination_default_first() {
    let all = parsed().all_inputs();
    assert_eq!(all.len(), 4);
    assert_eq!(
        all[0],
        input(&[("theme", "light"), ("density", "comfortable")])
    );
    assert!(all.contains(&input(&[("theme", "dark"), ("density", "compact")])));
}

#[test]
fn input_rules() {
    let r = parsed();
    let e = r.complete_input(&input(&[("theme", "drak")])).unwrap_err();
    assert!(
        e[0].message
            .contains("no context of modifier \"theme\" named \"drak\" (did you mean dark?)"),
        "{e:#?}"
    );
    let e = r.complete_input(&input(&[("tema", "dark")])).unwrap_err();
    assert!(
        e[0].message
            .contains("no modifier named \"tema\" (did you mean theme?)"),
        "{e:#?}"
    );
    let mut no_default = doc();
    no_default["modifiers"]["theme"]
        .as_object_mut()
        .unwrap()
        .remove("default");
    let r = parse_resolver(&no_default).unwrap().0;
    let e = r.complete_input(&Input::new()).unwrap_err();
    assert!(
        e[0].message.contains(
            "modifier \"theme\" has no default; choose one of its contexts (dark, light)"
        )
    );
}

fn one_error(doc: Value, pointer: &str, message: &str) {
    let errs = parse_resolver(&doc).expect_err("should fail");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].pointer, pointer, "{errs:#?}");
    assert!(
        errs[0].message.contains(message),
        "{:?} lacks {message:?}",
        errs[0].message
    );
}

#[test]
fn document_rules() {
    one_error(
        json!({"version": "2025.10"}),
        "/resolutionOrder",
        "needs \"resolutionOrder\"",
    );
    one_error(
        json!({"version": "2025.10", "sets": {"a": {}}, "resolutionOrder": []}),
        "/sets/a",
        "a set needs a \"sources\" array",
    );
    one_error(
        json!({"version": "2025.10", "modifiers": {"m": {"contexts": {}}}, "resolutionOrder": []}),
        "/modifiers/m/contexts",
        "at least one context",
    );
    one_error(
        json!({"version": "2025.10", "modifiers": {"m": {"contexts": {"a": [], "b": []}, "default": "c"}}, "resolutionOrder": []}),
        "/modifiers/m/default",
        "there is no context named \"c\"",
    );
    one_error(
        json!({"version": "2025.10", "sets": {"s": {"sources": [{"$ref": "#/modifiers/m"}]}}, "resolutionOrder": []}),
        "/sets/s/sources/0",
        "must not reference a modifier",
    );
    one_error(
        json!({"version": "2025.10", "sets": {"base": {"sources": []}}, "resolutionOrder": [{"$ref": "#/sets/bsae"}]}),
        "/resolutionOrder/0",
        "there is no set named \"bsae\" (did you mean base?)",
    );
    one_error(
        json!({"version": "2025.10", "resolutionOrder": [{"$ref": "#/resolutionOrder/0"}]}),
        "/resolutionOrder/0",
        "is not a set or modifier of this document",
    );
    one_error(
        json!({"version": "2025.10", "resolutionOrder": [{"type": "set", "sources": []}]}),
        "/resolutionOrder/0",
        "needs a \"name\" and a \"type\"",
    );
    one_error(
        json!({"version": "2025.10", "resolutionOrder": [{"type": "set", "name": "a", "sources": []}, {"type": "set", "name": "a", "sources": []}]}),
        "/resolutionOrder/1",
        "is used twice",
    );
    one_error(
        json!({"version": "2025.10", "sets": {"s": {"sources": [{"$ref": "#/sets/nope"}]}}, "resolutionOrder": []}),
        "/sets/s/sources/0",
        "there is no set named \"nope\"",
    );
    assert!(parse_resolver(&json!([])).is_err());
}

#[test]
fn a_set_that_includes_itself_is_an_error_naming_the_loop() {
    let looped = json!({"version": "2025.10", "sets": {
        "b": {"sources": [{"x": {"$type": "number", "$value": 1}}, {"$ref": "#/sets/c"}]},
        "c": {"sources": [{"$ref": "#/sets/b"}]},
        "self": {"sources": [{"$ref": "#/sets/self"}]},
        "fine": {"sources": [{"$ref": "#/sets/c"}]}
    }, "resolutionOrder": [{"$ref": "#/sets/fine"}]});
    let errs = parse_resolver(&looped).expect_err("loops are errors");
    let found: Vec<(tinct_engine::Code, &str, &str)> = errs
        .iter()
        .map(|e| (e.code, e.pointer.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                tinct_engine::Code::CircularReference,
                "/sets/b/sources/1",
                "set \"b\" includes itself: b -> c -> b; remove one of these \"#/sets/…\" sources"
            ),
            (
                tinct_engine::Code::CircularReference,
                "/sets/self/sources/0",
                "set \"self\" includes itself: self -> self; remove one of these \"#/sets/…\" sources"
            ),
        ]
    );
}

#[test]
fn sets_nest_as_deep_as_they_are_written() {
    // A chain of 40 sets, each including the next: the innermost token must be reached.
    let mut sets = serde_json::Map::new();
    for i in 0..40 {
        let source = if i == 39 {
            json!({"deep": {"$type": "number", "$value": 39}})
        } else {
            json!({"$ref": format!("#/sets/s{}", i + 1)})
        };
        sets.insert(format!("s{i}"), json!({"sources": [source]}));
    }
    let doc =
        json!({"version": "2025.10", "sets": sets, "resolutionOrder": [{"$ref": "#/sets/s0"}]});
    let (r, _) = parse_resolver(&doc).unwrap();
    let (resolved, _) = r
        .resolve(&Input::new(), &BTreeMap::new(), "deep.json")
        .unwrap();
    assert_eq!(resolved.tokens["deep"].value, json!(39));
    assert_eq!(resolved.tokens["deep"].source, "s39");
}

#[test]
fn warnings_for_older_and_odd_documents() {
    let (_, w) =
        parse_resolver(&json!({"composition": [], "modifiers": {"m": {"contexts": {"only": []}}}}))
            .unwrap();
    let messages: Vec<&str> = w.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages.iter().any(|m| m.contains("has no \"version\"")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("older draft name of \"resolutionOrder\"")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("one context always applies")),
        "{messages:?}"
    );
}

#[test]
fn inline_items_and_missing_files() {
    let doc = json!({"version": "2025.10", "resolutionOrder": [
        {"type": "set", "name": "base", "sources": [{"a": {"$type": "number", "$value": 1}}]},
        {"type": "modifier", "name": "size", "contexts": {"s": [{"a": {"$type": "number", "$value": 2}}], "l": []}, "default": "s"},
        {"type": "set", "name": "late", "sources": [{"$ref": "missing.json"}]}
    ]});
    let r = parse_resolver(&doc).unwrap().0;
    let errs = r
        .resolve(&Input::new(), &BTreeMap::new(), "r.json")
        .unwrap_err();
    assert!(
        errs[0]
            .message
            .contains("the source file \"missing.json\" was not loaded"),
        "{errs:#?}"
    );
    let r = parse_resolver(&json!({"version": "2025.10", "resolutionOrder": [
        {"type": "set", "name": "base", "sources": [{"a": {"$type": "number", "$value": 1}}]},
        {"type": "modifier", "name": "size", "contexts": {"s": [{"a": {"$type": "number", "$value": 2}}], "l": []}, "default": "s"}
    ]})).unwrap().0;
    let (resolved, _) = r
        .resolve(&Input::new(), &BTreeMap::new(), "r.json")
        .unwrap();
    assert_eq!(resolved.tokens["a"].value, json!(2));
}

#[test]
fn maps_onto_a_node_tree_that_resolves_like_the_document() {
    let r = parsed();
    let nodes = r.to_tree("acme", &files(), "acme.resolver.json").unwrap();
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "acme",
            "acme-theme-dark",
            "acme-theme-light",
            "acme-density-comfortable",
            "acme-density-compact"
        ]
    );
    assert_eq!(nodes[1].parent.as_deref(), Some("acme"));
    assert_eq!(nodes[1].context.as_deref(), Some("dark"));
    // the root is the default resolution and resolves alone; dark overrides what it changes
    let root = resolve(&[nodes[0].layer.clone()]).unwrap();
    assert_eq!(root.tokens["button.bg"].value, json!("#6d28d9"));
    assert_eq!(
        nodes[1].layer.entries["theme.accent"],
        Entry::Override {
            value: json!("{color.pink}")
        }
    );
    assert!(
        nodes[2].layer.entries.is_empty(),
        "the default context changes nothing"
    );
    // compact overrides a base token
    assert_eq!(
        nodes[4].layer.entries["button.pad"],
        Entry::Override {
            value: json!("4px")
        }
    );
    let dark = resolve(&[nodes[0].layer.clone(), nodes[1].layer.clone()]).unwrap();
    let (expected, _) = r
        .resolve(&input(&[("theme", "dark")]), &files(), "x")
        .unwrap();
    assert_eq!(
        dark.tokens["button.bg"].value,
        expected.tokens["button.bg"].value
    );
}

#[test]
fn a_node_and_its_children_export_as_a_resolver_document() {
    let r = parsed();
    let nodes = r.to_tree("acme", &files(), "acme.resolver.json").unwrap();
    let themes: Vec<_> = nodes[1..3]
        .iter()
        .map(|n| {
            let mut layer = n.layer.clone();
            layer.node = n.context.clone().unwrap();
            layer
        })
        .collect();
    let exported =
        to_resolver_document(&[nodes[0].layer.clone()], "theme", &themes, Some("light")).unwrap();
    let (back, warnings) = parse_resolver(&exported).unwrap();
    assert!(warnings.is_empty(), "{warnings:#?}");
    for context in ["light", "dark"] {
        let (a, _) = back
            .resolve(&input(&[("theme", context)]), &BTreeMap::new(), "back")
            .unwrap();
        let (b, _) = r
            .resolve(&input(&[("theme", context)]), &files(), "orig")
            .unwrap();
        let values = |x: &tinct_engine::Resolved| {
            x.tokens
                .iter()
                .map(|(p, t)| (p.clone(), t.value.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(values(&a), values(&b), "{context}");
    }
    let orphan = tinct_engine::Layer {
        node: "x".into(),
        entries: [("nope".to_owned(), Entry::Override { value: json!(1) })].into(),
    };
    assert!(to_resolver_document(&[nodes[0].layer.clone()], "theme", &[orphan], None).is_err());
}
