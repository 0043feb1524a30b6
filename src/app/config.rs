//! Everything Tocsin reads from its configuration file, gathered: each section is read by its
//! owner's own type (`kafka::KafkaConfig`, `db::DatabaseConfig`, the engines', the API's, the
//! plugins', …), and this puts them together, reports the options that were accepted but have
//! no effect ([`Config::notices`]), and renders the whole, secrets masked, for
//! `tocsin check-config`. Defaults are Monasca's; Tocsin's own options live in new sections
//! (`[tocsin]`, `[notification_engine]`, `[network]`, `[kafka_consumer]`, `[kafka_producer]`)
//! plus `[database] url`.

use crate::api::ApiConfig;
use crate::config::{Error, Reader, Source};
use crate::db::DatabaseConfig;
use crate::engines::manager::ManagerConfig;
use crate::engines::notification::NotificationConfig;
use crate::engines::periodic::PeriodicConfig;
use crate::engines::retry::RetryConfig;
use crate::history::HistoryConfig;
use crate::kafka::KafkaConfig;
use crate::netguard::NetworkPolicy;
use crate::plugins::PluginsConfig;
use crate::telemetry::{LogFormat, StatsdConfig};
use crate::ui::UiConfig;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    pub file: PathBuf,
    pub kafka: KafkaConfig,
    pub database: DatabaseConfig,
    pub engine: NotificationConfig,
    pub retry: RetryConfig,
    pub periodic: PeriodicConfig,
    pub manager: ManagerConfig,
    pub history: HistoryConfig,
    pub api: ApiConfig,
    pub ui: UiConfig,
    pub plugins: PluginsConfig,
    /// `[network]`: where tenant addresses may lead.
    pub network: NetworkPolicy,
    pub statsd: StatsdConfig,
    pub service: ServiceConfig,
    /// One line per option that was accepted but has no effect, to be logged at start.
    pub notices: Vec<String>,
}

/// `[tocsin]`: the process itself.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Address of `/metrics`, `/healthz` and the API (`[tocsin] http_listen`).
    pub http_listen: SocketAddr,
    /// How long a shutdown waits for in-flight sends before giving up on them.
    pub shutdown_timeout: Duration,
    /// How long a start waits for the broker and the database's first answer before failing.
    pub start_timeout: Duration,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
}

impl ServiceConfig {
    pub fn read(r: &Reader) -> Result<ServiceConfig, Error> {
        Ok(ServiceConfig {
            http_listen: r.socket_addr("tocsin", "http_listen", "127.0.0.1:8085")?,
            shutdown_timeout: r.duration("tocsin", "shutdown_timeout", Duration::from_secs(20))?,
            start_timeout: r.duration("tocsin", "start_timeout", Duration::from_secs(30))?,
            log_format: LogFormat::read(r)?,
        })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![
            ("http_listen".into(), self.http_listen.to_string()),
            ("shutdown_timeout".into(), format!("{:?}", self.shutdown_timeout)),
            ("start_timeout".into(), format!("{:?}", self.start_timeout)),
            ("log_format".into(), self.log_format.as_str().into()),
        ]
    }
}

impl Config {
    pub fn load(file: &Path) -> Result<Config, Error> {
        let source = Source::read(file)?;
        Config::from_source(&source)
    }

    pub fn from_source(source: &Source) -> Result<Config, Error> {
        let r = Reader::new(source);
        let kafka = KafkaConfig::read(&r)?;
        let api = ApiConfig::read(&r)?;
        Ok(Config {
            file: source.file.clone(),
            database: DatabaseConfig::read(&r)?,
            engine: NotificationConfig::read(&r)?,
            retry: RetryConfig::read(&r, &kafka.group)?,
            periodic: PeriodicConfig::read(&r, &kafka.group)?,
            manager: ManagerConfig::read(&r, &kafka.group)?,
            history: HistoryConfig::read(&r, &kafka.group)?,
            ui: UiConfig::read(&r, api.enabled)?,
            api,
            statsd: StatsdConfig::read(&r)?,
            service: ServiceConfig::read(&r)?,
            plugins: PluginsConfig::read(&r)?,
            network: NetworkPolicy::read(&r)?,
            kafka,
            // Last: it reports what every section above did not read.
            notices: unused_notices(&r),
        })
    }

    /// The effective settings as INI text, secrets masked: what `tocsin check-config` prints.
    pub fn render_masked(&self) -> String {
        let mut sections: Vec<(String, Vec<(String, String)>)> = vec![
            ("kafka".into(), self.kafka.render()),
            ("database".into(), self.database.render()),
            ("notification_engine".into(), self.engine.render()),
            ("retry_engine".into(), self.retry.render()),
            ("periodic_engine".into(), self.periodic.render()),
            ("alarm_manager".into(), self.manager.render()),
            ("history".into(), self.history.render()),
            ("api".into(), self.api.render()),
            ("ui".into(), self.ui.render()),
        ];
        sections.extend(self.plugins.render_masked());
        sections.extend([
            ("network".into(), self.network.render()),
            ("statsd".into(), self.statsd.render()),
            ("tocsin".into(), self.service.render()),
        ]);
        let mut out = String::new();
        for (name, entries) in sections {
            let _ = writeln!(out, "[{name}]");
            for (key, value) in entries {
                let _ = writeln!(out, "{key} = {value}");
            }
            out.push('\n');
        }
        out
    }
}

/// Options of monasca-notification that Tocsin accepts without using them.
const MONASCA_UNUSED: &[(&str, &str, &str)] = &[
    ("kafka", "max_offset_lag", "unused by monasca-notification as well"),
    ("kafka", "legacy_kafka_client_enabled", "Tocsin always uses the Kafka group protocol"),
    ("zookeeper", "*", "Tocsin shares partitions through Kafka consumer groups, not ZooKeeper"),
    ("queues", "*", "unused by monasca-notification as well"),
    ("alarm_processor", "number", "unused by monasca-notification as well"),
    ("notification_processor", "number", "Tocsin runs one engine per process with concurrent partitions"),
    ("keystone", "auth_type", "only password authentication exists, as in monasca-notification"),
    ("DEFAULT", "*", "logging is configured with RUST_LOG and [tocsin] log_format"),
];

/// One line per option no section read: Monasca's, with why Tocsin does not use it, or unknown.
fn unused_notices(r: &Reader) -> Vec<String> {
    r.unread()
        .into_iter()
        .map(|(section, key, line)| {
            let known = MONASCA_UNUSED
                .iter()
                .find(|(s, k, _)| *s == section && (*k == key || *k == "*"));
            match known {
                Some((_, _, why)) => format!("line {line}: [{section}] {key} is accepted and not used: {why}"),
                None => format!("line {line}: [{section}] {key} is not a Tocsin option and is ignored"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
