//! Export formats for a resolved token set.

mod css;
mod json;

use std::fmt;
use std::str::FromStr;

use crate::Resolved;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CSS custom properties in one rule.
    Css,
    /// Nested JSON object of resolved values.
    Json,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Css, Format::Json];

    /// The name used in APIs and `FromStr`, identical to the serde representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Css => "css",
            Format::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Css => "text/css; charset=utf-8",
            Format::Json => "application/json",
        }
    }

    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Css => "css",
            Format::Json => "json",
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

#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// CSS selector of the rule holding the custom properties. Emitted verbatim, so callers must
    /// not pass untrusted input here.
    pub selector: String,
    /// Prepended to every CSS custom property name, e.g. `tk` gives `--tk-color-brand`.
    pub prefix: Option<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            selector: ":root".to_owned(),
            prefix: None,
        }
    }
}

/// Renders `resolved` in `format`. Deterministic: the same input always gives the same bytes.
/// JSON ignores `options`.
pub fn export(resolved: &Resolved, format: Format, options: &ExportOptions) -> String {
    match format {
        Format::Css => css::render(resolved, options),
        Format::Json => json::render(resolved),
    }
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
            assert_eq!(f.extension(), f.as_str());
            assert_eq!(f.to_string(), f.as_str());
        }
        assert_eq!(Format::Css.content_type(), "text/css; charset=utf-8");
        assert_eq!(Format::Json.content_type(), "application/json");
    }

    #[test]
    fn unknown_format_lists_supported() {
        let err = "scss".parse::<Format>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown export format "scss"; supported formats are css, json"#
        );
    }

    #[test]
    fn default_options() {
        let o = ExportOptions::default();
        assert_eq!(o.selector, ":root");
        assert_eq!(o.prefix, None);
    }
}
