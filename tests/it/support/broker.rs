//! One tansu broker per test run, on a free port, shared by every test; tests isolate themselves
//! with uniquely named topics and groups. Producers here write one record per batch, as
//! `docs/test-broker.md` requires.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Broker {
    pub address: String,
}

static BROKER: OnceLock<Broker> = OnceLock::new();

/// The shared broker, started on first use.
pub fn broker() -> &'static Broker {
    BROKER.get_or_init(|| {
        let port = super::free_port();
        let dir = tempfile::tempdir().expect("temp dir").keep();
        std::mem::forget::<Child>(spawn_tansu(port, "memory://tansu/", &dir));
        Broker { address: format!("127.0.0.1:{port}") }
    })
}

/// Starts tansu on `port` with `storage`, in `dir`, and waits until it listens.
fn spawn_tansu(port: u16, storage: &str, dir: &std::path::Path) -> Child {
    let address = format!("127.0.0.1:{port}");
    let child = super::spawn_tied_to_process(
        Command::new("tansu")
            .args(["broker", "--listener-url", &format!("tcp://{address}")])
            .args(["--advertised-listener-url", &format!("tcp://{address}")])
            .args(["--storage-engine", storage])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("tansu must be on PATH: run scripts/ensure-tansu.sh");
    super::wait_for_port(port, Duration::from_secs(20));
    child
}

/// A broker of one test's own, keeping records and committed offsets in a SQLite file, so it
/// can be stopped and started again on the same address with nothing lost.
pub struct DurableBroker {
    pub broker: Broker,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl DurableBroker {
    pub fn start() -> DurableBroker {
        let port = super::free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = spawn_tansu(port, "sqlite://broker.db", dir.path());
        DurableBroker { broker: Broker { address: format!("127.0.0.1:{port}") }, port, dir, child: Some(child) }
    }

    /// kill -9: whatever the broker had not written to its file is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(spawn_tansu(self.port, "sqlite://broker.db", self.dir.path()));
    }
}

impl Drop for DurableBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Broker {
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.address);
        config
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create().expect("admin client");
        let results = admin
            .create_topics(&[NewTopic::new(name, partitions, TopicReplication::Fixed(1))], &AdminOptions::new())
            .await
            .expect("create_topics request");
        for result in results {
            result.unwrap_or_else(|(topic, e)| panic!("cannot create topic {topic}: {e}"));
        }
    }

    /// A producer writing one record per batch.
    pub fn producer(&self) -> FutureProducer {
        self.client_config()
            .set("linger.ms", "0")
            .set("batch.num.messages", "1")
            .set("message.max.bytes", "10485760")
            .create()
            .expect("producer")
    }

    pub async fn produce(&self, producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
        producer
            .send(FutureRecord::to(topic).key(key).payload(payload), Duration::from_secs(10))
            .await
            .unwrap_or_else(|(e, _)| panic!("cannot produce to {topic}: {e}"));
    }

    /// As [`Broker::produce`], to one chosen partition.
    pub async fn produce_to(&self, producer: &FutureProducer, topic: &str, partition: i32, key: &str, payload: &[u8]) {
        producer
            .send(FutureRecord::to(topic).partition(partition).key(key).payload(payload), Duration::from_secs(10))
            .await
            .unwrap_or_else(|(e, _)| panic!("cannot produce to {topic}/{partition}: {e}"));
    }

    /// How many records each partition of a topic holds (its high watermarks).
    pub fn records_by_partition(&self, topic: &str) -> Vec<i64> {
        let consumer: BaseConsumer = self.client_config().create().expect("metadata client");
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
        metadata.topics()[0]
            .partitions()
            .iter()
            .map(|p| consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10)).expect("watermarks").1)
            .collect()
    }

    /// Publishes one fresh alarm transition per id (keyed by id), many at a time; for tests where
    /// the order between alarms does not matter.
    pub async fn produce_alarms(&self, topic: &str, definition: &str, ids: impl IntoIterator<Item = String>) {
        let producer = self.producer();
        let ids: Vec<String> = ids.into_iter().collect();
        for chunk in ids.chunks(250) {
            futures::future::join_all(chunk.iter().map(|id| {
                let payload = super::alarm_message(id, definition, "ALARM").to_string();
                let producer = &producer;
                async move { self.produce(producer, topic, id, payload.as_bytes()).await }
            }))
            .await;
        }
    }

    /// Reads a topic from the start until `count` records arrived or `timeout` passed.
    pub fn read(&self, topic: &str, count: usize, timeout: Duration) -> Vec<Received> {
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", format!("reader-{}", super::unique("g")))
            .set("enable.auto.commit", "false")
            .create()
            .expect("reader");
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
        let mut list = TopicPartitionList::new();
        for partition in metadata.topics()[0].partitions() {
            list.add_partition_offset(topic, partition.id(), Offset::Beginning).expect("partition");
        }
        consumer.assign(&list).expect("assign");
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < count && Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Received {
                    payload: String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned(),
                    headers,
                });
            }
        }
        out
    }

    /// The sum of a topic's high watermarks: how many records it holds (one per batch).
    pub fn records(&self, topic: &str) -> i64 {
        self.records_by_partition(topic).iter().sum()
    }

    /// The partition count of a topic, `None` when it does not exist.
    pub fn partitions(&self, topic: &str) -> Option<usize> {
        let consumer: BaseConsumer = self.client_config().create().expect("metadata client");
        let metadata = consumer.fetch_metadata(None, Duration::from_secs(10)).expect("metadata");
        metadata.topics().iter().find(|t| t.name() == topic && t.error().is_none()).map(|t| t.partitions().len())
    }

    /// Committed offsets of a group on a topic, by partition (only partitions with a commit).
    pub fn committed(&self, group: &str, topic: &str) -> HashMap<i32, i64> {
        let consumer: BaseConsumer = self.client_config().set("group.id", group).create().expect("offset reader");
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
        let mut list = TopicPartitionList::new();
        for partition in metadata.topics()[0].partitions() {
            list.add_partition(topic, partition.id());
        }
        let committed = consumer.committed_offsets(list, Duration::from_secs(10)).expect("committed offsets");
        committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub payload: String,
    pub headers: HashMap<String, String>,
}
