//! The topics a Tocsin instance reads and writes, checked before any consumer joins a group: a
//! missing topic would otherwise show up only later, as a partition whose dead-letter publish
//! never succeeds or a consumer that logs `UnknownTopicOrPartition` on every poll.
//!
//! [`ensure`] creates the missing ones where allowed, with the partition count and replication
//! of the alarm topic (the filtered topic's keys and the periodic chains spread like the alarms
//! do), and otherwise fails naming each missing topic and the command that creates it.
//! [`inspect`] only reports, for `tocsin check-config --connect`. Neither knows what a topic is
//! for beyond the role it is given.

use super::{client_config, Error};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, Producer as _};
use std::collections::BTreeMap;
use std::time::Duration;

/// A topic the configuration names, and what the instance does with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needed {
    pub name: String,
    /// Who uses it, for messages: "alarm topic (read by the notification engine)".
    pub role: String,
}

/// What the broker has of the topics asked about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Existing topics: partition count and replication factor.
    pub present: BTreeMap<String, (i32, i32)>,
    /// Topics that do not exist, in the order they were asked about.
    pub missing: Vec<Needed>,
    /// Brokers in the cluster, for a default replication factor.
    pub brokers: usize,
}

/// Looks the topics up with one metadata request. Blocking: call it off the runtime.
pub fn inspect(brokers: &[String], properties: &[(String, String)], needed: &[Needed], timeout: Duration) -> Result<Inventory, Error> {
    let client: BaseProducer = client_config(brokers, &[], properties).create().map_err(|source| Error::Create { role: "metadata client", source })?;
    let metadata = client.client().fetch_metadata(None, timeout).map_err(|source| Error::Unreachable { brokers: brokers.join(","), source })?;
    let existing: BTreeMap<&str, (i32, i32)> = metadata
        .topics()
        .iter()
        .filter(|topic| topic.error().is_none())
        .map(|topic| {
            let replication = topic.partitions().first().map_or(1, |p| p.replicas().len() as i32);
            (topic.name(), (topic.partitions().len() as i32, replication))
        })
        .collect();
    let mut inventory = Inventory { brokers: metadata.brokers().len(), ..Inventory::default() };
    for topic in needed {
        match existing.get(topic.name.as_str()) {
            Some(shape) => {
                inventory.present.insert(topic.name.clone(), *shape);
            }
            None if !inventory.missing.iter().any(|m| m.name == topic.name) => inventory.missing.push(topic.clone()),
            None => {}
        }
    }
    Ok(inventory)
}

/// Makes sure every needed topic exists: missing ones are created when `create` is set, with the
/// shape of `model` (the alarm topic) when it exists, else one partition and the cluster's
/// replication (at most 3). Returns the topics it created.
pub async fn ensure(
    brokers: &[String],
    properties: &[(String, String)],
    needed: &[Needed],
    model: &str,
    create: bool,
    timeout: Duration,
) -> Result<Vec<String>, Error> {
    let inventory = {
        let (brokers, properties, needed) = (brokers.to_vec(), properties.to_vec(), needed.to_vec());
        tokio::task::spawn_blocking(move || inspect(&brokers, &properties, &needed, timeout)).await.expect("the metadata request does not panic")?
    };
    if inventory.missing.is_empty() {
        return Ok(Vec::new());
    }
    let (partitions, replication) = inventory.present.get(model).copied().unwrap_or((1, inventory.brokers.clamp(1, 3) as i32));
    if !create {
        log_commands(&inventory.missing, brokers, partitions, replication);
        return Err(Error::TopicsMissing { missing: names(&inventory.missing) });
    }
    let admin: AdminClient<DefaultClientContext> =
        client_config(brokers, &[], properties).create().map_err(|source| Error::Create { role: "admin client", source })?;
    let topics: Vec<NewTopic<'_>> =
        inventory.missing.iter().map(|m| NewTopic::new(&m.name, partitions, TopicReplication::Fixed(replication))).collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let results = admin.create_topics(&topics, &options).await.map_err(|source| Error::Unreachable { brokers: brokers.join(","), source })?;
    let mut refused = Vec::new();
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => created.push(name),
            // Another instance starting at the same moment created it first.
            Err((name, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => created.push(name),
            Err((name, code)) => refused.push((name, code)),
        }
    }
    if !refused.is_empty() {
        let still_missing: Vec<Needed> = inventory.missing.iter().filter(|m| refused.iter().any(|(name, _)| *name == m.name)).cloned().collect();
        log_commands(&still_missing, brokers, partitions, replication);
        let why = refused.iter().map(|(name, code)| format!("{name}: {code}")).collect::<Vec<_>>().join("; ");
        return Err(Error::TopicsNotCreated { why });
    }
    for topic in &inventory.missing {
        tracing::info!(topic = %topic.name, role = %topic.role, partitions, replication, "created a missing topic");
    }
    Ok(created)
}

/// The missing topics' names, for the one-line error that ends the start.
fn names(missing: &[Needed]) -> String {
    missing.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// Logs, per missing topic, what it is for and the command that creates it.
fn log_commands(missing: &[Needed], brokers: &[String], partitions: i32, replication: i32) {
    for m in missing {
        tracing::error!(
            topic = %m.name,
            role = %m.role,
            "missing topic {} ({}): kafka-topics.sh --bootstrap-server {} --create --topic {} --partitions {partitions} --replication-factor {replication}",
            m.name,
            m.role,
            brokers.join(","),
            m.name
        );
    }
}
