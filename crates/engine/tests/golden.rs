//! Golden files for every export format (insta snapshots in tests/snapshots/).

use tinct_engine::{
    ColorFormat, ExportOptions, Format, NameCase, Resolved, Theme, TokenSet, export, export_themes,
};

fn rich() -> Resolved {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/rich.tokens.json")).unwrap();
    let (document, warnings) = TokenSet::parse(&doc, Some("rich.tokens.json"))
        .finish()
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(warnings.is_empty(), "{warnings:#?}");
    document.resolve().unwrap_or_else(|e| panic!("{e:#?}"))
}

#[test]
fn every_format_resolved_values() {
    let resolved = rich();
    for format in Format::ALL {
        let out = export(&resolved, format, &ExportOptions::default());
        insta::assert_snapshot!(format!("resolved_{}", format.as_str()), out);
    }
}

#[test]
fn every_format_with_references_kept() {
    let resolved = rich();
    let options = ExportOptions {
        output_references: true,
        prefix: Some("ds".into()),
        ..ExportOptions::default()
    };
    for format in Format::ALL {
        let out = export(&resolved, format, &options);
        insta::assert_snapshot!(format!("references_{}", format.as_str()), out);
    }
}

#[test]
fn css_colour_formats_and_name_cases() {
    let resolved = rich();
    let mut all = String::new();
    for color in ColorFormat::ALL {
        let options = ExportOptions {
            color,
            ..ExportOptions::default()
        };
        let css = export(&resolved, Format::Css, &options);
        let colours: Vec<&str> = css.lines().filter(|l| l.contains("--color-")).collect();
        all.push_str(&format!("== {}\n{}\n", color.as_str(), colours.join("\n")));
    }
    insta::assert_snapshot!("css_colour_formats", all);
    let mut names = String::new();
    for case in NameCase::ALL {
        let options = ExportOptions {
            name_case: Some(case),
            ..ExportOptions::default()
        };
        let flat = export(&resolved, Format::JsonFlat, &options);
        let first: Vec<&str> = flat.lines().skip(1).take(3).collect();
        names.push_str(&format!("== {}\n{}\n", case.as_str(), first.join("\n")));
    }
    insta::assert_snapshot!("name_cases", names);
}

#[test]
fn css_theme_blocks() {
    let light: serde_json::Value = serde_json::json!({
        "color": {"$type": "color",
            "bg": {"$value": "#ffffff"}, "fg": {"$value": "#111111"},
            "action": {"$value": "{color.fg}"}},
        "space": {"$type": "dimension", "sm": {"$value": "4px"}}
    });
    let dark: serde_json::Value = serde_json::json!({
        "color": {"$type": "color", "bg": {"$value": "#000000"}, "fg": {"$value": "#eeeeee"}}
    });
    let base = TokenSet::parse(&light, None)
        .finish()
        .unwrap()
        .0
        .resolve()
        .unwrap();
    let mut set = TokenSet::parse(&light, None);
    set.merge(TokenSet::parse(&dark, Some("dark.json")));
    let themed = set.finish().unwrap().0.resolve().unwrap();
    let themes = [Theme {
        selector: "[data-theme=\"dark\"]",
        resolved: &themed,
    }];
    let plain = export_themes(&base, &themes, &ExportOptions::default());
    let refs = export_themes(
        &base,
        &themes,
        &ExportOptions {
            output_references: true,
            ..ExportOptions::default()
        },
    );
    insta::assert_snapshot!(
        "css_themes",
        format!("{plain}\n-- with references --\n{refs}")
    );
}
