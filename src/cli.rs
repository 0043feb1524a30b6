//! The `tocsin` command line: `run`, `check-config`, `db init` and `publish-alarm`.

use crate::config::{Config, Source};
use crate::db::Database;
use crate::kafka::Producer;
use crate::telemetry;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "tocsin", version, about = "Alarm notification engine, compatible with monasca-notification")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArg {
    /// A monasca-notification INI file, or the same settings as a .toml file. Without it the
    /// standard monasca-notification locations are searched.
    #[arg(long = "config-file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the notification engine until SIGTERM or SIGINT.
    Run(ConfigArg),
    /// Validate the configuration and print the effective settings, secrets masked.
    CheckConfig(ConfigArg),
    /// Config database tools.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Publish a sample alarm transition to the alarm topic (to try a set-up end to end).
    PublishAlarm {
        #[command(flatten)]
        config: ConfigArg,
        /// The alarm definition whose actions should fire.
        #[arg(long)]
        definition: String,
        /// UNDETERMINED, OK or ALARM.
        #[arg(long, default_value = "ALARM")]
        state: String,
        #[arg(long, default_value = "tocsin-sample-alarm")]
        alarm_id: String,
        #[arg(long, default_value = "sample alarm")]
        name: String,
        #[arg(long, default_value = "tocsin-sample-tenant")]
        tenant: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Create the Monasca tables Tocsin uses where they are missing.
    Init(ConfigArg),
}

/// Locations monasca-notification's oslo.config searches, in order.
const STANDARD_LOCATIONS: &[&str] = &[
    "~/.monasca/monasca-notification.conf",
    "~/monasca-notification.conf",
    "/etc/monasca/monasca-notification.conf",
    "/etc/monasca-notification.conf",
    "/etc/monasca/notification.conf",
];

fn load(arg: &ConfigArg) -> anyhow::Result<Config> {
    if let Some(file) = &arg.config_file {
        return Ok(Config::load(file)?);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    for location in STANDARD_LOCATIONS {
        let path = PathBuf::from(location.replacen('~', &home, 1));
        if path.is_file() {
            return Ok(Config::load(&path)?);
        }
    }
    Ok(Config::from_source(&Source { file: PathBuf::from("<defaults>"), entries: Vec::new() })?)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(arg) => {
            let config = load(&arg)?;
            telemetry::init_logging(config.service.log_format);
            crate::app::run(config).await
        }
        Command::CheckConfig(arg) => {
            let config = load(&arg)?;
            for notice in &config.notices {
                eprintln!("note: {notice}");
            }
            print!("{}", config.render_masked());
            eprintln!("{}: configuration is valid", config.file.display());
            Ok(())
        }
        Command::Db { command: DbCommand::Init(arg) } => {
            let config = load(&arg)?;
            telemetry::init_logging(config.service.log_format);
            let url = creatable(&config.database.url);
            let db = Database::connect_lazy(&url)?;
            db.init_schema().await.with_context(|| format!("creating the schema in {}", config.database.masked_url()))?;
            db.close().await;
            println!("schema ready in {}", config.database.masked_url());
            Ok(())
        }
        Command::PublishAlarm { config, definition, state, alarm_id, name, tenant } => {
            let config = load(&config)?;
            let producer = Producer::new(&config.kafka.brokers, &config.kafka.producer_properties)?;
            let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
            let message = json!({"alarm-transitioned": {
                "tenantId": tenant, "alarmId": alarm_id, "alarmDefinitionId": definition,
                "metrics": [{"id": null, "name": "cpu.user_perc", "dimensions": {"hostname": "quickstart-host", "service": "monitoring"}}],
                "alarmName": name, "alarmDescription": "published by tocsin publish-alarm",
                "oldState": "OK", "newState": state, "actionsEnabled": true,
                "stateChangeReason": "Thresholds were exceeded for the sub-alarms: avg(cpu.user_perc) > 90.0 with the values: [97.5]",
                "severity": "HIGH", "link": null, "lifecycleState": null, "subAlarms": [], "timestamp": timestamp}});
            producer.send(&config.kafka.alarm_topic, Some(alarm_id.as_bytes()), message.to_string().as_bytes(), None).await?;
            println!("published to {}: {message}", config.kafka.alarm_topic);
            Ok(())
        }
    }
}

/// SQLite files are created by `db init`; `run` expects them to exist.
fn creatable(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode=rwc")
    } else {
        url.to_owned()
    }
}

