//! Wiring and lifecycle: builds every part from a [`Config`], starts the enabled engines
//! (notification, alarm manager, retry, one periodic engine per `[kafka] periodic` entry) as
//! supervised tasks and the HTTP server, and stops them in reverse order. Tests run the whole
//! service in-process through [`App::start`] with port 0 and read the bound address from
//! [`App::http_addr`].
//!
//! - [`config`]: the whole configuration file.
//! - `engines`: each engine's start, and the topics they need.
//! - `http`: the operator's endpoints (`/metrics`, `/healthz`, `/livez`), beside the API.

mod config;
mod engines;
mod http;

pub use config::{Config, ServiceConfig};
pub use engines::needed_topics;

use crate::db::{definitions::DefinitionStore, methods::MethodStore};
use crate::api::{self, auth::ConfiguredTokens, keystone::KeystoneTokens, ApiState};
use crate::backoff::{self, Backoff};
use crate::db::{Database, MethodLookup};
use crate::engines::Parts;
use crate::engines::manager::persist::StateStore;
use crate::history::store::HistoryStore;
use crate::history::Recorder;
use crate::kafka::{self, Producer};
use crate::netguard::Guard;
use crate::outcomes::{Outcomes, Topics as OutcomeTopics};
use crate::plugins::Registry;
use crate::publish::Publisher;
use crate::rules::live::LiveRules;
use crate::rules::store::RuleStore;
use crate::send::Sender;
use crate::supervise::Fatal;
use crate::telemetry::Metrics;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct App {
    http_addr: SocketAddr,
    metrics: Metrics,
    /// Cancelled to begin a shutdown.
    stop: CancellationToken,
    /// Raised by any part that finds the process cannot go on.
    fatal: Fatal,
    /// The supervised engine tasks, each returning once its consumer has drained and committed.
    engines: Vec<JoinHandle<()>>,
    producer: Producer,
    db: Database,
    http: JoinHandle<()>,
    statsd: JoinHandle<()>,
    /// Stops the HTTP server last, so health stays observable during the drain.
    http_stop: CancellationToken,
    /// The history engine's low-priority runtime, stopped after the engines.
    background: crate::engines::history::Background,
    /// An `App` dropped without [`App::shutdown`] (a panicking caller) still stops its engines:
    /// their poll threads would otherwise run on and hold up the runtime's own shutdown.
    _stop_when_dropped: [tokio_util::sync::DropGuard; 2],
}

impl App {
    /// Builds and starts everything, or fails with nothing left running: every check that can
    /// fail (the listen address, plugin settings, the database's credentials, the topics) comes
    /// before any consumer joins its group, so a failed start never holds partitions.
    pub async fn start(config: Config) -> anyhow::Result<App> {
        for notice in &config.notices {
            tracing::info!(file = %config.file.display(), "{notice}");
        }
        for name in &config.plugins.unavailable {
            tracing::warn!(plugin = %name, "notification type enabled in [notification_types] has no plugin in this build; its notifications are counted as invalid");
        }
        let stop = CancellationToken::new();
        // Until the start succeeds, leaving this function stops whatever it started.
        let stop_unless_started = stop.clone().drop_guard();

        let listener = tokio::net::TcpListener::bind(config.service.http_listen)
            .await
            .with_context(|| format!("cannot listen on {} ([tocsin] http_listen)", config.service.http_listen))?;
        let http_addr = listener.local_addr()?;
        // Tenant addresses never reach Tocsin's own listener, whatever `[network] allow` says.
        let guard = Guard::new(config.network.clone(), vec![http_addr]);
        let (parts, plugins, producer) = shared_parts(&config, &guard)?;
        first_database_answer(&parts.db, &config).await?;
        let kafka = &config.kafka;
        kafka::topics::ensure(&kafka.brokers, &kafka.producer_properties, &needed_topics(&config), &kafka.alarm_topic, kafka.create_topics, config.service.start_timeout)
            .await
            .context("kafka topics")?;
        let authenticator: Option<Arc<dyn api::auth::Authenticator>> = match (config.api.enabled, &config.api.keystone) {
            (false, _) => None,
            (true, Some(keystone)) => Some(Arc::new(KeystoneTokens::new(keystone.clone()).context("Keystone client of the API")?)),
            (true, None) => Some(Arc::new(ConfiguredTokens::new(&config.api.tokens))),
        };
        let rule_store = RuleStore::new(parts.db.clone());
        if config.manager.enabled || config.api.enabled {
            parts.rules.start(rule_store.clone(), config.manager.rules_poll_interval, parts.metrics.clone(), stop.clone()).await;
        }
        // Every member is created (its properties checked) before the first one joins a group.
        let mut members = engines::members(&config, &parts).await?;
        let background = crate::engines::history::Background::start().context("the history engine's runtime")?;
        members.extend(engines::history_members(&config, &parts, &background).await?);

        // From here on nothing fails but joining itself; if that does, the members that joined
        // leave again before the error is returned.
        tokio::spawn(register_types(parts.db.clone(), plugins.type_names(), parts.fatal.clone(), stop.clone()));
        let mut engines = Vec::new();
        for member in members {
            match member.join(&stop) {
                Ok(engine) => engines.push(engine),
                Err(e) => {
                    stop.cancel();
                    for engine in engines {
                        let _ = engine.await;
                    }
                    return Err(e);
                }
            }
        }

        let http_stop = CancellationToken::new();
        let mut router = http::router(parts.metrics.clone(), parts.db.clone(), producer.clone(), parts.publisher.clone());
        if let Some(auth) = authenticator {
            router = router.merge(api::router(ApiState {
                store: rule_store,
                methods: MethodStore::new(parts.db.clone()),
                definitions: DefinitionStore::new(parts.db.clone()),
                db: parts.db.clone(),
                auth,
                valid_periods: config.api.valid_notification_periods.clone(),
                plugins,
                guard,
                limits: config.api.limits.clone(),
                writes: Arc::new(api::limits::WriteLimiter::new(config.api.limits.writes_per_minute)),
                history: HistoryStore::new(parts.db.clone()),
                manager_state: StateStore::new(parts.db.clone()),
                rules: parts.rules.clone(),
            }));
        }
        if config.ui.enabled {
            router = router.merge(crate::ui::router());
        }
        let http = tokio::spawn({
            let http_stop = http_stop.clone();
            async move {
                let served = axum::serve(listener, router).with_graceful_shutdown(http_stop.cancelled_owned()).await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "HTTP server failed");
                }
            }
        });
        let statsd = tokio::spawn(parts.metrics.clone().run_statsd(config.statsd.clone(), stop.clone()));
        tracing::info!(
            address = %http_addr,
            topic = %config.kafka.alarm_topic,
            group = %config.kafka.group,
            database = %config.database.masked_url(),
            "tocsin listening on http://{http_addr}"
        );
        stop_unless_started.disarm();
        let _stop_when_dropped = [stop.clone().drop_guard(), http_stop.clone().drop_guard()];
        let Parts { metrics, fatal, db, .. } = parts;
        Ok(App { http_addr, metrics, stop, fatal, engines, producer, db, http, statsd, http_stop, background, _stop_when_dropped })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Stops fetching, lets in-flight sends finish, commits, flushes the producer, then stops
    /// the HTTP server and closes the database pool.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down");
        self.stop.cancel();
        for engine in self.engines {
            let _ = engine.await;
        }
        drop(self.background);
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10)))
            .await?
            .context("records not confirmed at shutdown")?;
        let _ = self.statsd.await;
        self.http_stop.cancel();
        let _ = self.http.await;
        self.db.close().await;
        tracing::info!("shutdown complete");
        Ok(())
    }

    /// Resolves when a part raised a fatal condition, with its message.
    pub async fn fatal(&self) -> String {
        self.fatal.raised().await
    }
}

/// What every engine shares, built from the configuration: nothing here connects yet (the
/// database pool and the producer connect on first use).
fn shared_parts(config: &Config, guard: &Guard) -> anyhow::Result<(Parts, Registry, Producer)> {
    let metrics = Metrics::new();
    let fatal = Fatal::default();
    let db = Database::connect_lazy(&config.database.url).context("config database")?;
    let plugins = Registry::build(&config.plugins, config.engine.max_concurrent_sends, guard).context("notification plugins")?;
    let producer = Producer::new(&config.kafka.brokers, &config.kafka.producer_properties).context("kafka producer")?;
    let publisher = Publisher::new(producer.clone(), metrics.clone());
    // One sender for all engines: `max_concurrent_sends` bounds the process, not each engine.
    let sender = Sender::new(plugins.clone(), metrics.clone(), config.engine.max_concurrent_sends, config.engine.per_destination);
    let kafka = &config.kafka;
    let topics = OutcomeTopics {
        notification_topic: kafka.notification_topic.clone(),
        retry_topic: kafka.notification_retry_topic.clone(),
        periodic_topics: kafka.periodic.iter().map(|(period, topic)| (*period as i64, topic.clone())).collect(),
    };
    let parts = Parts {
        lookup: MethodLookup::new(db.clone(), config.engine.lookup_cache_ttl, metrics.clone(), fatal.clone()),
        outcomes: Arc::new(Outcomes::new(topics, sender.clone(), publisher.clone(), metrics.clone())),
        sender,
        history: Recorder::new(config.history.enabled.then(|| config.history.topic.clone()), publisher.clone()),
        publisher,
        rules: LiveRules::default(),
        max_message_bytes: config.engine.max_message_bytes,
        backlog: Default::default(),
        db,
        metrics,
        fatal,
    };
    Ok((parts, plugins, producer))
}

/// Waits (at most `start_timeout`) for the config database's first answer. Refused credentials
/// stop the start: no retry cures them. A database that is down or slow only delays work.
async fn first_database_answer(db: &Database, config: &Config) -> anyhow::Result<()> {
    let database = config.database.masked_url();
    match tokio::time::timeout(config.service.start_timeout, db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.refused_credentials() => anyhow::bail!("the config database refused Tocsin's credentials: {e}"),
        Ok(Err(e)) => {
            tracing::warn!(%database, error = %e, "the config database does not answer yet; lookups wait for it");
            Ok(())
        }
        Err(_) => {
            tracing::warn!(%database, timeout = ?config.service.start_timeout, "the config database did not answer in time; lookups wait for it");
            Ok(())
        }
    }
}

/// Runs until SIGTERM or SIGINT, then shuts down gracefully; a fatal condition shuts down the
/// same way and fails with its message.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    let fatal = tokio::select! {
        _ = wait_for_signal() => None,
        message = app.fatal() => Some(message),
    };
    app.shutdown().await?;
    match fatal {
        Some(message) => Err(anyhow::anyhow!(message)),
        None => Ok(()),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM, beginning graceful shutdown"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT, beginning graceful shutdown"),
    }
}

/// Registers the enabled plugins' types, retrying while the database is unreachable.
async fn register_types(db: Database, names: Vec<String>, fatal: Fatal, stop: CancellationToken) {
    let _ = backoff::retry(Backoff::new(Duration::from_millis(200), Duration::from_secs(30)), &stop, || db.register_types(&names), |e, retry_in| {
        if e.refused_credentials() {
            fatal.raise(format!("the config database refused Tocsin's credentials: {e}"));
        }
        tracing::warn!(error = %e, ?retry_in, "cannot register notification types yet");
    })
    .await;
}
