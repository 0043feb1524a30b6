//! `[kafka]`, `[kafka_consumer]`, `[kafka_consumer_<engine>]` and `[kafka_producer]`: where the
//! brokers are, the topics and group Monasca names there, whether missing topics are created,
//! and the librdkafka properties passed through (TLS, SASL, tuning). Its `Debug` and rendering
//! mask the properties that carry credentials.

use crate::config::{masked_properties, Error, Reader};

#[derive(Clone)]
pub struct KafkaConfig {
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
    pub history: Vec<(String, String)>,
}

/// The engines that consume, each with its own `[kafka_consumer_<engine>]` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumingEngine {
    Notification,
    Manager,
    Retry,
    Periodic,
    History,
}

/// Engines whose records nobody waits for fetch less often. On a broker that answers a fetch as
/// soon as records arrive (Kafka) the wait costs nothing; on one that holds every fetch for the
/// whole wait (tansu), each empty fetch costs the broker about a millisecond of CPU, so an idle
/// consumer at Tocsin's 100 ms default costs it about 0.6 % of a core (BENCHMARKS.md).
///
/// The retry and periodic engines hold their records for seconds to minutes anyway: 1 s.
const PATIENT_DEFAULTS: &[(&str, &str)] = &[("fetch.wait.max.ms", "1000")];
/// The history engine's four consumers read topics that are idle most of the time: 500 ms
/// (librdkafka's default), and up to 8 MiB per partition and fetch, so catching up takes few
/// fetches. Longer saves the test broker little and delays the history's catching up after a
/// burst on it by several times the wait (2 s: all rows 17–19 s after a 100,000-alarm burst
/// instead of 3–6 s, BENCHMARKS.md); an operator reads the history during an outage.
const HISTORY_DEFAULTS: &[(&str, &str)] = &[("fetch.wait.max.ms", "500"), ("max.partition.fetch.bytes", "8388608")];

impl ConsumerProperties {
    /// One engine's properties: the engine's defaults, the shared ones, then its own (later
    /// ones win).
    pub fn of(&self, engine: ConsumingEngine) -> Vec<(String, String)> {
        let own = match engine {
            ConsumingEngine::Notification => &self.notification,
            ConsumingEngine::Manager => &self.manager,
            ConsumingEngine::Retry => &self.retry,
            ConsumingEngine::Periodic => &self.periodic,
            ConsumingEngine::History => &self.history,
        };
        let defaults = match engine {
            ConsumingEngine::History => HISTORY_DEFAULTS,
            ConsumingEngine::Retry | ConsumingEngine::Periodic => PATIENT_DEFAULTS,
            ConsumingEngine::Notification | ConsumingEngine::Manager => &[],
        };
        defaults.iter().map(|(k, v)| (k.to_string(), v.to_string())).chain(self.every.iter().chain(own).cloned()).collect()
    }
}

impl KafkaConfig {
    pub fn read(r: &Reader) -> Result<KafkaConfig, Error> {
        let brokers = r.list("kafka", "url", &["127.0.0.1:9092"]);
        if brokers.is_empty() {
            return Err(r.invalid("kafka", "url", "needs at least one host:port"));
        }
        let periodic = r
            .dict("kafka", "periodic", &[("60", "60-seconds-notifications")])?
            .into_iter()
            .map(|(period, topic)| match period.parse::<u64>() {
                Ok(p) if p > 0 => Ok((p, topic)),
                _ => Err(r.invalid("kafka", "periodic", format!("period {period:?} must be a whole number of seconds above 0"))),
            })
            .collect::<Result<_, _>>()?;
        Ok(KafkaConfig {
            brokers,
            group: r.string("kafka", "group", "monasca-notification"),
            alarm_topic: r.string("kafka", "alarm_topic", "alarm-state-transitions"),
            notification_topic: r.string("kafka", "notification_topic", "alarm-notifications"),
            notification_retry_topic: r.string("kafka", "notification_retry_topic", "retry-notifications"),
            periodic,
            create_topics: r.bool("kafka", "create_topics", true)?,
            consumer_properties: ConsumerProperties {
                every: r.all("kafka_consumer"),
                notification: r.all("kafka_consumer_notification"),
                manager: r.all("kafka_consumer_manager"),
                retry: r.all("kafka_consumer_retry"),
                periodic: r.all("kafka_consumer_periodic"),
                history: r.all("kafka_consumer_history"),
            },
            producer_properties: r.all("kafka_producer"),
        })
    }

    /// `(key, value)` pairs for `tocsin check-config`, credentials masked.
    pub fn render(&self) -> Vec<(String, String)> {
        let props = |p: &[(String, String)]| masked_properties(p).join(", ");
        let c = &self.consumer_properties;
        vec![
            ("url".into(), self.brokers.join(",")),
            ("group".into(), self.group.clone()),
            ("alarm_topic".into(), self.alarm_topic.clone()),
            ("notification_topic".into(), self.notification_topic.clone()),
            ("notification_retry_topic".into(), self.notification_retry_topic.clone()),
            ("periodic".into(), self.periodic.iter().map(|(p, t)| format!("{p}:{t}")).collect::<Vec<_>>().join(",")),
            ("create_topics".into(), self.create_topics.to_string()),
            ("consumer properties".into(), props(&c.every)),
            ("notification engine consumer properties".into(), props(&c.notification)),
            ("alarm manager consumer properties".into(), props(&c.manager)),
            ("retry engine consumer properties".into(), props(&c.retry)),
            ("periodic engine consumer properties".into(), props(&c.periodic)),
            ("producer properties".into(), props(&self.producer_properties)),
        ]
    }
}

impl std::fmt::Debug for ConsumerProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerProperties")
            .field("every", &masked_properties(&self.every))
            .field("notification", &masked_properties(&self.notification))
            .field("manager", &masked_properties(&self.manager))
            .field("retry", &masked_properties(&self.retry))
            .field("periodic", &masked_properties(&self.periodic))
            .field("history", &masked_properties(&self.history))
            .finish()
    }
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
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
