//! Name transforms: a token path (plus an optional prefix) split into words, joined in a case.
//!
//! Words break at every character that is not a letter or digit (`-`, `_`, spaces, …) and at
//! case changes: `fontSize` → font|size, `XMLHttp` → xml|http, `h1Size` → h1|size; `2XL` and
//! `red100` stay one word. The `$root` name of a group's own token adds no word.

use super::NameCase;

/// Calls `f` with each word of `prefix` and `path`, lowercased (one reused buffer).
fn for_each_word(path: &str, prefix: Option<&str>, mut f: impl FnMut(&str)) {
    let mut word = String::new();
    let segments = prefix
        .into_iter()
        .chain(path.split('.').filter(|s| *s != crate::ROOT_TOKEN));
    for segment in segments {
        let mut chars = segment.chars().peekable();
        let mut prev: Option<char> = None;
        while let Some(c) = chars.next() {
            if !c.is_alphanumeric() {
                if !word.is_empty() {
                    f(&word);
                    word.clear();
                }
                prev = None;
                continue;
            }
            if c.is_uppercase() {
                let next_lower = chars.peek().is_some_and(|n| n.is_lowercase());
                let boundary = prev.is_some_and(|p| {
                    p.is_lowercase() || ((p.is_uppercase() || p.is_ascii_digit()) && next_lower)
                });
                if boundary && !word.is_empty() {
                    f(&word);
                    word.clear();
                }
            }
            if c.is_ascii() {
                word.push(c.to_ascii_lowercase());
            } else {
                word.extend(c.to_lowercase());
            }
            prev = Some(c);
        }
        if !word.is_empty() {
            f(&word);
            word.clear();
        }
    }
}

#[cfg(test)]
fn words(path: &str, prefix: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for_each_word(path, prefix, |w| out.push(w.to_owned()));
    out
}

fn push_capitalized(out: &mut String, word: &str) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// `path` as one name in `case` (may start with a digit; see [`identifier`]).
pub(super) fn name(path: &str, prefix: Option<&str>, case: NameCase) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    let mut first = true;
    for_each_word(path, prefix.filter(|p| !p.is_empty()), |w| {
        match case {
            NameCase::Kebab | NameCase::Snake | NameCase::Constant => {
                if !first {
                    out.push(if case == NameCase::Kebab { '-' } else { '_' });
                }
                if case == NameCase::Constant {
                    out.extend(w.chars().flat_map(char::to_uppercase));
                } else {
                    out.push_str(w);
                }
            }
            NameCase::Camel if first => out.push_str(w),
            NameCase::Camel | NameCase::Pascal => push_capitalized(&mut out, w),
        }
        first = false;
    });
    out
}

/// A name usable as an identifier in code: ASCII letters, digits and `_` only, not starting
/// with a digit, not one of `reserved`.
pub(super) fn identifier(
    path: &str,
    prefix: Option<&str>,
    case: NameCase,
    reserved: &[&str],
) -> String {
    let mut id = name(path, prefix, case);
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        id = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
    }
    if id.is_empty() {
        id.push_str("token");
    }
    if id.starts_with(|c: char| c.is_ascii_digit()) || reserved.contains(&id.as_str()) {
        id.insert(0, '_');
    }
    id
}

/// Words JavaScript and TypeScript do not allow as a `const` name.
pub(super) const JS_RESERVED: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// Swift keywords that cannot name a `static let` without backticks.
pub(super) const SWIFT_RESERVED: &[&str] = &[
    "associatedtype",
    "class",
    "deinit",
    "enum",
    "extension",
    "fileprivate",
    "func",
    "import",
    "init",
    "inout",
    "internal",
    "let",
    "open",
    "operator",
    "private",
    "protocol",
    "public",
    "rethrows",
    "static",
    "struct",
    "subscript",
    "typealias",
    "var",
    "break",
    "case",
    "continue",
    "default",
    "defer",
    "do",
    "else",
    "fallthrough",
    "for",
    "guard",
    "if",
    "in",
    "repeat",
    "return",
    "switch",
    "where",
    "while",
    "as",
    "catch",
    "false",
    "is",
    "nil",
    "self",
    "Self",
    "super",
    "throw",
    "throws",
    "true",
    "try",
    "Type",
];

/// Kotlin hard keywords.
pub(super) const KOTLIN_RESERVED: &[&str] = &[
    "as",
    "break",
    "class",
    "continue",
    "do",
    "else",
    "false",
    "for",
    "fun",
    "if",
    "in",
    "interface",
    "is",
    "null",
    "object",
    "package",
    "return",
    "super",
    "this",
    "throw",
    "true",
    "try",
    "typealias",
    "typeof",
    "val",
    "var",
    "when",
    "while",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words_at_separators_and_case_changes() {
        assert_eq!(
            words("color.brandPrimary.XMLHttp.h1Size.2XL.red100.a b_c-d", None),
            [
                "color", "brand", "primary", "xml", "http", "h1", "size", "2xl", "red100", "a",
                "b", "c", "d"
            ]
        );
        assert_eq!(
            words("color.accent.$root", Some("ds")),
            ["ds", "color", "accent"]
        );
    }

    #[test]
    fn cases() {
        let p = "color.brand-primary.hover";
        assert_eq!(name(p, None, NameCase::Kebab), "color-brand-primary-hover");
        assert_eq!(name(p, None, NameCase::Snake), "color_brand_primary_hover");
        assert_eq!(
            name(p, None, NameCase::Constant),
            "COLOR_BRAND_PRIMARY_HOVER"
        );
        assert_eq!(name(p, None, NameCase::Camel), "colorBrandPrimaryHover");
        assert_eq!(
            name(p, Some("ds"), NameCase::Pascal),
            "DsColorBrandPrimaryHover"
        );
        assert_eq!(name(p, Some(""), NameCase::Camel), "colorBrandPrimaryHover");
    }

    #[test]
    fn identifiers_are_valid_in_code() {
        assert_eq!(
            identifier("2xl", None, NameCase::Camel, JS_RESERVED),
            "_2xl"
        );
        assert_eq!(
            identifier("default", None, NameCase::Camel, JS_RESERVED),
            "_default"
        );
        assert_eq!(
            identifier("thème.ñ", None, NameCase::Camel, JS_RESERVED),
            "th_me_"
        );
        assert_eq!(
            identifier("$root", None, NameCase::Camel, JS_RESERVED),
            "token"
        );
    }
}
