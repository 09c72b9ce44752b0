//! The DTCG token types tinct understands.

use std::fmt;
use std::str::FromStr;

use crate::path::nearest_paths;

/// A token's `$type`. The serde names are the DTCG names, so stored documents stay DTCG-compatible.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum TokenType {
    Color,
    Dimension,
    FontFamily,
    FontWeight,
    Duration,
    CubicBezier,
    Number,
    StrokeStyle,
    Border,
    Transition,
    Shadow,
    Gradient,
    Typography,
}

impl TokenType {
    pub const ALL: [TokenType; 13] = [
        TokenType::Color,
        TokenType::Dimension,
        TokenType::FontFamily,
        TokenType::FontWeight,
        TokenType::Duration,
        TokenType::CubicBezier,
        TokenType::Number,
        TokenType::StrokeStyle,
        TokenType::Border,
        TokenType::Transition,
        TokenType::Shadow,
        TokenType::Gradient,
        TokenType::Typography,
    ];

    /// The DTCG name, identical to the serde representation.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Color => "color",
            TokenType::Dimension => "dimension",
            TokenType::FontFamily => "fontFamily",
            TokenType::FontWeight => "fontWeight",
            TokenType::Duration => "duration",
            TokenType::CubicBezier => "cubicBezier",
            TokenType::Number => "number",
            TokenType::StrokeStyle => "strokeStyle",
            TokenType::Border => "border",
            TokenType::Transition => "transition",
            TokenType::Shadow => "shadow",
            TokenType::Gradient => "gradient",
            TokenType::Typography => "typography",
        }
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenType {
    type Err = UnknownType;

    /// Exact DTCG names only, matching what serde accepts.
    fn from_str(s: &str) -> Result<Self, UnknownType> {
        TokenType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownType { name: s.to_owned() })
    }
}

/// A `$type` that is not one of [`TokenType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown token type {name:?}{}; valid types are {}",
    did_you_mean(name),
    valid_names()
)]
pub struct UnknownType {
    pub name: String,
}

fn did_you_mean(name: &str) -> String {
    nearest_paths(name, TokenType::ALL.map(TokenType::as_str), 1)
        .first()
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}

fn valid_names() -> String {
    TokenType::ALL.map(TokenType::as_str).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_matches_serde_and_round_trips() {
        for ty in TokenType::ALL {
            assert_eq!(serde_json::to_value(ty).unwrap(), ty.as_str());
            assert_eq!(ty.as_str().parse::<TokenType>().unwrap(), ty);
            assert_eq!(ty.to_string(), ty.as_str());
        }
    }

    #[test]
    fn all_is_complete_and_sorted() {
        let mut sorted = TokenType::ALL;
        sorted.sort();
        assert_eq!(sorted, TokenType::ALL);
        assert_eq!(TokenType::ALL[12], TokenType::Typography);
    }

    #[test]
    fn unknown_type_lists_valid_names_and_suggests() {
        let err = "colour".parse::<TokenType>().unwrap_err();
        assert_eq!(err.name, "colour");
        let msg = err.to_string();
        assert!(msg.starts_with(r#"unknown token type "colour" (did you mean "color"?)"#));
        assert!(msg.ends_with("color, dimension, fontFamily, fontWeight, duration, cubicBezier, number, strokeStyle, border, transition, shadow, gradient, typography"));
        let msg = "zzzzzzzzzzzzzzzzzzzzzz"
            .parse::<TokenType>()
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("did you mean"));
    }

    #[test]
    fn from_str_is_case_sensitive_like_serde() {
        assert!("Color".parse::<TokenType>().is_err());
        assert!(serde_json::from_str::<TokenType>("\"Color\"").is_err());
    }
}
