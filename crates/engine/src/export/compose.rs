//! Jetpack Compose (Kotlin) constants: `Color(0xAARRGGBB)` (Display P3 colours through
//! `ColorSpaces.DisplayP3`), `Dp` dimensions, millisecond `Int` durations, `CubicBezierEasing`,
//! `TextStyle`, `Brush.linearGradient`, and small data classes for the other composites.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::native::{Native, ShadowLayer, comment, escape, native};
use super::{ExportOptions, Format, code_number, declaration_order, referenced, token_name};
use crate::Resolved;
use crate::color::{Color, ColorSpace};
use crate::value::alias_target;

fn f(v: f64) -> String {
    format!("{}f", code_number(v))
}

fn color(c: &Color) -> String {
    if c.is_wide_gamut() {
        let [r, g, b] = c.to_gamut(ColorSpace::DisplayP3).components;
        return format!(
            "Color(red = {}, green = {}, blue = {}, alpha = {}, colorSpace = ColorSpaces.DisplayP3)",
            f(r),
            f(g),
            f(b),
            f(c.alpha.clamp(0.0, 1.0))
        );
    }
    let hex = c.to_hex();
    let alpha = if hex.len() == 9 { &hex[7..9] } else { "ff" };
    format!(
        "Color(0x{}{})",
        alpha.to_uppercase(),
        hex[1..7].to_uppercase()
    )
}

fn dp(v: f64) -> String {
    format!("{}.dp", code_number(v))
}

fn sp(v: f64) -> String {
    format!("{}.sp", code_number(v))
}

fn easing(b: &[f64; 4]) -> String {
    format!(
        "CubicBezierEasing({}, {}, {}, {})",
        f(b[0]),
        f(b[1]),
        f(b[2]),
        f(b[3])
    )
}

fn shadow(l: &ShadowLayer) -> String {
    format!(
        "TokenShadow(color = {}, offsetX = {}, offsetY = {}, blur = {}, spread = {}, inset = {})",
        color(&l.color),
        dp(l.x),
        dp(l.y),
        dp(l.blur),
        dp(l.spread),
        l.inset
    )
}

/// `(expression, imports, data class used)`.
fn expression(v: &Native) -> (String, &'static [&'static str], Option<&'static str>) {
    const COLOR: &[&str] = &["androidx.compose.ui.graphics.Color"];
    const COLOR_P3: &[&str] = &[
        "androidx.compose.ui.graphics.Color",
        "androidx.compose.ui.graphics.colorspace.ColorSpaces",
    ];
    const DP: &[&str] = &["androidx.compose.ui.unit.dp"];
    let color_imports = |c: &Color| if c.is_wide_gamut() { COLOR_P3 } else { COLOR };
    match v {
        Native::Color(c) => (color(c), color_imports(c), None),
        Native::Px(px) => (dp(*px), DP, None),
        Native::Ms(ms) => (format!("{}", ms.round() as i64), &[], None),
        Native::Number(x) => (f(*x), &[], None),
        Native::Weight(w) => (
            format!("FontWeight({})", w.round() as i64),
            &["androidx.compose.ui.text.font.FontWeight"],
            None,
        ),
        Native::Family(s) | Native::Keyword(s) => (format!("\"{}\"", escape(s, true)), &[], None),
        Native::Bezier(b) => (
            easing(b),
            &["androidx.compose.animation.core.CubicBezierEasing"],
            None,
        ),
        Native::Dashes(d) => (
            format!(
                "floatArrayOf({})",
                d.iter().map(|x| f(*x)).collect::<Vec<_>>().join(", ")
            ),
            &[],
            None,
        ),
        Native::Border {
            color: c,
            width,
            style,
        } => (
            format!(
                "TokenBorder(width = {}, color = {}, style = \"{}\")",
                dp(*width),
                color(c),
                escape(style, true)
            ),
            &[
                "androidx.compose.ui.graphics.Color",
                "androidx.compose.ui.graphics.colorspace.ColorSpaces",
                "androidx.compose.ui.unit.Dp",
                "androidx.compose.ui.unit.dp",
            ],
            Some("TokenBorder"),
        ),
        Native::Transition {
            duration,
            delay,
            bezier,
        } => (
            format!(
                "TokenTransition(durationMillis = {}, delayMillis = {}, easing = {})",
                duration.round() as i64,
                delay.round() as i64,
                easing(bezier)
            ),
            &["androidx.compose.animation.core.CubicBezierEasing"],
            Some("TokenTransition"),
        ),
        Native::Shadow(layers) if layers.len() == 1 => (
            shadow(&layers[0]),
            &[
                "androidx.compose.ui.graphics.Color",
                "androidx.compose.ui.graphics.colorspace.ColorSpaces",
                "androidx.compose.ui.unit.Dp",
                "androidx.compose.ui.unit.dp",
            ],
            Some("TokenShadow"),
        ),
        Native::Shadow(layers) => (
            format!(
                "listOf({})",
                layers.iter().map(shadow).collect::<Vec<_>>().join(", ")
            ),
            &[
                "androidx.compose.ui.graphics.Color",
                "androidx.compose.ui.graphics.colorspace.ColorSpaces",
                "androidx.compose.ui.unit.Dp",
                "androidx.compose.ui.unit.dp",
            ],
            Some("TokenShadow"),
        ),
        Native::Gradient(stops) => (
            format!(
                "Brush.linearGradient({})",
                stops
                    .iter()
                    .map(|(c, p)| format!("{} to {}", f(*p), color(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &[
                "androidx.compose.ui.graphics.Brush",
                "androidx.compose.ui.graphics.Color",
                "androidx.compose.ui.graphics.colorspace.ColorSpaces",
            ],
            None,
        ),
        Native::Typography {
            family,
            size,
            weight,
            letter_spacing,
            line_height,
        } => (
            format!(
                "TextStyle(fontSize = {}, fontWeight = FontWeight({}), letterSpacing = {}, lineHeight = {}.em) // fontFamily: \"{}\"",
                sp(*size),
                weight.round() as i64,
                sp(*letter_spacing),
                code_number(*line_height),
                escape(family, true)
            ),
            &[
                "androidx.compose.ui.text.TextStyle",
                "androidx.compose.ui.text.font.FontWeight",
                "androidx.compose.ui.unit.em",
                "androidx.compose.ui.unit.sp",
            ],
            None,
        ),
    }
}

const CLASSES: [(&str, &str); 3] = [
    (
        "TokenBorder",
        "data class TokenBorder(val width: Dp, val color: Color, val style: String)\n",
    ),
    (
        "TokenShadow",
        "data class TokenShadow(\n    val color: Color,\n    val offsetX: Dp,\n    val offsetY: Dp,\n    val blur: Dp,\n    val spread: Dp,\n    val inset: Boolean,\n)\n",
    ),
    (
        "TokenTransition",
        "data class TokenTransition(val durationMillis: Int, val delayMillis: Int, val easing: CubicBezierEasing)\n",
    ),
];

pub(super) fn render(resolved: &Resolved, options: &ExportOptions) -> String {
    let package = options.package.as_deref().unwrap_or("tokens");
    let module = options.module_name.as_deref().unwrap_or("Tokens");
    let mut body = String::with_capacity(128 + resolved.tokens.len() * 64);
    let mut imports: BTreeSet<&str> = BTreeSet::new();
    let mut used = BTreeSet::new();
    for path in declaration_order(resolved, options) {
        let Some(token) = resolved.tokens.get(path) else {
            continue;
        };
        if let Some(d) = &token.description {
            let _ = writeln!(body, "    /** {} */", comment(d));
        }
        match &token.deprecated {
            Some(serde_json::Value::String(reason)) => {
                let _ = writeln!(body, "    @Deprecated(\"{}\")", escape(reason, true));
            }
            Some(_) => body.push_str("    @Deprecated(\"deprecated design token\")\n"),
            None => {}
        }
        let name = token_name(path, Format::Compose, options);
        let target = referenced(token, options)
            .and_then(alias_target)
            .filter(|t| resolved.tokens.contains_key(*t));
        if let Some(target) = target {
            let _ = writeln!(
                body,
                "    val {name} = {}",
                token_name(target, Format::Compose, options)
            );
            continue;
        }
        match native(token.token_type, &token.value, options) {
            Some(v) => {
                let (expr, needs, class) = expression(&v);
                imports.extend(needs.iter().copied());
                used.extend(class);
                let _ = writeln!(body, "    val {name} = {expr}");
            }
            None => {
                let _ = writeln!(
                    body,
                    "    // {}: this {} value has no Compose form",
                    comment(path),
                    token.token_type
                );
            }
        }
    }
    let mut out = String::with_capacity(body.len() + 512);
    out.push_str("// Generated by tinct from design tokens. Do not edit.\n");
    let package: Vec<String> = package
        .split('.')
        .map(|p| {
            super::names::identifier(
                p,
                None,
                super::NameCase::Snake,
                super::names::KOTLIN_RESERVED,
            )
        })
        .collect();
    let _ = writeln!(out, "package {}\n", package.join("."));
    for import in &imports {
        let _ = writeln!(out, "import {import}");
    }
    if !imports.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "object {} {{",
        super::names::identifier(
            module,
            None,
            super::NameCase::Pascal,
            super::names::KOTLIN_RESERVED
        )
    );
    out.push_str(&body);
    out.push_str("}\n");
    for (name, def) in CLASSES {
        if used.contains(name) {
            out.push('\n');
            out.push_str(def);
        }
    }
    out
}
