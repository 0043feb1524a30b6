//! Tocsin: an alarm notification engine, compatible with OpenStack monasca-notification.
//!
//! # Layout
//! The modules follow the data, from a record on the alarm topic to a notification sent:
//! - [`ingest`]: decodes `alarm-transitioned` records and applies the TTL/actions filters.
//! - [`db`]: the config database (MySQL/MariaDB, PostgreSQL, SQLite): the Monasca schema and
//!   queries, the cached method lookup, and the stores of methods and definitions.
//! - [`send`]: sends one notification through its plugin, under its timeout and the process's
//!   bound on concurrent sends.
//! - [`plugins`]: the plugin trait and one module per notification type.
//! - [`publish`]: the records Tocsin writes to Kafka (sent, retry, periodic, dead-letter).
//! - [`outcomes`]: sends a transition's notifications and publishes each outcome to its topic.
//! - [`engines`]: the four consumers that string those stages together: the notification
//!   engine (routing tenants with rules to the alarm manager), the retry and periodic engines,
//!   and the alarm manager (silence, inhibit, group) with its persisted state.
//! - [`rules`]: alarm-manager rules (group, silence, inhibit): the model, the expression
//!   language, matching, the index, the store and the live rules every engine reads.
//! - [`api`]: the REST API (rules, methods, definitions) and its authentication and limits.
//! - [`kafka`]: consumer groups, per-partition workers, offset ledgers, the confirming producer,
//!   the topics check.
//! - [`keystone`]: the Keystone client (tokens for webhooks and for validating API callers).
//! - [`netguard`] and [`outbound`]: where tenant addresses may lead, and what every outbound
//!   client shares (bounded answers, redacted URLs, the hosts credentials may go to).
//! - [`config`]: reads the configuration file; each section's type lives with its owner.
//! - [`telemetry`]: metrics (StatsD and Prometheus) and logging.
//! - [`supervise`], [`backoff`] and [`clock`]: engine supervision, cancellation and fatal
//!   conditions; retrying with backoff; the one clock.
//! - [`model`] and [`pyjson`]: the shared vocabulary and Python-compatible JSON text.
//! - [`app`] and [`cli`]: wiring and lifecycle (the whole configuration, the start, the HTTP
//!   endpoints), and the commands.

pub mod api;
pub mod app;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod engines;
pub mod history;
pub mod ingest;
pub mod kafka;
pub mod keystone;
pub mod model;
pub mod netguard;
pub mod outbound;
pub mod outcomes;
pub mod plugins;
pub mod publish;
pub mod pyjson;
pub mod rules;
pub mod send;
pub mod supervise;
pub mod telemetry;
pub mod ui;
