//! `tinct auth token`: mints a development token from the configured secret.

use std::time::Duration;

use tinct_service::Config;

use crate::args::TokenArgs;

/// The token, or a message saying what to fix.
pub fn token(config: &Config, args: &TokenArgs) -> Result<String, String> {
    let ttl = parse_ttl(&args.ttl)?;
    let scopes: Vec<String> = args
        .scopes
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err("--scopes needs at least one of tokens:read, tokens:write, admin".to_owned());
    }
    tinct_service::auth::mint(config, &args.sub, &scopes, ttl).map_err(|e| e.to_string())
}

/// `45s`, `30m`, `12h`, `7d`.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let wrong =
        || format!("--ttl takes a number and a unit (s, m, h or d), e.g. 30m or 12h, not '{text}'");
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = (text.get(..split).ok_or_else(wrong)?, &text[split..]);
    let n: u64 = number.parse().map_err(|_| wrong())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(wrong()),
    };
    match n.checked_mul(unit_secs) {
        Some(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn ttls_need_a_unit() {
        assert_eq!(parse_ttl("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_ttl("12h").unwrap().as_secs(), 43_200);
        assert_eq!(parse_ttl("7d").unwrap().as_secs(), 604_800);
        for bad in ["", "h", "90", "0m", "1w", "-1h", "1.5h"] {
            let err = parse_ttl(bad).unwrap_err();
            assert!(err.contains("e.g. 30m"), "{bad}: {err}");
        }
    }
}
