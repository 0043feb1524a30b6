//! The producer every engine publishes with. [`Producer::send`] returns only once the broker has
//! confirmed the record (or failed to), which is what lets a caller commit the offset that
//! caused it.

use super::{client_config, Error};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use std::time::Duration;

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
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
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
