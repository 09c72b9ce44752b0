//! Round trips: a generated DTCG document, exported as DTCG (with resolved values or with its
//! references kept) and parsed again, resolves to the same tokens; nested JSON holds the same
//! values at the same paths.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tinct_engine::{ExportOptions, Format, Resolved, TokenType, export, parse_document};

/// Valid literals of each type, in 2025.10 and older draft forms.
fn literal(ty: TokenType, pick: usize) -> Value {
    let options: Vec<Value> = match ty {
        TokenType::Color => vec![
            json!("#ff0000"),
            json!({"colorSpace": "srgb", "components": [0.1, 0.2, 0.3]}),
            json!({"colorSpace": "oklch", "components": [0.5, 0.1, 120], "alpha": 0.5}),
            json!({"colorSpace": "display-p3", "components": [1, 0, 0.5], "hex": "#ff0080"}),
        ],
        TokenType::Dimension => vec![
            json!({"value": 4, "unit": "px"}),
            json!("1.5rem"),
            json!({"value": -2.5, "unit": "rem"}),
        ],
        TokenType::FontFamily => vec![json!("Inter"), json!(["Helvetica Neue", "sans-serif"])],
        TokenType::FontWeight => vec![json!(400), json!("bold"), json!(350.5)],
        TokenType::Duration => vec![json!({"value": 150, "unit": "ms"}), json!("0.2s")],
        TokenType::CubicBezier => vec![json!([0.4, 0, 0.2, 1]), json!([0, -1, 1, 2])],
        TokenType::Number => vec![json!(1.5), json!(-3), json!(0)],
        TokenType::StrokeStyle => vec![
            json!("dashed"),
            json!({"dashArray": ["2px", {"value": 1, "unit": "px"}], "lineCap": "butt"}),
        ],
        TokenType::Border => {
            vec![json!({"color": "#000", "width": {"value": 1, "unit": "px"}, "style": "solid"})]
        }
        TokenType::Transition => {
            vec![json!({"duration": "100ms", "delay": "0ms", "timingFunction": [0, 0, 1, 1]})]
        }
        TokenType::Shadow => vec![
            json!({"color": "#00000040", "offsetX": "0px", "offsetY": "1px", "blur": "2px", "spread": "0px"}),
            json!([{"color": "#000", "offsetX": "0px", "offsetY": "1px", "blur": "2px", "spread": "0px", "inset": true}]),
        ],
        TokenType::Gradient => {
            vec![json!([{"color": "#fff", "position": 0}, {"color": "#000", "position": 1}])]
        }
        TokenType::Typography => vec![
            json!({"fontFamily": "Inter", "fontSize": "16px", "fontWeight": 400, "letterSpacing": "0px", "lineHeight": 1.5}),
        ],
    };
    options[pick % options.len()].clone()
}

/// Composite fields that may hold an alias, with their types.
fn alias_fields(ty: TokenType) -> &'static [(&'static str, TokenType)] {
    match ty {
        TokenType::Border => &[("color", TokenType::Color), ("width", TokenType::Dimension)],
        TokenType::Transition => &[
            ("duration", TokenType::Duration),
            ("timingFunction", TokenType::CubicBezier),
        ],
        TokenType::Shadow => &[("color", TokenType::Color), ("blur", TokenType::Dimension)],
        TokenType::Typography => &[
            ("fontFamily", TokenType::FontFamily),
            ("fontSize", TokenType::Dimension),
            ("lineHeight", TokenType::Number),
        ],
        _ => &[],
    }
}

/// One generated token: (type index, literal pick, alias pick, description?, deprecated?).
type Gene = (usize, usize, usize, bool, bool);

/// A document from genes: token i lives at `g{i % 4}.t{i}`; it aliases an earlier token of its
/// type (or puts an alias in a composite field) when the alias pick says so and one exists.
fn document(genes: &[Gene]) -> Value {
    let mut root = Map::new();
    let mut made: Vec<(String, TokenType)> = Vec::new();
    for (i, &(t, pick, alias, description, deprecated)) in genes.iter().enumerate() {
        let ty = TokenType::ALL[t % TokenType::ALL.len()];
        let path = format!("g{}.t{i}", i % 4);
        let earlier = |want: TokenType| {
            let same: Vec<&String> = made
                .iter()
                .filter(|(_, t)| *t == want)
                .map(|(p, _)| p)
                .collect();
            (!same.is_empty()).then(|| same[alias % same.len()].clone())
        };
        let mut value = literal(ty, pick);
        if alias % 3 == 0 {
            if let Some(target) = earlier(ty) {
                value = json!(format!("{{{target}}}"));
            }
        } else if alias % 3 == 1 {
            for &(field, field_ty) in alias_fields(ty) {
                if let (Some(target), Some(o)) = (earlier(field_ty), value.as_object_mut()) {
                    o.insert(field.to_owned(), json!(format!("{{{target}}}")));
                }
            }
        }
        let mut token = Map::new();
        token.insert("$type".into(), json!(ty.as_str()));
        token.insert("$value".into(), value);
        if description {
            token.insert(
                "$description".into(),
                json!(format!("token {i} \"quoted\"")),
            );
        }
        if deprecated {
            token.insert("$deprecated".into(), json!("use something else"));
            token.insert("$extensions".into(), json!({"org.example": {"i": i}}));
        }
        let group = root
            .entry(format!("g{}", i % 4))
            .or_insert_with(|| json!({}));
        group[format!("t{i}")] = Value::Object(token);
        made.push((path, ty));
    }
    Value::Object(root)
}

fn resolve(doc: &Value) -> Result<Resolved, String> {
    let (document, _) = parse_document(doc).map_err(|e| format!("{e:#?}\n{doc:#}"))?;
    document.resolve().map_err(|e| format!("{e:#?}\n{doc:#}"))
}

fn genes() -> impl Strategy<Value = Vec<Gene>> {
    prop::collection::vec(
        (
            0usize..13,
            0usize..8,
            0usize..9,
            any::<bool>(),
            prop::bool::weighted(0.2),
        ),
        1..24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn dtcg_export_parses_back_to_the_same_tokens(genes in genes()) {
        let doc = document(&genes);
        let first = resolve(&doc).map_err(TestCaseError::fail)?;
        for output_references in [false, true] {
            let options = ExportOptions { output_references, ..ExportOptions::default() };
            let text = export(&first, Format::Dtcg, &options);
            let back: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let second = resolve(&back).map_err(TestCaseError::fail)?;
            prop_assert_eq!(first.tokens.len(), second.tokens.len());
            for (path, a) in &first.tokens {
                let b = &second.tokens[path];
                prop_assert_eq!(&a.value, &b.value, "{} (references kept: {})", path, output_references);
                prop_assert_eq!(a.token_type, b.token_type);
                prop_assert_eq!(&a.description, &b.description);
                prop_assert_eq!(&a.deprecated, &b.deprecated);
                prop_assert_eq!(&a.extensions, &b.extensions);
                if output_references {
                    prop_assert_eq!(&a.alias_chain, &b.alias_chain, "{}", path);
                }
            }
        }
    }

    #[test]
    fn nested_json_holds_every_resolved_value(genes in genes()) {
        let resolved = resolve(&document(&genes)).map_err(TestCaseError::fail)?;
        let json: Value = serde_json::from_str(&export(&resolved, Format::Json, &ExportOptions::default())).unwrap();
        for (path, token) in &resolved.tokens {
            let pointer = format!("/{}", path.replace('.', "/"));
            prop_assert_eq!(json.pointer(&pointer), Some(&token.value));
        }
    }
}
