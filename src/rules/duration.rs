//! Rule durations (`group_wait`, `repeat_interval`, `silence_duration`, `wait_time`): whole
//! numbers of days, hours, minutes and seconds written together, largest unit first, each unit
//! at most once (`1d4h`, `30s`, `2d3h4m5s`, `0s`). The grammar of the alarm-manager blueprint;
//! its API never validated it, Tocsin does, so a typo is a 422 instead of a rule that never fires.
//!
//! Pure text ↔ [`Duration`]; it must not know which rule field it is parsing.

use std::time::Duration;

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
const EXPECTED: &str = "expected whole numbers with units d, h, m, s, largest first, e.g. 30s, 10m, 2h, 1d4h";

/// Parses `<int>d|h|m|s` concatenated; the message says what to fix.
pub fn parse(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err(format!("empty duration: {EXPECTED}"));
    }
    let mut total: u64 = 0;
    let mut next_unit = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let Some(position) = UNITS.iter().position(|(unit, _)| *unit == c) else {
            return Err(format!("{text:?}: {c:?} is not a unit; {EXPECTED}"));
        };
        if digits.is_empty() {
            return Err(format!("{text:?}: unit {c:?} has no number before it; {EXPECTED}"));
        }
        if position < next_unit {
            return Err(format!("{text:?}: unit {c:?} repeated or out of order; {EXPECTED}"));
        }
        let amount: u64 = digits.parse().map_err(|_| format!("{text:?}: {digits} is too large"))?;
        let seconds = amount.checked_mul(UNITS[position].1).ok_or_else(|| format!("{text:?} is too long"))?;
        total = total.checked_add(seconds).ok_or_else(|| format!("{text:?} is too long"))?;
        next_unit = position + 1;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!("{text:?}: {digits} has no unit; {EXPECTED}"));
    }
    Ok(Duration::from_secs(total))
}

/// The canonical text of a duration (`1d4h`, `30s`, `0s`); sub-second parts are dropped.
pub fn format(duration: Duration) -> String {
    let mut rest = duration.as_secs();
    if rest == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    for (unit, seconds) in UNITS {
        if rest >= seconds {
            text.push_str(&format!("{}{unit}", rest / seconds));
            rest %= seconds;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blueprint_examples_parse() {
        assert_eq!(parse("2d3h4m5s"), Ok(Duration::from_secs(2 * 86_400 + 3 * 3_600 + 4 * 60 + 5)));
        assert_eq!(parse("1d4h"), Ok(Duration::from_secs(28 * 3_600)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)), "a unit may exceed the next larger one");
    }

    #[test]
    fn bad_durations_say_what_a_good_one_looks_like() {
        for (text, says) in [
            ("", "empty"),
            ("10", "no unit"),
            ("1y", "not a unit"),
            ("h", "no number"),
            ("4h1d", "out of order"),
            ("1h1h", "repeated"),
            ("1 h", "not a unit"),
            ("-1s", "not a unit"),
            ("99999999999999999999d", "too large"),
            ("999999999999999d", "too long"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }

    #[test]
    fn format_is_canonical_and_parses_back() {
        for (seconds, text) in [(0, "0s"), (30, "30s"), (90, "1m30s"), (7_200, "2h"), (100_800, "1d4h"), (183_845, "2d3h4m5s")] {
            assert_eq!(format(Duration::from_secs(seconds)), text);
            assert_eq!(parse(text), Ok(Duration::from_secs(seconds)));
        }
    }
}
