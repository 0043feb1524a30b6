//! The verified vectors of `alarm-managers.md` §3.3 (with Tocsin's [REC] differences: trimming,
//! duplicate keys rejected), ordering errors, quoting and the render round trip.

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
