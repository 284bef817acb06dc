//! Durations: an integer number of seconds, or the grammar of the npm `ms` package
//! ("15 minutes", "48 hours", "1h", "7d", "2.5 hrs", "500ms") that the libraries we
//! replace accept. A number with no unit is seconds (as `expiresIn: 60` is in
//! jsonwebtoken), not milliseconds as in `ms` itself.

use super::error::{Error, Result};

/// Longest duration accepted: 1000 years keeps every deadline far inside i64 milliseconds.
const MAX_MS: f64 = 1000.0 * 365.25 * 86_400_000.0;

/// Parses a duration into milliseconds. Zero is allowed; negative is not.
pub fn parse_ms(text: &str) -> Result<i64> {
    let bad = || {
        Error::syntax(format!(
            "invalid duration '{}': use seconds or a value like 500ms, 90s, 15m, 2.5h, 7d, 1w, 1y",
            shorten(text)
        ))
    };
    let s = text.trim();
    if s.is_empty() || s.len() > 100 {
        return Err(bad());
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    if number.is_empty() || number.ends_with('.') || number.matches('.').count() > 1 {
        return Err(bad());
    }
    if let Some(magnitude) = number.strip_prefix('-') {
        if magnitude.contains('-') {
            return Err(bad());
        }
        return Err(Error::syntax(format!(
            "duration '{}' must not be negative",
            shorten(text)
        )));
    }
    if number.contains('-') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let factor = unit_ms(&unit).ok_or_else(bad)?;
    let ms = (value * factor).round();
    if !ms.is_finite() || ms > MAX_MS {
        return Err(Error::syntax(format!(
            "duration '{}' is too long",
            shorten(text)
        )));
    }
    Ok(ms as i64)
}

/// Parses a duration that must be strictly positive.
pub fn parse_positive_ms(text: &str) -> Result<i64> {
    let ms = parse_ms(text)?;
    if ms <= 0 {
        return Err(Error::syntax(format!(
            "duration '{}' must be positive",
            shorten(text)
        )));
    }
    Ok(ms)
}

fn unit_ms(unit: &str) -> Option<f64> {
    const S: f64 = 1000.0;
    const M: f64 = 60.0 * S;
    const H: f64 = 60.0 * M;
    const D: f64 = 24.0 * H;
    Some(match unit {
        "" => S,
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => S,
        "m" | "min" | "mins" | "minute" | "minutes" => M,
        "h" | "hr" | "hrs" | "hour" | "hours" => H,
        "d" | "day" | "days" => D,
        "w" | "week" | "weeks" => 7.0 * D,
        "y" | "yr" | "yrs" | "year" | "years" => 365.25 * D,
        _ => return None,
    })
}

/// Error messages echo user input, bounded so a huge argument cannot bloat a reply.
fn shorten(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(parse_ms("60").unwrap(), 60_000);
        assert_eq!(parse_ms("1.5").unwrap(), 1_500);
        assert_eq!(parse_ms("0").unwrap(), 0);
        assert_eq!(parse_ms(".5").unwrap(), 500);
    }

    #[test]
    fn ms_grammar() {
        assert_eq!(parse_ms("15 minutes").unwrap(), 900_000);
        assert_eq!(parse_ms("48 hours").unwrap(), 172_800_000);
        assert_eq!(parse_ms("1h").unwrap(), 3_600_000);
        assert_eq!(parse_ms("7d").unwrap(), 604_800_000);
        assert_eq!(parse_ms("2.5 hrs").unwrap(), 9_000_000);
        assert_eq!(parse_ms("500ms").unwrap(), 500);
        assert_eq!(parse_ms("1 Week").unwrap(), 604_800_000);
        assert_eq!(parse_ms("1y").unwrap(), 31_557_600_000);
        assert_eq!(parse_ms("2 SECS").unwrap(), 2_000);
        assert_eq!(parse_ms("3 min").unwrap(), 180_000);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            " ",
            "abc",
            "1x",
            "1.2.3",
            "1.",
            "--1",
            "1-",
            "5 lightyears",
            "h",
            "1e9",
            "0x10",
        ] {
            let e = parse_ms(bad).unwrap_err();
            assert_eq!(e.code, super::super::error::Code::Err, "{bad}");
        }
        assert!(parse_ms(&"9".repeat(101)).is_err());
        assert!(parse_ms("100000y").is_err());
    }

    #[test]
    fn negative_and_zero() {
        assert!(parse_ms("-1").unwrap_err().msg.contains("negative"));
        assert!(parse_ms("-5m").is_err());
        assert!(parse_positive_ms("0").unwrap_err().msg.contains("positive"));
        assert!(parse_positive_ms("0.0001").is_err());
        assert_eq!(parse_positive_ms("1ms").unwrap(), 1);
    }
}
