//! The producer every engine publishes with. [`Producer::send`] returns only once the broker has
//! confirmed the record (or failed to), which is what lets a caller commit the offset that
//! caused it.

use super::{client_config, Error};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use std::time::Duration;

/// Where a record goes beyond its topic, and the time it carries; by default the partition of
/// its key and the time it is sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Placement {
    pub partition: Option<i32>,
    pub timestamp_ms: Option<i64>,
}

#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
}

/// Tocsin's producer defaults; `[kafka_producer]` overrides them (tests set `linger.ms=0` and
/// `batch.num.messages=1`, see `docs/test-broker.md`).
const DEFAULTS: &[(&str, &str)] = &[
    ("acks", "all"),
    ("message.timeout.ms", "30000"),
    ("message.max.bytes", "10485760"),
];

impl Producer {
    pub fn new(brokers: &[String], properties: &[(String, String)]) -> Result<Producer, Error> {
        let inner = client_config(brokers, DEFAULTS, properties)
            .create()
            .map_err(|source| Error::Create { role: "producer", source })?;
        Ok(Producer { inner })
    }

    /// Sends one record and waits for the broker's confirmation.
    pub async fn send(&self, topic: &str, key: Option<&[u8]>, payload: &[u8], headers: Option<OwnedHeaders>) -> Result<(), Error> {
        self.send_placed(topic, key, payload, headers, Placement::default()).await
    }

    /// As [`Producer::send`], on a chosen partition or with a chosen timestamp.
    pub async fn send_placed(&self, topic: &str, key: Option<&[u8]>, payload: &[u8], headers: Option<OwnedHeaders>, placement: Placement) -> Result<(), Error> {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        if let Some(partition) = placement.partition {
            record = record.partition(partition);
        }
        if let Some(timestamp) = placement.timestamp_ms {
            record = record.timestamp(timestamp);
        }
        self.inner
            .send(record, Duration::from_secs(5))
            .await
            .map(|_| ())
            .map_err(|(source, _)| Error::Delivery { topic: topic.to_owned(), source })
    }

    /// Waits for every queued record to be confirmed.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        self.inner.flush(timeout).map_err(Error::Flush)
    }
}

impl Producer {
    /// Whether the broker answers a metadata request (blocking; call off the runtime).
    pub fn check_broker(&self, timeout: Duration) -> Result<(), Error> {
        self.inner.client().fetch_metadata(None, timeout).map(|_| ()).map_err(Error::Metadata)
    }
}
