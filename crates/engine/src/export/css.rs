//! CSS custom properties: `selector { --name: value; … }`.
//!
//! Every name and value is escaped so that no token can end the declaration or the rule early,
//! whatever the input (resolve does not validate values).

use std::fmt::Write;

use serde_json::{Map, Number, Value};

use super::{Theme, names};
use crate::color::{Color, ColorFormat};
use crate::value::{alias_in, font_weight_keyword};
use crate::{ExportOptions, Resolved, ResolvedToken, TokenType};

/// How values are written: colour format, and how a reference to another token is spelled when
/// `outputReferences` keeps references (`var(--x)`, `$x`, `@x`).
pub(super) struct Style<'a> {
    pub color: ColorFormat,
    pub reference: Option<&'a Reference<'a>>,
}

/// Writes the reference to the token at a path.
pub(super) type Reference<'a> = dyn Fn(&mut String, &str) + 'a;

impl Style<'_> {
    pub(super) fn plain(color: ColorFormat) -> Style<'static> {
        Style {
            color,
            reference: None,
        }
    }
}

/// Colour spaces CSS writes as their own function (`oklch(…)`) rather than inside `color(…)`.
const FUNCTIONAL_SPACES: [&str; 6] = ["hsl", "hwb", "lab", "lch", "oklab", "oklch"];

pub(super) fn render(resolved: &Resolved, options: &ExportOptions) -> String {
    render_themes(resolved, &[], options)
}

/// `options.selector` with every token, then one block per theme holding only the tokens whose
/// value (or, with references kept, whose written form) differs from the base.
pub(super) fn render_themes(
    base: &Resolved,
    themes: &[Theme<'_>],
    options: &ExportOptions,
) -> String {
    let mut out = String::with_capacity(64 + base.tokens.len() * 48);
    block(&mut out, &options.selector, base.tokens.iter(), options);
    for theme in themes {
        let changed = theme.resolved.tokens.iter().filter(|(path, token)| {
            base.tokens.get(*path).is_none_or(|b| {
                b.value != token.value
                    || b.original != token.original
                    || b.token_type != token.token_type
            })
        });
        out.push('\n');
        block(&mut out, theme.selector, changed, options);
    }
    out
}

fn block<'a>(
    out: &mut String,
    selector: &str,
    tokens: impl Iterator<Item = (&'a String, &'a ResolvedToken)>,
    options: &ExportOptions,
) {
    out.push_str(selector);
    out.push_str(" {\n");
    let reference = |out: &mut String, path: &str| {
        out.push_str("var(--");
        property(out, path, options);
        out.push(')');
    };
    let refs = Style {
        color: options.color,
        reference: Some(&reference),
    };
    let plain = Style::plain(options.color);
    for (path, token) in tokens {
        out.push_str("  --");
        property(out, path, options);
        out.push_str(": ");
        match super::referenced(token, options) {
            Some(original) => value(out, token.token_type, original, &refs),
            None => value(out, token.token_type, &token.value, &plain),
        }
        out.push_str(";\n");
    }
    out.push_str("}\n");
}

/// The custom property / variable name of `path` (without `--`, `$` or `@`), escaped.
pub(super) fn property(out: &mut String, path: &str, options: &ExportOptions) {
    let prefix = options.prefix.as_deref().filter(|p| !p.is_empty());
    match options.name_case {
        None | Some(super::NameCase::Kebab) => {
            let segments = path.split('.').filter(|s| *s != crate::ROOT_TOKEN);
            for (i, segment) in prefix.into_iter().chain(segments).enumerate() {
                if i > 0 {
                    out.push('-');
                }
                kebab(out, segment);
            }
        }
        Some(case) => {
            for c in names::name(path, prefix, case).chars() {
                ident_char(out, c);
            }
        }
    }
}

/// `fontSize` → `font-size`, spaces → `-`, `XMLHttp` → `xml-http`, `h1Size` → `h1-size`, `2XL` → `2xl`.
fn kebab(out: &mut String, segment: &str) {
    let mut chars = segment.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = chars.next() {
        if c == ' ' {
            out.push('-');
        } else if c.is_uppercase() {
            let next_lower = chars.peek().is_some_and(|n| n.is_lowercase());
            let boundary = prev.is_some_and(|p| {
                p.is_lowercase() || ((p.is_uppercase() || p.is_ascii_digit()) && next_lower)
            });
            if boundary {
                out.push('-');
            }
            for lower in c.to_lowercase() {
                ident_char(out, lower);
            }
        } else {
            ident_char(out, c);
        }
        prev = Some(c);
    }
}

/// Appends `c` to an identifier, escaped unless CSS allows it there as is.
fn ident_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii() {
        out.push(c);
    } else if c.is_ascii_graphic() {
        out.push('\\');
        out.push(c);
    } else {
        hex_escape(out, c);
    }
}

fn hex_escape(out: &mut String, c: char) {
    let _ = write!(out, "\\{:x} ", u32::from(c));
}

/// A string emitted verbatim (colours, "16px", keywords) with anything that could end the
/// declaration, open a string or start a comment escaped.
fn raw(out: &mut String, s: &str) {
    let mut prev = '\0';
    for c in s.chars() {
        match c {
            ';' | '{' | '}' | '"' | '\'' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '*' if prev == '/' => out.push_str("\\*"),
            c if c.is_control() => hex_escape(out, c),
            c => out.push(c),
        }
        prev = c;
    }
}

/// A quoted CSS string.
fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => hex_escape(out, c),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        float(out, f);
    }
}

/// Integers without a trailing `.0`, and never exponent notation (CSS rejects it in places).
fn float(out: &mut String, f: f64) {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        let _ = write!(out, "{}", f as i64);
    } else {
        let _ = write!(out, "{f}");
    }
}

pub(super) fn value(out: &mut String, ty: TokenType, v: &Value, style: &Style<'_>) {
    if let (Some(reference), Value::String(s)) = (style.reference, v)
        && let Some(target) = alias_in(s)
    {
        reference(out, target);
        return;
    }
    match (ty, v) {
        (TokenType::FontFamily, _) => font_family(out, v),
        (TokenType::FontWeight, Value::String(s)) => match font_weight_keyword(s) {
            Some(weight) => {
                let _ = write!(out, "{weight}");
            }
            None => raw(out, s),
        },
        (TokenType::Color, _) if style.color != ColorFormat::Auto && Color::parse(v).is_some() => {
            if let Some(c) = Color::parse(v) {
                raw(out, &c.to_css(style.color));
            }
        }
        (_, Value::String(s)) => raw(out, s),
        (TokenType::Color, Value::Object(o)) => color(out, o),
        (TokenType::Dimension | TokenType::Duration, Value::Object(o)) => {
            if let Some(amount) = o.get("value") {
                generic(out, amount);
            }
            if let Some(Value::String(unit)) = o.get("unit") {
                raw(out, unit);
            }
        }
        (TokenType::CubicBezier, Value::Array(points)) => {
            out.push_str("cubic-bezier(");
            for (i, p) in points.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                generic(out, p);
            }
            out.push(')');
        }
        (TokenType::StrokeStyle, Value::Object(_)) => out.push_str("dashed"),
        (TokenType::Border, Value::Object(o)) => fields(
            out,
            o,
            &[
                ("width", TokenType::Dimension),
                ("style", TokenType::StrokeStyle),
                ("color", TokenType::Color),
            ],
            style,
        ),
        (TokenType::Transition, Value::Object(o)) => fields(
            out,
            o,
            &[
                ("duration", TokenType::Duration),
                ("timingFunction", TokenType::CubicBezier),
                ("delay", TokenType::Duration),
            ],
            style,
        ),
        (TokenType::Shadow, Value::Object(o)) => {
            if o.get("inset") == Some(&Value::Bool(true)) {
                out.push_str("inset ");
            }
            fields(
                out,
                o,
                &[
                    ("offsetX", TokenType::Dimension),
                    ("offsetY", TokenType::Dimension),
                    ("blur", TokenType::Dimension),
                    ("spread", TokenType::Dimension),
                    ("color", TokenType::Color),
                ],
                style,
            );
        }
        (TokenType::Shadow, Value::Array(layers)) => {
            for (i, layer) in layers.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                value(out, TokenType::Shadow, layer, style);
            }
        }
        (TokenType::Gradient, Value::Array(stops)) => gradient(out, stops, style),
        (TokenType::Typography, Value::Object(o)) => typography(out, o, style),
        _ => generic(out, v),
    }
}

/// The present fields of a composite, space-separated, each rendered as its own type.
fn fields(out: &mut String, o: &Map<String, Value>, spec: &[(&str, TokenType)], style: &Style<'_>) {
    let mut first = true;
    for (key, ty) in spec {
        if let Some(v) = o.get(*key) {
            if !first {
                out.push(' ');
            }
            first = false;
            value(out, *ty, v, style);
        }
    }
}

/// Any JSON value when the shape does not match the token type.
fn generic(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("initial"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(out, n),
        Value::String(s) => raw(out, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                generic(out, item);
            }
        }
        Value::Object(_) => quoted(out, &v.to_string()),
    }
}

fn color(out: &mut String, o: &Map<String, Value>) {
    let alpha = o.get("alpha").and_then(Value::as_f64).filter(|&a| a != 1.0);
    if let Some(Value::String(hex)) = o.get("hex") {
        raw(out, hex);
        // "#rrggbb" carries no alpha; append it so a translucent colour stays translucent.
        if let Some(a) = alpha
            && hex.len() == 7
        {
            let _ = write!(out, "{:02x}", (a.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
        return;
    }
    let space = o
        .get("colorSpace")
        .and_then(Value::as_str)
        .unwrap_or("srgb");
    if FUNCTIONAL_SPACES.contains(&space) {
        raw(out, space);
        out.push('(');
    } else {
        out.push_str("color(");
        raw(out, space);
        out.push(' ');
    }
    if let Some(components) = o.get("components") {
        generic(out, components);
    }
    if let Some(a) = alpha {
        out.push_str(" / ");
        float(out, a);
    }
    out.push(')');
}

fn font_family(out: &mut String, v: &Value) {
    match v {
        // A single string with commas is already a CSS font stack.
        Value::String(s) if s.contains(',') => raw(out, s),
        Value::String(s) => family_name(out, s),
        Value::Array(names) => {
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match name {
                    Value::String(s) => family_name(out, s),
                    other => generic(out, other),
                }
            }
        }
        other => generic(out, other),
    }
}

/// A family name, quoted unless it is a plain identifier like `Inter` or `sans-serif`.
fn family_name(out: &mut String, name: &str) {
    let plain = name.chars().next().is_some_and(|c| !c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii());
    if plain {
        out.push_str(name);
    } else {
        quoted(out, name);
    }
}

fn gradient(out: &mut String, stops: &[Value], style: &Style<'_>) {
    out.push_str("linear-gradient(90deg");
    for stop in stops {
        out.push_str(", ");
        let Value::Object(o) = stop else {
            generic(out, stop);
            continue;
        };
        if let Some(c) = o.get("color") {
            value(out, TokenType::Color, c, style);
        }
        if let Some(position) = o.get("position").and_then(Value::as_f64) {
            out.push(' ');
            // Round away float noise such as 0.07 * 100 = 7.000000000000001.
            float(out, (position * 100.0 * 1e6).round() / 1e6);
            out.push('%');
        }
    }
    out.push(')');
}

/// The `font` shorthand: `weight size/lineHeight family` (letterSpacing has no place in it).
fn typography(out: &mut String, o: &Map<String, Value>, style: &Style<'_>) {
    let mut first = true;
    let mut separate = |out: &mut String| {
        if !first {
            out.push(' ');
        }
        first = false;
    };
    if let Some(weight) = o.get("fontWeight") {
        separate(out);
        value(out, TokenType::FontWeight, weight, style);
    }
    if let Some(size) = o.get("fontSize") {
        separate(out);
        value(out, TokenType::Dimension, size, style);
        if let Some(line_height) = o.get("lineHeight") {
            out.push('/');
            value(out, TokenType::Number, line_height, style);
        }
    }
    if let Some(family) = o.get("fontFamily") {
        separate(out);
        value(out, TokenType::FontFamily, family, style);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn css(ty: TokenType, v: Value) -> String {
        let mut out = String::new();
        value(&mut out, ty, &v, &Style::plain(ColorFormat::Auto));
        out
    }

    fn name(segment: &str) -> String {
        let mut out = String::new();
        kebab(&mut out, segment);
        out
    }

    #[test]
    fn camel_case_to_kebab() {
        for (from, to) in [
            ("fontSize", "font-size"),
            ("backgroundColor", "background-color"),
            ("XMLHttpRequest", "xml-http-request"),
            ("h1Size", "h1-size"),
            ("2XL", "2xl"),
            ("already-kebab_case", "already-kebab_case"),
            ("Primary", "primary"),
            ("thème", "thème"),
        ] {
            assert_eq!(name(from), to, "{from}");
        }
    }

    #[test]
    fn names_escape_what_css_identifiers_cannot_hold() {
        assert_eq!(name("50%"), "50\\%");
        assert_eq!(name("a;b:c"), "a\\;b\\:c");
        assert_eq!(name("a b\n"), "a-b\\a ");
    }

    #[test]
    fn strings_cannot_break_out_of_the_declaration() {
        assert_eq!(
            css(TokenType::Color, json!("red; } body { x: \"y' /* \\")),
            "red\\; \\} body \\{ x: \\\"y\\' /\\* \\\\"
        );
        assert_eq!(css(TokenType::Color, json!("a\nb")), "a\\a b");
        assert_eq!(
            css(TokenType::FontFamily, json!(["Evil\"; x", "ok"])),
            "\"Evil\\\"; x\", ok"
        );
    }

    #[test]
    fn numbers_without_trailing_zero() {
        assert_eq!(css(TokenType::Number, json!(1.0)), "1");
        assert_eq!(css(TokenType::Number, json!(-0.0)), "0");
        assert_eq!(css(TokenType::Number, json!(1.25)), "1.25");
        assert_eq!(
            css(TokenType::Number, json!(u64::MAX)),
            "18446744073709551615"
        );
        assert_eq!(
            css(TokenType::Number, json!(1e21)),
            "1000000000000000000000"
        );
        assert_eq!(css(TokenType::Number, json!(1e-7)), "0.0000001");
    }

    #[test]
    fn colours() {
        assert_eq!(css(TokenType::Color, json!("#6d28d9")), "#6d28d9");
        assert_eq!(
            css(
                TokenType::Color,
                json!({"colorSpace": "srgb", "components": [1, 0.5, 0], "alpha": 1})
            ),
            "color(srgb 1 0.5 0)"
        );
        assert_eq!(
            css(
                TokenType::Color,
                json!({"colorSpace": "oklch", "components": [0.5, 0.2, "none"], "alpha": 0.25})
            ),
            "oklch(0.5 0.2 none / 0.25)"
        );
        assert_eq!(
            css(
                TokenType::Color,
                json!({"colorSpace": "srgb", "components": [0, 0, 0], "hex": "#000000"})
            ),
            "#000000"
        );
        assert_eq!(
            css(
                TokenType::Color,
                json!({"colorSpace": "srgb", "components": [0, 0, 0], "hex": "#000000", "alpha": 0.5})
            ),
            "#00000080"
        );
    }

    #[test]
    fn measures_and_keywords() {
        assert_eq!(
            css(TokenType::Dimension, json!({"value": 1.5, "unit": "rem"})),
            "1.5rem"
        );
        assert_eq!(css(TokenType::Dimension, json!("16px")), "16px");
        assert_eq!(
            css(TokenType::Duration, json!({"value": 0.2, "unit": "s"})),
            "0.2s"
        );
        assert_eq!(css(TokenType::FontWeight, json!("semi-bold")), "600");
        assert_eq!(css(TokenType::FontWeight, json!(450)), "450");
        assert_eq!(css(TokenType::StrokeStyle, json!("dotted")), "dotted");
        assert_eq!(
            css(
                TokenType::StrokeStyle,
                json!({"dashArray": ["4px"], "lineCap": "round"})
            ),
            "dashed"
        );
    }

    #[test]
    fn font_families() {
        assert_eq!(css(TokenType::FontFamily, json!("Inter")), "Inter");
        assert_eq!(
            css(TokenType::FontFamily, json!("Helvetica Neue")),
            "\"Helvetica Neue\""
        );
        assert_eq!(
            css(TokenType::FontFamily, json!("Inter, sans-serif")),
            "Inter, sans-serif"
        );
        assert_eq!(
            css(
                TokenType::FontFamily,
                json!(["-apple-system", "Segoe UI", "1984"])
            ),
            "-apple-system, \"Segoe UI\", \"1984\""
        );
    }

    #[test]
    fn composites() {
        let layer = json!({"color": "#000", "offsetX": "0px", "offsetY": "1px", "blur": "2px", "spread": "0px"});
        let mut inset = layer.clone();
        inset["inset"] = json!(true);
        assert_eq!(
            css(TokenType::Shadow, json!([layer, inset])),
            "0px 1px 2px 0px #000, inset 0px 1px 2px 0px #000"
        );
        assert_eq!(
            css(
                TokenType::Transition,
                json!({"duration": "200ms", "delay": "0ms", "timingFunction": [0.4, 0, 0.2, 1]})
            ),
            "200ms cubic-bezier(0.4, 0, 0.2, 1) 0ms"
        );
        assert_eq!(
            css(
                TokenType::Gradient,
                json!([{"color": "#fff", "position": 0}, {"color": "#000", "position": 0.07}, {"color": "#111", "position": 1}])
            ),
            "linear-gradient(90deg, #fff 0%, #000 7%, #111 100%)"
        );
        assert_eq!(
            css(
                TokenType::Typography,
                json!({"fontFamily": "Inter", "fontSize": "1rem", "fontWeight": "bold", "letterSpacing": "0px", "lineHeight": 1.25})
            ),
            "700 1rem/1.25 Inter"
        );
    }

    #[test]
    fn unexpected_shapes_fall_back_safely() {
        assert_eq!(css(TokenType::Border, json!({"width": "1px"})), "1px");
        assert_eq!(css(TokenType::Number, json!(null)), "initial");
        assert_eq!(css(TokenType::Number, json!([true, 1])), "true 1");
        assert_eq!(
            css(TokenType::Dimension, json!([{"a": "};"}])),
            "\"{\\\"a\\\":\\\"};\\\"}\""
        );
    }
}
