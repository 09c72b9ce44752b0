//! Export formats for a resolved token set.
//!
//! Every format is deterministic (tokens in path order, or references first where a language
//! needs a name declared before use) and covered by golden files.

mod android;
mod code;
mod compose;
mod css;
mod dtcg;
mod json;
mod names;
mod native;
mod scss;
mod swift;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::color::ColorFormat;
use crate::{Resolved, ResolvedToken};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// CSS custom properties in one rule (plus one rule per theme with [`export_themes`]).
    #[serde(rename = "css")]
    Css,
    /// Nested JSON object of resolved values.
    #[serde(rename = "json")]
    Json,
    /// Flat JSON object: one key per token name.
    #[serde(rename = "json-flat")]
    JsonFlat,
    /// SCSS variables.
    #[serde(rename = "scss")]
    Scss,
    /// Less variables.
    #[serde(rename = "less")]
    Less,
    /// An ES module of `export const`s.
    #[serde(rename = "js")]
    Js,
    /// TypeScript declarations for the `js` module.
    #[serde(rename = "ts")]
    Ts,
    /// A DTCG 2025.10 document that parses back to the same tokens.
    #[serde(rename = "dtcg")]
    Dtcg,
    /// Swift (SwiftUI) constants for iOS.
    #[serde(rename = "swift")]
    Swift,
    /// Android resources XML (`res/values`).
    #[serde(rename = "android")]
    Android,
    /// Jetpack Compose (Kotlin) constants.
    #[serde(rename = "compose")]
    Compose,
}

impl Format {
    pub const ALL: [Format; 11] = [
        Format::Css,
        Format::Json,
        Format::JsonFlat,
        Format::Scss,
        Format::Less,
        Format::Js,
        Format::Ts,
        Format::Dtcg,
        Format::Swift,
        Format::Android,
        Format::Compose,
    ];

    /// The name used in APIs and `FromStr`, identical to the serde representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Css => "css",
            Format::Json => "json",
            Format::JsonFlat => "json-flat",
            Format::Scss => "scss",
            Format::Less => "less",
            Format::Js => "js",
            Format::Ts => "ts",
            Format::Dtcg => "dtcg",
            Format::Swift => "swift",
            Format::Android => "android",
            Format::Compose => "compose",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Css => "text/css; charset=utf-8",
            Format::Json | Format::JsonFlat => "application/json",
            Format::Scss => "text/x-scss; charset=utf-8",
            Format::Less => "text/x-less; charset=utf-8",
            Format::Js => "text/javascript; charset=utf-8",
            Format::Ts => "application/typescript; charset=utf-8",
            Format::Dtcg => "application/design-tokens+json",
            Format::Swift => "text/x-swift; charset=utf-8",
            Format::Android => "application/xml; charset=utf-8",
            Format::Compose => "text/x-kotlin; charset=utf-8",
        }
    }

    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Css => "css",
            Format::Json | Format::JsonFlat => "json",
            Format::Scss => "scss",
            Format::Less => "less",
            Format::Js => "js",
            Format::Ts => "d.ts",
            Format::Dtcg => "tokens.json",
            Format::Swift => "swift",
            Format::Android => "xml",
            Format::Compose => "kt",
        }
    }

    /// The name case a format uses when [`ExportOptions::name_case`] is not set.
    pub fn default_case(self) -> NameCase {
        match self {
            Format::Css | Format::Scss | Format::Less | Format::JsonFlat => NameCase::Kebab,
            Format::Js | Format::Ts | Format::Swift | Format::Compose => NameCase::Camel,
            Format::Android => NameCase::Snake,
            // Nested formats keep path segments as they are.
            Format::Json | Format::Dtcg => NameCase::Kebab,
        }
    }
}

/// An [`ExportOptions`] setting that only some formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportOption {
    Selector,
    Prefix,
    NameCase,
    OutputReferences,
    Color,
}

impl Format {
    /// Whether `option` can change this format's output, so callers can refuse an option that
    /// would silently do nothing.
    pub fn reads(self, option: ExportOption) -> bool {
        match option {
            ExportOption::Selector => self == Format::Css,
            // Nested formats keep path segments as they are.
            ExportOption::Prefix | ExportOption::NameCase => {
                !matches!(self, Format::Json | Format::Dtcg)
            }
            ExportOption::OutputReferences => !matches!(
                self,
                Format::Json | Format::JsonFlat | Format::Ts | Format::Android
            ),
            ExportOption::Color => {
                matches!(self, Format::Css | Format::Scss | Format::Less | Format::Js)
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFormat { name: s.to_owned() })
    }
}

/// A format name that is not one of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown export format {name:?}; supported formats are {}", Format::ALL.map(Format::as_str).join(", "))]
pub struct UnknownFormat {
    pub name: String,
}

/// How token paths become names in flat formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameCase {
    /// `color-brand-primary`
    Kebab,
    /// `colorBrandPrimary`
    Camel,
    /// `ColorBrandPrimary`
    Pascal,
    /// `color_brand_primary`
    Snake,
    /// `COLOR_BRAND_PRIMARY`
    Constant,
}

impl NameCase {
    pub const ALL: [NameCase; 5] = [
        NameCase::Kebab,
        NameCase::Camel,
        NameCase::Pascal,
        NameCase::Snake,
        NameCase::Constant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NameCase::Kebab => "kebab",
            NameCase::Camel => "camel",
            NameCase::Pascal => "pascal",
            NameCase::Snake => "snake",
            NameCase::Constant => "constant",
        }
    }
}

impl FromStr for NameCase {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        NameCase::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown name case {s:?}; use one of {}",
                    NameCase::ALL.map(NameCase::as_str).join(", ")
                )
            })
    }
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// CSS selector of the rule holding the custom properties. Emitted verbatim, so callers must
    /// not pass untrusted input here.
    pub selector: String,
    /// Prepended to every name, e.g. `tk` gives `--tk-color-brand` or `tkColorBrand`.
    pub prefix: Option<String>,
    /// Name case for flat formats; `None` uses [`Format::default_case`]. CSS, SCSS and Less
    /// keep their historical kebab transform when unset.
    pub name_case: Option<NameCase>,
    /// Keep references (`var(--x)`, `$x`, `@x`, `{x}` in DTCG, constant names in code) instead
    /// of resolved values wherever the format can express them.
    pub output_references: bool,
    /// How CSS-like formats (css, scss, less, js) write colours.
    pub color: ColorFormat,
    /// Swift enum / Kotlin object name (default `Tokens`).
    pub module_name: Option<String>,
    /// Kotlin package (default `tokens`).
    pub package: Option<String>,
    /// Pixels per `rem` when native formats convert to points/dp (default 16).
    pub rem_base: f64,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            selector: ":root".to_owned(),
            prefix: None,
            name_case: None,
            output_references: false,
            color: ColorFormat::Auto,
            module_name: None,
            package: None,
            rem_base: 16.0,
        }
    }
}

/// One theme (mode) block of a CSS export.
#[derive(Debug, Clone, Copy)]
pub struct Theme<'a> {
    /// E.g. `[data-theme="dark"]`; emitted verbatim.
    pub selector: &'a str,
    pub resolved: &'a Resolved,
}

/// Renders `resolved` in `format`. Deterministic: the same input always gives the same bytes.
/// JSON ignores `options`.
pub fn export(resolved: &Resolved, format: Format, options: &ExportOptions) -> String {
    match format {
        Format::Css => css::render(resolved, options),
        Format::Json => json::render(resolved),
        Format::JsonFlat => json::render_flat(resolved, options),
        Format::Scss => scss::render(resolved, options, scss::Dialect::Scss),
        Format::Less => scss::render(resolved, options, scss::Dialect::Less),
        Format::Js => code::render_js(resolved, options),
        Format::Ts => code::render_ts(resolved, options),
        Format::Dtcg => dtcg::render(resolved, options),
        Format::Swift => swift::render(resolved, options),
        Format::Android => android::render(resolved, options),
        Format::Compose => compose::render(resolved, options),
    }
}

/// CSS with a rule per theme: `options.selector` holds every token of `base`, then each
/// theme's rule holds the tokens whose value differs from `base` (with references kept, also
/// those whose reference changed, so `var()` chains re-evaluate under the theme's selector).
pub fn export_themes(base: &Resolved, themes: &[Theme<'_>], options: &ExportOptions) -> String {
    css::render_themes(base, themes, options)
}

/// Names that two or more tokens share in `format` (after the name transform), with the
/// paths that collide; empty when every token gets its own name. Nested formats never collide.
pub fn name_collisions(
    resolved: &Resolved,
    format: Format,
    options: &ExportOptions,
) -> BTreeMap<String, Vec<String>> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if matches!(format, Format::Json | Format::Dtcg) {
        return by_name;
    }
    for path in resolved.tokens.keys() {
        by_name
            .entry(token_name(path, format, options))
            .or_default()
            .push(path.clone());
    }
    by_name.retain(|_, paths| paths.len() > 1);
    by_name
}

/// The name `format` gives the token at `path`.
pub fn token_name(path: &str, format: Format, options: &ExportOptions) -> String {
    match format {
        Format::Css | Format::Scss | Format::Less => {
            let mut out = String::new();
            css::property(&mut out, path, options);
            out
        }
        _ => {
            let case = options.name_case.unwrap_or(format.default_case());
            let prefix = options.prefix.as_deref();
            match format {
                Format::Js | Format::Ts => {
                    names::identifier(path, prefix, case, names::JS_RESERVED)
                }
                Format::Swift => names::identifier(path, prefix, case, names::SWIFT_RESERVED),
                Format::Compose => names::identifier(path, prefix, case, names::KOTLIN_RESERVED),
                Format::Android => android::resource_name(path, options),
                _ => names::name(path, prefix, case),
            }
        }
    }
}

/// The value as written when references should be kept and it has some that can be spelled in
/// the output (`$ref` pointers into a value cannot: those tokens export resolved).
fn referenced<'a>(token: &'a ResolvedToken, options: &ExportOptions) -> Option<&'a Value> {
    if !options.output_references {
        return None;
    }
    let original = token.original.as_ref()?;
    let mut stack = vec![original];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(o) if o.contains_key("$ref") => return None,
            Value::Object(o) => stack.extend(o.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    Some(original)
}

/// Token paths in an order where every token comes after the tokens it references (path
/// order otherwise), for languages that need a name declared before it is used.
fn declaration_order<'a>(resolved: &'a Resolved, options: &ExportOptions) -> Vec<&'a str> {
    let paths: Vec<&str> = resolved.tokens.keys().map(String::as_str).collect();
    if !options.output_references {
        return paths;
    }
    let mut done: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut order = Vec::with_capacity(paths.len());
    for &root in &paths {
        if done.contains(root) {
            continue;
        }
        // Iterative post-order DFS; a cycle cannot occur in a resolved set.
        let mut stack: Vec<(&str, bool)> = vec![(root, false)];
        while let Some((path, expanded)) = stack.pop() {
            if done.contains(path) {
                continue;
            }
            if expanded {
                done.insert(path);
                order.push(path);
                continue;
            }
            stack.push((path, true));
            let Some(token) = resolved.tokens.get(path) else {
                continue;
            };
            if let Some(original) = referenced(token, options) {
                let mut refs = Vec::new();
                let mut scan = vec![original];
                while let Some(v) = scan.pop() {
                    match v {
                        Value::String(s) => {
                            if let Some(target) = crate::value::alias_in(s)
                                && let Some((key, _)) = resolved.tokens.get_key_value(target)
                            {
                                refs.push(key.as_str());
                            }
                        }
                        Value::Object(o) => scan.extend(o.values()),
                        Value::Array(items) => scan.extend(items),
                        _ => {}
                    }
                }
                refs.sort_unstable();
                for r in refs.into_iter().rev() {
                    if !done.contains(r) {
                        stack.push((r, false));
                    }
                }
            }
        }
    }
    order
}

/// Dimensions as (number, unit) from `{value, unit}` or `"16px"`.
fn measure(v: &Value) -> Option<(f64, &str)> {
    match v {
        Value::Object(o) => Some((o.get("value")?.as_f64()?, o.get("unit")?.as_str()?)),
        Value::String(s) => {
            let split = s
                .find(|c: char| c.is_alphabetic() || c == '%')
                .unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            Some((num.trim().parse().ok()?, unit))
        }
        Value::Number(n) => Some((n.as_f64()?, "")),
        _ => None,
    }
}

/// A dimension in pixels (`rem` × `rem_base`), or a duration in milliseconds.
fn pixels(v: &Value, options: &ExportOptions) -> Option<f64> {
    let (n, unit) = measure(v)?;
    Some(match unit {
        "rem" | "em" => n * options.rem_base,
        "s" => n * 1000.0,
        _ => n,
    })
}

/// A number for generated code: no exponent, no trailing `.0` unless `float` needs a point.
fn code_number(v: f64) -> String {
    crate::color::num(v, 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Entry, Layer, TokenType, resolve};
    use serde_json::{Value, json};

    fn tree() -> Resolved {
        let defs: Vec<(&str, TokenType, Value)> = vec![
            ("color.base.violet", TokenType::Color, json!("#6d28d9")),
            (
                "color.brand.primary",
                TokenType::Color,
                json!("{color.base.violet}"),
            ),
            (
                "color.overlay",
                TokenType::Color,
                json!({"colorSpace": "display-p3", "components": [0, 0, 0], "alpha": 0.5}),
            ),
            (
                "space.md",
                TokenType::Dimension,
                json!({"value": 16, "unit": "px"}),
            ),
            (
                "font.family.body",
                TokenType::FontFamily,
                json!(["Helvetica Neue", "sans-serif"]),
            ),
            ("font.weight.bold", TokenType::FontWeight, json!("bold")),
            (
                "motion.fast",
                TokenType::Duration,
                json!({"value": 200, "unit": "ms"}),
            ),
            (
                "motion.ease",
                TokenType::CubicBezier,
                json!([0.4, 0, 0.2, 1.0]),
            ),
            (
                "shadow.cardRaised",
                TokenType::Shadow,
                json!({"color": "{color.base.violet}", "offsetX": "0px", "offsetY": "{space.md}", "blur": "4px", "spread": "0px"}),
            ),
            (
                "border.focusRing",
                TokenType::Border,
                json!({"color": "#000", "width": "2px", "style": "solid"}),
            ),
            (
                "typography.body",
                TokenType::Typography,
                json!({"fontFamily": "{font.family.body}", "fontSize": "{space.md}", "fontWeight": 400, "letterSpacing": "0px", "lineHeight": 1.5}),
            ),
        ];
        let entries = defs
            .into_iter()
            .map(|(path, token_type, value)| {
                (
                    path.to_owned(),
                    Entry::Define {
                        token_type,
                        value,
                        description: None,
                    },
                )
            })
            .collect();
        resolve(&[Layer {
            node: "root".into(),
            entries,
        }])
        .unwrap()
    }

    #[test]
    fn css_for_a_small_tree() {
        assert_eq!(
            export(&tree(), Format::Css, &ExportOptions::default()),
            r#":root {
  --border-focus-ring: 2px solid #000;
  --color-base-violet: #6d28d9;
  --color-brand-primary: #6d28d9;
  --color-overlay: color(display-p3 0 0 0 / 0.5);
  --font-family-body: "Helvetica Neue", sans-serif;
  --font-weight-bold: 700;
  --motion-ease: cubic-bezier(0.4, 0, 0.2, 1);
  --motion-fast: 200ms;
  --shadow-card-raised: 0px 16px 4px 0px #6d28d9;
  --space-md: 16px;
  --typography-body: 400 16px/1.5 "Helvetica Neue", sans-serif;
}
"#
        );
    }

    #[test]
    fn css_prefix_and_selector() {
        let options = ExportOptions {
            selector: "[data-theme=\"dark\"]".into(),
            prefix: Some("tkBrand".into()),
            ..ExportOptions::default()
        };
        let css = export(&tree(), Format::Css, &options);
        assert!(css.starts_with(
            "[data-theme=\"dark\"] {\n  --tk-brand-border-focus-ring: 2px solid #000;\n"
        ));
        assert!(css.ends_with(
            "  --tk-brand-typography-body: 400 16px/1.5 \"Helvetica Neue\", sans-serif;\n}\n"
        ));
        let empty_prefix = ExportOptions {
            prefix: Some(String::new()),
            ..ExportOptions::default()
        };
        assert_eq!(
            export(&tree(), Format::Css, &empty_prefix),
            export(&tree(), Format::Css, &ExportOptions::default())
        );
    }

    #[test]
    fn css_of_nothing_is_an_empty_rule() {
        let empty = Resolved {
            tokens: Default::default(),
        };
        assert_eq!(
            export(&empty, Format::Css, &ExportOptions::default()),
            ":root {\n}\n"
        );
        assert_eq!(
            export(&empty, Format::Json, &ExportOptions::default()),
            "{}\n"
        );
    }

    #[test]
    fn json_for_a_small_tree() {
        assert_eq!(
            export(&tree(), Format::Json, &ExportOptions::default()),
            r##"{
  "border": {
    "focusRing": {
      "color": "#000",
      "style": "solid",
      "width": "2px"
    }
  },
  "color": {
    "base": {
      "violet": "#6d28d9"
    },
    "brand": {
      "primary": "#6d28d9"
    },
    "overlay": {
      "alpha": 0.5,
      "colorSpace": "display-p3",
      "components": [
        0,
        0,
        0
      ]
    }
  },
  "font": {
    "family": {
      "body": [
        "Helvetica Neue",
        "sans-serif"
      ]
    },
    "weight": {
      "bold": "bold"
    }
  },
  "motion": {
    "ease": [
      0.4,
      0,
      0.2,
      1.0
    ],
    "fast": {
      "unit": "ms",
      "value": 200
    }
  },
  "shadow": {
    "cardRaised": {
      "blur": "4px",
      "color": "#6d28d9",
      "offsetX": "0px",
      "offsetY": {
        "unit": "px",
        "value": 16
      },
      "spread": "0px"
    }
  },
  "space": {
    "md": {
      "unit": "px",
      "value": 16
    }
  },
  "typography": {
    "body": {
      "fontFamily": [
        "Helvetica Neue",
        "sans-serif"
      ],
      "fontSize": {
        "unit": "px",
        "value": 16
      },
      "fontWeight": 400,
      "letterSpacing": "0px",
      "lineHeight": 1.5
    }
  }
}
"##
        );
    }

    #[test]
    fn json_output_parses_back_to_the_values() {
        let resolved = tree();
        let parsed: Value =
            serde_json::from_str(&export(&resolved, Format::Json, &ExportOptions::default()))
                .unwrap();
        for (path, token) in &resolved.tokens {
            let pointer = format!("/{}", path.replace('.', "/"));
            assert_eq!(parsed.pointer(&pointer), Some(&token.value), "{path}");
        }
    }

    #[test]
    fn format_names_match_serde_and_parse() {
        for f in Format::ALL {
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
            assert!(!f.extension().starts_with('.'));
            assert!(!f.content_type().is_empty());
            assert_eq!(f.to_string(), f.as_str());
        }
        assert_eq!(Format::Css.content_type(), "text/css; charset=utf-8");
        assert_eq!(Format::Json.content_type(), "application/json");
    }

    #[test]
    fn unknown_format_lists_supported() {
        let err = "sass".parse::<Format>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown export format "sass"; supported formats are css, json, json-flat, scss, less, js, ts, dtcg, swift, android, compose"#
        );
    }

    #[test]
    fn formats_read_exactly_the_options_they_say() {
        let tree = tree();
        let changes: [(ExportOption, ExportOptions); 5] = [
            (
                ExportOption::Selector,
                ExportOptions {
                    selector: "[data-x]".into(),
                    ..ExportOptions::default()
                },
            ),
            (
                ExportOption::Prefix,
                ExportOptions {
                    prefix: Some("pf".into()),
                    ..ExportOptions::default()
                },
            ),
            (
                ExportOption::NameCase,
                ExportOptions {
                    // Not constant: android lowercases it back to its default, snake.
                    name_case: Some(NameCase::Pascal),
                    ..ExportOptions::default()
                },
            ),
            (
                ExportOption::OutputReferences,
                ExportOptions {
                    output_references: true,
                    ..ExportOptions::default()
                },
            ),
            (
                ExportOption::Color,
                ExportOptions {
                    color: ColorFormat::Oklch,
                    ..ExportOptions::default()
                },
            ),
        ];
        for format in Format::ALL {
            let plain = export(&tree, format, &ExportOptions::default());
            for (option, options) in &changes {
                let changed = export(&tree, format, options) != plain;
                assert_eq!(changed, format.reads(*option), "{format} {option:?}");
            }
        }
    }

    #[test]
    fn default_options() {
        let o = ExportOptions::default();
        assert_eq!(o.selector, ":root");
        assert_eq!(o.prefix, None);
    }
}
