//! Cron expressions, in UTC: five fields (minute hour day-of-month month day-of-week) or six with
//! seconds first, parsed by `croner`. Times are milliseconds since the Unix epoch.

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronExpr(croner::Cron);

impl CronExpr {
    /// Parses `text`, or says what is wrong and what a valid one looks like.
    pub fn parse(text: &str) -> Result<CronExpr, String> {
        let fields = text.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "cron expression '{text}' has {fields} fields; use five (minute hour day month \
                 weekday, e.g. \"0 3 * * *\" for 03:00 UTC daily) or six with seconds first \
                 (e.g. \"*/10 * * * * *\")"
            ));
        }
        CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(text)
            .map(CronExpr)
            .map_err(|e| {
                format!(
                    "cron expression '{text}' is invalid: {e}; e.g. \"0 3 * * *\" runs at 03:00 \
                     UTC daily"
                )
            })
    }

    /// The first firing strictly after `after_ms`.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        self.0
            .find_next_occurrence(&at(after_ms)?, false)
            .ok()
            .map(|t| t.timestamp() * 1000)
    }

    /// The last firing at or before `at_ms`.
    pub fn latest_until(&self, at_ms: i64) -> Option<i64> {
        self.0
            .find_previous_occurrence(&at(at_ms)?, true)
            .ok()
            .map(|t| t.timestamp() * 1000)
    }
}

/// Cron works in whole seconds: the time is truncated to its second.
fn at(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ms.div_euclid(1000), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn firings_follow_the_expression() {
        let every_five = CronExpr::parse("*/5 * * * *").unwrap();
        assert_eq!(every_five.next_after(0), Some(5 * MINUTE));
        assert_eq!(every_five.next_after(5 * MINUTE), Some(10 * MINUTE));
        assert_eq!(every_five.latest_until(12 * MINUTE), Some(10 * MINUTE));
        assert_eq!(every_five.latest_until(10 * MINUTE), Some(10 * MINUTE));
        let every_two_seconds = CronExpr::parse("*/2 * * * * *").unwrap();
        assert_eq!(every_two_seconds.next_after(1_000), Some(2_000));
        assert_eq!(every_two_seconds.latest_until(5_500), Some(4_000));
        // Firings fall on whole seconds whatever the start's milliseconds.
        assert_eq!(every_two_seconds.next_after(2_244), Some(4_000));
        assert_eq!(every_two_seconds.next_after(1_999), Some(2_000));
    }

    #[test]
    fn invalid_expressions_say_what_to_write() {
        for (text, says) in [
            ("* * *", "has 3 fields"),
            ("61 * * * *", "is invalid"),
            ("* * * * * * * *", "has 8 fields"),
            ("every day", "has 2 fields"),
        ] {
            let err = CronExpr::parse(text).unwrap_err();
            assert!(err.contains(says) && err.contains("0 3 * * *"), "{err}");
        }
    }
}
