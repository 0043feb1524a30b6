use super::*;
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
    assert!(config.kafka.consumer_properties.of(ConsumingEngine::Notification).contains(&("session.timeout.ms".into(), "6000".into())));
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
        ("[notification_engine]\npartition_queue = 9223372036854775807\n", ":2: [notification_engine] partition_queue: must be at most 2147483647"),
        ("[tocsin]\nshutdown_timeout = 99999999999999999999h\n", ":2: [tocsin] shutdown_timeout: duration \"99999999999999999999h\" is out of range (at most 10 years)"),
        ("[kafka]\ncreate_topics = sometimes\n", ":2: [kafka] create_topics: expected true or false"),
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
