//! Bounded fuzzing: arbitrary JSON documents (biased towards DTCG and resolver syntax) never
//! panic the parser, the resolver, the resolver module or any export format, and every parse
//! diagnostic points into the document.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value};
use tinct_engine::{
    ExportOptions, Format, Input, Theme, export, export_themes, parse_document, parse_resolver,
};

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "$value", "$type", "$description", "$deprecated", "$extensions", "$extends", "$root",
            "$ref", "$schema", "value", "type", "a", "b", "c", "color", "size", "x.y", "{z}", "",
            "sets", "modifiers", "resolutionOrder", "sources", "contexts", "default", "name",
            "colorSpace", "components", "alpha", "hex", "unit", "offsetX", "dashArray", "lineCap",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z$]{1,4}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5.0f64..1500.0).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            "color",
            "dimension",
            "number",
            "shadow",
            "typography",
            "border",
            "gradient",
            "fontWeight",
            "strokeStyle",
            "spacing",
            "boxShadow",
            "other",
            "colour",
            "srgb",
            "oklch",
            "display-p3",
            "{a}",
            "{a.b}",
            "{b}",
            "{color.a}",
            "{a.$root}",
            "{}",
            "#fff",
            "#12345678",
            "16px",
            "1rem",
            "200ms",
            "bold",
            "solid",
            "none",
            "#/a",
            "#/a/$value",
            "#/a/$value/components/0",
            "#/sets/a",
            "#/modifiers/a",
            "x.json",
            "2025.10",
            "rgb(1 2 3)",
            "oklch(50% 0.1 20)",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            4 => prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_documents_never_panic(
        doc in prop::collection::btree_map(key(), document(), 0..8)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
    ) {
        match parse_document(&doc) {
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    prop_assert!(!e.message.is_empty());
                    prop_assert!(
                        e.pointer.is_empty() || doc.pointer(&e.pointer).is_some(),
                        "{} does not point into the document: {:?}", e.pointer, e
                    );
                }
            }
            Ok((document, _)) => {
                if let Ok(resolved) = document.resolve() {
                    for format in Format::ALL {
                        for output_references in [false, true] {
                            let options = ExportOptions { output_references, ..ExportOptions::default() };
                            let out = export(&resolved, format, &options);
                            prop_assert!(out.ends_with('\n'));
                        }
                    }
                    let themes = [Theme { selector: ".x", resolved: &resolved }];
                    export_themes(&resolved, &themes, &ExportOptions::default());
                }
            }
        }
        if let Ok((resolver, _)) = parse_resolver(&doc) {
            let files = BTreeMap::new();
            for input in resolver.all_inputs().into_iter().take(4) {
                let _ = resolver.resolve(&input, &files, "fuzz");
            }
            let _ = resolver.resolve(&Input::new(), &files, "fuzz");
            let _ = resolver.to_tree("root", &files, "fuzz");
        }
    }
}
