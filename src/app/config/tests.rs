use super::*;
use crate::config::{parse_ini, parse_toml, MAX_DURATION};
use crate::kafka::{ConsumerProperties, ConsumingEngine};
use std::io::Write;

/// A monasca-notification.conf as deployments write it (devstack's, trimmed), with options
/// Tocsin does not use.
const MONASCA_INI: &str = "\
[DEFAULT]
log_config_append = /etc/monasca/notification-logging.conf

[kafka]
url = 192.168.10.6:9092, 192.168.10.7:9092
group = monasca-notification
alarm_topic = alarm-state-transitions
notification_topic = alarm-notifications
notification_retry_topic = retry-notifications
periodic = 60:60-seconds-notifications,300:five-minutes
max_offset_lag = 600

[database]
repo_driver = monasca_notification.common.repositories.mysql.mysql_repo:MysqlRepo

[mysql]
host = 192.168.10.6
port = 3306
user = notification
passwd = s3cr3t
db = mon

[notification_types]
enabled = webhook

[webhook_notifier]
timeout: 7

[zookeeper]
url = 192.168.10.6:2181

[alarm_processor]
ttl = 600
number = 2

[statsd]
host = 192.168.10.6
port = 8125
";

fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    (dir, path)
}

#[test]
fn a_monasca_ini_file_loads_as_it_is() {
    let (_dir, path) = write("monasca-notification.conf", MONASCA_INI);
    let config = Config::load(&path).expect("valid");
    assert_eq!(config.kafka.brokers, ["192.168.10.6:9092", "192.168.10.7:9092"]);
    assert_eq!(config.kafka.periodic, [(60, "60-seconds-notifications".into()), (300, "five-minutes".into())]);
    assert_eq!(config.database.url, "mysql://notification:s3cr3t@192.168.10.6:3306/mon");
    assert_eq!(config.engine.ttl, Some(Duration::from_secs(600)));
    assert_eq!(config.plugins.enabled, ["webhook"]);
    assert_eq!(config.plugins.webhook.as_ref().unwrap().timeout, Duration::from_secs(7));
    assert_eq!(config.statsd.host, "192.168.10.6");
    let notices = config.notices.join("\n");
    assert!(notices.contains("line 2: [DEFAULT] log_config_append is accepted and not used"), "{notices}");
    assert!(notices.contains("[kafka] max_offset_lag is accepted and not used"), "{notices}");
    assert!(notices.contains("[zookeeper] url is accepted and not used"), "{notices}");
    assert!(notices.contains("[alarm_processor] number is accepted and not used"), "{notices}");
    assert_eq!(config.notices.len(), 4, "{notices}");
}

#[test]
fn defaults_are_monascas() {
    let config = Config::from_source(&Source::default()).unwrap();
    assert_eq!(config.kafka.brokers, ["127.0.0.1:9092"]);
    assert_eq!(config.kafka.group, "monasca-notification");
    assert_eq!(config.kafka.alarm_topic, "alarm-state-transitions");
    assert_eq!(config.kafka.notification_topic, "alarm-notifications");
    assert_eq!(config.kafka.notification_retry_topic, "retry-notifications");
    assert_eq!(config.kafka.periodic, [(60, "60-seconds-notifications".into())]);
    assert_eq!(config.database.url, "mysql://notification:password@127.0.0.1:3306/mon");
    assert_eq!(config.engine.ttl, Some(Duration::from_secs(14400)));
    assert_eq!(config.engine.dead_letter_topic, "alarm-state-transitions-dead");
    assert_eq!(config.plugins.webhook.as_ref().unwrap().timeout, Duration::from_secs(5));
    assert_eq!((config.statsd.host.as_str(), config.statsd.port), ("127.0.0.1", 8125));
}

#[test]
fn toml_gives_the_same_settings() {
    let toml = r#"
[kafka]
url = ["192.168.10.6:9092", "192.168.10.7:9092"]
periodic = { 60 = "60-seconds-notifications", 300 = "five-minutes" }

[database]
url = "sqlite:///var/lib/tocsin/config.db"

[notification_types]
enabled = ["webhook"]

[alarm_processor]
ttl = 600

[kafka_producer]
"linger.ms" = 0
"#;
    let (_dir, path) = write("tocsin.toml", toml);
    let config = Config::load(&path).expect("valid");
    assert_eq!(config.kafka.brokers, ["192.168.10.6:9092", "192.168.10.7:9092"]);
    assert_eq!(config.kafka.periodic, [(60, "60-seconds-notifications".into()), (300, "five-minutes".into())]);
    assert_eq!(config.database.url, "sqlite:///var/lib/tocsin/config.db");
    assert_eq!(config.engine.ttl, Some(Duration::from_secs(600)));
    assert_eq!(config.kafka.producer_properties, [("linger.ms".to_owned(), "0".to_owned())]);
}

#[test]
fn an_engine_consumer_section_overrides_the_shared_one_for_that_engine_only() {
    let ini = "[kafka_consumer]\nfetch.wait.max.ms = 100\nsession.timeout.ms = 6000\n\n\
               [kafka_consumer_notification]\nfetch.wait.max.ms = 10\n\n\
               [kafka_consumer_retry]\nfetch.wait.max.ms = 1000\n";
    let (_dir, path) = write("tocsin.conf", ini);
    let config = Config::load(&path).expect("valid");
    let wait = |engine| {
        let properties = config.kafka.consumer_properties.of(engine);
        // librdkafka takes the last assignment of a key.
        properties.iter().rev().find(|(k, _)| k == "fetch.wait.max.ms").map(|(_, v)| v.clone())
    };
    assert_eq!(wait(ConsumingEngine::Notification).as_deref(), Some("10"));
    assert_eq!(wait(ConsumingEngine::Retry).as_deref(), Some("1000"));
    assert_eq!(wait(ConsumingEngine::Manager).as_deref(), Some("100"));
    assert_eq!(wait(ConsumingEngine::Periodic).as_deref(), Some("100"));
    assert_eq!(wait(ConsumingEngine::History).as_deref(), Some("100"), "a shared setting wins over the history's default");
    assert!(config.kafka.consumer_properties.of(ConsumingEngine::Notification).contains(&("session.timeout.ms".into(), "6000".into())));
    let defaults = ConsumerProperties::default();
    assert!(defaults.of(ConsumingEngine::History).contains(&("fetch.wait.max.ms".into(), "500".into())));
    assert!(defaults.of(ConsumingEngine::Retry).contains(&("fetch.wait.max.ms".into(), "1000".into())));
    assert!(defaults.of(ConsumingEngine::Periodic).contains(&("fetch.wait.max.ms".into(), "1000".into())));
    assert!(defaults.of(ConsumingEngine::Notification).is_empty() && defaults.of(ConsumingEngine::Manager).is_empty(), "the consumers whose records people wait for keep Tocsin's 100 ms");
    assert!(config.notices.iter().all(|n| !n.contains("kafka_consumer")), "no option is reported unused: {:?}", config.notices);
}

#[test]
fn the_api_can_validate_tokens_with_keystone() {
    let ini = "[api]\nenabled = true\nauth = keystone\nread_only_authorized_roles = viewer, auditor\n\n\
               [keystone]\nauth_url = http://keystone:5000/v3\nusername = tocsin\npassword = s3cret\n";
    let (_dir, path) = write("tocsin.conf", ini);
    let config = Config::load(&path).expect("no tokens needed with Keystone");
    let keystone = config.api.keystone.as_ref().expect("keystone auth");
    assert_eq!(keystone.service.auth_url, "http://keystone:5000/v3");
    assert_eq!(keystone.default_authorized_roles, ["monasca-user"]);
    assert_eq!(keystone.read_only_authorized_roles, ["viewer", "auditor"]);
    assert_eq!(keystone.token_cache_ttl, Duration::from_secs(60));
    let shown = config.render_masked();
    assert!(shown.contains("auth = keystone") && !shown.contains("s3cret"), "{shown}");
}

#[test]
fn errors_name_file_line_and_key() {
    let cases = [
        ("[alarm_processor]\nttl = soon\n", ":2: [alarm_processor] ttl: expected a whole number, found \"soon\""),
        ("[kafka]\nurl = a:1\n\n[webhook_notifier]\ntimeout = 0\n", ":5: [webhook_notifier] timeout: must be at least 1, found 0"),
        ("[statsd]\nenable = maybe\n", ":2: [statsd] enable: expected true or false, found \"maybe\""),
        ("[api]\nenabled = true\nauth = ldap\n", ":3: [api] auth: \"ldap\" is not one of tokens, keystone"),
        ("[kafka]\nthis line has no separator\n", ":2: expected 'key = value' or a [section] header"),
        ("orphan = 1\n", ":1: option \"orphan\" comes before any [section] header"),
        ("[kafka\n", ":1: section header \"[kafka\" has no closing ']'"),
        ("[database]\nrepo_driver = oracle\n", ":2: [database] repo_driver: unknown driver \"oracle\""),
        ("[database]\nurl = ftp://x\n", ":2: [database] url: expected a mysql://, postgres:// or sqlite:// URL"),
        ("[kafka]\nperiodic = sixty\n", ":2: [kafka] periodic: expected key:value pairs"),
        ("[notification_engine]\ncommit_interval = 5 fortnights\n", ":2: [notification_engine] commit_interval: unknown duration unit \"fortnights\""),
        ("[tocsin]\nhttp_listen = everywhere\n", ":2: [tocsin] http_listen: expected an address like 127.0.0.1:8080"),
        // Values that would overflow a capacity or a deadline once used.
        ("[notification_engine]\npartition_queue = 9223372036854775807\n", ":2: [notification_engine] partition_queue: must be at most 3155760000"),
        ("[tocsin]\nshutdown_timeout = 99999999999999999999h\n", ":2: [tocsin] shutdown_timeout: duration \"99999999999999999999h\" is out of range: at most 100 years"),
        ("[kafka]\ncreate_topics = sometimes\n", ":2: [kafka] create_topics: expected true or false"),
        // API tokens: an empty one would let an empty X-Auth-Token in; a short one can be
        // guessed; a repeated one would silently act for the later tenant. No message repeats
        // a token.
        ("[api]\ntokens = :tenant-a\n", ":2: [api] tokens: entry 1 (tenant \"tenant-a\") has an empty token"),
        ("[api]\ntokens = short:tenant-a\n", ":2: [api] tokens: the token of entry 1 (tenant \"tenant-a\") is shorter than 16 characters"),
        ("[api]\ntokens = 0123456789abcdef:a, 0123456789abcdef:b\n", ":2: [api] tokens: entries 1 and 2 have the same token"),
        ("[api]\ntokens = 0123456789abcdef:\n", ":2: [api] tokens: entry 1 has no tenant after the ':'"),
        ("[api]\ntokens = 0123456789abcdef\n", ":2: [api] tokens: entry 1 is not token:tenant"),
        ("[network]\nallow = not/a/network\n", ":2: [network] allow: \"not/a/network\" is neither a network"),
        ("[keystone]\nwebhook_hosts = ftp://x.example\n", ":2: [keystone] webhook_hosts: \"ftp://x.example\": only http and https URLs name a destination"),
        ("[history]\nretention = 30s\n", ":2: [history] retention: must be at least 1m"),
        ("[history]\nretention = a week\n", ":2: [history] retention: expected a duration like 30, 2.5s, 500ms, 5m, 1h or 7d"),
        ("[history]\ndefer_while_busy = 2h\n", ":2: [history] defer_while_busy: must be at most 1h: the history lags by up to this much"),
        ("[ui]\nenabled = true\n", ":2: [ui] enabled: the console is a client of the API: set [api] enabled = true as well"),
    ];
    for (text, expected) in cases {
        let (_dir, path) = write("bad.conf", text);
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(error.starts_with(&path.display().to_string()), "{error}");
        assert!(error.contains(expected), "expected {expected:?} in {error:?}");
    }
    let toml_error = {
        let (_dir, path) = write("bad.toml", "[kafka]\nurl = [\n");
        Config::load(&path).unwrap_err().to_string()
    };
    assert!(toml_error.contains("bad.toml:"), "{toml_error}");
    let missing = Config::load(std::path::Path::new("/nonexistent/tocsin.conf")).unwrap_err().to_string();
    assert!(missing.starts_with("/nonexistent/tocsin.conf: cannot read the configuration file"), "{missing}");
}

#[test]
fn check_config_output_masks_secrets() {
    let ini = format!("{MONASCA_INI}\n[keystone]\npassword = hunter2\nauth_required = true\n[kafka_producer]\nsasl.password = topsecret\n");
    let (_dir, path) = write("monasca-notification.conf", &ini);
    let rendered = Config::load(&path).unwrap().render_masked();
    for secret in ["s3cr3t", "hunter2", "topsecret"] {
        assert!(!rendered.contains(secret), "{secret} leaked:\n{rendered}");
    }
    assert!(rendered.contains("url = mysql://notification:****@192.168.10.6:3306/mon"), "{rendered}");
}

#[test]
fn repo_drivers_map_to_database_urls() {
    let cases = [
        ("[database]\nrepo_driver = postgresql\n[postgresql]\nhost = db\npassword = p w\n", "postgres://notification:p%20w@db:5432/mon"),
        ("[database]\nrepo_driver = orm\n[orm]\nurl = mysql+pymysql://u:p@h/mon\n", "mysql://u:p@h/mon"),
        ("[database]\nrepo_driver = orm\n[orm]\nurl = postgresql+psycopg2://u:p@h/mon\n", "postgres://u:p@h/mon"),
        ("[mysql]\nssl = ca:/etc/ca.pem\n", "mysql://notification:password@127.0.0.1:3306/mon?ssl-mode=VERIFY_CA&ssl-ca=%2Fetc%2Fca.pem"),
        ("[database]\nurl = mariadb://u@h/mon\n", "mysql://u@h/mon"),
    ];
    for (text, expected) in cases {
        let (_dir, path) = write("db.conf", text);
        assert_eq!(Config::load(&path).unwrap().database.url, expected, "{text}");
    }
    let (_dir, path) = write("db.conf", "[mysql]\nport = 70000\n");
    assert!(Config::load(&path).unwrap_err().to_string().ends_with(":2: [mysql] port: must be at most 65535, found 70000"), "not port 4464");
}

#[test]
fn ini_continuation_lines_and_comments() {
    let text = "# comment\n[notification_types]\n; another\nenabled = webhook,\n    mycompany.plugins:Custom\n";
    let (_dir, path) = write("cont.conf", text);
    let config = Config::load(&path).unwrap();
    assert_eq!(config.plugins.enabled, ["webhook"]);
    assert_eq!(config.plugins.unavailable, ["mycompany.plugins:Custom"]);
}

#[test]
fn the_shipped_example_config_loads_with_the_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/tocsin.conf");
    let example = Config::load(&path).expect("etc/tocsin.conf is valid");
    let defaults = Config::from_source(&Source::default()).unwrap();
    assert_eq!(example.render_masked(), defaults.render_masked(), "the example documents the defaults");
    // With the default mysql driver, only the [postgresql] options go unread.
    assert!(example.notices.iter().all(|n| n.contains("[postgresql]")), "{:?}", example.notices);
}

/// Found by the properties below: toml reports a key with no value without a message, so the
/// error said only the file and line.
#[test]
fn a_toml_key_without_a_value_is_reported_with_its_column() {
    let error = parse_toml(std::path::Path::new("tocsin.toml"), "[kafka]\nurl = ").unwrap_err();
    assert_eq!(error.to_string(), "tocsin.toml:2: not valid TOML at column 7");
}

/// Found by the properties below: time spans were accepted up to u64 seconds, and then
/// `lookup_cache_ttl = 8760001h` panicked in the lookup cache at start, `shutdown_timeout =
/// 9223372036854775807` when the drain deadline was computed, a Jira `timeout` that large on
/// the first send. Spans are now at most 100 years.
#[test]
fn time_spans_are_at_most_100_years() {
    let source = |text: &str| parse_ini(std::path::Path::new("t.conf"), text).unwrap();
    let config = Config::from_source(&source("[notification_engine]\nlookup_cache_ttl = 876600h\n[webhook_notifier]\ntimeout = 3155760000\n")).unwrap();
    assert_eq!(config.engine.lookup_cache_ttl, MAX_DURATION);
    assert_eq!(config.plugins.webhook.unwrap().timeout, MAX_DURATION);
    for (text, says) in [
        ("[notification_engine]\nlookup_cache_ttl = 8760001h\n", "t.conf:2: [notification_engine] lookup_cache_ttl: duration \"8760001h\" is out of range: at most 100 years"),
        ("[tocsin]\nshutdown_timeout = 9223372036854775807\n", "t.conf:2: [tocsin] shutdown_timeout: duration \"9223372036854775807\" is out of range: at most 100 years"),
        ("[notification_types]\nenabled = jira\n[jira_notifier]\ntimeout = 9223372036854775807\n", "t.conf:4: [jira_notifier] timeout: must be at most 3155760000 seconds (100 years), found 9223372036854775807"),
        ("[webhook_notifier]\ntimeout = 0\n", "t.conf:2: [webhook_notifier] timeout: must be at least 1, found 0"),
    ] {
        assert_eq!(Config::from_source(&source(text)).unwrap_err().to_string(), says);
    }
}

/// Property tests: no file text makes the INI or TOML reader, [`Config::from_source`] or
/// [`Config::render_masked`] panic; an error names a line of the file and says what is wrong.
/// Besides random text, files are built from the real sections and options of
/// `etc/tocsin.conf` (its commented-out ones included) with extreme, empty, unicode and
/// wrongly typed values, repeated sections and keys, continuation lines and garbage lines.
/// Cases per property come from `PROPTEST_CASES` (256 when unset); `scripts/fuzz.sh` runs
/// them long.
mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;
    use std::path::Path;
    use std::sync::LazyLock;

    /// `(section, key, example value)` of every option `etc/tocsin.conf` shows, commented or not.
    static OPTIONS: LazyLock<Vec<(String, String, String)>> = LazyLock::new(|| {
        let example = include_str!("../../../etc/tocsin.conf");
        let uncommented: String = example
            .lines()
            .map(|line| match line.strip_prefix('#').map(str::trim) {
                Some(rest) if rest.starts_with('[') && rest.ends_with(']') && !rest.contains(' ') => rest.to_owned(),
                Some(rest) if rest.split_once('=').is_some_and(|(key, _)| !key.trim().is_empty() && !key.trim().contains(' ')) => rest.to_owned(),
                _ => line.to_owned(),
            })
            .map(|line| line + "\n")
            .collect();
        let source = parse_ini(Path::new("tocsin.conf"), &uncommented).expect("etc/tocsin.conf parses");
        source.entries.into_iter().map(|(section, entry)| (section, entry.key, entry.value)).collect()
    });

    fn sections() -> Vec<String> {
        let mut names: Vec<String> = OPTIONS.iter().map(|(section, _, _)| section.clone()).collect();
        names.extend(["kafka_consumer_manager", "kafka_consumer_retry", "kafka_consumer_periodic", "kafka_consumer_history", "orm", "DEFAULT", "zookeeper"].map(String::from));
        names.dedup();
        names
    }

    /// Values as an operator might mistype them: extreme numbers and durations, empty, unicode,
    /// wrong types, and the example values themselves.
    fn value() -> impl Strategy<Value = String> {
        let extremes = vec![
            "", "0", "-0", "-1", "1", "65535", "65536", "70000", "4294967296", "9223372036854775807", "-9223372036854775808",
            "9223372036854775808", "18446744073709551615", "18446744073709551616", "99999999999999999999", "1e400", "NaN", "inf",
            "-inf", "1.5", "0.000001", "100.0000001", "99999999999999999999d", "99999999999999999999h", "18446744073709551615s",
            "18446744073709551615.9", "184467440737095516h", "5124095576030431h", "500ms", "0ms", "1h", "30", "true", "no", "none",
            "None", "tokens", "keystone", "json", "text", "mysql", "postgresql", "orm", "sqlite::memory:", "mysql://u:p@h:99999/db",
            "mariadb://h/db", "postgresql+psycopg2://u@h/db", "http://", "https://[::1]:0/", "[::1]:99999", "127.0.0.1:0", "a:b,c:d",
            "60:topic,0:x,-1:y", "18446744073709551616:t", ":", ",", "k:", "ünï", "\u{0}", "\u{1b}[31m", "=", "[x]",
        ];
        prop_oneof![
            4 => select(extremes).prop_map(str::to_owned),
            2 => select(OPTIONS.iter().map(|(_, _, value)| value.clone()).collect::<Vec<_>>()),
            2 => "-?[0-9]{1,25}(\\.[0-9]{1,5})?(ms|s|m|h|d| s|e5)?",
            1 => "\\PC{0,16}",
            1 => (1usize..20_000).prop_map(|n| "9".repeat(n)),
        ]
    }

    /// One line of an INI file.
    fn ini_line() -> impl Strategy<Value = String> {
        let keys: Vec<String> = OPTIONS.iter().map(|(_, key, _)| key.clone()).collect();
        let key = prop_oneof![8 => select(keys), 1 => "[a-z_.-]{1,12}", 1 => "\\PC{0,8}"];
        prop_oneof![
            2 => select(sections()).prop_map(|section| format!("[{section}]")),
            12 => (key, select(vec![" = ", "=", ": ", " : ", " =  "]), value()).prop_map(|(key, separator, value)| format!("{key}{separator}{value}")),
            1 => (select(vec![" ", "\t", "    "]), value()).prop_map(|(indent, value)| format!("{indent}{value}")),
            1 => select(vec!["# comment", "; comment", "", "[", "[kafka", "]", "= value", "key", ": v", "[ kafka ]", "[]", "\u{feff}[kafka]"]).prop_map(str::to_owned),
            1 => "\\PC{0,24}",
        ]
    }

    fn ini_file() -> impl Strategy<Value = String> {
        // Blocks of a section header and lines that mostly assign known options (of any section,
        // so some are misplaced), with other kinds of lines among them.
        let block = (select(sections()), prop::collection::vec(prop_oneof![4 => section_option(), 1 => ini_line()], 0..8))
            .prop_map(|(section, lines)| format!("[{section}]\n{}\n", lines.join("\n")));
        prop::collection::vec(block, 0..6).prop_map(|blocks| blocks.concat())
    }

    /// `key = value` with a key of the options list, to be put under any section header.
    fn section_option() -> impl Strategy<Value = String> {
        (select(OPTIONS.iter().map(|(_, key, _)| key.clone()).collect::<Vec<_>>()), value()).prop_map(|(key, value)| format!("{key} = {value}"))
    }

    /// A TOML value: literals of every type at their edges, arrays, inline tables, and the INI
    /// values as strings or bare (mostly not TOML).
    fn toml_value() -> impl Strategy<Value = String> {
        let literals = vec![
            "0", "-0", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "0x7fffffffffffffff", "0o777", "0b1",
            "1e300", "-1e308", "1.7976931348623157e308", "5e-324", "inf", "-inf", "nan", "-0.0", "1_000", "true", "false",
            "1979-05-27T07:32:00Z", "0000-01-01", "23:59:60", "9999-12-31T23:59:59.999999999+23:59", "\"\\u0000\"", "\"\\U0010FFFF\"",
            "'literal'", "\"\"\"multi\nline\"\"\"", "'''raw\nlines'''", "[]", "[1, \"a\", [2, [3]], {x = 1}]", "{}", "{a = 1, b = {c = \"d\"}}",
            "[{a = 1}, {b = 2}]", "{ \"fetch.wait.max.ms\" = 10 }",
        ];
        prop_oneof![
            3 => select(literals).prop_map(str::to_owned),
            3 => value().prop_map(|v| toml::Value::String(v).to_string()),
            1 => value(),
        ]
    }

    fn toml_file() -> impl Strategy<Value = String> {
        let keys: Vec<String> = OPTIONS.iter().map(|(_, key, _)| key.clone()).collect();
        let key = prop_oneof![
            6 => select(keys.clone()),
            2 => select(keys).prop_map(|key| format!("\"{key}\"")),
            1 => "[a-z_.-]{1,12}",
            1 => "\\PC{0,8}",
        ];
        let line = prop_oneof![
            8 => (key, toml_value()).prop_map(|(key, value)| format!("{key} = {value}")),
            1 => select(vec!["[x.y]", "[[list]]", "top = 1", "# comment", "", "[", "= 1", "a.b.c = 1", "\"\" = 1"]).prop_map(str::to_owned),
            1 => "\\PC{0,24}",
        ];
        let header = prop_oneof![
            6 => select(sections()).prop_map(|section| format!("[{section}]")),
            1 => select(sections()).prop_map(|section| format!("[\"{section}\"]")),
            1 => Just(String::new()),
        ];
        let block = (header, prop::collection::vec(line, 0..8)).prop_map(|(header, lines)| format!("{header}\n{}\n", lines.join("\n")));
        prop::collection::vec(block, 0..6).prop_map(|blocks| blocks.concat())
    }

    /// Reads `text` as `parse` does; on success, loads it and renders what `check-config` prints.
    fn check(text: &str, parse: fn(&Path, &str) -> Result<Source, Error>) -> Result<(), TestCaseError> {
        let last_line = text.matches('\n').count() + 1;
        let source = match parse(Path::new("fuzz.conf"), text) {
            Ok(source) => source,
            Err(error) => return check_error(&error, last_line),
        };
        for (_, entry) in &source.entries {
            prop_assert!((1..=last_line).contains(&entry.line), "line {} of {}", entry.line, last_line);
        }
        match Config::from_source(&source) {
            Ok(config) => {
                config.render_masked();
                check_timers(&config)?;
            }
            Err(error) => check_error(&error, last_line)?,
        }
        Ok(())
    }

    /// Every time span a loaded configuration holds can be added to the clock (the engines'
    /// deadlines and tickers do), the lookup cache takes its TTL (moka panics past 1000 years),
    /// and the retry policy's delays are durations at all.
    fn check_timers(config: &Config) -> Result<(), TestCaseError> {
        let p = &config.plugins;
        let mut spans = vec![
            ("commit_interval", config.engine.commit_interval),
            ("lookup_cache_ttl", config.engine.lookup_cache_ttl),
            ("retry interval", config.retry.interval),
            ("retry max_interval", config.retry.max_interval),
            ("rules_poll_interval", config.manager.rules_poll_interval),
            ("persist_interval", config.manager.persist_interval),
            ("flush_interval", config.statsd.flush_interval),
            ("shutdown_timeout", config.service.shutdown_timeout),
            ("start_timeout", config.service.start_timeout),
        ];
        spans.extend(config.api.keystone.as_ref().map(|k| ("token_cache_ttl", k.token_cache_ttl)));
        spans.extend(p.webhook.as_ref().map(|c| ("webhook timeout", c.timeout)));
        spans.extend(p.email.as_ref().map(|c| ("email timeout", c.timeout)));
        spans.extend(p.pagerduty.as_ref().map(|c| ("pagerduty timeout", c.timeout)));
        spans.extend(p.slack.as_ref().map(|c| ("slack timeout", c.transport.timeout)));
        spans.extend(p.hipchat.as_ref().map(|c| ("hipchat timeout", c.transport.timeout)));
        spans.extend(p.jira.as_ref().map(|c| ("jira timeout", c.timeout)));
        let now = std::time::Instant::now();
        for (name, span) in spans {
            prop_assert!(now.checked_add(span).is_some(), "{} = {:?}", name, span);
        }
        if !config.engine.lookup_cache_ttl.is_zero() {
            // As `MethodLookup::new` builds its cache.
            moka::future::Cache::<u8, u8>::builder().time_to_live(config.engine.lookup_cache_ttl).build();
        }
        let r = &config.retry;
        for retry_count in [0, 1, r.max_attempts.min(64), r.max_attempts] {
            r.delay(retry_count, -1.0);
            r.delay(retry_count, 1.0);
        }
        Ok(())
    }

    fn check_error(error: &Error, last_line: usize) -> Result<(), TestCaseError> {
        match error {
            Error::Read { .. } => prop_assert!(false, "nothing is read from disk: {}", error),
            Error::Syntax { line, message, .. } => {
                prop_assert!(!message.is_empty());
                prop_assert!((1..=last_line).contains(line), "{}", error);
            }
            Error::Invalid { line, message, .. } => {
                prop_assert!(!message.is_empty());
                prop_assert!(line.is_none_or(|line| (1..=last_line).contains(&line)), "{}", error);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_text_is_read_or_rejected(text in prop_oneof![any::<String>(), prop::collection::vec(ini_line(), 0..12).prop_map(|lines| lines.join("\n"))]) {
            check(&text, parse_ini)?;
            check(&text, parse_toml)?;
        }

        #[test]
        fn ini_files_of_real_options_load_or_say_what_is_wrong(text in ini_file()) {
            check(&text, parse_ini)?;
        }

        #[test]
        fn toml_files_of_real_options_load_or_say_what_is_wrong(text in toml_file()) {
            check(&text, parse_toml)?;
        }
    }
}

/// Every settings type that holds a secret prints it masked with `{:?}`: no debug log, panic
/// message or error that formats a settings value can reveal one.
#[test]
fn no_configured_secret_appears_in_any_debug_output() {
    let secrets = [
        "db-pa55word",
        "api-token-0123456789abcdef",
        "keystone-pa55",
        "jira-pa55",
        "smtp-pa55",
        "slack-proxy-pa55",
        "hipchat-proxy-pa55",
        "jira-proxy-pa55",
        "sasl-consumer-pa55",
        "sasl-producer-pa55",
    ];
    let ini = format!(
        "[database]\nurl = mysql://notification:{}@db.example:3306/mon\n\
         [api]\nenabled = true\ntokens = {}:tenant-a\n\
         [keystone]\npassword = {}\n\
         [notification_types]\nenabled = webhook, email, slack, hipchat, jira, pagerduty\n\
         [jira_notifier]\nuser = monasca\npassword = {}\nproxy = http://u:{}@proxy.example:3128\nservers = jira.example\n\
         [email_notifier]\nuser = monasca\npassword = {}\n\
         [slack_notifier]\nproxy = http://u:{}@proxy.example:3128\n\
         [hipchat_notifier]\nproxy = http://u:{}@proxy.example:3128\n\
         [kafka_consumer]\nsasl.password = {}\n\
         [kafka_producer]\nsasl.password = {}\n",
        secrets[0], secrets[1], secrets[2], secrets[3], secrets[7], secrets[4], secrets[5], secrets[6], secrets[8], secrets[9]
    );
    let (_dir, path) = write("secrets.conf", &ini);
    let config = Config::load(&path).unwrap();
    let p = &config.plugins;
    let rendered = [
        format!("{config:?}"),
        format!("{:?}", config.database),
        format!("{:?}", config.kafka),
        format!("{:?}", config.kafka.consumer_properties),
        format!("{:?}", config.api),
        format!("{:?}", config.api.tokens),
        format!("{:?}", p.keystone),
        format!("{:?}", p.jira),
        format!("{:?}", p.email),
        format!("{:?}", p.slack),
        format!("{:?}", p.hipchat),
        format!("{:?}", p.pagerduty),
        format!("{:?}", p.webhook),
        config.render_masked(),
    ];
    for text in &rendered {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} appears in:\n{text}");
        }
    }
    assert!(rendered[0].contains("****"), "the secrets are there, masked");
}

#[test]
fn the_history_keeps_a_week_and_the_console_follows_the_api() {
    let (_dir, path) = write("defaults.conf", "[kafka]\ngroup = g\n");
    let config = Config::load(&path).unwrap();
    assert!(config.history.enabled);
    assert_eq!((config.history.retention, config.history.group.as_str(), config.history.topic.as_str()), (Duration::from_secs(7 * 86400), "g-history", "tocsin-history"));
    assert_eq!(config.history.defer_while_busy, Duration::from_secs(30));
    assert!(!config.ui.enabled, "no API, no console");
    let (_dir, path) = write("api.conf", "[api]\nenabled = true\ntokens = 0123456789abcdef:t\n\n[history]\nretention = 2d\n");
    let config = Config::load(&path).unwrap();
    assert!(config.ui.enabled, "the console comes with the API");
    assert_eq!(config.history.retention, Duration::from_secs(2 * 86400));
}
