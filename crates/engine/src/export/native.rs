//! Token values read into the shapes native platforms need: colours as components, dimensions
//! in pixels (points / dp), durations in milliseconds. Shared by swift, compose and android.

use serde_json::Value;

use super::{ExportOptions, pixels};
use crate::TokenType;
use crate::color::Color;
use crate::value::font_weight_keyword;

pub(super) struct ShadowLayer {
    pub color: Color,
    pub x: f64,
    pub y: f64,
    pub blur: f64,
    pub spread: f64,
    pub inset: bool,
}

pub(super) enum Native {
    Color(Color),
    Px(f64),
    Ms(f64),
    Number(f64),
    Weight(f64),
    Family(String),
    Bezier([f64; 4]),
    Keyword(String),
    Dashes(Vec<f64>),
    Border {
        color: Color,
        width: f64,
        style: String,
    },
    Transition {
        duration: f64,
        delay: f64,
        bezier: [f64; 4],
    },
    Shadow(Vec<ShadowLayer>),
    Gradient(Vec<(Color, f64)>),
    Typography {
        family: String,
        size: f64,
        weight: f64,
        letter_spacing: f64,
        line_height: f64,
    },
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|f| f.is_finite())
}

fn weight(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => font_weight_keyword(s).map(f64::from),
        other => number(other),
    }
}

fn family(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(
            s.split(',')
                .next()
                .unwrap_or(s)
                .trim()
                .trim_matches(['"', '\''])
                .to_owned(),
        ),
        Value::Array(names) => names.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn bezier(v: &Value) -> Option<[f64; 4]> {
    let p = v.as_array().filter(|p| p.len() == 4)?;
    Some([
        number(&p[0])?,
        number(&p[1])?,
        number(&p[2])?,
        number(&p[3])?,
    ])
}

fn stroke(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => Some("dashed".to_owned()),
        _ => None,
    }
}

fn shadow_layer(v: &Value, o: &ExportOptions) -> Option<ShadowLayer> {
    let f = v.as_object()?;
    Some(ShadowLayer {
        color: Color::parse(f.get("color")?)?,
        x: pixels(f.get("offsetX")?, o)?,
        y: pixels(f.get("offsetY")?, o)?,
        blur: pixels(f.get("blur")?, o)?,
        spread: pixels(f.get("spread")?, o)?,
        inset: f.get("inset") == Some(&Value::Bool(true)),
    })
}

/// The native shape of a resolved value, or `None` when it does not have its type's shape.
pub(super) fn native(ty: TokenType, v: &Value, o: &ExportOptions) -> Option<Native> {
    Some(match ty {
        TokenType::Color => Native::Color(Color::parse(v)?),
        TokenType::Dimension => Native::Px(pixels(v, o)?),
        TokenType::Duration => Native::Ms(pixels(v, o)?),
        TokenType::Number => Native::Number(number(v)?),
        TokenType::FontWeight => Native::Weight(weight(v)?),
        TokenType::FontFamily => Native::Family(family(v)?),
        TokenType::CubicBezier => Native::Bezier(bezier(v)?),
        TokenType::StrokeStyle => match v {
            Value::Object(f) => {
                let dashes = f.get("dashArray")?.as_array()?;
                Native::Dashes(
                    dashes
                        .iter()
                        .map(|d| pixels(d, o))
                        .collect::<Option<Vec<_>>>()?,
                )
            }
            other => Native::Keyword(stroke(other)?),
        },
        TokenType::Border => {
            let f = v.as_object()?;
            Native::Border {
                color: Color::parse(f.get("color")?)?,
                width: pixels(f.get("width")?, o)?,
                style: stroke(f.get("style")?)?,
            }
        }
        TokenType::Transition => {
            let f = v.as_object()?;
            Native::Transition {
                duration: pixels(f.get("duration")?, o)?,
                delay: pixels(f.get("delay")?, o)?,
                bezier: bezier(f.get("timingFunction")?)?,
            }
        }
        TokenType::Shadow => match v {
            Value::Array(layers) => Native::Shadow(
                layers
                    .iter()
                    .map(|l| shadow_layer(l, o))
                    .collect::<Option<Vec<_>>>()?,
            ),
            other => Native::Shadow(vec![shadow_layer(other, o)?]),
        },
        TokenType::Gradient => Native::Gradient(
            v.as_array()?
                .iter()
                .map(|stop| {
                    let f = stop.as_object()?;
                    Some((Color::parse(f.get("color")?)?, number(f.get("position")?)?))
                })
                .collect::<Option<Vec<_>>>()?,
        ),
        TokenType::Typography => {
            let f = v.as_object()?;
            Native::Typography {
                family: family(f.get("fontFamily")?)?,
                size: pixels(f.get("fontSize")?, o)?,
                weight: weight(f.get("fontWeight")?)?,
                letter_spacing: pixels(f.get("letterSpacing")?, o)?,
                line_height: number(f.get("lineHeight")?)?,
            }
        }
    })
}

/// A string literal body for Swift or Kotlin: quotes, backslashes, control characters (and
/// Kotlin's `$`) escaped.
pub(super) fn escape(s: &str, kotlin: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if kotlin => out.push_str("\\$"),
            c if c.is_control() && kotlin => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// A comment's text on one line, unable to close the comment.
pub(super) fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace("*/", "* /")
}
