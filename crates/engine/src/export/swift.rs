//! Swift constants for iOS (SwiftUI): colours as `Color(.sRGB …)` or `Color(.displayP3 …)`,
//! dimensions as `CGFloat` points (1px = 1pt, rem × base), durations as `TimeInterval`
//! seconds, composites as small structs declared at the end of the file.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::native::{Native, ShadowLayer, comment, escape, native};
use super::{ExportOptions, Format, code_number as n, declaration_order, referenced, token_name};
use crate::Resolved;
use crate::color::{Color, ColorSpace};
use crate::value::alias_target;

fn color(c: &Color) -> String {
    let (space, label) = if c.is_wide_gamut() {
        (ColorSpace::DisplayP3, ".displayP3")
    } else {
        (ColorSpace::Srgb, ".sRGB")
    };
    let [r, g, b] = c.to_gamut(space).components;
    format!(
        "Color({label}, red: {}, green: {}, blue: {}, opacity: {})",
        n(r),
        n(g),
        n(b),
        n(c.alpha.clamp(0.0, 1.0))
    )
}

fn weight(w: f64) -> &'static str {
    match (w / 100.0).round() as i64 {
        ..=1 => ".ultraLight",
        2 => ".thin",
        3 => ".light",
        4 => ".regular",
        5 => ".medium",
        6 => ".semibold",
        7 => ".bold",
        8 => ".heavy",
        _ => ".black",
    }
}

fn bezier(b: &[f64; 4]) -> String {
    format!("[{}, {}, {}, {}]", n(b[0]), n(b[1]), n(b[2]), n(b[3]))
}

fn shadow(l: &ShadowLayer) -> String {
    format!(
        "TokenShadow(color: {}, x: {}, y: {}, blur: {}, spread: {}, inset: {})",
        color(&l.color),
        n(l.x),
        n(l.y),
        n(l.blur),
        n(l.spread),
        l.inset
    )
}

/// `(type annotation, expression, struct used)`.
fn expression(v: &Native) -> (&'static str, String, Option<&'static str>) {
    match v {
        Native::Color(c) => ("", color(c), None),
        Native::Px(px) => (": CGFloat", n(*px), None),
        Native::Ms(ms) => (": TimeInterval", n(ms / 1000.0), None),
        Native::Number(x) => (": Double", n(*x), None),
        Native::Weight(w) => (": Font.Weight", weight(*w).to_owned(), None),
        Native::Family(f) | Native::Keyword(f) => ("", format!("\"{}\"", escape(f, false)), None),
        Native::Bezier(b) => (": [Double]", bezier(b), None),
        Native::Dashes(d) => (
            ": [CGFloat]",
            format!(
                "[{}]",
                d.iter().map(|x| n(*x)).collect::<Vec<_>>().join(", ")
            ),
            None,
        ),
        Native::Border {
            color: c,
            width,
            style,
        } => (
            "",
            format!(
                "TokenBorder(color: {}, width: {}, style: \"{}\")",
                color(c),
                n(*width),
                escape(style, false)
            ),
            Some("TokenBorder"),
        ),
        Native::Transition {
            duration,
            delay,
            bezier: b,
        } => (
            "",
            format!(
                "TokenTransition(duration: {}, delay: {}, timingFunction: {})",
                n(duration / 1000.0),
                n(delay / 1000.0),
                bezier(b)
            ),
            Some("TokenTransition"),
        ),
        Native::Shadow(layers) if layers.len() == 1 => {
            ("", shadow(&layers[0]), Some("TokenShadow"))
        }
        Native::Shadow(layers) => (
            ": [TokenShadow]",
            format!(
                "[{}]",
                layers.iter().map(shadow).collect::<Vec<_>>().join(", ")
            ),
            Some("TokenShadow"),
        ),
        Native::Gradient(stops) => (
            "",
            format!(
                "Gradient(stops: [{}])",
                stops
                    .iter()
                    .map(|(c, p)| format!(
                        "Gradient.Stop(color: {}, location: {})",
                        color(c),
                        n(*p)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ),
        Native::Typography {
            family,
            size,
            weight: w,
            letter_spacing,
            line_height,
        } => (
            "",
            format!(
                "TokenTypography(fontFamily: \"{}\", fontSize: {}, fontWeight: {}, letterSpacing: {}, lineHeight: {})",
                escape(family, false),
                n(*size),
                weight(*w),
                n(*letter_spacing),
                n(*line_height)
            ),
            Some("TokenTypography"),
        ),
    }
}

const STRUCTS: [(&str, &str); 4] = [
    (
        "TokenBorder",
        "public struct TokenBorder: Sendable {\n    public let color: Color\n    public let width: CGFloat\n    public let style: String\n}\n",
    ),
    (
        "TokenShadow",
        "public struct TokenShadow: Sendable {\n    public let color: Color\n    public let x: CGFloat\n    public let y: CGFloat\n    public let blur: CGFloat\n    public let spread: CGFloat\n    public let inset: Bool\n}\n",
    ),
    (
        "TokenTransition",
        "public struct TokenTransition: Sendable {\n    public let duration: TimeInterval\n    public let delay: TimeInterval\n    public let timingFunction: [Double]\n}\n",
    ),
    (
        "TokenTypography",
        "public struct TokenTypography: Sendable {\n    public let fontFamily: String\n    public let fontSize: CGFloat\n    public let fontWeight: Font.Weight\n    public let letterSpacing: CGFloat\n    public let lineHeight: Double\n}\n",
    ),
];

pub(super) fn render(resolved: &Resolved, options: &ExportOptions) -> String {
    let module = options.module_name.as_deref().unwrap_or("Tokens");
    let mut out = String::with_capacity(128 + resolved.tokens.len() * 80);
    let _ = write!(
        out,
        "// Generated by tinct from design tokens. Do not edit.\n\nimport SwiftUI\n\npublic enum {} {{\n",
        super::names::identifier(
            module,
            None,
            super::NameCase::Pascal,
            super::names::SWIFT_RESERVED
        )
    );
    let mut used = BTreeSet::new();
    for path in declaration_order(resolved, options) {
        let Some(token) = resolved.tokens.get(path) else {
            continue;
        };
        if let Some(d) = &token.description {
            let _ = writeln!(out, "    /// {}", comment(d));
        }
        match &token.deprecated {
            Some(serde_json::Value::String(reason)) => {
                let _ = writeln!(
                    out,
                    "    @available(*, deprecated, message: \"{}\")",
                    escape(reason, false)
                );
            }
            Some(_) => out.push_str("    @available(*, deprecated)\n"),
            None => {}
        }
        let name = token_name(path, Format::Swift, options);
        let target = referenced(token, options)
            .and_then(alias_target)
            .filter(|t| resolved.tokens.contains_key(*t));
        if let Some(target) = target {
            let _ = writeln!(
                out,
                "    public static let {name} = {}",
                token_name(target, Format::Swift, options)
            );
            continue;
        }
        match native(token.token_type, &token.value, options) {
            Some(v) => {
                let (annotation, expr, used_struct) = expression(&v);
                used.extend(used_struct);
                let _ = writeln!(out, "    public static let {name}{annotation} = {expr}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "    // {}: this {} value has no Swift form",
                    comment(path),
                    token.token_type
                );
            }
        }
    }
    out.push_str("}\n");
    for (name, def) in STRUCTS {
        if used.contains(name) {
            out.push('\n');
            out.push_str(def);
        }
    }
    out
}
