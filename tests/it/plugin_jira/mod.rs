//! The Jira plugin against a fake Jira REST server (`fake`): the plugin alone (`plugin`) and
//! the whole engine, from an alarm on the broker to an issue and a record on the sent or retry
//! topic (`engine`).

mod engine;
mod fake;
mod plugin;
