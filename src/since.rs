//! The one parser for `--since` (`pushguard log` and `pushguard audit`): a date, an RFC 3339
//! time, or an age counted back from now.

use std::time::SystemTime;

use anyhow::Result;

use crate::outcome::WithHint;
use crate::text::escape;

/// Parses `--since`: `2026-01-31` (midnight UTC), `2026-01-31T12:00:00Z`, or an age such as
/// `7d`, `12h` or `2weeks`, counted back from now.
pub fn parse(text: &str) -> Result<SystemTime> {
    parse_at(text, SystemTime::now())
}

/// Parses `--since` with `now` as the moment ages count back from.
pub fn parse_at(text: &str, now: SystemTime) -> Result<SystemTime> {
    let t = text.trim();
    if let Ok(age) = humantime::parse_duration(t) {
        return Ok(now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_owned()
    };
    // Neither parser's own message fits both readings ("unknown unit", "timestamp format"),
    // so the error says what was expected.
    humantime::parse_rfc3339_weak(&full)
        .map_err(|_| {
            anyhow::anyhow!(
                "invalid --since `{}`: not a date, a time or an age",
                escape(text, 60)
            )
        })
        .hint("give a date (2026-01-31), a time (2026-01-31T12:00:00Z) or an age (7d, 12h)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_times_and_ages() {
        let now = humantime::parse_rfc3339("2026-02-10T00:00:00Z").unwrap();
        let day = Duration::from_secs(86_400);
        assert_eq!(parse_at("7d", now).unwrap(), now - 7 * day);
        assert_eq!(parse_at(" 12h ", now).unwrap(), now - day / 2);
        assert_eq!(
            parse_at("2026-01-31", now).unwrap(),
            humantime::parse_rfc3339("2026-01-31T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_at("2026-01-31T12:00:00Z", now).unwrap(),
            humantime::parse_rfc3339("2026-01-31T12:00:00Z").unwrap()
        );
        let e = format!("{:#}", parse_at("last tuesday", now).unwrap_err());
        assert!(e.contains("invalid --since `last tuesday`"), "{e}");
    }
}
