//! The grammar's verified vectors (with Tocsin's deliberate differences, `docs/rules.md`:
//! trimming, duplicate keys rejected), ordering errors, quoting and the render round trip.

use super::*;
use crate::rules::Key::{self, *};

fn dim(key: &str) -> Key {
    Key::Dimension(key.into())
}

fn pairs(items: &[(Key, &str)]) -> Selector {
    items.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
}

#[test]
fn group_vectors() {
    let spec = parse_group("excluding metric_two").unwrap();
    assert_eq!(spec, GroupSpec { group_by: vec![], exclusions: pairs(&[(MetricName, "metric_two")]) });

    let spec = parse_group("excluding {__severity__=HIGH, hostname=host1} group by __severity__, hostname").unwrap();
    assert_eq!(spec.group_by, vec![Severity, dim("hostname")]);
    assert_eq!(spec.exclusions, pairs(&[(Severity, "HIGH"), (dim("hostname"), "host1")]));

    assert_eq!(parse_group("group by excluding").unwrap().group_by, vec![dim("excluding")], "excluding is an acceptable key");

    let spec = parse_group("excluding cpu_perc group by hostname").unwrap();
    assert_eq!(spec, GroupSpec { group_by: vec![dim("hostname")], exclusions: pairs(&[(MetricName, "cpu_perc")]) });

    let spec = parse_group("excluding {__alarmName__=cpu_perc_high, __metricName__=cpu_perc} group by __alarmName__, hostname").unwrap();
    assert_eq!(spec.group_by, vec![AlarmName, dim("hostname")]);
    assert_eq!(spec.exclusions, pairs(&[(AlarmName, "cpu_perc_high"), (MetricName, "cpu_perc")]));

    assert_eq!(parse_group("").unwrap(), GroupSpec::default());
}

#[test]
fn group_errors() {
    for (expression, says) in [
        ("group by hostname excluding {hostname=a}", "'excluding' must come before 'group by'"),
        ("group by host name", "found \"name\""),
        ("excluding a excluding b", "appears twice"),
        ("targets metric_one", "'targets' is not allowed"),
        ("source metric_one", "'source' is not allowed"),
        ("group hostname", "expected 'by'"),
        ("group by", "expected a key"),
        ("group by ,a", "expected a key"),
        ("group by a,", "expected a key"),
        ("group by a, a", "listed twice"),
    ] {
        let error = parse_group(expression).unwrap_err();
        assert!(error.message.contains(says) || error.to_string().contains(says), "{expression:?}: {error}");
    }
}

#[test]
fn inhibit_vectors() {
    let spec = parse_inhibit("source metric_one targets metric_two excluding metric_three group by hostname").unwrap();
    assert_eq!(
        spec,
        InhibitSpec {
            source: pairs(&[(MetricName, "metric_one")]),
            target: pairs(&[(MetricName, "metric_two")]),
            equal: vec![dim("hostname")],
            exclusions: pairs(&[(MetricName, "metric_three")]),
        }
    );
    let spec = parse_inhibit("source hostAlive group by hostname").unwrap();
    assert_eq!(spec, InhibitSpec { source: pairs(&[(MetricName, "hostAlive")]), equal: vec![dim("hostname")], ..Default::default() });

    let spec = parse_inhibit("source {__severity__=HIGH} targets {__severity__=LOW} excluding {__alarmName__=alarm_one} group by __alarmName__").unwrap();
    assert_eq!(spec.source, pairs(&[(Severity, "HIGH")]));
    assert_eq!(spec.target, pairs(&[(Severity, "LOW")]));
    assert_eq!(spec.exclusions, pairs(&[(AlarmName, "alarm_one")]));
    assert_eq!(spec.equal, vec![AlarmName]);

    let error = parse_inhibit("targets metric_two source metric_one").unwrap_err();
    assert!(error.message.contains("'source' must come before 'targets'"), "{error}");
    assert_eq!(error.position, 19);
}

#[test]
fn silence_vectors() {
    let spec = parse_silence("targets metric_one{hostname=host_one, region=region_one}").unwrap();
    assert_eq!(spec.matchers, pairs(&[(MetricName, "metric_one"), (dim("hostname"), "host_one"), (dim("region"), "region_one")]));
    assert_eq!(parse_silence("targets {__notificationName__=hipChat}").unwrap().matchers, pairs(&[(NotificationName, "hipChat")]));
    for (expression, says) in [
        ("excludes metric_one", "found \"excludes\""),
        ("source metric_one", "'source' is not allowed"),
        ("group by hostname", "'group by' is not allowed"),
        ("targets metric_one, {hostname=host_one}", "found \",\""),
        ("excluding a", "'excluding' is not allowed"),
    ] {
        let error = parse_silence(expression).unwrap_err();
        assert!(error.message.contains(says), "{expression:?}: {error}");
    }
}

#[test]
fn tocsin_trims_rejects_duplicates_and_resolves_aliases() {
    assert_eq!(parse_silence("targets {hostname = host1 }").unwrap().matchers, pairs(&[(dim("hostname"), "host1")]));
    assert_eq!(parse_group("group by hostName ").unwrap().group_by, vec![dim("hostName")]);
    assert_eq!(parse_group("group   by a").unwrap().group_by, vec![dim("a")], "any whitespace between group and by");

    let error = parse_silence("targets {a=1, a=2}").unwrap_err();
    assert!(error.message.contains("duplicate key \"a\""), "{error}");
    assert_eq!(error.position, 14);
    let error = parse_silence("targets {severity=HIGH, __severity__=LOW}").unwrap_err();
    assert!(error.message.contains("duplicate key \"__severity__\""), "aliases are the same key: {error}");
    assert!(parse_silence("targets cpu{__metricName__=cpu}").is_err(), "the metric name is the __metricName__ key");

    let spec = parse_inhibit("source {severity=CRITICAL} targets {severity=HIGH} excluding {severity=LOW} group by alarmName").unwrap();
    assert_eq!(spec.source, pairs(&[(Severity, "CRITICAL")]));
    assert_eq!(spec.equal, vec![AlarmName]);
    assert_eq!(parse_group("excluding {alarm_name=cpu_percent_high} group by hostname").unwrap().exclusions, pairs(&[(AlarmName, "cpu_percent_high")]));
}

#[test]
fn unbalanced_and_malformed_selectors_point_at_the_problem() {
    let error = parse_silence("targets {hostname=host1").unwrap_err();
    assert_eq!(error.message, "expected '}' to close the selector opened at character 8");
    let error = parse_silence("targets {hostname}").unwrap_err();
    assert!(error.message.contains("expected '=' after key \"hostname\""), "{error}");
    let error = parse_silence("targets {=x}").unwrap_err();
    assert!(error.message.contains("expected a key"), "{error}");
    let error = parse_silence("targets").unwrap_err();
    assert!(error.message.contains("needs a selector"), "{error}");
    let error = parse_silence("targets 9lives").unwrap_err();
    assert!(error.message.contains("must start with a letter"), "{error}");
    let error = parse_silence("targets {a=\"open}").unwrap_err();
    assert!(error.message.contains("not closed"), "{error}");
}

#[test]
fn quoted_values_carry_delimiters() {
    let spec = parse_silence(r#"targets {service="a,b}=c", "odd key"="x \"y\" \\ z"}"#).unwrap();
    assert_eq!(spec.matchers, pairs(&[(dim("service"), "a,b}=c"), (dim("odd key"), r#"x "y" \ z"#)]));
    assert_eq!(parse_silence(&render_silence(&spec)).unwrap(), spec);
}

#[test]
fn rendering_is_canonical_and_parses_back() {
    let group = parse_group("excluding {alarm_name=cpu, hostname=h1} group by hostname, severity").unwrap();
    assert_eq!(render_group(&group), "excluding {__alarmName__=cpu, hostname=h1} group by hostname, __severity__");
    let inhibit = parse_inhibit("source hostAlive{hostname=h} targets {severity=LOW} group by hostname").unwrap();
    assert_eq!(render_inhibit(&inhibit), "source hostAlive{hostname=h} targets {__severity__=LOW} group by hostname");
    let silence = parse_silence("targets {hostname=h1, __metricName__=cpu}").unwrap();
    assert_eq!(render_silence(&silence), "targets {hostname=h1, __metricName__=cpu}", "a metric name not first stays in braces");
    assert_eq!(render_silence(&SilenceSpec::default()), "");

    // Round trips over the vectors and generated specs with awkward values.
    let values = ["a", "host one", " padded ", "x,y", "q\"uote", "back\\slash", "targets", "9", "ünï"];
    for (n, value) in values.iter().enumerate() {
        let spec = InhibitSpec {
            source: pairs(&[(MetricName, value), (dim(&format!("k{n}")), value)]),
            target: pairs(&[(Severity, value)]),
            equal: vec![dim("hostname"), AlarmName],
            exclusions: pairs(&[(dim("service"), value)]),
        };
        let text = render_inhibit(&spec);
        assert_eq!(parse_inhibit(&text).unwrap(), spec, "{text}");
    }
}

/// Found by the properties below: a `group by` key with inner whitespace (the JSON form accepts
/// `"matchers": ["host name"]`) rendered bare, so the stored expression did not parse back.
#[test]
fn group_by_keys_with_whitespace_are_quoted() {
    let spec = GroupSpec { group_by: vec![dim("hostname hostname")], exclusions: vec![] };
    assert_eq!(render_group(&spec), "group by \"hostname hostname\"");
    assert_eq!(parse_group(&render_group(&spec)).unwrap(), spec);
}

/// Property tests: no text makes a parser panic; an error points at a character of the text
/// and says what is wrong; an accepted expression renders to text that parses back to the
/// same spec, and rendering is a fixed point. Texts are random, or token soup of the grammar's
/// own words and punctuation; specs are also generated directly, with keys and values that
/// need quoting. Cases per property come from `PROPTEST_CASES` (256 when unset);
/// `scripts/fuzz.sh` runs them long.
mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    /// Words and punctuation of the grammar, key spellings, awkward characters.
    const TOKENS: &[&str] = &[
        "source", "targets", "excluding", "group", "by", "group by", "{", "}", "=", ",", "\"", "\\", "\\\"", "\\\\", " ", "  ", "\t",
        "\n", "hostname", "service", "__severity__", "severity", "alarm_name", "__alarmName__", "alarmName", "__metricName__",
        "__notificationName__", "__type__", "__address__", "__state__", "__", "HIGH", "h1", "cpu.user_perc", "9lives", "x=y", "é",
        "日本", "🦀", "\u{a0}", "\u{2028}", "\u{3000}", "\u{85}", "\u{0}", "\u{7f}", "\u{feff}",
    ];

    /// Up to `max` tokens, each followed by a space or not.
    fn token_soup(max: usize) -> impl Strategy<Value = String> {
        let token = prop_oneof![8 => select(TOKENS).prop_map(str::to_owned), 1 => "\\PC{0,4}", 1 => any::<char>().prop_map(String::from)];
        let separator = select(vec!["", " "]);
        prop::collection::vec((token, separator), 0..max).prop_map(|parts| parts.into_iter().map(|(t, s)| t + s).collect())
    }

    /// Mostly the shape of a selector (a name, then braces holding pairs), made of soup.
    fn selector_soup() -> impl Strategy<Value = String> {
        let pair = (token_soup(3), select(vec!["=", "=", ""]), token_soup(3)).prop_map(|(k, eq, v)| format!("{k}{eq}{v}"));
        let braces = (prop::option::of(word()), prop::collection::vec(pair, 0..4), select(vec![", ", ",", " "]), select(vec!["}", "}", ""]))
            .prop_map(|(name, pairs, separator, close)| format!("{}{{{}{close}", name.unwrap_or_default(), pairs.join(separator)));
        prop_oneof![3 => braces, 1 => word(), 1 => token_soup(6)]
    }

    /// The sections in any order, each followed by a selector or a list of keys made of soup.
    fn section_soup() -> impl Strategy<Value = String> {
        let keys = prop::collection::vec(word(), 0..4).prop_map(|keys| keys.join(", "));
        let section = prop_oneof![
            (select(vec!["source", "targets", "excluding"]), selector_soup()).prop_map(|(section, selector)| format!("{section} {selector}")),
            keys.prop_map(|keys| format!("group by {keys}")),
        ];
        prop::collection::vec((section, select(vec![" ", "  ", "\n", ""])), 0..5).prop_map(|parts| parts.into_iter().map(|(p, s)| p + s).collect())
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![4 => token_soup(24), 4 => section_soup(), 1 => any::<String>(), 1 => "[ -~]{0,40}"]
    }

    /// Text for a key or a value: a keyword spelling, a plain word, or anything.
    fn word() -> impl Strategy<Value = String> {
        prop_oneof![select(TOKENS).prop_map(str::to_owned), "[a-z_]{1,8}", any::<String>(), token_soup(4)]
    }

    /// Keys as the parser and the API make them (aliases resolved), without repeats.
    fn keys(non_empty: bool) -> impl Strategy<Value = Vec<Key>> {
        prop::collection::vec(word(), 0..4).prop_map(move |raws| {
            let mut keys: Vec<Key> = Vec::new();
            for key in raws.iter().filter(|raw| !(non_empty && raw.is_empty())).map(|raw| Key::parse(raw)) {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            keys
        })
    }

    fn selector() -> impl Strategy<Value = Selector> {
        (keys(false), prop::collection::vec(word(), 4)).prop_map(|(keys, values)| keys.into_iter().zip(values).collect())
    }

    fn inhibit_spec() -> impl Strategy<Value = InhibitSpec> {
        (selector(), selector(), keys(true), selector()).prop_map(|(source, target, equal, exclusions)| InhibitSpec { source, target, equal, exclusions })
    }

    /// An error's position is a character boundary within the text, and it has a message.
    fn check_error(text: &str, error: &AqlError) -> Result<(), TestCaseError> {
        prop_assert!(!error.message.is_empty());
        prop_assert!(error.position <= text.len() && text.is_char_boundary(error.position), "{:?} at {} of {:?}", error.message, error.position, text);
        Ok(())
    }

    /// Parses `text`; an accepted spec renders to canonical text that parses back equal.
    fn check<S: PartialEq + std::fmt::Debug>(text: &str, parse: fn(&str) -> Result<S, AqlError>, render: fn(&S) -> String) -> Result<(), TestCaseError> {
        match parse(text) {
            Err(error) => check_error(text, &error)?,
            Ok(spec) => {
                let canonical = render(&spec);
                match parse(&canonical) {
                    Ok(back) => prop_assert_eq!(&back, &spec, "{:?} renders to {:?}", text, canonical),
                    Err(error) => prop_assert!(false, "{:?} renders to {:?}, which does not parse: {}", text, canonical, error),
                }
                prop_assert_eq!(render(&parse(&canonical).expect("parsed above")), canonical);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_text_is_an_error_or_round_trips(text in text()) {
            check(&text, parse_group, render_group)?;
            check(&text, parse_inhibit, render_inhibit)?;
            check(&text, parse_silence, render_silence)?;
        }

        #[test]
        fn every_spec_renders_to_text_that_parses_back(spec in inhibit_spec()) {
            let text = render_inhibit(&spec);
            prop_assert_eq!(parse_inhibit(&text), Ok(spec.clone()), "{}", text);
            let group = GroupSpec { group_by: spec.equal.clone(), exclusions: spec.exclusions.clone() };
            prop_assert_eq!(parse_group(&render_group(&group)), Ok(group));
            let silence = SilenceSpec { matchers: spec.target };
            prop_assert_eq!(parse_silence(&render_silence(&silence)), Ok(silence));
        }
    }
}
