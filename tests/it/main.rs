//! Integration tests: Tocsin against a real tansu broker, real MariaDB, PostgreSQL and SQLite
//! databases and real HTTP receivers on loopback. See `support` for the harness.

mod api;
mod bad_input;
mod concurrency;
mod console;
mod consumer;
mod engine;
mod faults;
mod history;
mod manager;
mod operations;
mod periodic;
mod plugin_email;
mod plugin_hipchat;
mod plugin_jira;
mod plugin_pagerduty;
mod plugin_slack;
mod retry;
mod scale_out;
mod security;
mod start;
mod support;
