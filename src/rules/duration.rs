//! Rule durations (`group_wait`, `repeat_interval`, `silence_duration`, `wait_time`): whole
//! numbers of days, hours, minutes and seconds written together, largest unit first, each unit
//! at most once (`1d4h`, `30s`, `2d3h4m5s`, `0s`). The grammar of the alarm-manager blueprint;
//! its API never validated it, Tocsin does, so a typo is a 422 instead of a rule that never fires.
//!
//! Pure text ↔ [`Duration`]; it must not know which rule field it is parsing.

use std::time::Duration;

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
const EXPECTED: &str = "expected whole numbers with units d, h, m, s, largest first, e.g. 30s, 10m, 2h, 1d4h";

/// The longest duration [`parse`] accepts: 100 years, 36525 days. A rule's durations are
/// tenant input that Tocsin adds to times (a silence's end, hold and group due times, the
/// admin tool's dates); with this bound every such sum stays far inside chrono's range and i64
/// milliseconds, where an unbounded `999999999d` (2.7 million years) overflowed chrono.
pub const MAX: Duration = Duration::from_secs(36_525 * 86_400);

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
        total = amount
            .checked_mul(UNITS[position].1)
            .and_then(|seconds| total.checked_add(seconds))
            .filter(|total| *total <= MAX.as_secs())
            .ok_or_else(|| format!("{text:?} is too long: at most {} (100 years)", format(MAX)))?;
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
            ("36525d1s", "at most 36525d (100 years)"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }

    /// `999999999d` fits the API's ten characters and parsed; a silence that long overflowed
    /// chrono where `tocsin silence` computes its end (the properties below find it too).
    #[test]
    fn durations_are_at_most_100_years() {
        assert_eq!(parse("36525d"), Ok(MAX));
        assert_eq!(parse("876600h"), Ok(MAX), "the bound is on the total, in any unit");
        for text in ["999999999d", "36524d24h1s", "3155760001s"] {
            assert!(parse(text).unwrap_err().contains("is too long: at most 36525d (100 years)"), "{text}");
        }
    }

    #[test]
    fn format_is_canonical_and_parses_back() {
        for (seconds, text) in [(0, "0s"), (30, "30s"), (90, "1m30s"), (7_200, "2h"), (100_800, "1d4h"), (183_845, "2d3h4m5s")] {
            assert_eq!(format(Duration::from_secs(seconds)), text);
            assert_eq!(parse(text), Ok(Duration::from_secs(seconds)));
        }
    }

    /// Property tests: no text makes [`parse`] panic and an error says what to fix; accepted
    /// durations are at most [`MAX`], format canonically and parse back equal, and stay
    /// representable when added to any timestamp Tocsin accepts. Texts are random, or soup of
    /// digits (up to 25 of them, past u64) and units. Cases per property come from
    /// `PROPTEST_CASES` (256 when unset); `scripts/fuzz.sh` runs them long.
    mod properties {
        use super::*;
        use crate::ingest::TIMESTAMP_LIMIT_MS;
        use chrono::{DateTime, TimeDelta};
        use proptest::prelude::*;

        fn text() -> impl Strategy<Value = String> {
            let part = prop_oneof![
                "[0-9]{0,25}[dhms]",
                "[0-9]{1,6}",
                prop::sample::select(vec!["-", "+", " ", ".", "1e3", "٣", "１", "ｄ", "D", "H", "0d", "00s", "\u{0}"]).prop_map(str::to_owned),
            ];
            prop_oneof![4 => prop::collection::vec(part, 0..6).prop_map(|parts| parts.concat()), 1 => any::<String>()]
        }

        fn check(text: &str) -> Result<(), TestCaseError> {
            match parse(text) {
                Err(message) => prop_assert!(!message.is_empty()),
                Ok(duration) => {
                    prop_assert!(duration <= MAX, "{:?} parses to {:?}", text, duration);
                    prop_assert_eq!(parse(&format(duration)), Ok(duration));
                    let latest = DateTime::from_timestamp_millis(TIMESTAMP_LIMIT_MS as i64 - 1).expect("year 9999");
                    let delta = TimeDelta::from_std(duration).expect("100 years fit a TimeDelta");
                    prop_assert!(latest.checked_add_signed(delta).is_some());
                    prop_assert!((TIMESTAMP_LIMIT_MS as i64).checked_add(delta.num_milliseconds()).is_some());
                }
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn any_text_is_an_error_or_a_bounded_duration(text in text()) {
                check(&text)?;
            }

            #[test]
            fn every_duration_up_to_the_bound_formats_and_parses_back(seconds in prop_oneof![0..=MAX.as_secs(), Just(MAX.as_secs()), 0u64..100_000]) {
                let duration = Duration::from_secs(seconds);
                prop_assert_eq!(parse(&format(duration)), Ok(duration));
                check(&format(duration))?;
            }
        }
    }
}
