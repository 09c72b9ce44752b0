//! Every DTCG 2025.10 rule tinct enforces, each broken once, with the message it gives.

use serde_json::{Value, json};
use tinct_engine::{
    Code, Diagnostic, Document, ResolveOptions, TokenSet, TokenType, parse_document,
};

fn errors(doc: Value) -> Vec<Diagnostic> {
    parse_document(&doc).expect_err("should fail")
}

/// The only error of `doc`, checked for code, pointer and message fragment.
fn one_error(doc: Value, code: Code, pointer: &str, message: &str) -> Diagnostic {
    let errs = errors(doc);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = errs.into_iter().next().unwrap();
    assert_eq!(e.code, code, "{e:#?}");
    assert_eq!(e.pointer, pointer, "{e:#?}");
    assert!(
        e.message.contains(message),
        "{:?} lacks {message:?}",
        e.message
    );
    e
}

fn ok(doc: Value) -> (Document, Vec<Diagnostic>) {
    parse_document(&doc).unwrap_or_else(|e| panic!("{e:#?}"))
}

fn resolved_value(doc: Value, path: &str) -> Value {
    let (d, _) = ok(doc);
    d.resolve().unwrap_or_else(|e| panic!("{e:#?}")).tokens[path]
        .value
        .clone()
}

#[test]
fn document_must_be_an_object() {
    one_error(json!([1]), Code::NotAnObject, "", "must be a JSON object");
    one_error(
        json!({"color": {"red": "#f00"}}),
        Code::NotAnObject,
        "/color/red",
        "\"color.red\" is a string, but every group and token must be an object",
    );
}

#[test]
fn names_must_not_contain_dots_or_braces() {
    one_error(
        json!({"a.b": {"$type": "number", "$value": 1}}),
        Code::InvalidName,
        "/a.b",
        "the name \"a.b\" contains '.'",
    );
    one_error(
        json!({"g": {"{x}": {"$type": "number", "$value": 1}}}),
        Code::InvalidName,
        "/g/{x}",
        "must not contain '.', '{' or '}'",
    );
}

#[test]
fn a_token_cannot_hold_children() {
    one_error(
        json!({"a": {"$type": "number", "$value": 1, "b": {"$value": 2}}}),
        Code::TokenWithChildren,
        "/a/b",
        "\"a\" is a token (it has \"$value\") but also holds \"b\"",
    );
}

#[test]
fn every_token_needs_a_type() {
    one_error(
        json!({"a": {"$value": 1}}),
        Code::MissingType,
        "/a",
        "\"a\" has no $type: add \"$type\"",
    );
    // inherited from a group, overridden by the token
    let (d, _) = ok(
        json!({"g": {"$type": "number", "a": {"$value": 1}, "b": {"$type": "fontWeight", "$value": 700}}}),
    );
    assert_eq!(d.tokens["g.a"].token_type, TokenType::Number);
    assert_eq!(d.tokens["g.b"].token_type, TokenType::FontWeight);
    // an alias takes its target's type, through a chain
    let (d, _) = ok(
        json!({"a": {"$type": "color", "$value": "#fff"}, "b": {"$value": "{a}"}, "c": {"$value": "{b}"}}),
    );
    assert_eq!(d.tokens["c"].token_type, TokenType::Color);
}

#[test]
fn types_must_be_dtcg_types() {
    let e = one_error(
        json!({"a": {"$type": "colour", "$value": "#fff"}}),
        Code::UnknownType,
        "/a/$type",
        "unknown token type \"colour\" (did you mean \"color\"?)",
    );
    assert_eq!(e.path.as_deref(), Some("a"));
    one_error(
        json!({"g": {"$type": 3, "a": {"$value": 1}}}),
        Code::UnknownType,
        "/g/$type",
        "$type must be a string",
    );
}

#[test]
fn values_follow_their_type() {
    let cases = [
        (
            TokenType::Color,
            json!({"colorSpace": "cmyk", "components": [0, 0, 0]}),
            "/colorSpace",
            "colorSpace must be one of",
        ),
        (
            TokenType::Color,
            json!({"colorSpace": "srgb", "components": [1.5, 0, 0]}),
            "/components/0",
            "component 0 of a srgb colour must be from 0 to 1, got 1.5",
        ),
        (
            TokenType::Color,
            json!({"colorSpace": "hsl", "components": [360, 50, 50]}),
            "/components/0",
            "up to (not including) 360",
        ),
        (
            TokenType::Color,
            json!({"colorSpace": "oklch", "components": [0.5, -0.1, 20]}),
            "/components/1",
            "from 0 or more",
        ),
        (
            TokenType::Dimension,
            json!({"value": 4, "unit": "em"}),
            "/unit",
            "dimension unit must be \"px\" or \"rem\"",
        ),
        (
            TokenType::Duration,
            json!({"value": 4, "unit": "min"}),
            "/unit",
            "duration unit must be \"ms\" or \"s\"",
        ),
        (
            TokenType::FontFamily,
            json!([]),
            "",
            "fontFamily list must not be empty",
        ),
        (TokenType::FontWeight, json!(1200), "", "between 1 and 1000"),
        (
            TokenType::CubicBezier,
            json!([2, 0, 0, 1]),
            "/0",
            "x1 must be between 0 and 1",
        ),
        (
            TokenType::Number,
            json!("1"),
            "",
            "a number must be a JSON number",
        ),
        (
            TokenType::StrokeStyle,
            json!("wavy"),
            "",
            "unknown strokeStyle",
        ),
        (
            TokenType::Border,
            json!({"color": "#000", "width": "1px"}),
            "",
            "border is missing \"style\"",
        ),
        (
            TokenType::Transition,
            json!({"duration": "1s", "delay": "0s"}),
            "",
            "transition is missing \"timingFunction\"",
        ),
        (
            TokenType::Shadow,
            json!([]),
            "",
            "a shadow list must not be empty",
        ),
        (
            TokenType::Gradient,
            json!([{"color": "#000", "position": 2}]),
            "/0/position",
            "position must be between 0 and 1",
        ),
        (
            TokenType::Typography,
            json!({"fontFamily": "A", "fontSize": "1px", "fontWeight": 4, "letterSpacing": "0px"}),
            "",
            "typography is missing \"lineHeight\"",
        ),
    ];
    for (ty, value, inner, message) in cases {
        let doc = json!({"t": {"$type": ty.as_str(), "$value": value}});
        let e = one_error(
            doc,
            Code::InvalidValue,
            &format!("/t/$value{inner}"),
            message,
        );
        assert!(
            e.message
                .starts_with(&format!("\"t\" ({ty}): invalid value")),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("expected something like"),
            "{}",
            e.message
        );
    }
}

#[test]
fn description_deprecated_and_extensions_have_kinds() {
    one_error(
        json!({"a": {"$type": "number", "$value": 1, "$description": 5}}),
        Code::InvalidProperty,
        "/a/$description",
        "$description must be a string, not a number",
    );
    one_error(
        json!({"a": {"$type": "number", "$value": 1, "$deprecated": 1}}),
        Code::InvalidProperty,
        "/a/$deprecated",
        "$deprecated must be true, false or a string",
    );
    one_error(
        json!({"g": {"$extensions": [], "a": {"$type": "number", "$value": 1}}}),
        Code::InvalidProperty,
        "/g/$extensions",
        "$extensions must be an object keyed by vendor",
    );
}

#[test]
fn deprecated_is_inherited_and_can_be_lifted() {
    let (d, _) = ok(json!({"g": {"$deprecated": "use h", "$type": "number",
        "a": {"$value": 1}, "b": {"$value": 2, "$deprecated": false}}}));
    assert_eq!(d.tokens["g.a"].deprecated, Some(json!("use h")));
    assert_eq!(d.tokens["g.b"].deprecated, None);
    let resolved = d.resolve().unwrap();
    assert_eq!(resolved.tokens["g.a"].deprecated, Some(json!("use h")));
}

#[test]
fn extensions_are_kept() {
    let (d, _) = ok(
        json!({"a": {"$type": "number", "$value": 1, "$extensions": {"org.example": {"x": 1}}}}),
    );
    let r = d.resolve().unwrap();
    assert_eq!(
        r.tokens["a"].extensions.as_ref().unwrap()["org.example"],
        json!({"x": 1})
    );
}

#[test]
fn unknown_dollar_properties_warn() {
    let (_, warnings) =
        ok(json!({"$themes": [], "a": {"$type": "number", "$value": 1, "$foo": 1}}));
    let codes: Vec<Code> = warnings.iter().map(|w| w.code).collect();
    assert_eq!(codes, [Code::UnknownProperty, Code::UnknownProperty]);
    assert!(
        warnings[0].message.contains("is not a DTCG"),
        "{warnings:#?}"
    );
}

#[test]
fn root_tokens() {
    let doc = json!({"color": {"$type": "color", "accent": {
        "$root": {"$value": "#dd0000"}, "light": {"$value": "#ff2222"}}},
        "use": {"$type": "color", "$value": "{color.accent.$root}"}});
    assert_eq!(resolved_value(doc, "use"), json!("#dd0000"));
    one_error(
        json!({"g": {"$root": {"a": {"$type": "number", "$value": 1}}}}),
        Code::TokenWithChildren,
        "/g/$root",
        "\"$root\" is reserved for the group's own token",
    );
}

#[test]
fn extends_inherits_and_overrides() {
    let doc = json!({
        "base": {"$type": "color", "bg": {"$value": "#fff"}, "fg": {"$value": "#000"}, "deep": {"x": {"$value": "#111"}}},
        "dark": {"$extends": "{base}", "bg": {"$type": "color", "$value": "#000"}},
        "other": {"$extends": {"$ref": "#/dark"}}
    });
    let (d, _) = ok(doc);
    assert_eq!(d.tokens["dark.bg"].value, json!("#000"));
    assert_eq!(d.tokens["dark.fg"].value, json!("#000"));
    assert_eq!(d.tokens["dark.deep.x"].value, json!("#111"));
    assert_eq!(
        d.tokens["other.bg"].value,
        json!("#000"),
        "extends chains apply in order"
    );
}

#[test]
fn extends_errors() {
    one_error(
        json!({"base": {"a": {"$type": "number", "$value": 1}}, "x": {"$extends": "{bse}"}}),
        Code::InvalidExtends,
        "/x/$extends",
        "group \"x\" extends \"bse\", which is not a group (did you mean \"base\"?)",
    );
    one_error(
        json!({"a": {"$type": "number", "$value": 1}, "x": {"$extends": "{a}"}}),
        Code::InvalidExtends,
        "/x/$extends",
        "which is a token; $extends names a group",
    );
    one_error(
        json!({"x": {"$extends": "{x.y}", "y": {"a": {"$type": "number", "$value": 1}}}}),
        Code::InvalidExtends,
        "/x/$extends",
        "its own ancestor or descendant",
    );
    let errs = errors(
        json!({"a": {"$extends": "{b}", "t": {"$type": "number", "$value": 1}},
        "b": {"$extends": "{a}", "u": {"$type": "number", "$value": 1}}}),
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs.iter()
            .all(|e| e.code == Code::InvalidExtends && e.message.contains("extends it back"))
    );
    one_error(
        json!({"x": {"$extends": 5}}),
        Code::InvalidExtends,
        "/x/$extends",
        "$extends must name a group",
    );
}

#[test]
fn json_pointer_references() {
    let doc = json!({
        "base": {"$type": "color", "blue": {"$value": {"colorSpace": "srgb", "components": [0, 0, 1]}}},
        "whole": {"$type": "color", "$value": {"$ref": "#/base/blue/$value"}},
        "part": {"$type": "color", "$value": {"colorSpace": "srgb", "components": [{"$ref": "#/base/blue/$value/components/2"}, 0, 0]}}
    });
    let (d, _) = ok(doc.clone());
    assert_eq!(
        d.tokens["whole"].value,
        json!("{base.blue}"),
        "a whole-value $ref is an alias"
    );
    let r = d.resolve().unwrap();
    assert_eq!(r.tokens["whole"].alias_chain, ["base.blue"]);
    assert_eq!(r.tokens["part"].value["components"], json!([1, 0, 0]));
    one_error(
        json!({"a": {"$type": "number", "$value": {"$ref": "other.json#/a"}}}),
        Code::InvalidRef,
        "/a/$value/$ref",
        "is not a JSON pointer into this document",
    );
    one_error(
        json!({"a": {"$type": "number", "$value": {"$ref": 3}}}),
        Code::InvalidRef,
        "/a/$value",
        "a reference object must hold only \"$ref\"",
    );
    // a pointer to nothing inside an existing token's value fails at resolution
    let (d, _) = ok(json!({"b": {"$type": "number", "$value": 1},
        "c": {"$type": "color", "$value": {"colorSpace": "srgb", "components": [{"$ref": "#/b/$value/x"}, 0, 0]}}}));
    let errs = d.resolve().unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].message.contains("has nothing at \"/x\""),
        "{errs:#?}"
    );
}

#[test]
fn references_must_match_the_type_they_stand_for() {
    one_error(
        json!({"a": {"$type": "dimension", "$value": "4px"}, "b": {"$type": "color", "$value": "{a}"}}),
        Code::TypeMismatch,
        "/b/$value",
        "\"b\" needs a color but references \"a\", a dimension token",
    );
    one_error(
        json!({"a": {"$type": "dimension", "$value": "4px"},
            "s": {"$type": "shadow", "$value": {"color": "{a}", "offsetX": "0px", "offsetY": "0px", "blur": "0px", "spread": "0px"}}}),
        Code::TypeMismatch,
        "/s/$value/color",
        "\"s\" at /color needs a color but references \"a\"",
    );
}

#[test]
fn resolution_errors_name_the_file_pointer_and_suggestions() {
    let doc = json!({"color": {"$type": "color",
        "red": {"$value": "#f00"},
        "brand": {"$value": "{color.rde}"},
        "a": {"$value": "{color.b}"}, "b": {"$value": "{color.a}"}}});
    let (d, _) = TokenSet::parse(&doc, Some("colors.json")).finish().unwrap();
    let errs = d.resolve().unwrap_err();
    assert_eq!(errs.len(), 2, "all errors at once: {errs:#?}");
    let cycle = errs
        .iter()
        .find(|e| e.code == Code::CircularReference)
        .unwrap();
    assert_eq!(cycle.file.as_deref(), Some("colors.json"));
    assert_eq!(cycle.pointer, "/color/a/$value");
    assert!(cycle.message.contains("color.a -> color.b -> color.a"));
    let broken = errs
        .iter()
        .find(|e| e.code == Code::BrokenReference)
        .unwrap();
    assert_eq!(broken.pointer, "/color/brand/$value");
    assert!(
        broken.message.contains("did you mean \"color.red\""),
        "{broken:#?}"
    );
    assert_eq!(
        broken.to_string(),
        format!("colors.json at /color/brand/$value: {}", broken.message)
    );
    // the consuming, build-time variant reports the same, located the same way
    let owned = d
        .into_resolved(&ResolveOptions {
            alias_chains: false,
        })
        .unwrap_err();
    assert_eq!(owned, errs);
}

#[test]
fn build_time_resolution_matches_and_can_skip_alias_chains() {
    let doc = json!({"n": {"$type": "number", "a": {"$value": 1}, "b": {"$value": "{n.a}"},
        "c": {"$value": "{n.b}", "$deprecated": true}}});
    let (d, _) = ok(doc);
    let full = d.resolve().unwrap();
    assert_eq!(full.tokens["n.c"].alias_chain, ["n.b", "n.a"]);
    let lean = d
        .clone()
        .into_resolved(&ResolveOptions {
            alias_chains: false,
        })
        .unwrap();
    assert!(lean.tokens["n.c"].alias_chain.is_empty());
    assert_eq!(lean.tokens["n.c"].deprecated, Some(json!(true)));
    let with = d.into_resolved(&ResolveOptions::default()).unwrap();
    assert_eq!(with, full);
}

#[test]
fn every_error_of_a_file_at_once() {
    let errs = errors(json!({
        "a": {"$value": 1},
        "b": {"$type": "colour", "$value": 1},
        "c": {"$type": "number", "$value": "x"},
        "d.e": {"$type": "number", "$value": 1}
    }));
    let codes: Vec<Code> = errs.iter().map(|e| e.code).collect();
    for code in [
        Code::MissingType,
        Code::UnknownType,
        Code::InvalidValue,
        Code::InvalidName,
    ] {
        assert!(codes.contains(&code), "{code:?} in {codes:?}");
    }
}

#[test]
fn value_errors_broken_references_and_cycles_are_reported_together() {
    let doc = json!({"n": {"$type": "number",
        "bad": {"$value": "x"},
        "uses-bad": {"$value": "{n.bad}"},
        "odd": {"$value": 2, "$description": 5},
        "uses-odd": {"$value": "{n.odd}"},
        "one": {"$value": 1},
        "broken": {"$value": "{n.onw}"},
        "a": {"$value": "{n.b}"}, "b": {"$value": "{n.a}"}}});
    // Checking alone stops before references.
    assert_eq!(errors(doc.clone()).len(), 2);
    let errs = TokenSet::parse(&doc, Some("t.json"))
        .resolve(&ResolveOptions::default())
        .expect_err("should fail");
    let found: Vec<(Code, &str)> = errs
        .iter()
        .map(|e| (e.code, e.path.as_deref().unwrap_or_default()))
        .collect();
    // Tokens that only reference an invalid one get no error of their own.
    assert_eq!(
        found,
        [
            (Code::InvalidProperty, "n.odd"),
            (Code::InvalidValue, "n.bad"),
            (Code::CircularReference, "n.a"),
            (Code::BrokenReference, "n.broken"),
        ],
        "{errs:#?}"
    );
    assert_eq!(errs[2].pointer, "/n/a/$value");
    assert!(errs[2].message.contains("n.a -> n.b -> n.a"), "{errs:#?}");
    assert_eq!(errs[3].file.as_deref(), Some("t.json"));
    assert!(
        errs[3].message.contains("did you mean \"n.one\""),
        "{errs:#?}"
    );

    let fixed =
        json!({"n": {"$type": "number", "one": {"$value": 1}, "two": {"$value": "{n.one}"}}});
    let (resolved, warnings) = TokenSet::parse(&fixed, None)
        .resolve(&ResolveOptions::default())
        .unwrap();
    assert!(warnings.is_empty());
    assert_eq!(resolved.tokens["n.two"].value, json!(1));
    assert_eq!(resolved.tokens["n.two"].alias_chain, ["n.one"]);
}

#[test]
fn older_draft_string_values_load_with_a_warning() {
    let (d, warnings) = ok(json!({"c": {"$type": "color", "$value": "#ff0000"},
        "s": {"$type": "dimension", "$value": "16px"}, "t": {"$type": "duration", "$value": "200ms"}}));
    assert_eq!(d.tokens.len(), 3);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].code, Code::LegacyValue);
    assert!(
        warnings[0]
            .message
            .starts_with("3 token(s) use older draft string values")
    );
}

#[test]
fn style_dictionary_files_load_with_warnings() {
    let doc = json!({"color": {"base": {"red": {"value": "#ff0000", "comment": "red"}},
        "primary": {"value": "{color.base.red}", "attributes": {"category": "color"}}},
        "size": {"small": {"value": "4px"}, "ratio": {"value": 1.5}}});
    let (d, warnings) = ok(doc);
    assert_eq!(d.tokens["color.base.red"].token_type, TokenType::Color);
    assert_eq!(
        d.tokens["color.base.red"].description.as_deref(),
        Some("red")
    );
    assert_eq!(d.tokens["color.primary"].token_type, TokenType::Color);
    assert_eq!(d.tokens["size.small"].token_type, TokenType::Dimension);
    assert_eq!(d.tokens["size.ratio"].token_type, TokenType::Number);
    let codes: Vec<Code> = warnings.iter().map(|w| w.code).collect();
    assert!(codes.contains(&Code::LegacyFormat), "{codes:?}");
    assert!(codes.contains(&Code::InferredType), "{codes:?}");
}

#[test]
fn tokens_studio_types_map_with_a_warning() {
    let doc = json!({
        "space": {"sm": {"$type": "spacing", "$value": "8"}},
        "weight": {"semi": {"$type": "fontWeights", "$value": "Semi Bold"}},
        "shadow": {"card": {"$type": "boxShadow", "$value": {"x": "0", "y": "2", "blur": "4", "spread": "0", "color": "#000", "type": "innerShadow"}}},
        "misc": {"note": {"$type": "other", "$value": "anything"}}
    });
    let (d, warnings) = ok(doc);
    assert_eq!(d.tokens["space.sm"].value, json!("8px"));
    assert_eq!(d.tokens["weight.semi"].value, json!("semi-bold"));
    assert_eq!(d.tokens["shadow.card"].value["offsetY"], json!("2px"));
    assert_eq!(d.tokens["shadow.card"].value["inset"], json!(true));
    assert!(!d.tokens.contains_key("misc.note"));
    let codes: Vec<Code> = warnings.iter().map(|w| w.code).collect();
    assert!(codes.contains(&Code::LegacyType), "{codes:?}");
    assert!(codes.contains(&Code::UnsupportedType), "{codes:?}");
}

#[test]
fn merging_sources() {
    let a = json!({"c": {"$type": "color", "x": {"$value": "#000"}, "g": {"$value": "#111"}}});
    let b = json!({"c": {"x": {"$type": "color", "$value": "#fff"}}});
    let mut set = TokenSet::parse(&a, Some("a.json"));
    set.merge(TokenSet::parse(&b, Some("b.json")));
    let (d, warnings) = set.finish().unwrap();
    assert_eq!(d.tokens["c.x"].value, json!("#fff"));
    assert_eq!(d.tokens["c.x"].origin.as_ref(), "b.json");
    assert_eq!(warnings[0].code, Code::Overridden);
    assert!(
        warnings[0]
            .message
            .starts_with("1 token(s) defined in a.json are replaced by this file")
    );
    let r = d.resolve().unwrap();
    assert_eq!(r.tokens["c.x"].source, "b.json", "lineage names the file");
    assert_eq!(r.tokens["c.g"].source, "a.json");

    let typed = json!({"c": {"x": {"$type": "dimension", "$value": "1px"}}});
    let mut set = TokenSet::parse(&a, Some("a.json"));
    set.merge(TokenSet::parse(&typed, Some("t.json")));
    let errs = set.finish().unwrap_err();
    assert_eq!(errs[0].code, Code::Conflict);
    assert!(
        errs[0]
            .message
            .contains("is a color token in a.json but a dimension token here")
    );

    let group = json!({"c": {"x": {"deeper": {"$type": "color", "$value": "#fff"}}}});
    let mut set = TokenSet::parse(&a, Some("a.json"));
    set.merge(TokenSet::parse(&group, Some("g.json")));
    let errs = set.finish().unwrap_err();
    assert_eq!(errs[0].code, Code::Conflict);
    assert!(
        errs[0]
            .message
            .contains("\"c.x\" is a token here but a group in g.json"),
        "{errs:#?}"
    );
}

#[test]
fn diagnostics_serialize_for_scripts() {
    let e = &errors(json!({"a": {"$value": 1}}))[0];
    assert_eq!(
        serde_json::to_value(e).unwrap(),
        json!({"code": "MISSING_TYPE", "pointer": "/a", "path": "a", "message": e.message})
    );
    assert!(Code::LegacyValue.is_warning() && !Code::InvalidValue.is_warning());
    assert_eq!(Code::TypeMismatch.as_str(), "TYPE_MISMATCH");
}
