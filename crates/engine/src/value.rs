//! Alias syntax and per-type validation of token values.
//!
//! Both DTCG 2025.10 object forms and the older draft string forms (`"16px"`, `"200ms"`, CSS colour
//! strings) are accepted, because token files in the wild still use them. An alias such as
//! `"{color.base.violet}"` is accepted for the whole value and for every composite field that has a
//! token type of its own (e.g. a shadow's `color` or `offsetX`).

use serde_json::{Map, Value};

use crate::TokenType;
use crate::color::ColorSpace;
use crate::path::{Distance, validate_path};

/// The referenced path when `value` is exactly an alias string such as `"{color.base.violet}"`.
pub fn alias_target(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => alias_in(s),
        _ => None,
    }
}

/// The JSON pointer of a DTCG 2025.10 reference object `{"$ref": "#/…"}` (nothing else beside it).
pub fn ref_pointer(value: &Value) -> Option<&str> {
    match value {
        Value::Object(o) if o.len() == 1 => o.get("$ref")?.as_str(),
        _ => None,
    }
}

/// Splits a document-local JSON pointer (`#/color/brand/$value/components/0`) into the token
/// path it names (`color.brand`) and the pointer inside that token's value (`/components/0`).
/// A pointer to the token object itself (`#/color/brand`) names its whole value.
pub fn split_ref(pointer: &str) -> Option<(String, String)> {
    let rest = pointer.strip_prefix("#/")?;
    let mut path: Vec<String> = Vec::new();
    let mut segments = rest.split('/');
    let mut inner = String::new();
    for segment in segments.by_ref() {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment == "$value" {
            break;
        }
        if segment.is_empty() || segment.contains(['.', '{', '}']) {
            return None;
        }
        path.push(segment);
    }
    for segment in segments {
        inner.push('/');
        inner.push_str(segment);
    }
    (!path.is_empty()).then(|| (path.join("."), inner))
}

/// The referenced path when `s` is exactly `{path}` with no nested braces.
pub(crate) fn alias_in(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    (!inner.is_empty() && !inner.contains(['{', '}'])).then_some(inner)
}

/// A value that breaks its type's rules: where, which rule, and an example of a valid value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid value{}: {message}; expected something like {expected}",
    at(pointer)
)]
pub struct ValueError {
    /// JSON pointer inside the value ("" for the whole value), e.g. "/offsetX".
    pub pointer: String,
    pub message: String,
    /// A short valid example for the type expected at `pointer`.
    pub expected: String,
}

fn at(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(" at {pointer:?}")
    }
}

/// Checks `value` against the rules of `ty` (see the module docs).
pub fn validate_value(ty: TokenType, value: &Value) -> Result<(), ValueError> {
    check(ty, value, "")
}

/// Colour spaces of DTCG 2025.10 colour objects.
pub(crate) const COLOR_SPACES: [&str; 14] = [
    "srgb",
    "srgb-linear",
    "hsl",
    "hwb",
    "lab",
    "lch",
    "oklab",
    "oklch",
    "display-p3",
    "a98-rgb",
    "prophoto-rgb",
    "rec2020",
    "xyz-d65",
    "xyz-d50",
];

const COLOR_FUNCTIONS: [&str; 10] = [
    "rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color",
];

const STROKE_STYLES: [&str; 8] = [
    "solid", "dashed", "dotted", "double", "groove", "ridge", "outset", "inset",
];

const LINE_CAPS: [&str; 3] = ["round", "butt", "square"];

/// The numeric weight of a DTCG font-weight keyword (CSS needs the number).
pub(crate) fn font_weight_keyword(keyword: &str) -> Option<u16> {
    Some(match keyword {
        "thin" | "hairline" => 100,
        "extra-light" | "ultra-light" => 200,
        "light" => 300,
        "normal" | "regular" | "book" => 400,
        "medium" => 500,
        "semi-bold" | "demi-bold" => 600,
        "bold" => 700,
        "extra-bold" | "ultra-bold" => 800,
        "black" | "heavy" => 900,
        "extra-black" | "ultra-black" => 950,
        _ => return None,
    })
}

const FONT_WEIGHT_KEYWORDS: &str = "thin, hairline, extra-light, ultra-light, light, normal, regular, book, medium, \
     semi-bold, demi-bold, bold, extra-bold, ultra-bold, black, heavy, extra-black, ultra-black";

fn example(ty: TokenType) -> &'static str {
    match ty {
        TokenType::Color => {
            r##""#6d28d9" or {"colorSpace": "srgb", "components": [0.43, 0.16, 0.85]}"##
        }
        TokenType::Dimension => r#"{"value": 16, "unit": "px"} or "16px""#,
        TokenType::FontFamily => r#""Inter" or ["Inter", "sans-serif"]"#,
        TokenType::FontWeight => r#"400 or "bold""#,
        TokenType::Duration => r#"{"value": 200, "unit": "ms"} or "200ms""#,
        TokenType::CubicBezier => "[0.4, 0, 0.2, 1]",
        TokenType::Number => "1.5",
        TokenType::StrokeStyle => r#""solid" or {"dashArray": ["4px", "2px"], "lineCap": "round"}"#,
        TokenType::Border => r##"{"color": "#000000", "width": "1px", "style": "solid"}"##,
        TokenType::Transition => {
            r#"{"duration": "200ms", "delay": "0ms", "timingFunction": [0.4, 0, 0.2, 1]}"#
        }
        TokenType::Shadow => {
            r##"{"color": "#00000040", "offsetX": "0px", "offsetY": "2px", "blur": "4px", "spread": "0px"}"##
        }
        TokenType::Gradient => {
            r##"[{"color": "#ffffff", "position": 0}, {"color": "#000000", "position": 1}]"##
        }
        TokenType::Typography => {
            r#"{"fontFamily": "Inter", "fontSize": "16px", "fontWeight": 400, "letterSpacing": "0px", "lineHeight": 1.5}"#
        }
    }
}

fn fail(ty: TokenType, pointer: &str, message: impl Into<String>) -> ValueError {
    ValueError {
        pointer: pointer.to_owned(),
        message: message.into(),
        expected: example(ty).to_owned(),
    }
}

/// "a string", "an object", … for messages about the wrong JSON kind.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `pointer` extended by one JSON-pointer token (with `~` and `/` escaped).
fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// Validates a value or typed composite field of type `ty`, accepting an alias in its place.
fn check(ty: TokenType, v: &Value, ptr: &str) -> Result<(), ValueError> {
    if let Value::String(s) = v
        && s.starts_with('{')
    {
        return check_alias(ty, s, ptr);
    }
    if let Value::Object(o) = v
        && o.contains_key("$ref")
    {
        return check_ref(ty, v, ptr);
    }
    match ty {
        TokenType::Color => color(v, ptr),
        TokenType::Dimension => measure(ty, v, ptr, &["px", "rem"]),
        TokenType::Duration => measure(ty, v, ptr, &["ms", "s"]),
        TokenType::FontFamily => font_family(v, ptr),
        TokenType::FontWeight => font_weight(v, ptr),
        TokenType::CubicBezier => cubic_bezier(v, ptr),
        TokenType::Number => number(ty, v, ptr),
        TokenType::StrokeStyle => stroke_style(v, ptr),
        TokenType::Border => composite(
            ty,
            v,
            ptr,
            &[
                ("color", TokenType::Color),
                ("width", TokenType::Dimension),
                ("style", TokenType::StrokeStyle),
            ],
        ),
        TokenType::Transition => composite(
            ty,
            v,
            ptr,
            &[
                ("duration", TokenType::Duration),
                ("delay", TokenType::Duration),
                ("timingFunction", TokenType::CubicBezier),
            ],
        ),
        TokenType::Shadow => shadow(v, ptr),
        TokenType::Gradient => gradient(v, ptr),
        TokenType::Typography => composite(
            ty,
            v,
            ptr,
            &[
                ("fontFamily", TokenType::FontFamily),
                ("fontSize", TokenType::Dimension),
                ("fontWeight", TokenType::FontWeight),
                ("letterSpacing", TokenType::Dimension),
                ("lineHeight", TokenType::Number),
            ],
        ),
    }
}

fn check_alias(ty: TokenType, s: &str, ptr: &str) -> Result<(), ValueError> {
    match alias_in(s) {
        Some(path) => validate_path(path).map_err(|e| {
            fail(
                ty,
                ptr,
                format!("the alias {s:?} does not name a valid token: {e}"),
            )
        }),
        None => Err(fail(
            ty,
            ptr,
            format!(
                "{s:?} starts with '{{' but is not an alias; write an alias as \"{{group.token}}\""
            ),
        )),
    }
}

fn check_ref(ty: TokenType, v: &Value, ptr: &str) -> Result<(), ValueError> {
    match ref_pointer(v) {
        Some(p) if split_ref(p).is_some() => Ok(()),
        Some(p) => Err(fail(
            ty,
            &child(ptr, "$ref"),
            format!(
                "the reference {p:?} is not a JSON pointer into this document; write it like \"#/color/brand/$value\""
            ),
        )),
        None => Err(fail(
            ty,
            ptr,
            "a reference object must hold only \"$ref\" with a JSON pointer string, like {\"$ref\": \"#/color/brand/$value\"}",
        )),
    }
}

fn object<'v>(
    ty: TokenType,
    v: &'v Value,
    ptr: &str,
) -> Result<&'v Map<String, Value>, ValueError> {
    v.as_object()
        .ok_or_else(|| fail(ty, ptr, format!("{ty} must be an object, not {}", kind(v))))
}

fn required<'v>(
    ty: TokenType,
    o: &'v Map<String, Value>,
    key: &str,
    ptr: &str,
) -> Result<&'v Value, ValueError> {
    o.get(key)
        .ok_or_else(|| fail(ty, ptr, format!("{ty} is missing {key:?}")))
}

/// Unknown fields are tolerated (tools add their own), except near-misses of a known field, which
/// are almost always typos that would otherwise silently drop an optional field.
fn reject_typos(
    ty: TokenType,
    o: &Map<String, Value>,
    known: &[&str],
    ptr: &str,
) -> Result<(), ValueError> {
    let mut distance = Distance::default();
    for key in o.keys().filter(|k| !known.contains(&k.as_str())) {
        let chars: Vec<char> = key.chars().collect();
        if let Some(near) = known
            .iter()
            .find(|k| distance.within(&chars, k, 2).is_some())
        {
            return Err(fail(
                ty,
                &child(ptr, key),
                format!("unknown field {key:?} in {ty} (did you mean {near:?}?)"),
            ));
        }
    }
    Ok(())
}

/// An object whose fields are all required and each has a token type.
fn composite(
    ty: TokenType,
    v: &Value,
    ptr: &str,
    fields: &[(&str, TokenType)],
) -> Result<(), ValueError> {
    let o = object(ty, v, ptr)?;
    for &(key, field_ty) in fields {
        check(field_ty, required(ty, o, key, ptr)?, &child(ptr, key))?;
    }
    let known: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    reject_typos(ty, o, &known, ptr)
}

fn color(v: &Value, ptr: &str) -> Result<(), ValueError> {
    let ty = TokenType::Color;
    match v {
        Value::String(s) if is_hex_color(s) || is_color_function(s) => Ok(()),
        Value::String(s) if s.starts_with('#') => Err(fail(
            ty,
            ptr,
            format!("the hex colour {s:?} must be '#' followed by 3, 4, 6 or 8 hex digits"),
        )),
        Value::String(s) => Err(fail(
            ty,
            ptr,
            format!(
                "{s:?} is not a colour: use a hex colour (\"#rgb\", \"#rrggbb\", \"#rrggbbaa\"), \
                 a CSS colour function such as rgb(…), hsl(…) or oklch(…), or a {{colorSpace, components}} object"
            ),
        )),
        Value::Object(o) => color_object(o, ptr),
        other => Err(fail(
            ty,
            ptr,
            format!(
                "a colour must be a string or a {{colorSpace, components}} object, not {}",
                kind(other)
            ),
        )),
    }
}

fn is_hex_color(s: &str) -> bool {
    s.strip_prefix('#').is_some_and(|hex| {
        matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// `name(…)` for a CSS colour function, with balanced parentheses and nothing that could end a
/// CSS declaration early (the string is exported verbatim).
fn is_color_function(s: &str) -> bool {
    let Some((name, rest)) = s.split_once('(') else {
        return false;
    };
    let Some(args) = rest.strip_suffix(')') else {
        return false;
    };
    let known = COLOR_FUNCTIONS.iter().any(|f| f.eq_ignore_ascii_case(name));
    let mut depth = 0i32;
    let balanced = args.chars().all(|c| {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        depth >= 0 && !matches!(c, ';' | '{' | '}' | '"' | '\'' | '\\') && !c.is_control()
    });
    known && balanced && depth == 0 && !args.trim().is_empty()
}

fn color_object(o: &Map<String, Value>, ptr: &str) -> Result<(), ValueError> {
    let ty = TokenType::Color;
    let space_ptr = child(ptr, "colorSpace");
    match required(ty, o, "colorSpace", ptr)? {
        Value::String(s) if COLOR_SPACES.contains(&s.as_str()) => {}
        other => {
            return Err(fail(
                ty,
                &space_ptr,
                format!(
                    "colorSpace must be one of {}, not {other}",
                    COLOR_SPACES.join(", ")
                ),
            ));
        }
    }
    let components_ptr = child(ptr, "components");
    let components = required(ty, o, "components", ptr)?
        .as_array()
        .filter(|c| c.len() == 3)
        .ok_or_else(|| {
            fail(
                ty,
                &components_ptr,
                "components must be an array of 3 numbers",
            )
        })?;
    let space: Option<ColorSpace> = o
        .get("colorSpace")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok());
    let ranges = space.map(ColorSpace::ranges).unwrap_or([None; 3]);
    for (i, c) in components.iter().enumerate() {
        let c_ptr = child(&components_ptr, &i.to_string());
        match c {
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(0.0);
                let hue = space.and_then(ColorSpace::hue_index) == Some(i);
                if let Some((lo, hi)) = ranges[i]
                    && (f < lo || f > hi || (hue && f >= hi))
                {
                    let space = space.map_or("", ColorSpace::as_str);
                    let upper = if hi.is_infinite() {
                        "or more".to_owned()
                    } else if hue {
                        format!("up to (not including) {hi}")
                    } else {
                        format!("to {hi}")
                    };
                    return Err(fail(
                        ty,
                        &c_ptr,
                        format!(
                            "component {i} of a {space} colour must be from {lo} {upper}, got {n}"
                        ),
                    ));
                }
            }
            Value::String(s) if s == "none" => {}
            other => check(TokenType::Number, other, &c_ptr)?,
        }
    }
    if let Some(alpha) = o.get("alpha") {
        unit_interval(ty, alpha, &child(ptr, "alpha"), "alpha")?;
    }
    if let Some(hex) = o.get("hex")
        && !hex.as_str().is_some_and(is_hex_color)
    {
        return Err(fail(
            ty,
            &child(ptr, "hex"),
            format!("hex must be a hex colour string like \"#6d28d9\", not {hex}"),
        ));
    }
    reject_typos(ty, o, &["colorSpace", "components", "alpha", "hex"], ptr)
}

/// A number in 0..=1 (or an alias to a number token); `ty` names the enclosing type for the example.
fn unit_interval(ty: TokenType, v: &Value, ptr: &str, what: &str) -> Result<(), ValueError> {
    match v {
        Value::Number(n) if n.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f)) => Ok(()),
        Value::Number(n) => Err(fail(
            ty,
            ptr,
            format!("{what} must be between 0 and 1, got {n}"),
        )),
        Value::String(s) if s.starts_with('{') => check_alias(TokenType::Number, s, ptr),
        Value::Object(o) if o.contains_key("$ref") => check_ref(TokenType::Number, v, ptr),
        other => Err(fail(
            ty,
            ptr,
            format!(
                "{what} must be a number between 0 and 1, not {}",
                kind(other)
            ),
        )),
    }
}

/// Dimension or duration: `{value, unit}` or a CSS-style string like "16px".
fn measure(ty: TokenType, v: &Value, ptr: &str, units: &[&str]) -> Result<(), ValueError> {
    let unit_list = units
        .iter()
        .map(|u| format!("{u:?}"))
        .collect::<Vec<_>>()
        .join(" or ");
    match v {
        Value::String(s) => {
            let split = s
                .find(|c: char| c.is_alphabetic() || c == '%')
                .unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            if !is_css_number(num) {
                return Err(fail(
                    ty,
                    ptr,
                    format!("{ty} {s:?} must be a number followed by {unit_list}"),
                ));
            }
            if unit.is_empty() {
                // CSS allows a bare zero for lengths, never for times.
                let zero = ty == TokenType::Dimension && num.parse::<f64>() == Ok(0.0);
                return if zero {
                    Ok(())
                } else {
                    Err(fail(
                        ty,
                        ptr,
                        format!("{ty} {s:?} has no unit; add {unit_list}"),
                    ))
                };
            }
            if units.contains(&unit) {
                Ok(())
            } else {
                Err(fail(
                    ty,
                    ptr,
                    format!("{ty} unit must be {unit_list}, got {unit:?}"),
                ))
            }
        }
        Value::Object(o) => {
            if !required(ty, o, "value", ptr)?.is_number() {
                return Err(fail(
                    ty,
                    &child(ptr, "value"),
                    format!("{ty} value must be a number"),
                ));
            }
            match required(ty, o, "unit", ptr)? {
                Value::String(u) if units.contains(&u.as_str()) => {}
                other => {
                    return Err(fail(
                        ty,
                        &child(ptr, "unit"),
                        format!("{ty} unit must be {unit_list}, got {other}"),
                    ));
                }
            }
            reject_typos(ty, o, &["value", "unit"], ptr)
        }
        other => Err(fail(
            ty,
            ptr,
            format!(
                "{ty} must be a {{value, unit}} object or a string, not {}",
                kind(other)
            ),
        )),
    }
}

/// A plain decimal as CSS writes it: optional sign, digits, optional fraction (no exponent, inf, NaN).
fn is_css_number(s: &str) -> bool {
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    match unsigned.split_once('.') {
        Some((int, frac)) => digits(int) && !frac.is_empty() && digits(frac),
        None => !unsigned.is_empty() && digits(unsigned),
    }
}

fn font_family(v: &Value, ptr: &str) -> Result<(), ValueError> {
    let ty = TokenType::FontFamily;
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(()),
        Value::String(_) => Err(fail(ty, ptr, "fontFamily must not be empty")),
        Value::Array(names) if names.is_empty() => {
            Err(fail(ty, ptr, "fontFamily list must not be empty"))
        }
        Value::Array(names) => names.iter().enumerate().try_for_each(|(i, name)| {
            if name.as_str().is_some_and(|s| !s.trim().is_empty()) {
                Ok(())
            } else {
                Err(fail(
                    ty,
                    &child(ptr, &i.to_string()),
                    format!("each fontFamily name must be a non-empty string, not {name}"),
                ))
            }
        }),
        other => Err(fail(
            ty,
            ptr,
            format!(
                "fontFamily must be a string or an array of strings, not {}",
                kind(other)
            ),
        )),
    }
}

fn font_weight(v: &Value, ptr: &str) -> Result<(), ValueError> {
    let ty = TokenType::FontWeight;
    match v {
        Value::Number(n) if n.as_f64().is_some_and(|f| (1.0..=1000.0).contains(&f)) => Ok(()),
        Value::Number(n) => Err(fail(
            ty,
            ptr,
            format!("fontWeight must be between 1 and 1000, got {n}"),
        )),
        Value::String(s) if font_weight_keyword(s).is_some() => Ok(()),
        Value::String(s) => Err(fail(
            ty,
            ptr,
            format!(
                "unknown fontWeight {s:?}; use a number from 1 to 1000 or one of {FONT_WEIGHT_KEYWORDS}"
            ),
        )),
        other => Err(fail(
            ty,
            ptr,
            format!(
                "fontWeight must be a number or a keyword, not {}",
                kind(other)
            ),
        )),
    }
}

fn cubic_bezier(v: &Value, ptr: &str) -> Result<(), ValueError> {
    let ty = TokenType::CubicBezier;
    let points = match v {
        Value::Array(points) if points.len() == 4 => points,
        Value::Array(points) => {
            return Err(fail(
                ty,
                ptr,
                format!(
                    "cubicBezier needs exactly 4 numbers [x1, y1, x2, y2], got {}",
                    points.len()
                ),
            ));
        }
        other => {
            return Err(fail(
                ty,
                ptr,
                format!(
                    "cubicBezier must be an array [x1, y1, x2, y2], not {}",
                    kind(other)
                ),
            ));
        }
    };
    for (i, p) in points.iter().enumerate() {
        let p_ptr = child(ptr, &i.to_string());
        if i % 2 == 0 {
            let what = if i == 0 { "x1" } else { "x2" };
            unit_interval(ty, p, &p_ptr, what)?;
        } else if !p.is_number() {
            check(TokenType::Number, p, &p_ptr).map_err(|e| fail(ty, &e.pointer, e.message))?;
        }
    }
    Ok(())
}

fn number(example_ty: TokenType, v: &Value, ptr: &str) -> Result<(), ValueError> {
    match v {
        Value::Number(_) => Ok(()),
        Value::String(s) if is_css_number(s) => Err(fail(
            example_ty,
            ptr,
            format!("a number must be a JSON number: write {s} instead of {s:?}"),
        )),
        other => Err(fail(
            example_ty,
            ptr,
            format!("a number must be a JSON number, not {}", kind(other)),
        )),
    }
}

fn stroke_style(v: &Value, ptr: &str) -> Result<(), ValueError> {
    let ty = TokenType::StrokeStyle;
    match v {
        Value::String(s) if STROKE_STYLES.contains(&s.as_str()) => Ok(()),
        Value::String(s) => Err(fail(
            ty,
            ptr,
            format!(
                "unknown strokeStyle {s:?}; use one of {}",
                STROKE_STYLES.join(", ")
            ),
        )),
        Value::Object(o) => {
            let dash_ptr = child(ptr, "dashArray");
            let dashes = required(ty, o, "dashArray", ptr)?
                .as_array()
                .filter(|d| !d.is_empty())
                .ok_or_else(|| {
                    fail(
                        ty,
                        &dash_ptr,
                        "dashArray must be a non-empty array of dimensions",
                    )
                })?;
            for (i, dash) in dashes.iter().enumerate() {
                check(
                    TokenType::Dimension,
                    dash,
                    &child(&dash_ptr, &i.to_string()),
                )?;
            }
            match required(ty, o, "lineCap", ptr)? {
                Value::String(s) if LINE_CAPS.contains(&s.as_str()) => {}
                other => {
                    return Err(fail(
                        ty,
                        &child(ptr, "lineCap"),
                        format!(
                            "lineCap must be one of {}, not {other}",
                            LINE_CAPS.join(", ")
                        ),
                    ));
                }
            }
            reject_typos(ty, o, &["dashArray", "lineCap"], ptr)
        }
        other => Err(fail(
            ty,
            ptr,
            format!(
                "strokeStyle must be a keyword or a {{dashArray, lineCap}} object, not {}",
                kind(other)
            ),
        )),
    }
}

const SHADOW_FIELDS: [(&str, TokenType); 5] = [
    ("color", TokenType::Color),
    ("offsetX", TokenType::Dimension),
    ("offsetY", TokenType::Dimension),
    ("blur", TokenType::Dimension),
    ("spread", TokenType::Dimension),
];

fn shadow(v: &Value, ptr: &str) -> Result<(), ValueError> {
    let ty = TokenType::Shadow;
    match v {
        Value::Array(layers) if layers.is_empty() => {
            Err(fail(ty, ptr, "a shadow list must not be empty"))
        }
        Value::Array(layers) => layers.iter().enumerate().try_for_each(|(i, layer)| {
            let layer_ptr = child(ptr, &i.to_string());
            match layer {
                Value::String(s) if s.starts_with('{') => check_alias(ty, s, &layer_ptr),
                _ => shadow_layer(layer, &layer_ptr),
            }
        }),
        _ => shadow_layer(v, ptr),
    }
}

fn shadow_layer(v: &Value, ptr: &str) -> Result<(), ValueError> {
    let ty = TokenType::Shadow;
    let o = object(ty, v, ptr)?;
    for (key, field_ty) in SHADOW_FIELDS {
        check(field_ty, required(ty, o, key, ptr)?, &child(ptr, key))?;
    }
    if let Some(inset) = o.get("inset")
        && !inset.is_boolean()
    {
        return Err(fail(
            ty,
            &child(ptr, "inset"),
            format!("inset must be true or false, not {inset}"),
        ));
    }
    reject_typos(
        ty,
        o,
        &["color", "offsetX", "offsetY", "blur", "spread", "inset"],
        ptr,
    )
}

fn gradient(v: &Value, ptr: &str) -> Result<(), ValueError> {
    let ty = TokenType::Gradient;
    let stops = match v {
        Value::Array(stops) if !stops.is_empty() => stops,
        _ => {
            return Err(fail(
                ty,
                ptr,
                "a gradient must be a non-empty array of {color, position} stops",
            ));
        }
    };
    stops.iter().enumerate().try_for_each(|(i, stop)| {
        let stop_ptr = child(ptr, &i.to_string());
        let o = object(ty, stop, &stop_ptr).map_err(|e| {
            fail(
                ty,
                &e.pointer,
                "each gradient stop must be a {color, position} object",
            )
        })?;
        check(
            TokenType::Color,
            required(ty, o, "color", &stop_ptr)?,
            &child(&stop_ptr, "color"),
        )?;
        unit_interval(
            ty,
            required(ty, o, "position", &stop_ptr)?,
            &child(&stop_ptr, "position"),
            "position",
        )?;
        reject_typos(ty, o, &["color", "position"], &stop_ptr)
    })
}

/// Calls `f` with every position of `value` that holds a value of a token type, starting with
/// the whole value (as `ty`) and descending into composite fields: `(type, value, pointer)`.
/// Positions whose shape does not match are skipped (validation reports those).
pub(crate) fn visit_typed(
    ty: TokenType,
    value: &Value,
    f: &mut impl FnMut(TokenType, &Value, &str),
) {
    if !matches!(value, Value::Object(_) | Value::Array(_)) {
        f(ty, value, "");
        return;
    }
    let mut stack: Vec<(TokenType, &Value, String)> = vec![(ty, value, String::new())];
    while let Some((ty, v, ptr)) = stack.pop() {
        f(ty, v, &ptr);
        let fields: &[(&str, TokenType)] = match ty {
            TokenType::Border => &[
                ("color", TokenType::Color),
                ("width", TokenType::Dimension),
                ("style", TokenType::StrokeStyle),
            ],
            TokenType::Transition => &[
                ("duration", TokenType::Duration),
                ("delay", TokenType::Duration),
                ("timingFunction", TokenType::CubicBezier),
            ],
            TokenType::Typography => &[
                ("fontFamily", TokenType::FontFamily),
                ("fontSize", TokenType::Dimension),
                ("fontWeight", TokenType::FontWeight),
                ("letterSpacing", TokenType::Dimension),
                ("lineHeight", TokenType::Number),
            ],
            TokenType::Shadow => &SHADOW_FIELDS,
            _ => &[],
        };
        match (ty, v) {
            (TokenType::Shadow, Value::Array(layers)) => {
                for (i, layer) in layers.iter().enumerate() {
                    stack.push((TokenType::Shadow, layer, child(&ptr, &i.to_string())));
                }
            }
            (TokenType::Gradient, Value::Array(stops)) => {
                for (i, stop) in stops.iter().enumerate() {
                    let stop_ptr = child(&ptr, &i.to_string());
                    if let Some(o) = stop.as_object() {
                        if let Some(c) = o.get("color") {
                            stack.push((TokenType::Color, c, child(&stop_ptr, "color")));
                        }
                        if let Some(p) = o.get("position") {
                            stack.push((TokenType::Number, p, child(&stop_ptr, "position")));
                        }
                    }
                }
            }
            (TokenType::StrokeStyle, Value::Object(o)) => {
                if let Some(Value::Array(dashes)) = o.get("dashArray") {
                    let dash_ptr = child(&ptr, "dashArray");
                    for (i, d) in dashes.iter().enumerate() {
                        stack.push((TokenType::Dimension, d, child(&dash_ptr, &i.to_string())));
                    }
                }
            }
            (TokenType::Color, Value::Object(o)) => {
                if let Some(Value::Array(components)) = o.get("components") {
                    let c_ptr = child(&ptr, "components");
                    for (i, c) in components.iter().enumerate() {
                        if !c.is_number() && c.as_str() != Some("none") {
                            stack.push((TokenType::Number, c, child(&c_ptr, &i.to_string())));
                        }
                    }
                }
                if let Some(a) = o.get("alpha") {
                    stack.push((TokenType::Number, a, child(&ptr, "alpha")));
                }
            }
            (TokenType::CubicBezier, Value::Array(points)) => {
                for (i, p) in points.iter().enumerate() {
                    if !p.is_number() {
                        stack.push((TokenType::Number, p, child(&ptr, &i.to_string())));
                    }
                }
            }
            (_, Value::Object(o)) if !o.contains_key("$ref") => {
                for &(key, field_ty) in fields {
                    if let Some(field) = o.get(key) {
                        stack.push((field_ty, field, child(&ptr, key)));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether a value at a typed position is a reference (`"{a.b}"` or `{"$ref": …}`), and to what:
/// the token path and the pointer inside its value.
pub(crate) fn reference_at(v: &Value) -> Option<(String, String)> {
    if let Some(path) = alias_target(v) {
        return Some((path.to_owned(), String::new()));
    }
    ref_pointer(v).and_then(split_ref)
}

/// Whether a literal at a typed position uses a form only older drafts allowed: colours as
/// strings, dimensions and durations as strings like "16px" or "200ms".
pub(crate) fn is_legacy_form(ty: TokenType, v: &Value) -> bool {
    matches!(
        (ty, v),
        (
            TokenType::Color | TokenType::Dimension | TokenType::Duration,
            Value::String(s)
        ) if !s.starts_with('{')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(ty: TokenType, v: Value) {
        if let Err(e) = validate_value(ty, &v) {
            panic!("{ty} {v} should be valid: {e}");
        }
    }

    /// Asserts the error's pointer and that its message contains `needle`; returns the error.
    fn bad(ty: TokenType, v: Value, pointer: &str, needle: &str) -> ValueError {
        let e = validate_value(ty, &v).expect_err(&format!("{ty} {v} should be invalid"));
        assert_eq!(e.pointer, pointer, "{e}");
        assert!(
            e.message.contains(needle),
            "{:?} lacks {needle:?}",
            e.message
        );
        assert!(v.pointer(&e.pointer).is_some(), "pointer must exist: {e}");
        e
    }

    #[test]
    fn alias_target_is_exact() {
        assert_eq!(
            alias_target(&json!("{color.base.violet}")),
            Some("color.base.violet")
        );
        for v in [
            json!("color.base"),
            json!("{}"),
            json!("{a}{b}"),
            json!("{{a}}"),
            json!(" {a}"),
            json!("{a"),
            json!(["{a}"]),
            json!(1),
        ] {
            assert_eq!(alias_target(&v), None, "{v}");
        }
    }

    #[test]
    fn aliases_are_accepted_everywhere_typed() {
        for ty in TokenType::ALL {
            ok(ty, json!("{some.token}"));
        }
        ok(
            TokenType::Shadow,
            json!({"color": "{c}", "offsetX": "{d}", "offsetY": "0", "blur": "0", "spread": "0"}),
        );
        ok(TokenType::Shadow, json!(["{shadow.sm}"]));
        ok(
            TokenType::Gradient,
            json!([{"color": "{c}", "position": "{p}"}]),
        );
        ok(TokenType::CubicBezier, json!(["{x}", "{y}", 0.5, 1]));
        ok(
            TokenType::Color,
            json!({"colorSpace": "srgb", "components": ["{r}", 0, 0], "alpha": "{a}"}),
        );
    }

    #[test]
    fn malformed_alias_is_explained() {
        let e = bad(
            TokenType::Color,
            json!("{color brand}"),
            "",
            "does not name a valid token",
        );
        assert!(e.message.contains("contains ' '"));
        bad(
            TokenType::Color,
            json!("{a}{b}"),
            "",
            "is not an alias; write an alias as \"{group.token}\"",
        );
        bad(
            TokenType::Shadow,
            json!({"color": "{}", "offsetX": "0", "offsetY": "0", "blur": "0", "spread": "0"}),
            "/color",
            "is not an alias",
        );
    }

    #[test]
    fn display_is_actionable() {
        let e = validate_value(TokenType::Dimension, &json!("16em")).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid value: dimension unit must be "px" or "rem", got "em"; expected something like {"value": 16, "unit": "px"} or "16px""#
        );
        let e = validate_value(
            TokenType::Shadow,
            &json!({"color": "#000", "offsetX": "1em", "offsetY": "0", "blur": "0", "spread": "0"}),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid value at "/offsetX": dimension unit must be "px" or "rem", got "em"; expected something like {"value": 16, "unit": "px"} or "16px""#
        );
    }

    #[test]
    fn color_strings() {
        for s in [
            "#fff",
            "#ffff",
            "#6d28d9",
            "#6D28D980",
            "rgb(109 40 217)",
            "rgba(0, 0, 0, 0.5)",
            "hsl(270deg 70% 50% / 0.5)",
            "oklch(0.5 0.2 300)",
            "color(display-p3 1 0 0)",
            "RGB(calc(1 + 2) 0 0)",
        ] {
            ok(TokenType::Color, json!(s));
        }
        bad(
            TokenType::Color,
            json!("#ff"),
            "",
            "must be '#' followed by 3, 4, 6 or 8 hex digits",
        );
        bad(TokenType::Color, json!("#ggg"), "", "hex digits");
        bad(TokenType::Color, json!("red"), "", "is not a colour");
        bad(TokenType::Color, json!("rgb()"), "", "is not a colour");
        bad(TokenType::Color, json!("rgb(0 0 0"), "", "is not a colour");
        bad(
            TokenType::Color,
            json!("rgb(0 0 0)); x: y; z(1)"),
            "",
            "is not a colour",
        );
        bad(
            TokenType::Color,
            json!("rgb(0 0 0;)"),
            "",
            "is not a colour",
        );
        bad(TokenType::Color, json!("hot(1 2 3)"), "", "is not a colour");
        let e = bad(TokenType::Color, json!(12), "", "not a number");
        assert_eq!(e.expected, example(TokenType::Color));
    }

    #[test]
    fn color_objects() {
        ok(
            TokenType::Color,
            json!({"colorSpace": "srgb", "components": [0.1, 0.2, 0.3]}),
        );
        ok(
            TokenType::Color,
            json!({"colorSpace": "oklch", "components": [0.5, 0.2, "none"], "alpha": 0.5, "hex": "#6d28d9"}),
        );
        ok(
            TokenType::Color,
            json!({"colorSpace": "display-p3", "components": [1, 0, 0], "vendor": true}),
        );
        bad(
            TokenType::Color,
            json!({"components": [1, 0, 0]}),
            "",
            "color is missing \"colorSpace\"",
        );
        bad(
            TokenType::Color,
            json!({"colorSpace": "cmyk", "components": [1, 0, 0]}),
            "/colorSpace",
            "colorSpace must be one of srgb, srgb-linear",
        );
        bad(
            TokenType::Color,
            json!({"colorSpace": "srgb"}),
            "",
            "color is missing \"components\"",
        );
        bad(
            TokenType::Color,
            json!({"colorSpace": "srgb", "components": [1, 0]}),
            "/components",
            "array of 3 numbers",
        );
        bad(
            TokenType::Color,
            json!({"colorSpace": "srgb", "components": [1, 0, true]}),
            "/components/2",
            "JSON number",
        );
        bad(
            TokenType::Color,
            json!({"colorSpace": "srgb", "components": [1, 0, 0], "alpha": 2}),
            "/alpha",
            "alpha must be between 0 and 1, got 2",
        );
        bad(
            TokenType::Color,
            json!({"colorSpace": "srgb", "components": [1, 0, 0], "hex": "6d28d9"}),
            "/hex",
            "hex must be a hex colour string",
        );
        bad(
            TokenType::Color,
            json!({"colorSpace": "srgb", "components": [1, 0, 0], "alhpa": 0.5}),
            "/alhpa",
            "unknown field \"alhpa\" in color (did you mean \"alpha\"?)",
        );
    }

    #[test]
    fn dimensions() {
        for v in [
            json!("16px"),
            json!("1.5rem"),
            json!("-2px"),
            json!(".5rem"),
            json!("0"),
            json!("0.0"),
            json!({"value": 16, "unit": "px"}),
            json!({"value": -0.5, "unit": "rem"}),
        ] {
            ok(TokenType::Dimension, v);
        }
        bad(
            TokenType::Dimension,
            json!("16em"),
            "",
            "unit must be \"px\" or \"rem\", got \"em\"",
        );
        bad(
            TokenType::Dimension,
            json!("16"),
            "",
            "has no unit; add \"px\" or \"rem\"",
        );
        bad(
            TokenType::Dimension,
            json!("px"),
            "",
            "must be a number followed by \"px\" or \"rem\"",
        );
        bad(TokenType::Dimension, json!("1e3px"), "", "got \"e3px\"");
        bad(
            TokenType::Dimension,
            json!("1.px"),
            "",
            "must be a number followed by",
        );
        bad(
            TokenType::Dimension,
            json!(16),
            "",
            "must be a {value, unit} object or a string, not a number",
        );
        bad(
            TokenType::Dimension,
            json!({"value": "16", "unit": "px"}),
            "/value",
            "dimension value must be a number",
        );
        bad(
            TokenType::Dimension,
            json!({"value": 16, "unit": "em"}),
            "/unit",
            "dimension unit must be \"px\" or \"rem\", got \"em\"",
        );
        bad(
            TokenType::Dimension,
            json!({"value": 16}),
            "",
            "dimension is missing \"unit\"",
        );
        bad(
            TokenType::Dimension,
            json!({"unit": "px"}),
            "",
            "dimension is missing \"value\"",
        );
        bad(
            TokenType::Dimension,
            json!({"value": 16, "unit": "px", "units": "px"}),
            "/units",
            "did you mean \"unit\"?",
        );
    }

    #[test]
    fn durations() {
        for v in [
            json!("200ms"),
            json!("0.2s"),
            json!({"value": 200, "unit": "ms"}),
            json!({"value": 1, "unit": "s"}),
        ] {
            ok(TokenType::Duration, v);
        }
        bad(
            TokenType::Duration,
            json!("0"),
            "",
            "duration \"0\" has no unit; add \"ms\" or \"s\"",
        );
        bad(
            TokenType::Duration,
            json!("2min"),
            "",
            "duration unit must be \"ms\" or \"s\", got \"min\"",
        );
        bad(
            TokenType::Duration,
            json!({"value": 2, "unit": "px"}),
            "/unit",
            "got \"px\"",
        );
        let e = bad(TokenType::Duration, json!(true), "", "not a boolean");
        assert_eq!(e.expected, r#"{"value": 200, "unit": "ms"} or "200ms""#);
    }

    #[test]
    fn font_families() {
        ok(TokenType::FontFamily, json!("Inter"));
        ok(
            TokenType::FontFamily,
            json!(["Helvetica Neue", "sans-serif"]),
        );
        bad(
            TokenType::FontFamily,
            json!(" "),
            "",
            "fontFamily must not be empty",
        );
        bad(
            TokenType::FontFamily,
            json!([]),
            "",
            "fontFamily list must not be empty",
        );
        bad(
            TokenType::FontFamily,
            json!(["Inter", 3]),
            "/1",
            "each fontFamily name must be a non-empty string, not 3",
        );
        bad(
            TokenType::FontFamily,
            json!({"name": "Inter"}),
            "",
            "not an object",
        );
    }

    #[test]
    fn font_weights() {
        for v in [
            json!(1),
            json!(400),
            json!(1000),
            json!(350.5),
            json!("bold"),
            json!("semi-bold"),
            json!("ultra-black"),
        ] {
            ok(TokenType::FontWeight, v);
        }
        for kw in FONT_WEIGHT_KEYWORDS.split(", ") {
            assert!(font_weight_keyword(kw).is_some(), "{kw}");
        }
        bad(
            TokenType::FontWeight,
            json!(0),
            "",
            "between 1 and 1000, got 0",
        );
        bad(
            TokenType::FontWeight,
            json!(1001),
            "",
            "between 1 and 1000, got 1001",
        );
        bad(
            TokenType::FontWeight,
            json!("Bold"),
            "",
            "unknown fontWeight \"Bold\"; use a number from 1 to 1000 or one of thin",
        );
        bad(TokenType::FontWeight, json!(null), "", "not null");
    }

    #[test]
    fn cubic_beziers() {
        ok(TokenType::CubicBezier, json!([0.4, 0, 0.2, 1]));
        ok(TokenType::CubicBezier, json!([0, -2, 1, 3]));
        bad(
            TokenType::CubicBezier,
            json!([0.4, 0, 0.2]),
            "",
            "exactly 4 numbers [x1, y1, x2, y2], got 3",
        );
        bad(
            TokenType::CubicBezier,
            json!([1.4, 0, 0.2, 1]),
            "/0",
            "x1 must be between 0 and 1, got 1.4",
        );
        bad(
            TokenType::CubicBezier,
            json!([0.4, 0, -0.2, 1]),
            "/2",
            "x2 must be between 0 and 1",
        );
        let e = bad(
            TokenType::CubicBezier,
            json!([0.4, "0", 0.2, 1]),
            "/1",
            "write 0 instead of \"0\"",
        );
        assert_eq!(e.expected, "[0.4, 0, 0.2, 1]");
        bad(
            TokenType::CubicBezier,
            json!("ease"),
            "",
            "must be an array",
        );
    }

    #[test]
    fn numbers() {
        ok(TokenType::Number, json!(1.5));
        ok(TokenType::Number, json!(-3));
        bad(
            TokenType::Number,
            json!("1.5"),
            "",
            "a number must be a JSON number: write 1.5 instead of \"1.5\"",
        );
        bad(TokenType::Number, json!([1]), "", "not an array");
    }

    #[test]
    fn stroke_styles() {
        for s in STROKE_STYLES {
            ok(TokenType::StrokeStyle, json!(s));
        }
        ok(
            TokenType::StrokeStyle,
            json!({"dashArray": ["4px", {"value": 2, "unit": "px"}], "lineCap": "round"}),
        );
        bad(
            TokenType::StrokeStyle,
            json!("wavy"),
            "",
            "unknown strokeStyle \"wavy\"; use one of solid, dashed",
        );
        bad(
            TokenType::StrokeStyle,
            json!({"dashArray": [], "lineCap": "round"}),
            "/dashArray",
            "non-empty array of dimensions",
        );
        bad(
            TokenType::StrokeStyle,
            json!({"dashArray": ["4em"], "lineCap": "round"}),
            "/dashArray/0",
            "got \"em\"",
        );
        bad(
            TokenType::StrokeStyle,
            json!({"dashArray": ["4px"], "lineCap": "flat"}),
            "/lineCap",
            "lineCap must be one of round, butt, square",
        );
        bad(
            TokenType::StrokeStyle,
            json!({"dashArray": ["4px"]}),
            "",
            "strokeStyle is missing \"lineCap\"",
        );
    }

    #[test]
    fn borders() {
        ok(
            TokenType::Border,
            json!({"color": "#000", "width": "1px", "style": "solid"}),
        );
        bad(
            TokenType::Border,
            json!({"color": "#000", "style": "solid"}),
            "",
            "border is missing \"width\"",
        );
        bad(
            TokenType::Border,
            json!({"color": "#000", "width": "1px", "style": "wavy"}),
            "/style",
            "unknown strokeStyle",
        );
        bad(
            TokenType::Border,
            json!("1px solid black"),
            "",
            "border must be an object, not a string",
        );
    }

    #[test]
    fn transitions() {
        ok(
            TokenType::Transition,
            json!({"duration": "200ms", "delay": {"value": 0, "unit": "ms"}, "timingFunction": [0.4, 0, 0.2, 1]}),
        );
        bad(
            TokenType::Transition,
            json!({"duration": "200ms", "delay": "0ms"}),
            "",
            "transition is missing \"timingFunction\"",
        );
        bad(
            TokenType::Transition,
            json!({"duration": "200ms", "delay": "0ms", "timingFunction": [2, 0, 0, 1]}),
            "/timingFunction/0",
            "x1 must be between 0 and 1",
        );
    }

    #[test]
    fn shadows() {
        let layer = json!({"color": "#00000040", "offsetX": "0px", "offsetY": "2px", "blur": "4px", "spread": "0px"});
        ok(TokenType::Shadow, layer.clone());
        ok(
            TokenType::Shadow,
            json!([layer.clone(), {"color": "#000", "offsetX": "0", "offsetY": "0", "blur": "0", "spread": "0", "inset": true}]),
        );
        bad(
            TokenType::Shadow,
            json!([]),
            "",
            "a shadow list must not be empty",
        );
        bad(
            TokenType::Shadow,
            json!([layer.clone(), 3]),
            "/1",
            "shadow must be an object, not a number",
        );
        bad(
            TokenType::Shadow,
            json!({"color": "#000", "offsetX": "0", "offsetY": "0", "blur": "0"}),
            "",
            "shadow is missing \"spread\"",
        );
        bad(
            TokenType::Shadow,
            json!({"color": "#000", "offsetX": "0", "offsetY": "0", "blur": "0", "spread": "0", "inset": "yes"}),
            "/inset",
            "inset must be true or false",
        );
        bad(
            TokenType::Shadow,
            json!([{"color": "nope", "offsetX": "0", "offsetY": "0", "blur": "0", "spread": "0"}]),
            "/0/color",
            "is not a colour",
        );
        bad(
            TokenType::Shadow,
            json!({"color": "#000", "offsetx": "0", "offsetX": "0", "offsetY": "0", "blur": "0", "spread": "0"}),
            "/offsetx",
            "did you mean \"offsetX\"?",
        );
    }

    #[test]
    fn gradients() {
        ok(
            TokenType::Gradient,
            json!([{"color": "#fff", "position": 0}, {"color": "#000", "position": 1}]),
        );
        bad(
            TokenType::Gradient,
            json!([]),
            "",
            "non-empty array of {color, position} stops",
        );
        bad(
            TokenType::Gradient,
            json!([{"color": "#fff", "position": 1.5}]),
            "/0/position",
            "position must be between 0 and 1, got 1.5",
        );
        bad(
            TokenType::Gradient,
            json!([{"color": "#fff"}]),
            "/0",
            "gradient is missing \"position\"",
        );
        bad(
            TokenType::Gradient,
            json!(["#fff"]),
            "/0",
            "each gradient stop must be a {color, position} object",
        );
        bad(
            TokenType::Gradient,
            json!([{"color": "#fff", "position": "50%"}]),
            "/0/position",
            "position must be a number between 0 and 1, not a string",
        );
    }

    #[test]
    fn typographies() {
        let t = json!({"fontFamily": ["Inter", "sans-serif"], "fontSize": "16px", "fontWeight": "bold", "letterSpacing": "0px", "lineHeight": 1.5, "textCase": "none", "fontStyle": "italic"});
        ok(TokenType::Typography, t);
        bad(
            TokenType::Typography,
            json!({"fontFamily": "Inter", "fontSize": "16px", "fontWeight": 400, "letterSpacing": "0px"}),
            "",
            "typography is missing \"lineHeight\"",
        );
        bad(
            TokenType::Typography,
            json!({"fontFamily": "Inter", "fontSize": "16px", "fontWeight": 400, "letterSpacing": "0px", "lineHeight": "24px"}),
            "/lineHeight",
            "a number must be a JSON number, not a string",
        );
        bad(
            TokenType::Typography,
            json!({"fontFamily": "Inter", "fontSize": "16", "fontWeight": 400, "letterSpacing": "0px", "lineHeight": 1}),
            "/fontSize",
            "has no unit",
        );
    }

    #[test]
    fn pointers_escape_keys() {
        assert_eq!(child("/a", "b/c~d"), "/a/b~1c~0d");
    }
}
