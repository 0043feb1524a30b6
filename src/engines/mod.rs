//! The five engines, each a `kafka::Handler` of one topic, and what they share ([`Parts`]):
//! - [`notification`]: the alarm topic; looks up, sends and publishes each transition, or hands
//!   the transitions of tenants with rules to the alarm manager.
//! - [`manager`]: the filtered-transitions topic; silence, inhibit and group, with state that
//!   outlives the process.
//! - [`retry`] and [`periodic`]: the retry and periodic topics, whose records ([`stored`]) are
//!   notifications waiting until they are due.
//! - [`history`]: the sent, retry, given-up and history topics; writes what became of each
//!   notification to the config database.
//!
//! Each decodes its records (`Handler::decode`) and leaves bad ones to the consumer's one
//! discard path; none commits, retries a publish or talks to a plugin itself.

pub mod history;
pub mod manager;
pub mod notification;
pub mod periodic;
pub mod retry;
pub mod stored;

use crate::db::{Database, MethodLookup};
use crate::history::Recorder;
use crate::outcomes::Outcomes;
use crate::publish::Publisher;
use crate::rules::live::LiveRules;
use crate::send::Sender;
use crate::supervise::Fatal;
use crate::telemetry::Metrics;
use std::sync::Arc;

/// What every engine of the process shares, built once by the app.
#[derive(Clone)]
pub struct Parts {
    pub db: Database,
    /// Methods per (definition, state), cached.
    pub lookup: MethodLookup,
    /// One bound on concurrent sends for the whole process.
    pub sender: Sender,
    pub outcomes: Arc<Outcomes>,
    pub publisher: Publisher,
    /// Publishes the outcomes that leave no notification record to the history topic.
    pub history: Recorder,
    /// The rules in force (the notification engine routes by them, the manager applies them).
    pub rules: LiveRules,
    pub metrics: Metrics,
    /// Raised by what no restart cures (refused database credentials).
    pub fatal: Fatal,
    /// Larger records are rejected unparsed (`[notification_engine] max_message_bytes`).
    pub max_message_bytes: usize,
    /// Records the notification and manager engines have read and not started: while there
    /// are many, the history defers its writes.
    pub backlog: crate::kafka::Backlog,
}
