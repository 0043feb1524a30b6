//! Loads the configuration: an existing monasca-notification INI file as it is, or the same
//! settings as TOML, into one typed [`Config`]. Defaults are Monasca's; Tocsin's own options
//! live in new sections (`[tocsin]`, `[notification_engine]`, `[kafka_consumer]`,
//! `[kafka_producer]`) plus `[database] url`.
//!
//! Every error names the file, line and key at fault. Options Tocsin does not use are accepted
//! and reported once each ([`Config::notices`]). This module validates; it opens no connection.

mod reader;
mod secret;
mod source;

pub use reader::{parse_duration, Reader};
pub use secret::Secret;
pub use source::Source;

use crate::plugins::PluginSettings;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read the configuration file: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}:{line}: {message}", file.display())]
    Syntax { file: PathBuf, line: usize, message: String },
    #[error("{}{}: [{section}] {key}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid { file: PathBuf, line: Option<usize>, section: String, key: String, message: String },
}

/// Everything Tocsin reads from its configuration file.
#[derive(Clone, Debug)]
pub struct Config {
    pub file: PathBuf,
    pub kafka: KafkaSettings,
    pub database: DatabaseSettings,
    pub engine: EngineSettings,
    pub retry: RetrySettings,
    pub periodic: PeriodicSettings,
    pub manager: ManagerConfig,
    pub api: ApiSettings,
    pub plugins: PluginSettings,
    /// `[network]`: where tenant addresses may lead.
    pub network: crate::netguard::NetworkPolicy,
    pub statsd: StatsdSettings,
    pub service: ServiceSettings,
    /// One line per option that was accepted but has no effect, to be logged at start.
    pub notices: Vec<String>,
}

/// Its `Debug` masks the librdkafka properties that carry credentials (`sasl.password`, …).
#[derive(Clone)]
pub struct KafkaSettings {
    /// `host:port` bootstrap servers (`[kafka] url`).
    pub brokers: Vec<String>,
    pub group: String,
    pub alarm_topic: String,
    pub notification_topic: String,
    pub notification_retry_topic: String,
    /// Period in seconds → topic of its periodic engine (`[kafka] periodic`).
    pub periodic: Vec<(u64, String)>,
    /// Whether missing topics are created at start (else the start fails naming them).
    pub create_topics: bool,
    /// librdkafka properties of the consumers (`[kafka_consumer]` and `[kafka_consumer_<engine>]`).
    pub consumer_properties: ConsumerProperties,
    /// librdkafka properties for the producer (`[kafka_producer]`), applied last.
    pub producer_properties: Vec<(String, String)>,
}

/// librdkafka properties as `key=value` lines, the ones that carry credentials masked: what
/// every `Debug` of a type holding them shows.
pub fn masked_properties(properties: &[(String, String)]) -> Vec<String> {
    properties.iter().map(|(k, v)| format!("{k}={}", mask_property(k, v))).collect()
}

impl std::fmt::Debug for ConsumerProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerProperties")
            .field("every", &masked_properties(&self.every))
            .field("notification", &masked_properties(&self.notification))
            .field("manager", &masked_properties(&self.manager))
            .field("retry", &masked_properties(&self.retry))
            .field("periodic", &masked_properties(&self.periodic))
            .finish()
    }
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("group", &self.group)
            .field("alarm_topic", &self.alarm_topic)
            .field("notification_topic", &self.notification_topic)
            .field("notification_retry_topic", &self.notification_retry_topic)
            .field("periodic", &self.periodic)
            .field("create_topics", &self.create_topics)
            .field("consumer_properties", &self.consumer_properties)
            .field("producer_properties", &masked_properties(&self.producer_properties))
            .finish()
    }
}

/// librdkafka consumer properties, passed through: `[kafka_consumer]` for every consumer, then
/// `[kafka_consumer_<engine>]` for one engine's, so that a setting only the latency-critical
/// notification engine needs (a short `fetch.wait.max.ms`) does not make the idle ones poll the
/// broker as often (measured in BENCHMARKS.md).
#[derive(Clone, Default)]
pub struct ConsumerProperties {
    pub every: Vec<(String, String)>,
    pub notification: Vec<(String, String)>,
    pub manager: Vec<(String, String)>,
    pub retry: Vec<(String, String)>,
    pub periodic: Vec<(String, String)>,
}

/// The engines that consume, each with its own `[kafka_consumer_<engine>]` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumingEngine {
    Notification,
    Manager,
    Retry,
    Periodic,
}

impl ConsumerProperties {
    /// One engine's properties: the shared ones, then its own (later ones win).
    pub fn of(&self, engine: ConsumingEngine) -> Vec<(String, String)> {
        let own = match engine {
            ConsumingEngine::Notification => &self.notification,
            ConsumingEngine::Manager => &self.manager,
            ConsumingEngine::Retry => &self.retry,
            ConsumingEngine::Periodic => &self.periodic,
        };
        self.every.iter().chain(own).cloned().collect()
    }
}

/// Its `Debug` shows the URL with the password masked.
#[derive(Clone)]
pub struct DatabaseSettings {
    /// A sqlx URL (`mysql://`, `postgres://` or `sqlite://`); contains the password.
    pub url: String,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings").field("url", &self.masked_url()).finish()
    }
}

impl DatabaseSettings {
    /// The URL with its password replaced, for logs and `check-config`.
    pub fn masked_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("****"));
                url.to_string()
            }
            _ => self.url.clone(),
        }
    }

}

/// How the notification engine consumes and processes transitions (`[alarm_processor]`,
/// `[notification_engine]`).
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Whether this process consumes the alarm topic (`[notification_engine] enabled`).
    pub enabled: bool,
    /// Transitions older than this are skipped (`[alarm_processor] ttl`); `None` keeps all.
    pub ttl: Option<Duration>,
    /// Where malformed alarm messages are copied.
    pub dead_letter_topic: String,
    /// Larger alarm messages are rejected unparsed.
    pub max_message_bytes: usize,
    /// Transitions of one partition processed at once (those of one alarm stay in order).
    pub max_in_flight_per_partition: usize,
    /// Records buffered per partition before the partition is paused.
    pub partition_queue: usize,
    /// Sends in progress at once across all partitions; also the connections kept per host.
    pub max_concurrent_sends: usize,
    /// How often finished offsets are committed.
    pub commit_interval: Duration,
    /// How long a notification-method lookup is reused.
    pub lookup_cache_ttl: Duration,
}

/// `[retry_engine]`: Monasca's `interval` and `max_attempts`, and the policy Tocsin adds. The
/// defaults give Monasca's behaviour: a fixed interval, no jitter.
#[derive(Clone, Debug)]
pub struct RetrySettings {
    pub enabled: bool,
    /// Consumer group of the retry topic.
    pub group: String,
    /// Delay before the first retry, from the failed attempt.
    pub interval: Duration,
    /// Retries after the first attempt; then the notification is dead-lettered.
    pub max_attempts: u32,
    /// Each further retry waits this many times longer than the one before (1 = fixed).
    pub backoff_multiplier: f64,
    /// Upper bound on one delay, whatever the multiplier.
    pub max_interval: Duration,
    /// Each delay is spread by up to this fraction, up or down, so retries of a burst spread out.
    pub jitter: f64,
    /// Where given-up notifications are kept.
    pub dead_letter_topic: String,
    /// Notifications of one partition held in memory while they wait; the rest stays in Kafka.
    pub max_waiting_per_partition: usize,
}

/// `[periodic_engine]`: the engines of the `[kafka] periodic` topics.
#[derive(Clone, Debug)]
pub struct PeriodicSettings {
    pub enabled: bool,
    /// Consumer groups are `{group_prefix}-{period}`.
    pub group_prefix: String,
    /// Where records of a periodic topic that are not notifications are kept.
    pub dead_letter_topic: String,
    /// Chains of one partition held in memory while they wait; the rest stays in Kafka.
    pub max_waiting_per_partition: usize,
}

/// `[alarm_manager]`: the engine that applies grouping, silencing and inhibition rules.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    pub enabled: bool,
    /// Consumer group of the filtered-transitions topic.
    pub group: String,
    /// Where transitions of tenants with rules go, keyed by tenant.
    pub filtered_topic: String,
    /// How often the rules revision is checked (rule changes take effect within this).
    pub rules_poll_interval: Duration,
    /// How often changed state is written to the config database (and offsets may advance).
    pub persist_interval: Duration,
    /// Notify the OK of an alarm whose firing was notified, even if a silence or inhibition
    /// would now suppress it.
    pub notify_resolved_if_notified: bool,
}

/// `[api]`: the REST API for rules, notification methods and alarm definitions.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub enabled: bool,
    /// `X-Auth-Token` value → tenant id (`auth = tokens`, the default); every token distinct
    /// and at least [`MIN_TOKEN_LENGTH`] characters long.
    pub tokens: Vec<(Secret, String)>,
    /// Present with `auth = keystone`: tokens are validated with Keystone instead.
    pub keystone: Option<KeystoneAuthSettings>,
    /// Periods (seconds) a notification method may have besides 0 (monasca-api's option).
    pub valid_notification_periods: Vec<i64>,
    /// What one tenant may own and do.
    pub limits: ApiLimits,
}

/// The shortest configured API token accepted: a short one can be guessed.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// `[api]` bounds on what a tenant controls, so no tenant can exhaust Tocsin or crowd out others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiLimits {
    pub max_methods_per_tenant: usize,
    /// Group, inhibit and silence rules together.
    pub max_rules_per_tenant: usize,
    pub max_definitions_per_tenant: usize,
    /// Writes (POST, PUT, PATCH, DELETE) one tenant may make per minute, in bursts of as many.
    pub writes_per_minute: u32,
    /// Requests served at once; more are answered 503 at once.
    pub max_concurrent_requests: usize,
}

/// `[api] auth = keystone`: monasca-api's role options; the service user that validates tokens
/// is `[keystone]`'s (the one webhooks authenticate with).
#[derive(Clone, Debug)]
pub struct KeystoneAuthSettings {
    pub service: crate::plugins::keystone::KeystoneConfig,
    /// Roles that may read and write.
    pub default_authorized_roles: Vec<String>,
    /// Roles that may only read.
    pub read_only_authorized_roles: Vec<String>,
    /// How long a validated token is trusted before Keystone is asked again.
    pub token_cache_ttl: Duration,
    /// How long a token Keystone refused is answered 401 without asking again.
    pub invalid_token_cache_ttl: Duration,
    /// Validations sent to Keystone at once; more wait (and get 503 after a few seconds).
    pub max_concurrent_validations: usize,
}

#[derive(Clone, Debug)]
pub struct StatsdSettings {
    pub enable: bool,
    pub host: String,
    pub port: u16,
    /// How often aggregated counters and timers are sent.
    pub flush_interval: Duration,
}

#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// Address of `/metrics` and `/healthz` (`[tocsin] http_listen`).
    pub http_listen: SocketAddr,
    /// How long a shutdown waits for in-flight sends before giving up on them.
    pub shutdown_timeout: Duration,
    /// How long a start waits for the broker and the database's first answer before failing.
    pub start_timeout: Duration,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options of monasca-notification that Tocsin accepts without using them.
const MONASCA_UNUSED: &[(&str, &str, &str)] = &[
    ("kafka", "max_offset_lag", "unused by monasca-notification as well"),
    ("kafka", "legacy_kafka_client_enabled", "Tocsin always uses the Kafka group protocol"),
    ("zookeeper", "*", "Tocsin shares partitions through Kafka consumer groups, not ZooKeeper"),
    ("queues", "*", "unused by monasca-notification as well"),
    ("alarm_processor", "number", "unused by monasca-notification as well"),
    ("notification_processor", "number", "Tocsin runs one engine per process with concurrent partitions"),
    ("keystone", "auth_type", "only password authentication exists, as in monasca-notification"),
    ("DEFAULT", "*", "logging is configured with RUST_LOG and [tocsin] log_format"),
];

impl Config {
    pub fn load(file: &Path) -> Result<Config, Error> {
        let source = Source::read(file)?;
        Config::from_source(&source)
    }

    pub fn from_source(source: &Source) -> Result<Config, Error> {
        let r = Reader::new(source);
        let kafka = KafkaSettings {
            brokers: {
                let brokers = r.list("kafka", "url", &["127.0.0.1:9092"]);
                if brokers.is_empty() {
                    let line = r.entry("kafka", "url").map(|e| e.line);
                    return Err(r.invalid("kafka", "url", line, "needs at least one host:port"));
                }
                brokers
            },
            group: r.string("kafka", "group", "monasca-notification"),
            alarm_topic: r.string("kafka", "alarm_topic", "alarm-state-transitions"),
            notification_topic: r.string("kafka", "notification_topic", "alarm-notifications"),
            notification_retry_topic: r.string("kafka", "notification_retry_topic", "retry-notifications"),
            periodic: r
                .dict("kafka", "periodic", &[("60", "60-seconds-notifications")])?
                .into_iter()
                .map(|(period, topic)| match period.parse::<u64>() {
                    Ok(p) if p > 0 => Ok((p, topic)),
                    _ => Err(r.invalid(
                        "kafka",
                        "periodic",
                        r.entry("kafka", "periodic").map(|e| e.line),
                        format!("period {period:?} must be a whole number of seconds above 0"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            create_topics: r.bool("kafka", "create_topics", true)?,
            consumer_properties: ConsumerProperties {
                every: r.all("kafka_consumer"),
                notification: r.all("kafka_consumer_notification"),
                manager: r.all("kafka_consumer_manager"),
                retry: r.all("kafka_consumer_retry"),
                periodic: r.all("kafka_consumer_periodic"),
            },
            producer_properties: r.all("kafka_producer"),
        };
        let database = DatabaseSettings { url: database_url(&r)? };
        let engine = EngineSettings {
            ttl: match r.entry("alarm_processor", "ttl") {
                Some(e) if e.value.is_empty() || e.value.eq_ignore_ascii_case("none") => None,
                _ => Some(Duration::from_secs(r.int("alarm_processor", "ttl", 14400, 0)? as u64)),
            },
            enabled: r.bool("notification_engine", "enabled", true)?,
            dead_letter_topic: r.string("notification_engine", "dead_letter_topic", "alarm-state-transitions-dead"),
            max_message_bytes: r.int("notification_engine", "max_message_bytes", 1 << 20, 1)? as usize,
            max_in_flight_per_partition: r.int("notification_engine", "max_in_flight_per_partition", 256, 1)?
                as usize,
            partition_queue: r.int("notification_engine", "partition_queue", 1024, 1)? as usize,
            max_concurrent_sends: r.int("notification_engine", "max_concurrent_sends", 256, 1)? as usize,
            commit_interval: r.duration("notification_engine", "commit_interval", Duration::from_millis(500))?,
            lookup_cache_ttl: r.duration("notification_engine", "lookup_cache_ttl", Duration::from_secs(5))?,
        };
        let retry = RetrySettings {
            enabled: r.bool("retry_engine", "enabled", true)?,
            group: r.string("retry_engine", "group", &format!("{}-retry", kafka.group)),
            interval: r.duration("retry_engine", "interval", Duration::from_secs(30))?,
            max_attempts: r.int("retry_engine", "max_attempts", 5, 0)?.try_into().unwrap_or(u32::MAX),
            backoff_multiplier: r.float("retry_engine", "backoff_multiplier", 1.0, 1.0, 100.0)?,
            max_interval: r.duration("retry_engine", "max_interval", Duration::from_secs(3600))?,
            jitter: r.float("retry_engine", "jitter", 0.0, 0.0, 1.0)?,
            dead_letter_topic: r.string("retry_engine", "dead_letter_topic", "retry-notifications-dead"),
            max_waiting_per_partition: r.int("retry_engine", "max_waiting_per_partition", 1024, 1)? as usize,
        };
        let periodic = PeriodicSettings {
            enabled: r.bool("periodic_engine", "enabled", true)?,
            group_prefix: r.string("periodic_engine", "group_prefix", &format!("{}-periodic", kafka.group)),
            dead_letter_topic: r.string("periodic_engine", "dead_letter_topic", "periodic-notifications-dead"),
            max_waiting_per_partition: r.int("periodic_engine", "max_waiting_per_partition", 4096, 1)? as usize,
        };
        let manager = ManagerConfig {
            enabled: r.bool("alarm_manager", "enabled", true)?,
            group: r.string("alarm_manager", "group", &format!("{}-manager", kafka.group)),
            filtered_topic: r.string("alarm_manager", "filtered_topic", "filtered-alarm-transitions"),
            rules_poll_interval: r.duration("alarm_manager", "rules_poll_interval", Duration::from_secs(2))?,
            persist_interval: r.duration("alarm_manager", "persist_interval", Duration::from_millis(500))?,
            notify_resolved_if_notified: r.bool("alarm_manager", "notify_resolved_if_notified", true)?,
        };
        let keystone_auth = match r.string("api", "auth", "tokens").as_str() {
            "tokens" => None,
            "keystone" => Some(KeystoneAuthSettings {
                service: crate::plugins::keystone::KeystoneConfig::read(&r)?,
                default_authorized_roles: r.list("api", "default_authorized_roles", &["monasca-user"]),
                read_only_authorized_roles: r.list("api", "read_only_authorized_roles", &["monasca-read-only-user"]),
                token_cache_ttl: r.duration("api", "token_cache_ttl", Duration::from_secs(60))?,
                invalid_token_cache_ttl: r.duration("api", "invalid_token_cache_ttl", Duration::from_secs(10))?,
                max_concurrent_validations: r.int("api", "max_concurrent_validations", 8, 1)? as usize,
            }),
            other => {
                let line = r.entry("api", "auth").map(|e| e.line);
                return Err(r.invalid("api", "auth", line, format!("{other:?} is not one of tokens, keystone")));
            }
        };
        let api = ApiSettings {
            enabled: r.bool("api", "enabled", false)?,
            tokens: api_tokens(&r)?,
            keystone: keystone_auth,
            valid_notification_periods: r
                .list("api", "valid_notification_periods", &["0", "60"])
                .iter()
                .map(|p| {
                    p.parse::<i64>().map_err(|_| {
                        let line = r.entry("api", "valid_notification_periods").map(|e| e.line);
                        r.invalid("api", "valid_notification_periods", line, format!("{p:?} is not a whole number of seconds"))
                    })
                })
                .collect::<Result<_, _>>()?,
            limits: ApiLimits {
                max_methods_per_tenant: r.int("api", "max_methods_per_tenant", 1000, 1)? as usize,
                max_rules_per_tenant: r.int("api", "max_rules_per_tenant", 1000, 1)? as usize,
                max_definitions_per_tenant: r.int("api", "max_definitions_per_tenant", 5000, 1)? as usize,
                writes_per_minute: r.int("api", "writes_per_minute", 120, 1)? as u32,
                max_concurrent_requests: r.int("api", "max_concurrent_requests", 64, 1)? as usize,
            },
        };
        if api.enabled && api.keystone.is_none() && api.tokens.is_empty() {
            let line = r.entry("api", "enabled").map(|e| e.line);
            return Err(r.invalid("api", "tokens", line, "the API is enabled but no tokens are configured: add tokens = token:tenant, ... or set auth = keystone"));
        }
        let statsd = StatsdSettings {
            enable: r.bool("statsd", "enable", true)?,
            host: r.string("statsd", "host", "127.0.0.1"),
            port: r.int("statsd", "port", 8125, 1)?.try_into().map_err(|_| {
                r.invalid("statsd", "port", r.entry("statsd", "port").map(|e| e.line), "must be at most 65535")
            })?,
            flush_interval: r.duration("statsd", "flush_interval", Duration::from_secs(1))?,
        };
        let service = ServiceSettings {
            http_listen: r.socket_addr("tocsin", "http_listen", "127.0.0.1:8085")?,
            shutdown_timeout: r.duration("tocsin", "shutdown_timeout", Duration::from_secs(20))?,
            start_timeout: r.duration("tocsin", "start_timeout", Duration::from_secs(30))?,
            log_format: match r.string("tocsin", "log_format", "text").as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    let line = r.entry("tocsin", "log_format").map(|e| e.line);
                    return Err(r.invalid("tocsin", "log_format", line, format!("expected text or json, found {other:?}")));
                }
            },
        };
        let plugins = PluginSettings::read(&r)?;
        let network = {
            let (allow_networks, allow_hosts) = crate::netguard::NetworkPolicy::parse_allow(&r.list("network", "allow", &[]))
                .map_err(|e| r.invalid("network", "allow", r.entry("network", "allow").map(|e| e.line), e))?;
            crate::netguard::NetworkPolicy { deny_private: r.bool("network", "deny_private", false)?, allow_networks, allow_hosts }
        };
        let notices = unused_notices(&r);
        Ok(Config { file: source.file.clone(), kafka, database, engine, retry, periodic, manager, api, plugins, network, statsd, service, notices })
    }

    /// The effective settings as INI text, secrets masked: what `tocsin check-config` prints.
    pub fn render_masked(&self) -> String {
        let mut out = String::new();
        let mut section = |name: &str, entries: Vec<(&str, String)>| {
            let _ = writeln!(out, "[{name}]");
            for (key, value) in entries {
                let _ = writeln!(out, "{key} = {value}");
            }
            out.push('\n');
        };
        let k = &self.kafka;
        let props = |p: &[(String, String)]| p.iter().map(|(k, v)| format!("{k}={}", mask_property(k, v))).collect::<Vec<_>>().join(", ");
        section("kafka", vec![
            ("url", k.brokers.join(",")),
            ("group", k.group.clone()),
            ("alarm_topic", k.alarm_topic.clone()),
            ("notification_topic", k.notification_topic.clone()),
            ("notification_retry_topic", k.notification_retry_topic.clone()),
            ("periodic", k.periodic.iter().map(|(p, t)| format!("{p}:{t}")).collect::<Vec<_>>().join(",")),
            ("create_topics", k.create_topics.to_string()),
            ("consumer properties", props(&k.consumer_properties.every)),
            ("notification engine consumer properties", props(&k.consumer_properties.notification)),
            ("alarm manager consumer properties", props(&k.consumer_properties.manager)),
            ("retry engine consumer properties", props(&k.consumer_properties.retry)),
            ("periodic engine consumer properties", props(&k.consumer_properties.periodic)),
            ("producer properties", props(&k.producer_properties)),
        ]);
        section("database", vec![("url", self.database.masked_url())]);
        let e = &self.engine;
        section("notification_engine", vec![
            ("enabled", e.enabled.to_string()),
            ("ttl", e.ttl.map_or("none".into(), |t| t.as_secs().to_string())),
            ("dead_letter_topic", e.dead_letter_topic.clone()),
            ("max_message_bytes", e.max_message_bytes.to_string()),
            ("max_in_flight_per_partition", e.max_in_flight_per_partition.to_string()),
            ("partition_queue", e.partition_queue.to_string()),
            ("max_concurrent_sends", e.max_concurrent_sends.to_string()),
            ("commit_interval", format!("{:?}", e.commit_interval)),
            ("lookup_cache_ttl", format!("{:?}", e.lookup_cache_ttl)),
        ]);
        let t = &self.retry;
        section("retry_engine", vec![
            ("enabled", t.enabled.to_string()),
            ("group", t.group.clone()),
            ("interval", format!("{:?}", t.interval)),
            ("max_attempts", t.max_attempts.to_string()),
            ("backoff_multiplier", t.backoff_multiplier.to_string()),
            ("max_interval", format!("{:?}", t.max_interval)),
            ("jitter", t.jitter.to_string()),
            ("dead_letter_topic", t.dead_letter_topic.clone()),
            ("max_waiting_per_partition", t.max_waiting_per_partition.to_string()),
        ]);
        let p = &self.periodic;
        section("periodic_engine", vec![
            ("enabled", p.enabled.to_string()),
            ("group_prefix", p.group_prefix.clone()),
            ("dead_letter_topic", p.dead_letter_topic.clone()),
            ("max_waiting_per_partition", p.max_waiting_per_partition.to_string()),
        ]);
        let m = &self.manager;
        section("alarm_manager", vec![
            ("enabled", m.enabled.to_string()),
            ("group", m.group.clone()),
            ("filtered_topic", m.filtered_topic.clone()),
            ("rules_poll_interval", format!("{:?}", m.rules_poll_interval)),
            ("persist_interval", format!("{:?}", m.persist_interval)),
            ("notify_resolved_if_notified", m.notify_resolved_if_notified.to_string()),
        ]);
        let a = &self.api;
        let mut api = vec![
            ("enabled", a.enabled.to_string()),
            ("auth", if a.keystone.is_some() { "keystone" } else { "tokens" }.to_owned()),
            ("tokens", a.tokens.iter().map(|(_, tenant)| format!("****:{tenant}")).collect::<Vec<_>>().join(", ")),
            ("valid_notification_periods", a.valid_notification_periods.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
            ("max_methods_per_tenant", a.limits.max_methods_per_tenant.to_string()),
            ("max_rules_per_tenant", a.limits.max_rules_per_tenant.to_string()),
            ("max_definitions_per_tenant", a.limits.max_definitions_per_tenant.to_string()),
            ("writes_per_minute", a.limits.writes_per_minute.to_string()),
            ("max_concurrent_requests", a.limits.max_concurrent_requests.to_string()),
        ];
        if let Some(k) = &a.keystone {
            api.extend([
                ("default_authorized_roles", k.default_authorized_roles.join(", ")),
                ("read_only_authorized_roles", k.read_only_authorized_roles.join(", ")),
                ("token_cache_ttl", format!("{:?}", k.token_cache_ttl)),
                ("invalid_token_cache_ttl", format!("{:?}", k.invalid_token_cache_ttl)),
                ("max_concurrent_validations", k.max_concurrent_validations.to_string()),
                ("keystone auth_url", k.service.auth_url.clone()),
                ("keystone username", k.service.username.clone()),
            ]);
        }
        section("api", api);
        for (name, entries) in self.plugins.render_masked() {
            section(&name, entries.iter().map(|(k, v)| (k.as_str(), v.clone())).collect());
        }
        let n = &self.network;
        let allowed: Vec<String> = n.allow_networks.iter().map(ToString::to_string).chain(n.allow_hosts.iter().cloned()).collect();
        section("network", vec![("deny_private", n.deny_private.to_string()), ("allow", allowed.join(", "))]);
        let s = &self.statsd;
        section("statsd", vec![
            ("enable", s.enable.to_string()),
            ("host", s.host.clone()),
            ("port", s.port.to_string()),
            ("flush_interval", format!("{:?}", s.flush_interval)),
        ]);
        let v = &self.service;
        section("tocsin", vec![
            ("http_listen", v.http_listen.to_string()),
            ("shutdown_timeout", format!("{:?}", v.shutdown_timeout)),
            ("start_timeout", format!("{:?}", v.start_timeout)),
            ("log_format", format!("{:?}", v.log_format).to_lowercase()),
        ]);
        out
    }
}

/// `[api] tokens`: `token:tenant` pairs, refused at start when a token is empty, shorter than
/// [`MIN_TOKEN_LENGTH`], or given twice (the later one would silently win), or a tenant is empty.
/// Messages say which entry, never the token.
fn api_tokens(r: &Reader) -> Result<Vec<(Secret, String)>, Error> {
    let bad = |message: String| r.invalid("api", "tokens", r.entry("api", "tokens").map(|e| e.line), message);
    let items = r.opt_string("api", "tokens").map(|v| reader::split_list(&v)).unwrap_or_default();
    let mut tokens: Vec<(Secret, String)> = Vec::with_capacity(items.len());
    for (n, item) in items.into_iter().enumerate() {
        let entry = n + 1;
        let Some((token, tenant)) = item.split_once(':').map(|(t, n)| (t.trim().to_owned(), n.trim().to_owned())) else {
            return Err(bad(format!("entry {entry} is not token:tenant")));
        };
        if token.trim().is_empty() {
            return Err(bad(format!("entry {entry} (tenant {tenant:?}) has an empty token")));
        }
        if tenant.trim().is_empty() {
            return Err(bad(format!("entry {entry} has no tenant after the ':'")));
        }
        if token.chars().count() < MIN_TOKEN_LENGTH {
            return Err(bad(format!("the token of entry {entry} (tenant {tenant:?}) is shorter than {MIN_TOKEN_LENGTH} characters")));
        }
        if let Some(first) = tokens.iter().position(|(t, _)| t.expose() == token) {
            return Err(bad(format!("entries {} and {entry} have the same token", first + 1)));
        }
        tokens.push((Secret::new(token), tenant));
    }
    Ok(tokens)
}

/// Masks librdkafka properties that carry credentials.
fn mask_property(key: &str, value: &str) -> String {
    if key.contains("password") || key.contains("secret") || key.ends_with(".key.pem") || key.contains("oauthbearer.config") {
        "****".into()
    } else {
        value.to_owned()
    }
}

/// The database URL: `[database] url` when given, else built from `repo_driver` and its section,
/// as monasca-notification connects.
fn database_url(r: &Reader) -> Result<String, Error> {
    if let Some(url) = r.opt_string("database", "url") {
        return check_database_url(r, "database", "url", url);
    }
    let driver = r.string("database", "repo_driver", "mysql").to_ascii_lowercase();
    let driver_line = r.entry("database", "repo_driver").map(|e| e.line);
    let build = |scheme: &str, section: &str, host: String, port: i64, user: String, password: String, db: String| {
        let mut url = url::Url::parse(&format!("{scheme}://localhost")).expect("static URL");
        url.set_host(Some(&host)).map_err(|e| r.invalid(section, "host", r.entry(section, "host").map(|e| e.line), e.to_string()))?;
        // Checked: `port as u16` made port = 70000 connect to 4464.
        let port = u16::try_from(port).map_err(|_| r.invalid(section, "port", r.entry(section, "port").map(|e| e.line), format!("must be at most 65535, found {port}")))?;
        let _ = url.set_port(Some(port));
        let _ = url.set_username(&user);
        let _ = url.set_password(Some(&password));
        url.set_path(&db);
        Ok::<_, Error>(url)
    };
    if driver.contains("postgres") {
        let url = build(
            "postgres",
            "postgresql",
            r.string("postgresql", "host", "127.0.0.1"),
            r.int("postgresql", "port", 5432, 1)?,
            r.string("postgresql", "user", "notification"),
            r.string("postgresql", "password", "password"),
            r.string("postgresql", "database", "mon"),
        )?;
        Ok(url.to_string())
    } else if driver.contains("orm") {
        let Some(url) = r.opt_string("orm", "url") else {
            return Err(r.invalid("database", "repo_driver", driver_line, "the orm driver needs [orm] url"));
        };
        // SQLAlchemy URLs name a Python driver after '+' (mysql+pymysql://); sqlx only needs the
        // dialect.
        let (scheme, rest) = url.split_once("://").unwrap_or((&url, ""));
        let dialect = scheme.split('+').next().unwrap_or(scheme).replace("postgresql", "postgres");
        check_database_url(r, "orm", "url", format!("{dialect}://{rest}"))
    } else if driver.contains("mysql") {
        let mut url = build(
            "mysql",
            "mysql",
            r.string("mysql", "host", "127.0.0.1"),
            r.int("mysql", "port", 3306, 1)?,
            r.string("mysql", "user", "notification"),
            r.string("mysql", "passwd", "password"),
            r.string("mysql", "db", "mon"),
        )?;
        let ssl = r.dict("mysql", "ssl", &[])?;
        if !ssl.is_empty() {
            let mut query = url.query_pairs_mut();
            query.append_pair("ssl-mode", if ssl.iter().any(|(k, _)| k == "ca") { "VERIFY_CA" } else { "REQUIRED" });
            for (key, value) in &ssl {
                match key.as_str() {
                    "ca" => query.append_pair("ssl-ca", value),
                    "cert" => query.append_pair("ssl-cert", value),
                    "key" => query.append_pair("ssl-key", value),
                    _ => &mut query,
                };
            }
        }
        Ok(url.to_string())
    } else {
        Err(r.invalid("database", "repo_driver", driver_line, format!("unknown driver {driver:?}: use mysql, postgresql or orm, or set [database] url")))
    }
}

fn check_database_url(r: &Reader, section: &str, key: &str, url: String) -> Result<String, Error> {
    let line = r.entry(section, key).map(|e| e.line);
    let known = ["mysql://", "mariadb://", "postgres://", "postgresql://", "sqlite:"];
    if !known.iter().any(|prefix| url.starts_with(prefix)) {
        return Err(r.invalid(section, key, line, "expected a mysql://, postgres:// or sqlite:// URL"));
    }
    Ok(url.replacen("mariadb://", "mysql://", 1).replacen("postgresql://", "postgres://", 1))
}

fn unused_notices(r: &Reader) -> Vec<String> {
    r.unread()
        .into_iter()
        .map(|(section, key, line)| {
            let known = MONASCA_UNUSED
                .iter()
                .find(|(s, k, _)| *s == section && (*k == key || *k == "*"));
            match known {
                Some((_, _, why)) => format!("line {line}: [{section}] {key} is accepted and not used: {why}"),
                None => format!("line {line}: [{section}] {key} is not a Tocsin option and is ignored"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
