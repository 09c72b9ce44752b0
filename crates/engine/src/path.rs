//! Token path rules and "did you mean" suggestions.

/// Most segments a path may have; keeps exported JSON nesting shallow.
pub const MAX_SEGMENTS: usize = 64;
/// The reserved name of a group's root token (`color.accent.$root`).
pub const ROOT_TOKEN: &str = "$root";
/// Longest path in bytes.
pub const MAX_PATH_BYTES: usize = 512;

const HINT: &str = "a valid path is dot-separated names like \"color.brand.primary\", \
                    where no name is empty, starts with '$' or contains braces, spaces or control characters";

/// Why a token path was rejected. Every message ends with what a valid path looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the token path is empty; {}", HINT)]
    Empty,
    #[error(
        "the token path is {len} bytes long, more than the {} allowed; {}",
        MAX_PATH_BYTES,
        HINT
    )]
    TooLong { len: usize },
    #[error(
        "the token path has {count} segments, more than the {} allowed; {}",
        MAX_SEGMENTS,
        HINT
    )]
    TooManySegments { count: usize },
    #[error(
        "the token path {path:?} has an empty name at position {position} (a leading, trailing or doubled '.'); {}",
        HINT
    )]
    EmptySegment { path: String, position: usize },
    #[error(
        "the name {segment:?} in token path {path:?} starts with '$', which is reserved for DTCG properties such as $value; {}",
        HINT
    )]
    ReservedPrefix { path: String, segment: String },
    #[error(
        "the name {segment:?} in token path {path:?} contains {ch:?}, which is not allowed; {}",
        HINT
    )]
    InvalidChar {
        path: String,
        segment: String,
        ch: char,
    },
}

/// Checks `path` against the path rules (see [`PathError`] for each rule).
pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong { len: path.len() });
    }
    let count = path.split('.').count();
    if count > MAX_SEGMENTS {
        return Err(PathError::TooManySegments { count });
    }
    for (i, segment) in path.split('.').enumerate() {
        if segment.is_empty() {
            return Err(PathError::EmptySegment {
                path: path.to_owned(),
                position: i + 1,
            });
        }
        // `$root` is the DTCG 2025.10 name of a group's own token, always a path's last name.
        if segment.starts_with('$') && !(segment == ROOT_TOKEN && i + 1 == count) {
            return Err(PathError::ReservedPrefix {
                path: path.to_owned(),
                segment: segment.to_owned(),
            });
        }
        if let Some(ch) = segment
            .chars()
            .find(|&c| c == '{' || c == '}' || c.is_whitespace() || c.is_control())
        {
            return Err(PathError::InvalidChar {
                path: path.to_owned(),
                segment: segment.to_owned(),
                ch,
            });
        }
    }
    Ok(())
}

/// Up to `n` candidates closest to `target` by edit distance over the whole path, nearest first and
/// ties alphabetical. Candidates further than `max(3, target chars / 2)` are unrelated and skipped.
pub fn nearest_paths<'a>(
    target: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    n: usize,
) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let target: Vec<char> = target.chars().collect();
    let limit = (target.len() / 2).max(3);
    let mut distance = Distance::default();
    let mut hits: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| distance.within(&target, c, limit).map(|d| (d, c)))
        .collect();
    hits.sort_unstable();
    hits.dedup();
    hits.into_iter()
        .take(n)
        .map(|(_, c)| c.to_owned())
        .collect()
}

/// Levenshtein distance with reusable buffers, giving up as soon as it must exceed a limit
/// (suggestions scan every path of a tree, so most comparisons end after a few rows).
#[derive(Default)]
pub(crate) struct Distance {
    other: Vec<char>,
    prev: Vec<usize>,
    cur: Vec<usize>,
}

impl Distance {
    /// The edit distance between `a` and `b`, or `None` when it is greater than `limit`.
    pub(crate) fn within(&mut self, a: &[char], b: &str, limit: usize) -> Option<usize> {
        self.other.clear();
        self.other.extend(b.chars());
        let b = &self.other;
        if a.len().abs_diff(b.len()) > limit {
            return None;
        }
        self.prev.clear();
        self.prev.extend(0..=b.len());
        self.cur.clear();
        self.cur.resize(b.len() + 1, 0);
        for (i, &ca) in a.iter().enumerate() {
            self.cur[0] = i + 1;
            let mut row_min = self.cur[0];
            for (j, &cb) in b.iter().enumerate() {
                let substitute = self.prev[j] + usize::from(ca != cb);
                let d = substitute.min(self.prev[j + 1] + 1).min(self.cur[j] + 1);
                self.cur[j + 1] = d;
                row_min = row_min.min(d);
            }
            if row_min > limit {
                return None;
            }
            std::mem::swap(&mut self.prev, &mut self.cur);
        }
        let d = self.prev[b.len()];
        (d <= limit).then_some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_paths() {
        for p in [
            "color",
            "color.brand.primary",
            "space.2xl",
            "font-size.body_1",
            "couleur.thème",
            "a.b$",
        ] {
            assert_eq!(validate_path(p), Ok(()), "{p}");
        }
        let max = vec!["a"; MAX_SEGMENTS].join(".");
        assert_eq!(validate_path(&max), Ok(()));
        assert_eq!(validate_path(&"a".repeat(MAX_PATH_BYTES)), Ok(()));
    }

    #[test]
    fn rejects_empty_path() {
        let err = validate_path("").unwrap_err();
        assert_eq!(err, PathError::Empty);
        assert!(err.to_string().starts_with("the token path is empty; a valid path is dot-separated names like \"color.brand.primary\""));
    }

    #[test]
    fn rejects_too_long() {
        let err = validate_path(&"a".repeat(MAX_PATH_BYTES + 1)).unwrap_err();
        assert_eq!(err, PathError::TooLong { len: 513 });
        assert!(
            err.to_string()
                .starts_with("the token path is 513 bytes long, more than the 512 allowed; ")
        );
    }

    #[test]
    fn rejects_too_many_segments() {
        let err = validate_path(&vec!["a"; MAX_SEGMENTS + 1].join(".")).unwrap_err();
        assert_eq!(err, PathError::TooManySegments { count: 65 });
        assert!(
            err.to_string()
                .starts_with("the token path has 65 segments, more than the 64 allowed; ")
        );
    }

    #[test]
    fn rejects_empty_segments() {
        for (p, position) in [(".a", 1), ("a.", 2), ("a..b", 2), (".", 1)] {
            let err = validate_path(p).unwrap_err();
            assert_eq!(
                err,
                PathError::EmptySegment {
                    path: p.into(),
                    position
                }
            );
        }
        assert!(validate_path("a..b").unwrap_err().to_string().starts_with(
            "the token path \"a..b\" has an empty name at position 2 (a leading, trailing or doubled '.'); "
        ));
    }

    #[test]
    fn rejects_dollar_prefix() {
        let err = validate_path("color.$value").unwrap_err();
        assert_eq!(
            err,
            PathError::ReservedPrefix {
                path: "color.$value".into(),
                segment: "$value".into()
            }
        );
        assert!(
            err.to_string()
                .contains("starts with '$', which is reserved")
        );
        assert_eq!(validate_path("color.va$lue"), Ok(()));
        assert_eq!(validate_path("color.accent.$root"), Ok(()));
        assert!(validate_path("color.$root.light").is_err());
        assert!(validate_path("$root").is_ok());
    }

    #[test]
    fn rejects_braces_whitespace_and_control_chars() {
        for (p, ch) in [
            ("color.{brand}", '{'),
            ("color.brand}", '}'),
            ("color.brand primary", ' '),
            ("color.brand\tx", '\t'),
            ("color.\u{7}", '\u{7}'),
            ("color.a\u{a0}b", '\u{a0}'),
        ] {
            match validate_path(p).unwrap_err() {
                PathError::InvalidChar { ch: got, .. } => assert_eq!(got, ch, "{p}"),
                other => panic!("{p}: {other:?}"),
            }
        }
        let msg = validate_path("color.brand primary")
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with(
            "the name \"brand primary\" in token path \"color.brand primary\" contains ' ', which is not allowed; "
        ));
    }

    #[test]
    fn nearest_orders_by_distance_then_alphabet() {
        let paths = [
            "color.brand.primary",
            "color.brand.secondary",
            "color.brand.primarz",
            "color.brand.primaty",
            "space.small",
        ];
        assert_eq!(
            nearest_paths("color.brand.primery", paths, 3),
            // primarz and primaty are both 2 edits away: alphabetical
            [
                "color.brand.primary",
                "color.brand.primarz",
                "color.brand.primaty"
            ]
        );
        assert_eq!(
            nearest_paths("color.brand.primery", paths, 1),
            ["color.brand.primary"]
        );
    }

    #[test]
    fn nearest_skips_unrelated_and_duplicates() {
        let paths = ["space.small", "color.red", "color.red", "zzzzzzzzzzzzzz"];
        assert_eq!(nearest_paths("color.rad", paths, 5), ["color.red"]);
        assert!(nearest_paths("color.rad", paths, 0).is_empty());
        assert!(nearest_paths("x", ["abcdefgh"], 3).is_empty());
        // short targets still allow three edits
        assert_eq!(nearest_paths("ab", ["abcde", "abcdef"], 3), ["abcde"]);
    }

    #[test]
    fn distance_is_levenshtein_with_limit() {
        let mut d = Distance::default();
        let kitten: Vec<char> = "kitten".chars().collect();
        assert_eq!(d.within(&kitten, "sitting", 10), Some(3));
        assert_eq!(d.within(&kitten, "sitting", 2), None);
        assert_eq!(d.within(&kitten, "kitten", 0), Some(0));
        assert_eq!(d.within(&[], "abc", 3), Some(3));
        assert_eq!(d.within(&kitten, "", 6), Some(6));
        let tot: Vec<char> = "thème".chars().collect();
        assert_eq!(d.within(&tot, "theme", 3), Some(1));
    }
}
