//! The `tocsin` command line: `run`, `check-config`, `db init`, `publish-alarm`, `send-test` and
//! `template render`; `rules`, `silence`, `methods`, `history` and `groups` are clients of the
//! REST API ([`admin`]).

mod admin;

use crate::app::Config;
use crate::config::Source;
use crate::db::Database;
use crate::kafka::Producer;
use crate::model::{AlarmState, Notification};
use crate::plugins::Registry;
use crate::telemetry;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

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
    Run {
        #[command(flatten)]
        config: ConfigArg,
        /// Listen here instead of `[tocsin] http_listen`: one address per instance when
        /// several run on one host from the same configuration file (port 0 picks a free one,
        /// logged at start).
        #[arg(long, value_name = "ADDRESS", env = "TOCSIN_HTTP_LISTEN")]
        http_listen: Option<std::net::SocketAddr>,
    },
    /// Validate the configuration and print the effective settings, secrets masked; with
    /// --connect, also check the broker, the topics and the config database.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
        /// Connect to the broker and the database and report what `run` would find, without
        /// starting the engines or creating anything. Exits non-zero if `run` would fail.
        #[arg(long)]
        connect: bool,
    },
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
        /// The `hostname` dimension of the alarm's metric.
        #[arg(long, default_value = "sample-host")]
        hostname: String,
        /// LOW, MEDIUM, HIGH or CRITICAL.
        #[arg(long, default_value = "HIGH")]
        severity: String,
    },
    /// Send a sample notification through one notification method of the config database and
    /// print what the remote end answered (to check a new method).
    SendTest(MethodArgs),
    /// Alarm-manager rules (group, inhibit, silence) of a running Tocsin's API.
    Rules {
        #[command(flatten)]
        api: admin::ApiArgs,
        #[command(subcommand)]
        command: admin::RulesCommand,
    },
    /// Silences: add, expire, list.
    Silence {
        #[command(flatten)]
        api: admin::ApiArgs,
        #[command(subcommand)]
        command: admin::SilenceCommand,
    },
    /// The notification history of a running Tocsin's API: what was sent, failed, given up,
    /// skipped, silenced, inhibited or grouped, newest first.
    History {
        #[command(flatten)]
        api: admin::ApiArgs,
        #[command(flatten)]
        args: admin::HistoryArgs,
    },
    /// The alarm manager's open groups and when each notifies next.
    Groups {
        #[command(flatten)]
        api: admin::ApiArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Print the exact payload a notification method would send, without sending it.
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
    },
    /// Notification methods, and attaching them to alarm definitions' states.
    Methods {
        #[command(flatten)]
        api: admin::ApiArgs,
        #[command(subcommand)]
        command: admin::MethodsCommand,
    },
}

/// One method of the config database and the state of the sample transition sent through it.
#[derive(clap::Args, Debug)]
pub struct MethodArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The notification method's id.
    #[arg(long)]
    method: String,
    /// The state the sample alarm transitions to: UNDETERMINED, OK or ALARM.
    #[arg(long, default_value = "ALARM")]
    state: String,
}

#[derive(Subcommand, Debug)]
pub enum TemplateCommand {
    /// Render one method's payload (email message, webhook/Slack/PagerDuty JSON, HipChat form,
    /// Jira issue) for a sample transition or one from a file, with the configured templates.
    Render {
        #[command(flatten)]
        method: MethodArgs,
        /// A JSON file holding an alarm-transitioned message (or its inner object) to render
        /// instead of the sample.
        #[arg(long, value_name = "FILE")]
        transition: Option<PathBuf>,
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
        Command::Run { config: arg, http_listen } => {
            let mut config = load(&arg)?;
            if let Some(address) = http_listen {
                config.service.http_listen = address;
            }
            telemetry::init_logging(config.service.log_format);
            crate::app::run(config).await
        }
        Command::CheckConfig { config: arg, connect } => {
            let config = load(&arg)?;
            for notice in &config.notices {
                eprintln!("note: {notice}");
            }
            print!("{}", config.render_masked());
            eprintln!("{}: configuration is valid", config.file.display());
            if connect {
                check_connections(&config).await?;
            }
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
        Command::PublishAlarm { config, definition, state, alarm_id, name, tenant, hostname, severity } => {
            let config = load(&config)?;
            let producer = Producer::new(&config.kafka.brokers, &config.kafka.producer_properties)?;
            let message = crate::ingest::SampleAlarm { definition: &definition, state: &state, alarm_id: &alarm_id, name: &name, tenant: &tenant, hostname: &hostname, severity: &severity }.message();
            producer.send(&config.kafka.alarm_topic, Some(alarm_id.as_bytes()), message.to_string().as_bytes(), None).await?;
            println!("published to {}: {message}", config.kafka.alarm_topic);
            Ok(())
        }
        Command::SendTest(MethodArgs { config, method, state }) => {
            let config = load(&config)?;
            send_test(&config, &method, &state).await
        }
        Command::Rules { api, command } => admin::rules(&api, command).await,
        Command::Silence { api, command } => admin::silence(&api, command).await,
        Command::Methods { api, command } => admin::methods(&api, command).await,
        Command::History { api, args } => admin::history(&api, args).await,
        Command::Groups { api, json } => admin::groups(&api, json).await,
        Command::Template { command: TemplateCommand::Render { method: MethodArgs { config, method, state }, transition } } => {
            let config = load(&config)?;
            render_template(&config, &method, &state, transition.as_deref()).await
        }
    }
}

/// What `run` would find: the broker and every topic it needs, the config database and the
/// Monasca tables it reads. Prints one line per check; fails if `run` would.
async fn check_connections(config: &Config) -> anyhow::Result<()> {
    let kafka = &config.kafka;
    let mut problems = Vec::new();
    let needed = crate::app::needed_topics(config);
    let (brokers, properties, timeout) = (kafka.brokers.clone(), kafka.producer_properties.clone(), config.service.start_timeout);
    let asked = needed.clone();
    let inventory = tokio::task::spawn_blocking(move || crate::kafka::topics::inspect(&brokers, &properties, &asked, timeout)).await?;
    match inventory {
        Err(e) => {
            println!("broker {}: {e}", kafka.brokers.join(","));
            problems.push("the broker does not answer".to_owned());
        }
        Ok(inventory) => {
            println!("broker {}: ok ({} broker(s))", kafka.brokers.join(","), inventory.brokers);
            let mut seen = std::collections::HashSet::new();
            for topic in needed.iter().filter(|t| seen.insert(t.name.clone())) {
                match inventory.present.get(&topic.name) {
                    Some((partitions, replication)) => println!("topic {}: ok, {partitions} partition(s), replication {replication} ({})", topic.name, topic.role),
                    None if kafka.create_topics => println!("topic {}: missing, created at start ([kafka] create_topics = true) ({})", topic.name, topic.role),
                    None => {
                        println!("topic {}: missing ({})", topic.name, topic.role);
                        problems.push(format!("topic {} is missing and [kafka] create_topics = false", topic.name));
                    }
                }
            }
        }
    }
    let database = config.database.masked_url();
    let db = Database::connect_lazy(&config.database.url)?;
    match tokio::time::timeout(config.service.start_timeout, db.ping()).await {
        Ok(Ok(())) => {
            let missing = db.missing_tables().await;
            if missing.is_empty() {
                println!("database {database}: ok, Monasca tables present");
            } else {
                println!("database {database}: reachable, but tables missing or unreadable: {} (tocsin db init creates them)", missing.join(", "));
                problems.push("config database tables are missing".to_owned());
            }
        }
        Ok(Err(e)) => {
            println!("database {database}: {e}");
            problems.push("the config database does not answer".to_owned());
        }
        Err(_) => {
            println!("database {database}: no answer within {:?}", config.service.start_timeout);
            problems.push("the config database does not answer".to_owned());
        }
    }
    db.close().await;
    if problems.is_empty() {
        eprintln!("{}: broker, topics and database ready", config.file.display());
        Ok(())
    } else {
        anyhow::bail!("not ready: {}", problems.join("; "))
    }
}

/// A method of the config database and the plugin that sends it, as `run` would build it.
async fn method_and_plugin(config: &Config, method_id: &str) -> anyhow::Result<(crate::model::NotificationMethod, Arc<dyn crate::plugins::Plugin>)> {
    let db = Database::connect_lazy(&config.database.url)?;
    let method = db
        .fetch_method(method_id)
        .await
        .with_context(|| format!("looking the method up in {}", config.database.masked_url()))?
        .ok_or_else(|| anyhow::anyhow!("no notification method with id {method_id:?} in {}", config.database.masked_url()))?;
    db.close().await;
    let guard = crate::netguard::Guard::new(config.network.clone(), vec![config.service.http_listen]);
    let plugins = Registry::build(&config.plugins, 1, &guard)?;
    let plugin = plugins.get(&method.kind).ok_or_else(|| {
        anyhow::anyhow!("method {method_id:?} has type {}, which is not enabled in [notification_types]", method.kind.to_ascii_uppercase())
    })?;
    Ok((method, plugin.clone()))
}

fn parse_state(state: &str) -> anyhow::Result<AlarmState> {
    AlarmState::parse(state).ok_or_else(|| anyhow::anyhow!("--state must be UNDETERMINED, OK or ALARM, not {state:?}"))
}

/// `tocsin template render`: the payload of one method for a sample or given transition.
async fn render_template(config: &Config, method_id: &str, state: &str, transition: Option<&std::path::Path>) -> anyhow::Result<()> {
    let state = parse_state(state)?;
    let (method, plugin) = method_and_plugin(config, method_id).await?;
    let message = match transition {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
            if value.get("alarm-transitioned").is_some() { value } else { serde_json::json!({ "alarm-transitioned": value }) }
        }
        None => crate::ingest::SampleAlarm::new("tocsin-template-render", state.as_str(), "tocsin-template-render", "tocsin template render", "tocsin-template-render").message(),
    };
    let alarm = crate::ingest::decode(Some(message.to_string().as_bytes()), usize::MAX).map_err(|r| anyhow::anyhow!("the transition: {}", r.reason))?;
    let notification = Notification::new(method, Arc::new(alarm));
    let rendered = plugin.render(&notification).map_err(|e| anyhow::anyhow!("method {method_id:?} would not send: {e}"))?;
    eprintln!("{} payload of method {method_id:?} ({}):", rendered.content_type, notification.method.kind.to_ascii_uppercase());
    println!("{}", rendered.body);
    Ok(())
}

async fn send_test(config: &Config, method_id: &str, state: &str) -> anyhow::Result<()> {
    let state = parse_state(state)?;
    let (method, plugin) = method_and_plugin(config, method_id).await?;
    let alarm = crate::ingest::SampleAlarm::new("tocsin-send-test", state.as_str(), "tocsin-send-test", "tocsin send-test", "tocsin-send-test")
        .transition()
        .map_err(|r| anyhow::anyhow!("{r}"))?;
    let notification = Notification::new(method, Arc::new(alarm));
    println!("sending a sample {} notification through method {method_id:?} ({})", state.as_str(), notification.method.kind);
    let timeout = plugin.timeout();
    match tokio::time::timeout(timeout, plugin.send(&notification)).await {
        Ok(Ok(receipt)) => {
            println!("sent; the remote end answered: {}", receipt.answer);
            Ok(())
        }
        Ok(Err(error)) => {
            let retry = if error.retryable { "retryable" } else { "permanent" };
            anyhow::bail!("send failed ({retry}, {}): {}", error.reason, error.detail)
        }
        Err(_) => anyhow::bail!("send failed (retryable, timeout): no answer within {timeout:?}"),
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

