//! `[statsd]` (Monasca's: where the StatsD counters go) and the log format of `[tocsin]`.

use crate::config::{Error, Reader};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct StatsdConfig {
    pub enable: bool,
    pub host: String,
    pub port: u16,
    /// How often aggregated counters and timers are sent.
    pub flush_interval: Duration,
}

impl StatsdConfig {
    pub fn read(r: &Reader) -> Result<StatsdConfig, Error> {
        Ok(StatsdConfig {
            enable: r.bool("statsd", "enable", true)?,
            host: r.string("statsd", "host", "127.0.0.1"),
            port: r.int("statsd", "port", 8125, 1)?.try_into().map_err(|_| r.invalid("statsd", "port", "must be at most 65535"))?,
            flush_interval: r.interval("statsd", "flush_interval", Duration::from_secs(1))?,
        })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![
            ("enable".into(), self.enable.to_string()),
            ("host".into(), self.host.clone()),
            ("port".into(), self.port.to_string()),
            ("flush_interval".into(), format!("{:?}", self.flush_interval)),
        ]
    }
}

/// `[tocsin] log_format`: `text` or `json` log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn read(r: &Reader) -> Result<LogFormat, Error> {
        match r.string("tocsin", "log_format", "text").as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(r.invalid("tocsin", "log_format", format!("expected text or json, found {other:?}"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}
