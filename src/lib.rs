//! Tocsin: an alarm notification engine, compatible with OpenStack monasca-notification.
//!
//! # Layout
//! The modules follow the data:
//! - [`ingest`]: decodes `alarm-transitioned` records and applies the TTL/actions filters.
//! - [`db`]: the config database (MySQL/MariaDB, PostgreSQL, SQLite) and the cached method lookup.
//! - [`dispatch`]: sends notifications through their plugins under timeouts.
//! - [`plugins`]: the plugin trait and one module per notification type.
//! - [`publish`]: the records Tocsin writes (sent, retry, dead-letter) and their wire format.
//! - [`deliver`]: sends notifications and publishes the outcomes (shared by the engines).
//! - [`notify`]: the notification engine that strings those stages together per record, and
//!   routes transitions of tenants with rules to the alarm manager.
//! - [`manager`]: the alarm manager (silence, inhibit, group) and its persisted state.
//! - [`stored`]: notifications read back from the retry and periodic topics.
//! - [`retry`]: the retry engine (delayed re-sends, then the dead-letter topic).
//! - [`periodic`]: the periodic engines (re-sends while an alarm stays in its state).
//! - [`supervise`]: engine tasks restarted with backoff; fatal conditions.
//! - [`rules`]: alarm-manager rules (group, silence, inhibit), their expression language and
//!   matching.
//! - [`kafka`]: consumer groups, per-partition workers, offset ledgers, the confirming producer.
//! - [`config`], [`telemetry`], [`app`], [`cli`]: configuration, self-monitoring, wiring, commands.
//! - [`model`] and [`pyjson`]: the shared vocabulary and Python-compatible JSON text.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod deliver;
pub mod dispatch;
pub mod ingest;
pub mod kafka;
pub mod manager;
pub mod model;
pub mod netguard;
pub mod notify;
pub mod periodic;
pub mod plugins;
pub mod publish;
pub mod pyjson;
pub mod retry;
pub mod rules;
pub mod stored;
pub mod supervise;
pub mod telemetry;
