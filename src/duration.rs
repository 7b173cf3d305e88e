//! Durations as people write them in stacks: `20ms`, `5s`, `2m`, `12h`, `90d`, `10y`,
//! and combinations such as `1h30m`. A year is 365 days, as PCA counts validity in days.

use std::time::Duration;

const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 7 * 86_400_000),
    ("y", 365 * 86_400_000),
];

/// Parses a duration; the error says what was expected.
pub fn parse(text: &str) -> Result<Duration, String> {
    let expected = || {
        format!("expected a duration such as 20ms, 5s, 2m, 12h, 90d or 10y, found {text:?}")
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(expected());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(expected)?;
        if digits == 0 {
            return Err(expected());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| expected())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let (_, millis) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(expected)?;
        total = number
            .checked_mul(*millis)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration in the largest exact unit (`90d`, `1500ms`).
pub fn format(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in UNITS.iter().rev() {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse("20ms").unwrap(), Duration::from_millis(20));
        assert_eq!(parse("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1825d").unwrap(), Duration::from_secs(1825 * 86400));
        assert_eq!(parse("10y").unwrap(), Duration::from_secs(3650 * 86400));
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        for bad in ["", "5", "s", "5 parsecs", "-5s", "1.5h"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("expected a duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_in_largest_exact_unit() {
        assert_eq!(format(Duration::from_secs(90 * 86400)), "90d");
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::from_secs(7200)), "2h");
    }
}
