//! Nested JSON: one object level per path segment, resolved values at the leaves.
//!
//! Written iteratively from a segment-sorted list, so even paths with thousands of segments
//! cannot exhaust the stack.

use std::borrow::Cow;

use serde_json::Value;

use super::{ExportOptions, Format, token_name};
use crate::{Resolved, ResolvedToken};

/// Holds the value of a token that is also a group (`a` when `a.b` exists). No valid path
/// segment starts with `$`, so it cannot collide with a child.
const GROUP_VALUE_KEY: &str = "$value";

pub(super) fn render(resolved: &Resolved) -> String {
    nested(resolved, GROUP_VALUE_KEY, |token| {
        Cow::Borrowed(&token.value)
    })
}

/// One key per token name, in path order.
pub(super) fn render_flat(resolved: &Resolved, options: &ExportOptions) -> String {
    let mut w = Writer {
        out: String::with_capacity(64 + resolved.tokens.len() * 48),
        open: Vec::new(),
        has_members: vec![false],
    };
    w.out.push('{');
    for (path, token) in &resolved.tokens {
        w.key(&token_name(path, Format::JsonFlat, options));
        w.value(&token.value);
    }
    if w.has_members[0] {
        w.out.push('\n');
    }
    w.out.push_str("}\n");
    w.out
}

/// Groups nested by path segment with `leaf(token)` at each token; a token that is also a
/// group is written under `group_key` inside it.
pub(super) fn nested(
    resolved: &Resolved,
    group_key: &str,
    leaf: impl for<'t> Fn(&'t ResolvedToken) -> Cow<'t, Value>,
) -> String {
    let mut entries: Vec<(Vec<&str>, &ResolvedToken)> = resolved
        .tokens
        .iter()
        .map(|(path, token)| (path.split('.').collect(), token))
        .collect();
    // By segments, not by whole string ("a-b" < "a.z" but "a" < "a-b"), so groups are contiguous.
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let mut w = Writer {
        out: String::with_capacity(64 + entries.len() * 48),
        open: Vec::new(),
        has_members: vec![false],
    };
    w.out.push('{');
    for (i, (segments, value)) in entries.iter().enumerate() {
        let Some((key, groups)) = segments.split_last() else {
            continue;
        };
        let common = w
            .open
            .iter()
            .zip(groups)
            .take_while(|(a, b)| a == b)
            .count();
        while w.open.len() > common {
            w.close();
        }
        for group in &groups[common..] {
            w.open_group(group);
        }
        let has_children = entries
            .get(i + 1)
            .is_some_and(|(next, _)| next.len() > segments.len() && next.starts_with(segments));
        if has_children {
            w.open_group(key);
            w.key(group_key);
        } else {
            w.key(key);
        }
        w.value(&leaf(value));
    }
    while !w.open.is_empty() {
        w.close();
    }
    if w.has_members[0] {
        w.out.push('\n');
    }
    w.out.push_str("}\n");
    w.out
}

struct Writer<'a> {
    out: String,
    /// Segments of the groups currently open, outermost first.
    open: Vec<&'a str>,
    /// Per open level (root first): whether it has a member yet, i.e. needs a comma.
    has_members: Vec<bool>,
}

impl<'a> Writer<'a> {
    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    fn key(&mut self, key: &str) {
        if let Some(has) = self.has_members.last_mut() {
            if *has {
                self.out.push(',');
            }
            *has = true;
        }
        self.out.push('\n');
        self.indent(self.open.len() + 1);
        string(&mut self.out, key);
        self.out.push_str(": ");
    }

    fn open_group(&mut self, segment: &'a str) {
        self.key(segment);
        self.out.push('{');
        self.open.push(segment);
        self.has_members.push(false);
    }

    fn close(&mut self) {
        self.open.pop();
        if self.has_members.pop() == Some(true) {
            self.out.push('\n');
            self.indent(self.open.len() + 1);
        }
        self.out.push('}');
    }

    /// `value` pretty-printed and re-indented to the current level.
    fn value(&mut self, value: &Value) {
        let pretty = format!("{value:#}");
        let level = self.open.len() + 1;
        for (i, line) in pretty.split('\n').enumerate() {
            if i > 0 {
                self.out.push('\n');
                self.indent(level);
            }
            self.out.push_str(line);
        }
    }
}

/// A JSON string literal.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenType;
    use serde_json::json;

    fn resolved(tokens: Vec<(&str, Value)>) -> Resolved {
        Resolved {
            tokens: tokens
                .into_iter()
                .map(|(path, value)| {
                    let token = ResolvedToken {
                        token_type: TokenType::Number,
                        value,
                        source: "root".into(),
                        alias_chain: vec![],
                        description: None,
                        deprecated: None,
                        extensions: None,
                        original: None,
                    };
                    (path.to_owned(), token)
                })
                .collect(),
        }
    }

    #[test]
    fn groups_stay_together_whatever_the_string_order() {
        let out = render(&resolved(vec![
            ("a-b", json!(1)),
            ("a.z", json!(2)),
            ("a.c.d", json!(3)),
        ]));
        assert_eq!(
            out,
            "{\n  \"a\": {\n    \"c\": {\n      \"d\": 3\n    },\n    \"z\": 2\n  },\n  \"a-b\": 1\n}\n"
        );
    }

    #[test]
    fn token_that_is_also_a_group_keeps_its_value_under_dollar_value() {
        let out = render(&resolved(vec![
            ("a", json!(1)),
            ("a.b", json!(2)),
            ("b", json!([])),
        ]));
        assert_eq!(
            out,
            "{\n  \"a\": {\n    \"$value\": 1,\n    \"b\": 2\n  },\n  \"b\": []\n}\n"
        );
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, json!({"a": {"$value": 1, "b": 2}, "b": []}));
    }

    #[test]
    fn keys_are_escaped() {
        let out = render(&resolved(vec![("q\"\\\n\u{1}", json!("x"))]));
        assert_eq!(out, "{\n  \"q\\\"\\\\\\n\\u0001\": \"x\"\n}\n");
        assert!(serde_json::from_str::<Value>(&out).is_ok());
    }

    #[test]
    fn very_deep_paths_do_not_recurse() {
        let path = vec!["s"; 3_000].join(".");
        let out = render(&resolved(vec![(&path, json!(1))]));
        assert!(out.ends_with("}\n"));
        assert_eq!(out.matches('{').count(), 3_000);
    }
}
