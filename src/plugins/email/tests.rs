//! Exact texts: the worked example of Monasca's email format and monasca-notification's email tests, compared with
//! the bytes Python's email package produced for the same input (generated with Python 3.11's
//! `MIMEText`/`Header`/`as_string()` and Monasca's templates, Date fixed).

use super::message::{self, Composed};
use super::*;
use crate::config::{Reader, Source};
use crate::model::Notification;
use serde_json::{json, Value};

const DATE: &str = "Sun, 22 Nov 2026 02:09:48 +0000";
/// U+0928 DEVANAGARI LETTER NA, the character monasca-notification's tests use.
const NA: &str = "\u{928}";

fn notification(alarm: Value, address: &str) -> Notification {
    let mut alarm = alarm;
    let inner = alarm.as_object_mut().unwrap();
    for (key, value) in [("alarmDefinitionId", json!("def")), ("actionsEnabled", json!(true))] {
        inner.entry(key).or_insert(value);
    }
    let message = json!({ "alarm-transitioned": alarm });
    let alarm = crate::ingest::decode(Some(message.to_string().as_bytes()), 1 << 20).unwrap();
    let method = crate::model::NotificationMethod {
        id: "1".into(),
        kind: "email".into(),
        name: Some("email notification".into()),
        address: Some(address.into()),
        period: 0,
    };
    Notification::new(method, std::sync::Arc::new(alarm))
}

/// The alarm of monasca-notification's email tests (`timestamp` fixed instead of `time.time()`).
fn test_alarm(metrics: Value) -> Value {
    json!({"tenantId": "0", "alarmId": "0", "alarmName": format!("test Alarm {NA}"), "oldState": "OK",
           "newState": "ALARM", "severity": "LOW", "link": "some-link", "lifecycleState": "OPEN",
           "stateChangeReason": format!("I am alarming!{NA}"), "timestamp": 1429023453632u64, "metrics": metrics})
}

/// An alarm as Monasca's threshold engine publishes it.
fn thresh_alarm() -> Value {
    json!({"tenantId": "62f7a7a314904aa3ab137d569d6b4fde", "alarmId": "20a54a65-44b8-4ac9-a398-1f2d888827d2",
           "alarmDefinitionId": "78ce7b53-f7e6-4b51-88d0-cb741e7dc906",
           "metrics": [{"id": null, "name": "cpu.user_perc", "dimensions": {"hostname": "operator", "service": "monitoring"}}],
           "alarmName": "dummy_alarm", "alarmDescription": "Dummy alarm", "oldState": "OK", "newState": "ALARM",
           "actionsEnabled": true,
           "stateChangeReason": "Thresholds were exceeded for the sub-alarms: count(cpu.user_perc, deterministic) >= 1.0 with the values: [1.0]",
           "severity": "LOW", "link": null, "lifecycleState": null, "subAlarms": [], "timestamp": 1556703552123u64})
}

/// Python's `as_string()` output as it arrives at the server: CRLF line ends, and the final
/// line end belongs to the SMTP end-of-data sequence.
fn as_sent(python: &str) -> String {
    python.strip_suffix('\n').unwrap().replace('\n', "\r\n")
}

fn raw(composed: &Composed) -> String {
    String::from_utf8(message::mime(composed, "hpcs.mon@hp.com", "me@here.com", DATE)).unwrap()
}

/// Header values by name, and the decoded body, of a message as sent.
fn parse(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let headers = head.split("\r\n").map(|l| l.split_once(": ").map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect();
    let body = STANDARD.decode(body.replace("\r\n", "")).unwrap();
    (headers, String::from_utf8(body).unwrap())
}

/// Decodes one or more RFC 2047 words (`=?utf-8?b|q?...?=`) separated by folding.
fn decode_words(value: &str) -> String {
    let mut bytes = Vec::new();
    for word in value.split("\r\n ") {
        let inner = word.strip_prefix("=?utf-8?").and_then(|w| w.strip_suffix("?=")).unwrap();
        let (kind, text) = inner.split_once('?').unwrap();
        match kind {
            "b" => bytes.extend(STANDARD.decode(text).unwrap()),
            "q" => {
                let mut it = text.bytes();
                while let Some(b) = it.next() {
                    match b {
                        b'_' => bytes.push(b' '),
                        b'=' => {
                            let hex = [it.next().unwrap(), it.next().unwrap()];
                            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
                        }
                        b => bytes.push(b),
                    }
                }
            }
            other => panic!("unknown encoding {other}"),
        }
    }
    String::from_utf8(bytes).unwrap()
}

#[test]
fn the_worked_example_of_the_specification() {
    let composed = message::compose(&notification(thresh_alarm(), "me@here.com"), None);
    assert_eq!(composed.subject, "ALARM LOW \"dummy_alarm\" for Host: operator");
    assert_eq!(
        composed.body,
        "On host \"operator\" thresholds were exceeded for the sub-alarms: count(cpu.user_perc, deterministic) >= 1.0 with the values: [1.0]\n\
         \n\
         Alarm \"dummy_alarm\" transitioned to the ALARM state at Wed May  1 09:39:12 2019 UTC\n\
         alarm_id: 20a54a65-44b8-4ac9-a398-1f2d888827d2\n\
         \n\
         Lifecycle state: None\n\
         Link: None\n\
         Link to Grafana: None\n\
         \n\
         With dimensions:\n\
         [\n  {\n    hostname: operator,\n    service: monitoring\n  } \n]"
    );
    assert_eq!(
        raw(&composed),
        as_sent(
            "Content-Type: text/plain; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\
             Subject: =?utf-8?q?ALARM_LOW_=22dummy=5Falarm=22_for_Host=3A_operator?=\nFrom: hpcs.mon@hp.com\nTo: me@here.com\n\
             Date: Sun, 22 Nov 2026 02:09:48 +0000\n\n\
             T24gaG9zdCAib3BlcmF0b3IiIHRocmVzaG9sZHMgd2VyZSBleGNlZWRlZCBmb3IgdGhlIHN1Yi1h\n\
             bGFybXM6IGNvdW50KGNwdS51c2VyX3BlcmMsIGRldGVybWluaXN0aWMpID49IDEuMCB3aXRoIHRo\n\
             ZSB2YWx1ZXM6IFsxLjBdCgpBbGFybSAiZHVtbXlfYWxhcm0iIHRyYW5zaXRpb25lZCB0byB0aGUg\n\
             QUxBUk0gc3RhdGUgYXQgV2VkIE1heSAgMSAwOTozOToxMiAyMDE5IFVUQwphbGFybV9pZDogMjBh\n\
             NTRhNjUtNDRiOC00YWM5LWEzOTgtMWYyZDg4ODgyN2QyCgpMaWZlY3ljbGUgc3RhdGU6IE5vbmUK\n\
             TGluazogTm9uZQpMaW5rIHRvIEdyYWZhbmE6IE5vbmUKCldpdGggZGltZW5zaW9uczoKWwogIHsK\n\
             ICAgIGhvc3RuYW1lOiBvcGVyYXRvciwKICAgIHNlcnZpY2U6IG1vbml0b3JpbmcKICB9IApd\n"
        )
    );
}

/// monasca-notification `test_email_notification_single_host`, plus the exact bytes.
#[test]
fn single_host_with_unicode_in_name_reason_and_dimensions() {
    let metrics = json!([{"name": "cpu.percent", "dimensions": {"hostname": format!("foo1{NA}"), format!("service{NA}"): "bar1"}}]);
    let composed = message::compose(&notification(test_alarm(metrics), "me@here.com"), None);
    let sent = raw(&composed);
    assert_eq!(
        sent,
        as_sent(
            "Content-Type: text/plain; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\
             Subject: =?utf-8?b?QUxBUk0gTE9XICJ0ZXN0IEFsYXJtIOCkqCIgZm9yIEhvc3Q6IGZvbzHgpKg=?=\nFrom: hpcs.mon@hp.com\n\
             To: me@here.com\nDate: Sun, 22 Nov 2026 02:09:48 +0000\n\n\
             T24gaG9zdCAiZm9vMeCkqCIgaSBhbSBhbGFybWluZyHgpKgKCkFsYXJtICJ0ZXN0IEFsYXJtIOCk\n\
             qCIgdHJhbnNpdGlvbmVkIHRvIHRoZSBBTEFSTSBzdGF0ZSBhdCBUdWUgQXByIDE0IDE0OjU3OjMz\n\
             IDIwMTUgVVRDCmFsYXJtX2lkOiAwCgpMaWZlY3ljbGUgc3RhdGU6IE9QRU4KTGluazogc29tZS1s\n\
             aW5rCkxpbmsgdG8gR3JhZmFuYTogTm9uZQoKV2l0aCBkaW1lbnNpb25zOgpbCiAgewogICAgaG9z\n\
             dG5hbWU6IGZvbzHgpKgsCiAgICBzZXJ2aWNl4KSoOiBiYXIxCiAgfSAKXQ==\n"
        )
    );
    // The assertions of the Python test, on the parsed message.
    let (headers, body) = parse(&sent);
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["Content-Type", "MIME-Version", "Content-Transfer-Encoding", "Subject", "From", "To", "Date"]);
    assert_eq!(headers[4].1, "hpcs.mon@hp.com");
    assert_eq!(headers[5].1, "me@here.com");
    assert!(headers[0].1.starts_with("text/plain"));
    assert_eq!(headers[2].1, "base64");
    let subject = decode_words(&headers[3].1);
    assert!(subject.starts_with("ALARM LOW \"test Alarm ") && subject.contains("\" for Host: foo1"), "{subject}");
    for expected in ["Alarm \"test Alarm", "On host \"foo1", NA, "Link: some-link", "Lifecycle state: OPEN"] {
        assert!(body.contains(expected), "{expected:?} missing from {body}");
    }
}

/// monasca-notification `test_email_notification_target_host`.
#[test]
fn single_host_with_a_target_host() {
    let metrics = json!([{"name": "cpu.percent", "dimensions": {"hostname": format!("foo1{NA}"), format!("service{NA}"): "bar1", "target_host": "some_where"}}]);
    let composed = message::compose(&notification(test_alarm(metrics), "me@here.com"), None);
    assert_eq!(composed.subject, format!("ALARM LOW \"test Alarm {NA}\" for Host: foo1{NA} Target: some_where"));
    assert!(composed.body.starts_with(&format!("On host \"foo1{NA}\" for target \"some_where\" i am alarming!{NA}\n\n")));
    assert_eq!(
        raw(&composed),
        as_sent(
            "Content-Type: text/plain; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\
             Subject: =?utf-8?b?QUxBUk0gTE9XICJ0ZXN0IEFsYXJtIOCkqCIgZm9yIEhvc3Q6IGZvbzHgpKggVGFyZ2V0OiBzb21lX3doZXJl?=\n\
             From: hpcs.mon@hp.com\nTo: me@here.com\nDate: Sun, 22 Nov 2026 02:09:48 +0000\n\n\
             T24gaG9zdCAiZm9vMeCkqCIgZm9yIHRhcmdldCAic29tZV93aGVyZSIgaSBhbSBhbGFybWluZyHg\n\
             pKgKCkFsYXJtICJ0ZXN0IEFsYXJtIOCkqCIgdHJhbnNpdGlvbmVkIHRvIHRoZSBBTEFSTSBzdGF0\n\
             ZSBhdCBUdWUgQXByIDE0IDE0OjU3OjMzIDIwMTUgVVRDCmFsYXJtX2lkOiAwCgpMaWZlY3ljbGUg\n\
             c3RhdGU6IE9QRU4KTGluazogc29tZS1saW5rCkxpbmsgdG8gR3JhZmFuYTogTm9uZQoKV2l0aCBk\n\
             aW1lbnNpb25zOgpbCiAgewogICAgaG9zdG5hbWU6IGZvbzHgpKgsCiAgICBzZXJ2aWNl4KSoOiBi\n\
             YXIxLAogICAgdGFyZ2V0X2hvc3Q6IHNvbWVfd2hlcmUKICB9IApd\n"
        )
    );
}

/// monasca-notification `worktest_email_notification_multiple_hosts` (disabled there), with a
/// Grafana URL: the multiple-hosts template.
#[test]
fn several_hosts_use_the_multiple_hosts_template() {
    let metrics = json!([{"name": "cpu.percent", "dimensions": {"hostname": "foo1", "service": "bar1"}},
                         {"name": "cpu.percent", "dimensions": {"hostname": "foo2", "service": "bar2"}}]);
    let composed = message::compose(&notification(test_alarm(metrics), "me@here.com"), Some("http://127.0.0.1:3000"));
    assert_eq!(composed.subject, format!("ALARM LOW \"test Alarm {NA}\" "));
    assert_eq!(
        composed.body,
        format!(
            "On multiple hosts i am alarming!{NA}\n\nAlarm \"test Alarm {NA}\" transitioned to the ALARM state at Tue Apr 14 14:57:33 2015 UTC\n\
             Alarm_id: 0\n\nLifecycle state: OPEN\nLink: some-link\n\
             Link to Grafana: http://127.0.0.1:3000/dashboard/script/drilldown.js?metric=cpu.percent&hostname=foo1&service=bar1&from=1429022853000&to=1429024053000\n\n\
             With dimensions\n[\n  {{\n    hostname: foo1,\n    service: bar1\n  }},\n  {{\n    hostname: foo2,\n    service: bar2\n  }} \n]"
        )
    );
    assert_eq!(
        raw(&composed),
        as_sent(
            "Content-Type: text/plain; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\
             Subject: =?utf-8?b?QUxBUk0gTE9XICJ0ZXN0IEFsYXJtIOCkqCIg?=\nFrom: hpcs.mon@hp.com\nTo: me@here.com\n\
             Date: Sun, 22 Nov 2026 02:09:48 +0000\n\n\
             T24gbXVsdGlwbGUgaG9zdHMgaSBhbSBhbGFybWluZyHgpKgKCkFsYXJtICJ0ZXN0IEFsYXJtIOCk\n\
             qCIgdHJhbnNpdGlvbmVkIHRvIHRoZSBBTEFSTSBzdGF0ZSBhdCBUdWUgQXByIDE0IDE0OjU3OjMz\n\
             IDIwMTUgVVRDCkFsYXJtX2lkOiAwCgpMaWZlY3ljbGUgc3RhdGU6IE9QRU4KTGluazogc29tZS1s\n\
             aW5rCkxpbmsgdG8gR3JhZmFuYTogaHR0cDovLzEyNy4wLjAuMTozMDAwL2Rhc2hib2FyZC9zY3Jp\n\
             cHQvZHJpbGxkb3duLmpzP21ldHJpYz1jcHUucGVyY2VudCZob3N0bmFtZT1mb28xJnNlcnZpY2U9\n\
             YmFyMSZmcm9tPTE0MjkwMjI4NTMwMDAmdG89MTQyOTAyNDA1MzAwMAoKV2l0aCBkaW1lbnNpb25z\n\
             ClsKICB7CiAgICBob3N0bmFtZTogZm9vMSwKICAgIHNlcnZpY2U6IGJhcjEKICB9LAogIHsKICAg\n\
             IGhvc3RuYW1lOiBmb28yLAogICAgc2VydmljZTogYmFyMgogIH0gCl0=\n"
        )
    );
}

#[test]
fn metrics_without_a_hostname_use_the_multiple_hosts_template() {
    let metrics = json!([{"name": "cpu.percent", "dimensions": {"service": "bar1"}}]);
    let composed = message::compose(&notification(test_alarm(metrics), "me@here.com"), None);
    assert_eq!(composed.subject, format!("ALARM LOW \"test Alarm {NA}\" "));
    assert!(composed.body.starts_with(&format!("On multiple hosts i am alarming!{NA}\n\n")));
    assert!(composed.body.ends_with("Alarm_id: 0\n\nLifecycle state: OPEN\nLink: some-link\nLink to Grafana: None\n\nWith dimensions\n[\n  {\n    service: bar1\n  } \n]"));
}

/// Monasca failed every email of an alarm without metrics (`metrics[0]`); it is now sent.
#[test]
fn an_alarm_without_metrics_is_rendered() {
    let composed = message::compose(&notification(test_alarm(json!([])), "me@here.com"), Some("http://127.0.0.1:3000"));
    assert_eq!(composed.subject, format!("ALARM LOW \"test Alarm {NA}\" "));
    assert!(composed.body.ends_with("Link to Grafana: None\n\nWith dimensions\n[\n \n]"), "{}", composed.body);
    let metric_without_dimensions = json!([{"name": "cpu.percent"}]);
    let composed = message::compose(&notification(test_alarm(metric_without_dimensions), "me@here.com"), None);
    assert!(composed.body.ends_with("With dimensions\n[\n  {\n\n  } \n]"), "{}", composed.body);
}

/// monasca-notification `test_get_link_url`: path, host and query (compared as pairs).
#[test]
fn grafana_link_of_monascas_test() {
    let metric = crate::model::Metric { name: "cpu.percent".into(), dimensions: vec![("hostname".into(), "foo1".into()), ("service".into(), "bar1".into())] };
    let link = message::grafana_link("http://127.0.0.1:3000", &metric, 1429023453000);
    assert_eq!(link, "http://127.0.0.1:3000/dashboard/script/drilldown.js?metric=cpu.percent&hostname=foo1&service=bar1&from=1429022853000&to=1429024053000");
    let url = url::Url::parse(&link).unwrap();
    assert_eq!((url.path(), url.host_str(), url.port()), ("/dashboard/script/drilldown.js", Some("127.0.0.1"), Some(3000)));
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let expected = [("metric", "cpu.percent"), ("hostname", "foo1"), ("service", "bar1"), ("from", "1429022853000"), ("to", "1429024053000")];
    assert_eq!(query, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
}

#[test]
fn grafana_link_encodes_the_query_and_keeps_one_slash() {
    let metric = crate::model::Metric {
        name: "disk space".into(),
        dimensions: vec![("mount".into(), "/var&tmp".into()), (format!("service{NA}"), "a=b".into())],
    };
    let link = message::grafana_link("https://grafana.example/", &metric, 2_000_000);
    assert_eq!(
        link,
        "https://grafana.example/dashboard/script/drilldown.js?metric=disk+space&mount=%2Fvar%26tmp&service%E0%A4%A8=a%3Db&from=1400000&to=2600000"
    );
    let url = url::Url::parse(&link).unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(query[1], ("mount".into(), "/var&tmp".into()));
    assert_eq!(query[2], (format!("service{NA}"), "a=b".into()));
}

#[test]
fn subjects_are_encoded_as_pythons_header_does() {
    let cases = [
        // Mostly ASCII: quoted-printable is shorter; `_`, `"` and `:` are escaped.
        ("ALARM LOW \"dummy_alarm\" for Host: operator", "=?utf-8?q?ALARM_LOW_=22dummy=5Falarm=22_for_Host=3A_operator?="),
        // Base64 only when strictly shorter.
        (&*format!("ALARM LOW \"test Alarm {NA}\" "), "=?utf-8?b?QUxBUk0gTE9XICJ0ZXN0IEFsYXJtIOCkqCIg?="),
        ("OK", "=?utf-8?q?OK?="),
    ];
    for (subject, encoded) in cases {
        assert_eq!(message::encode_header(subject), encoded, "{subject}");
        assert_eq!(decode_words(encoded), subject);
    }
}

/// Python writes one word however long; a subject that would break RFC 5322's line limit is
/// split into words of at most 75 characters on folded lines, never inside a character.
#[test]
fn overlong_subjects_fold_into_several_words() {
    for subject in [format!("ALARM LOW \"{}\" ", "a".repeat(1200)), format!("ALARM LOW \"{}\" ", NA.repeat(600))] {
        let encoded = message::encode_header(&subject);
        assert!(encoded.split("\r\n ").count() > 1);
        assert!(encoded.split("\r\n ").all(|word| word.len() <= 75), "{encoded}");
        assert_eq!(decode_words(&encoded), subject);
    }
}

#[test]
fn non_ascii_addresses_are_encoded_and_ascii_ones_kept() {
    let composed = Composed { subject: "s".into(), body: "b".into() };
    let sent = String::from_utf8(message::mime(&composed, "Ops <ops@example.com>", &format!("j{NA}@example.com"), DATE)).unwrap();
    assert!(sent.contains("\r\nFrom: Ops <ops@example.com>\r\n"), "{sent}");
    assert!(sent.contains("\r\nTo: =?utf-8?b?auCkqEBleGFtcGxlLmNvbQ==?=\r\n"), "{sent}");
}

#[test]
fn body_lines_are_76_characters_of_base64() {
    let composed = Composed { subject: "s".into(), body: "x".repeat(100) };
    let sent = raw(&composed);
    let body = sent.split_once("\r\n\r\n").unwrap().1;
    // Python: base64.encodebytes(b"x" * 100), newlines as CRLF, the last one left to SMTP.
    assert_eq!(body, "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\r\neHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA==");
}

#[test]
fn dates_are_formatted_as_pythons_formatdate() {
    use chrono::TimeZone;
    let zone = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
    assert_eq!(message::date_header(zone.with_ymd_and_hms(2026, 11, 2, 3, 9, 48).unwrap()), "Mon, 02 Nov 2026 03:09:48 +0200");
    assert_eq!(message::date_header(chrono::Utc.with_ymd_and_hms(2019, 5, 1, 9, 39, 12).unwrap()), "Wed, 01 May 2019 09:39:12 +0000");
    assert_eq!(message::asctime(1556703552), "Wed May  1 09:39:12 2019");
    assert_eq!(message::asctime(1429023453), "Tue Apr 14 14:57:33 2015");
}

#[test]
fn recipients_are_split_on_commas() {
    let to = |a: &str| recipients(a).map(|v| v.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    assert_eq!(to("me@here.com"), Ok(vec!["me@here.com".to_owned()]));
    assert_eq!(to(" a@x.org, b@y.org ,c@z.org"), Ok(vec!["a@x.org".to_owned(), "b@y.org".to_owned(), "c@z.org".to_owned()]));
    let errors = [
        ("", "no email address given"),
        (" , ", "no email address given"),
        ("a@x.org,,b@y.org", "\"a@x.org,,b@y.org\" has an empty entry between commas"),
        ("a@x.org, not-an-address", "\"not-an-address\" is not an email address"),
        ("http://mock:3333/", "\"http://mock:3333/\" is not an email address"),
        ("me@here.com\r\nBcc: x@y.org", "\"me@here.com\\r\\nBcc: x@y.org\" is not an email address"),
    ];
    for (address, message) in errors {
        assert_eq!(to(address), Err(message.to_owned()), "{address:?}");
    }
}

#[test]
fn senders_may_carry_a_display_name() {
    assert_eq!(sender_address("hpcs.mon@hp.com").unwrap().to_string(), "hpcs.mon@hp.com");
    assert_eq!(sender_address("Monasca <monasca@example.com>").unwrap().to_string(), "monasca@example.com");
    assert!(sender_address("Monasca").unwrap_err().contains("is not an email address"));
}

fn read(ini: &str) -> Result<EmailConfig, crate::config::Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.conf");
    std::fs::write(&path, ini).unwrap();
    let source = Source::read(&path).unwrap();
    EmailConfig::read(&Reader::new(&source))
}

#[test]
fn options_default_to_monascas() {
    let config = read("[email_notifier]\n").unwrap();
    let rendered = config.render_masked();
    let expected = [
        ("server", ""), ("port", "25"), ("user", ""), ("password", ""), ("timeout", "5"), ("from_addr", ""),
        ("grafana_url", ""), ("tls", "none"), ("ca_certs", ""), ("insecure", "false"),
    ];
    assert_eq!(rendered, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
}

#[test]
fn options_are_read_and_the_password_masked() {
    let config = read(
        "[email_notifier]\nserver = smtp.example.com\nport = 587\nuser = monasca\npassword = hunter2\ntimeout = 15\n\
         from_addr = Monasca <monasca@example.com>\ngrafana_url = http://grafana:3000\ntls = STARTTLS\nca_certs = /etc/ca.pem\ninsecure = false\n",
    )
    .unwrap();
    assert_eq!(config.tls, TlsMode::StartTls);
    assert_eq!(config.credentials(), Some(("monasca", "hunter2")));
    let rendered = config.render_masked();
    assert!(rendered.contains(&("password".to_owned(), "****".to_owned())));
    assert!(rendered.iter().all(|(_, v)| !v.contains("hunter2")));
    assert!(!format!("{config:?}").contains("hunter2"), "{config:?}");
    assert!(rendered.contains(&("port".to_owned(), "587".to_owned())));
}

#[test]
fn bad_options_name_file_line_section_and_key() {
    let cases = [
        ("[email_notifier]\ntls = ssl\n", ":2: [email_notifier] tls: expected none, starttls or tls, found \"ssl\""),
        ("[email_notifier]\n\nport = 70000\n", ":3: [email_notifier] port: must be at most 65535, found 70000"),
        ("[email_notifier]\ntimeout = 0\n", ":2: [email_notifier] timeout: must be at least 1, found 0"),
        ("[email_notifier]\nfrom_addr = monasca\n", ":2: [email_notifier] from_addr: \"monasca\" is not an email address"),
        ("[email_notifier]\nserver = smtp://x\n", ":2: [email_notifier] server: expected a host name or address"),
        ("[email_notifier]\ninsecure = maybe\n", ":2: [email_notifier] insecure: expected true or false"),
    ];
    for (ini, expected) in cases {
        let error = read(ini).unwrap_err().to_string();
        assert!(error.contains("n.conf") && error.contains(expected), "{error}");
    }
}

/// Monasca's default configuration enables email with no server: the plugin builds, and each
/// send fails as permanent with a message saying what to configure.
#[tokio::test]
async fn without_a_server_the_plugin_builds_and_sends_fail_permanently() {
    let email = Email::new(&EmailConfig::default(), 4).unwrap();
    assert_eq!((email.kind(), email.statsd_name(), email.timeout()), ("email", "sent_smtp_count", Duration::from_secs(5)));
    assert_eq!(email.validate_address("me@here.com"), Ok(()));
    let error = email.send(&notification(thresh_alarm(), "me@here.com")).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Invalid, false));
    assert_eq!(error.detail, "no SMTP server is configured ([email_notifier] server)");

    let config = EmailConfig { server: Some("127.0.0.1".into()), ..EmailConfig::default() };
    let error = Email::new(&config, 4).unwrap().send(&notification(thresh_alarm(), "me@here.com")).await.unwrap_err();
    assert_eq!((error.reason, error.detail.as_str()), (Reason::Invalid, "no sender is configured ([email_notifier] from_addr)"));
}

#[tokio::test]
async fn an_invalid_method_address_fails_permanently_before_connecting() {
    let config = EmailConfig { server: Some("127.0.0.1".into()), port: 9, from_addr: Some("a@b.org".into()), ..EmailConfig::default() };
    let email = Email::new(&config, 1).unwrap();
    let error = email.send(&notification(thresh_alarm(), "ops@example.com, nobody")).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Invalid, false));
    assert_eq!(error.detail, "\"nobody\" is not an email address");
}

#[test]
fn an_unreadable_ca_bundle_stops_the_build() {
    let config = EmailConfig {
        server: Some("127.0.0.1".into()),
        from_addr: Some("a@b.org".into()),
        tls: TlsMode::StartTls,
        ca_certs: Some("/nonexistent/ca.pem".into()),
        ..EmailConfig::default()
    };
    let error = Email::new(&config, 1).err().expect("the build fails").to_string();
    assert!(error.starts_with("cannot set up the email plugin: cannot read ca_certs /nonexistent/ca.pem"), "{error}");
}
