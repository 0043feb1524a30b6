//! Kafka plumbing, knowing nothing of alarms: a consumer-group runner that hands records to a
//! [`Handler`] with one ordered worker per partition and commits only what the handler finished
//! ([`consumer`]), the per-partition [`ledger`] of finished offsets and [`progress`] in record
//! time, a producer whose sends return once the broker confirmed the record ([`producer`]), and
//! the check that every topic an instance uses exists before it starts ([`topics`]).

mod config;
pub mod consumer;
pub mod ledger;
pub mod producer;
pub mod progress;
pub mod topics;

pub use config::{ConsumerProperties, ConsumingEngine, KafkaConfig};
pub use consumer::{Backlog, ConsumerConfig, ConsumerGroup, DeadLetters, Discard, Handler, Record, Rejected, Stop};
pub use producer::Producer;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create the Kafka {role}: {source}")]
    Create { role: &'static str, source: rdkafka::error::KafkaError },
    #[error("cannot subscribe to topic {topic}: {source}")]
    Subscribe { topic: String, source: rdkafka::error::KafkaError },
    #[error("broker did not confirm the record on topic {topic}: {source}")]
    Delivery { topic: String, source: rdkafka::error::KafkaError },
    #[error("producer flush incomplete: {0}")]
    Flush(rdkafka::error::KafkaError),
    #[error("broker metadata unavailable: {0}")]
    Metadata(rdkafka::error::KafkaError),
    #[error("the Kafka broker {brokers} did not answer: {source}")]
    Unreachable { brokers: String, source: rdkafka::error::KafkaError },
    #[error("topics missing and [kafka] create_topics = false: {missing} (the commands that create them are logged above)")]
    TopicsMissing { missing: String },
    #[error("the broker refused to create topics: {why} (the commands that create them are logged above)")]
    TopicsNotCreated { why: String },
}

/// A librdkafka configuration with the bootstrap servers, Tocsin's defaults for the role, and
/// then the operator's own properties, which win.
pub fn client_config(brokers: &[String], defaults: &[(&str, &str)], overrides: &[(String, String)]) -> rdkafka::ClientConfig {
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", brokers.join(","));
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for (key, value) in overrides {
        config.set(key, value);
    }
    config
}
