//! The Jira cases of monasca-notification's `test_jira_notification.py` as exact assertions,
//! plus the JQL escaping, address, formatter and configuration rules Tocsin adds.

use super::fields::{default_fields, issue_fields, jql_string, search_jql, Fields, Target};
use super::formatter::{Formatter, Templates};
use super::*;
use crate::config::{Reader, Source};
use crate::plugins::tests::monasca_test_notification;
use serde_json::json;
use std::path::Path;

const ADDRESS: &str = "http://test.jira:3333/?project=MyProject&component=MyComponent";

/// monasca-notification's `tests/resources/test_jiraformat.yml`, byte for byte.
const TEST_JIRAFORMAT: &str = "jira_format:\n  summary: Alarm created for {{ notification.alarm_name }} with severity\n           {{ notification.state }} for {{ notification.alarm_id }}\n  description : \"{{ notification.alarm_name }}\"\n  comments :  |\n        AlarmName:   {{ notification.alarm_name }}\n        AlarmId:  {{ notification.alarm_id }}\n        AlarmTimestamp:  {{ notification.alarm_time_stamp}}\n        message:  {{ notification.message}}\n        state:  {{ notification.state}}\n        severity:  {{ notification.severity}}\n";

/// `tests/resources/test_jiraformat_without_comments.yml`.
const WITHOUT_COMMENTS: &str = "jira_format:\n  summary: Alarm created for {{ notification.alarm_name }} with severity\n           {{ notification.state }} for {{ notification.alarm_id }}\n  description : \"{{ notification.alarm_name }}\"\n";

/// `tests/resources/test_jiraformat_without_summary.yml`.
const WITHOUT_SUMMARY: &str = "jira_format:\n  description : \"{{ notification.alarm_name }}\"\n  comments :  |\n        AlarmName:   {{ notification.alarm_name }}\n";

fn render(yaml: &str) -> Fields {
    let formatter = Formatter::parse(yaml, Path::new("format.yml")).unwrap();
    Templates::new(&formatter).unwrap().render(&monasca_test_notification("jira", ADDRESS)).unwrap()
}

#[test]
fn default_fields_are_monascas() {
    let fields = default_fields(&monasca_test_notification("jira", ADDRESS));
    assert_eq!(fields.summary, "Monasca alarm for alarm_defintion test Alarm status changed to ALARM for the alarm_id 0");
    assert_eq!(fields.description, "Monasca alarm");
    // simplejson.dumps(body, indent=3): "," at line ends, three spaces per level.
    let expected = "{code}{\n   \"alarm_id\": \"0\",\n   \"alarm_definition_id\": 0,\n   \"alarm_name\": \"test Alarm\",\n   \
        \"alarm_description\": \"test Alarm description\",\n   \"alarm_timestamp\": 1429023453,\n   \"state\": \"ALARM\",\n   \
        \"old_state\": \"OK\",\n   \"message\": \"I am alarming!\",\n   \"tenant_id\": \"0\",\n   \"metrics\": [\n      {\n         \
        \"dimensions\": {\n            \"hostname\": \"foo1\",\n            \"service\": \"bar1\"\n         }\n      }\n   ]\n}{code}";
    assert_eq!(fields.comments.as_deref(), Some(expected));
}

#[test]
fn created_issue_fields_match_monascas_test() {
    let n = monasca_test_notification("jira", ADDRESS);
    let target = Target::parse(ADDRESS).unwrap();
    let issue = issue_fields(&target, &default_fields(&n), "Bug");
    assert_eq!(
        issue,
        json!({"description": "Monasca alarm", "issuetype": {"name": "Bug"}, "project": {"key": "MyProject"},
               "summary": "Monasca alarm for alarm_defintion test Alarm status changed to ALARM for the alarm_id 0",
               "components": [{"name": "MyComponent"}]})
    );
    let keys: Vec<&str> = issue.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["project", "summary", "description", "issuetype", "components"], "Monasca's key order");

    let without = Target::parse("http://test.jira:3333/?project=MyProject").unwrap();
    let issue = issue_fields(&without, &default_fields(&n), "Task");
    assert!(issue.get("components").is_none(), "no component in the address, no components key");
    assert_eq!(issue["issuetype"], json!({"name": "Task"}));
}

#[test]
fn jql_of_plain_values_is_monascas_string() {
    assert_eq!(search_jql("MyProject", "username", "0"), "project=MyProject and reporter='username' and summary ~ '0'");
    assert_eq!(
        search_jql("OPS", "monasca", "20a54a65-44b8-4ac9-a398-1f2d888827d2"),
        "project=OPS and reporter='monasca' and summary ~ '20a54a65-44b8-4ac9-a398-1f2d888827d2'"
    );
}

#[test]
fn jql_values_are_escaped() {
    let cases = [
        ("quote closes nothing", "x' or summary ~ 'y", "'x\\' or summary ~ \\'y'"),
        ("double quote", "a\"b", "'a\\\"b'"),
        ("backslash", "a\\b", "'a\\\\b'"),
        ("backslash before quote", "a\\'", "'a\\\\\\''"),
        ("newline and tab", "a\nb\tc", "'a\\nb\\tc'"),
        ("control character", "a\u{1}b", "'a\\u0001b'"),
        ("unicode stays", "zürich", "'zürich'"),
    ];
    for (name, value, expected) in cases {
        assert_eq!(jql_string(value), expected, "{name}");
    }
    let projects = [
        ("key with a space", "My Project", "project='My Project'"),
        ("injection through the project", "X or project=Y", "project='X or project=Y'"),
        ("reserved word", "EMPTY", "project='EMPTY'"),
        ("quote in the key", "O'Neil", "project='O\\'Neil'"),
        ("empty", "", "project=''"),
        ("plain key with digits", "OPS2_X", "project=OPS2_X"),
    ];
    for (name, project, start) in projects {
        let jql = search_jql(project, "u", "0");
        assert!(jql.starts_with(&format!("{start} and reporter='u'")), "{name}: {jql}");
    }
    assert_eq!(search_jql("P", "o'brien", "0"), "project=P and reporter='o\\'brien' and summary ~ '0'");
}

#[test]
fn addresses_are_taken_apart_like_monasca() {
    let target = Target::parse(ADDRESS).unwrap();
    assert_eq!(target.server.as_str(), "http://test.jira:3333/");
    assert_eq!((target.project.as_str(), target.component.as_deref()), ("MyProject", Some("MyComponent")));
    assert_eq!(target.endpoint(&["search"]).as_str(), "http://test.jira:3333/rest/api/2/search");

    let cases = [
        ("https://jira.example/jira/?project=OPS", "https://jira.example/jira/rest/api/2/issue/OPS-1/comment"),
        ("https://jira.example/jira?project=OPS#x", "https://jira.example/jira/rest/api/2/issue/OPS-1/comment"),
        ("https://u:secret@jira.example?project=OPS", "https://jira.example/rest/api/2/issue/OPS-1/comment"),
    ];
    for (address, comment_url) in cases {
        let target = Target::parse(address).unwrap();
        assert_eq!(target.endpoint(&["issue", "OPS-1", "comment"]).as_str(), comment_url, "{address}");
    }
    let decoded = Target::parse("https://j.example/?project=My+Project&component=Web%20UI&project=Other").unwrap();
    assert_eq!((decoded.project.as_str(), decoded.component.as_deref()), ("My Project", Some("Web UI")));
    let blank = Target::parse("https://j.example/?project=&component=&project=OPS").unwrap();
    assert_eq!((blank.project.as_str(), blank.component), ("OPS", None), "blank values are dropped as parse_qs does");
    let segment = Target::parse("https://j.example/?project=P").unwrap().endpoint(&["issue", "A/B", "comment"]);
    assert_eq!(segment.as_str(), "https://j.example/rest/api/2/issue/A%2FB/comment", "a key cannot change the path");
}

#[test]
fn unusable_addresses_are_rejected_with_what_to_fix() {
    let plugin = plugin(&config(""));
    let cases = [
        ("http://test.jira:3333/", "no project"),
        ("http://test.jira:3333/?component=C", "no project"),
        ("http://test.jira:3333/?project=", "no project"),
        ("ftp://test.jira/?project=P", "not an http"),
        ("test.jira?project=P", "not a URL"),
    ];
    for (address, problem) in cases {
        let message = plugin.validate_address(address).unwrap_err();
        assert!(message.contains(problem) && message.contains("?project=KEY"), "{address}: {message}");
    }
    assert_eq!(plugin.validate_address(ADDRESS), Ok(()));
}

#[tokio::test]
async fn a_send_to_an_address_without_project_fails_permanently() {
    let plugin = plugin(&config(""));
    let err = plugin.send(&monasca_test_notification("jira", "http://user:pw@test.jira:3333/")).await.unwrap_err();
    assert_eq!((err.reason, err.retryable), (Reason::Invalid, false));
    assert!(err.detail.contains("no project") && !err.detail.contains("pw"), "{}", err.detail);
}

#[test]
fn custom_formatter_renders_monascas_test_file() {
    let fields = render(TEST_JIRAFORMAT);
    // The plain multi-line scalar folds into one line.
    assert_eq!(fields.summary, "Alarm created for test Alarm with severity ALARM for 0");
    assert_eq!(fields.description, "test Alarm");
    // `alarm_time_stamp` (sic) is no attribute: it renders empty, as in Jinja2.
    assert_eq!(
        fields.comments.as_deref(),
        Some("AlarmName:   test Alarm\nAlarmId:  0\nAlarmTimestamp:  \nmessage:  I am alarming!\nstate:  ALARM\nseverity:  CRITICAL")
    );
}

#[test]
fn formatter_without_comments_adds_none() {
    assert_eq!(render(WITHOUT_COMMENTS).comments, None);
    let empty = "jira_format:\n  summary: s {{ notification.alarm_id }}\n  description: d\n  comments: ''\n";
    assert_eq!(render(empty).comments, None);
}

#[test]
fn formatter_problems_are_found_at_start_with_file_and_line() {
    let cases = [
        ("without summary", WITHOUT_SUMMARY, "f.yml: jira_format.summary is missing"),
        ("without description", "jira_format:\n  summary: s\n", "f.yml: jira_format.description is missing"),
        ("empty summary", "jira_format:\n  summary: ''\n  description: d\n", "f.yml: jira_format.summary is missing"),
        ("no jira_format", "other:\n  summary: s\n", "f.yml: no `jira_format` mapping"),
        ("not a mapping", "- a\n- b\n", "f.yml: no `jira_format` mapping"),
        ("bad YAML", "jira_format:\n  summary: s\n   description: [d\n", "f.yml:3: invalid YAML"),
        ("bad Jinja", "jira_format:\n  summary: s\n\n  description: \"{{ notification.alarm_name \"\n", "f.yml:4: jira_format.description: syntax error"),
        ("bad Jinja block", "jira_format:\n  summary: s\n  description: d\n  comments: |\n    {% if x %}open\n", "f.yml:4: jira_format.comments: syntax error"),
        ("not a string", "jira_format:\n  summary: [a]\n  description: d\n", "f.yml:2: jira_format.summary: expected a template string"),
    ];
    for (name, yaml, expected) in cases {
        let err = Formatter::parse(yaml, Path::new("f.yml")).unwrap_err();
        assert!(err.starts_with(expected), "{name}: {err}");
    }
}

#[test]
fn template_values_print_as_python_str() {
    let yaml = "jira_format:\n  summary: \"{{ notification.link }}|{{ notification.lifecycle_state }}|{{ notification.type }}|{{ notification.retry_count }}\"\n  \
        description: \"{{ notification.metrics }}\"\n  \
        comments: \"{{ notification.raw_alarm.actionsEnabled }} {{ notification.notification_timestamp }} {{ notification.nothing }} {{ notification.raw_alarm.alarmName | upper }} {{ notification.name }}\"\n";
    let formatter = Formatter::parse(yaml, Path::new("f.yml")).unwrap();
    let templates = Templates::new(&formatter).unwrap();
    let mut n = monasca_test_notification("jira", ADDRESS);
    n.notification_timestamp = Some(1556703552.5);
    let fields = templates.render(&n).unwrap();
    assert_eq!(fields.summary, "some-link|OPEN|jira|0");
    assert_eq!(fields.description, "[{'dimensions': {'hostname': 'foo1', 'service': 'bar1'}}]");
    assert_eq!(fields.comments.as_deref(), Some("True 1556703552.5  TEST ALARM test"));

    let mut raw = (*n.alarm).clone();
    raw.raw.object_mut().insert("link".into(), json!(null));
    raw.raw.object_mut().insert("alarmName".into(), json!("it's \"quoted\"\n"));
    raw.raw.object_mut().insert("metrics".into(), json!([{"name": "it's", "value": 1.5e-5, "ok": false}]));
    n.alarm = std::sync::Arc::new(raw);
    let fields = templates.render(&n).unwrap();
    assert!(fields.summary.starts_with("None|"), "{}", fields.summary);
    assert_eq!(fields.description, "[{'name': \"it's\", 'value': 1.5e-05, 'ok': False}]");
}

#[test]
fn templates_are_not_html_escaped() {
    let yaml = "jira_format:\n  summary: \"{{ notification.message }}\"\n  description: d\n";
    let mut n = monasca_test_notification("jira", ADDRESS);
    let mut alarm = (*n.alarm).clone();
    alarm.raw.object_mut().insert("stateChangeReason".into(), json!("cpu > 90% & <rising>"));
    n.alarm = std::sync::Arc::new(alarm);
    let formatter = Formatter::parse(yaml, Path::new("f.yml")).unwrap();
    assert_eq!(Templates::new(&formatter).unwrap().render(&n).unwrap().summary, "cpu > 90% & <rising>");
}

#[tokio::test]
async fn a_template_failing_at_run_time_fails_the_send_permanently() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("f.yml");
    std::fs::write(&yaml, "jira_format:\n  summary: \"{{ notification.nothing.deeper }}\"\n  description: d\n").unwrap();
    let plugin = plugin(&config(&format!("custom_formatter = {}\n", yaml.display())));
    let err = plugin.send(&monasca_test_notification("jira", ADDRESS)).await.unwrap_err();
    assert_eq!((err.reason, err.retryable), (Reason::Invalid, false));
    assert!(err.detail.contains("summary"), "{}", err.detail);
}

/// Reads `[jira_notifier]` from an INI file holding `user`, `password` and `extra`.
fn read(section: &str) -> Result<JiraConfig, crate::config::Error> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.conf");
    std::fs::write(&file, format!("[notification_types]\nenabled = jira\n\n[jira_notifier]\n{section}")).unwrap();
    let source = Source::read(&file).unwrap();
    JiraConfig::read(&Reader::new(&source))
}

fn config(extra: &str) -> JiraConfig {
    read(&format!("user = username\npassword = password\nservers = http://test.jira:3333\n{extra}")).unwrap()
}

fn plugin(config: &JiraConfig) -> Jira {
    Jira::new(config, 1, &crate::plugins::tests::loopback_guard()).unwrap()
}

#[test]
fn options_have_monascas_defaults_and_secrets_are_masked() {
    let c = config("proxy = http://yourid:password@proxyserver:8080\n");
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert_eq!(c.issue_type, "Bug");
    assert_eq!(c.formatter, None);
    let rendered = c.render_masked();
    let get = |key: &str| rendered.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap();
    assert_eq!(get("user"), "username");
    assert_eq!(get("password"), "****");
    assert_eq!(get("proxy"), "http://yourid:****@proxyserver:8080/");
    assert!(!format!("{rendered:?}").contains("password@"), "{rendered:?}");

    let c = config("timeout = 12\nissue_type = Incident\n");
    assert_eq!((c.timeout, c.issue_type.as_str()), (Duration::from_secs(12), "Incident"));
    let plugin = plugin(&c);
    assert_eq!((plugin.kind(), plugin.statsd_name(), plugin.timeout()), ("jira", "jira_notifier", Duration::from_secs(12)));
}

#[test]
fn bad_options_name_file_line_section_and_key() {
    let cases = [
        ("password = p\n", "tocsin.conf: [jira_notifier] user: required when the jira plugin is enabled"),
        ("user = u\n", "tocsin.conf: [jira_notifier] password: required"),
        ("user = u\npassword = p\ntimeout = 0\n", "tocsin.conf:7: [jira_notifier] timeout: must be at least 1"),
        ("user = u\npassword = p\nproxy = not a url:secret\n", "tocsin.conf:7: [jira_notifier] proxy: expected a proxy URL"),
        ("user = u\npassword = p\ncustom_formatter = /nonexistent/jiraformat.yml\n", "tocsin.conf:7: [jira_notifier] custom_formatter: cannot read the custom formatter file /nonexistent/jiraformat.yml"),
    ];
    for (section, expected) in cases {
        let err = read(section).unwrap_err().to_string();
        assert!(err.contains(expected), "{section:?}: {err}");
        assert!(!err.contains("secret"), "{err}");
    }
}

#[test]
fn formatter_errors_name_the_ini_line_and_the_yaml_line() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("jiraformat.yml");
    std::fs::write(&yaml, "jira_format:\n  summary: ok\n  description: \"{% for %}\"\n").unwrap();
    let err = read(&format!("user = u\npassword = p\ncustom_formatter = {}\n", yaml.display())).unwrap_err().to_string();
    let expected = format!("tocsin.conf:7: [jira_notifier] custom_formatter: {}:3: jira_format.description: syntax error", yaml.display());
    assert!(err.contains(&expected), "{err}");

    std::fs::write(&yaml, TEST_JIRAFORMAT).unwrap();
    let c = read(&format!("user = u\npassword = p\ncustom_formatter = {}\n", yaml.display())).unwrap();
    let formatter = c.formatter.as_ref().unwrap();
    assert!(formatter.summary.starts_with("Alarm created for"), "{formatter:?}");
    std::fs::remove_file(&yaml).unwrap();
    // Read once at start: the file going away later changes nothing.
    assert_eq!(plugin(&c).fields(&monasca_test_notification("jira", ADDRESS)).unwrap().description, "test Alarm");
}
