//! Wiring and lifecycle: builds every part from a [`Config`], starts the enabled engines
//! (notification, retry, one periodic engine per `[kafka] periodic` entry) as supervised tasks
//! and the HTTP server, and stops them in reverse order. Tests run the whole service in-process
//! through [`App::start`] with port 0 and read the bound address from [`App::http_addr`].

use crate::api::{self, auth::ConfiguredTokens, keystone::KeystoneTokens, ApiState};
use crate::config::{Config, ConsumingEngine};
use crate::db::{Database, MethodLookup};
use crate::dispatch::Dispatcher;
use crate::kafka::consumer::Prepared;
use crate::kafka::topics::Needed;
use crate::kafka::{self, ConsumerGroup, ConsumerSettings, DeadLetters, Handler, Producer};
use crate::netguard::Guard;
use crate::deliver::{Delivery, Topics as DeliveryTopics};
use crate::manager::{ManagerEngine, ManagerHandler, ManagerSettings, Settings as ManagerStateSettings};
use crate::manager::persist::StateStore;
use crate::notify::{EngineSettings, NotificationEngine, Routing};
use crate::rules::live::LiveRules;
use crate::rules::store::RuleStore;
use crate::periodic::{PeriodicEngine, PeriodicTopics};
use crate::retry::{RetryEngine, RetryPolicy, RetryTopics};
use crate::supervise::{supervise, EngineFailed, Fatal};
use crate::plugins::Registry;
use crate::publish::Publisher;
use crate::telemetry::{self, Metrics};
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
        let metrics = Metrics::new();
        let stop = CancellationToken::new();
        let fatal = Fatal::default();
        // Until the start succeeds, leaving this function stops whatever it started.
        let stop_unless_started = stop.clone().drop_guard();

        let listener = tokio::net::TcpListener::bind(config.service.http_listen)
            .await
            .with_context(|| format!("cannot listen on {} ([tocsin] http_listen)", config.service.http_listen))?;
        let http_addr = listener.local_addr()?;
        let db = Database::connect_lazy(&config.database.url).context("config database")?;
        // Tenant addresses never reach Tocsin's own listener, whatever `[network] allow` says.
        let guard = Guard::new(config.network.clone(), vec![http_addr]);
        let plugins = Registry::build(&config.plugins, config.engine.max_concurrent_sends, &guard).context("notification plugins")?;
        let producer = Producer::new(&config.kafka.brokers, &config.kafka.producer_properties).context("kafka producer")?;
        first_database_answer(&db, &config).await?;
        let kafka = &config.kafka;
        kafka::topics::ensure(&kafka.brokers, &kafka.producer_properties, &needed_topics(&config), &kafka.alarm_topic, kafka.create_topics, config.service.start_timeout)
            .await
            .context("kafka topics")?;
        let authenticator: Option<Arc<dyn api::auth::Authenticator>> = match (config.api.enabled, &config.api.keystone) {
            (false, _) => None,
            (true, Some(keystone)) => Some(Arc::new(KeystoneTokens::new(keystone.clone()).context("Keystone client of the API")?)),
            (true, None) => Some(Arc::new(ConfiguredTokens::new(&config.api.tokens))),
        };

        let publisher = Publisher::new(producer.clone(), metrics.clone());
        // One dispatcher for all engines: `max_concurrent_sends` bounds the process, not each engine.
        let dispatcher = Dispatcher::new(plugins.clone(), metrics.clone(), config.engine.max_concurrent_sends);
        let periodic_topics: Vec<(i64, String)> = kafka.periodic.iter().map(|(period, topic)| (*period as i64, topic.clone())).collect();
        let delivery = Arc::new(Delivery::new(
            DeliveryTopics {
                notification_topic: kafka.notification_topic.clone(),
                retry_topic: kafka.notification_retry_topic.clone(),
                periodic_topics: periodic_topics.clone(),
            },
            dispatcher.clone(),
            publisher.clone(),
            metrics.clone(),
        ));
        let lookup = MethodLookup::new(db.clone(), config.engine.lookup_cache_ttl, metrics.clone(), fatal.clone());
        let rule_store = RuleStore::new(db.clone());
        let live_rules = LiveRules::default();
        let manager = &config.manager;
        let rule_tables = if manager.enabled || config.api.enabled {
            // Awaited once so that the API, served next, finds the tables.
            Some(rule_store.init_schema().await)
        } else {
            None
        };
        let dead_letters: Arc<dyn DeadLetters> = Arc::new(publisher.clone());
        let consumer = |engine: &'static str, properties: ConsumingEngine, group: &str, topic: &str, max_in_flight: usize, dead_letter_topic: &str| ConsumerSettings {
            engine,
            brokers: kafka.brokers.clone(),
            group: group.to_owned(),
            topic: topic.to_owned(),
            properties: kafka.consumer_properties.of(properties),
            max_in_flight_per_partition: max_in_flight,
            partition_queue: config.engine.partition_queue,
            commit_interval: config.engine.commit_interval,
            drain_timeout: config.service.shutdown_timeout,
            dead_letter_topic: dead_letter_topic.to_owned(),
        };

        // Every member is created (its properties checked) before the first one joins a group.
        let mut members: Vec<Member> = Vec::new();
        if config.engine.enabled {
            let engine = NotificationEngine::new(
                EngineSettings { ttl: config.engine.ttl, max_message_bytes: config.engine.max_message_bytes },
                lookup.clone(),
                delivery.clone(),
                manager.enabled.then(|| Routing { rules: live_rules.clone(), filtered_topic: manager.filtered_topic.clone() }),
                metrics.clone(),
            );
            let settings = consumer(
                "notification",
                ConsumingEngine::Notification,
                &kafka.group,
                &kafka.alarm_topic,
                config.engine.max_in_flight_per_partition,
                &config.engine.dead_letter_topic,
            );
            members.push(Member::prepare(settings, Arc::new(engine), &dead_letters, &metrics)?);
        }
        if manager.enabled {
            let state_store = StateStore::new(db.clone());
            if let Err(e) = state_store.init_schema().await {
                tracing::warn!(error = %e, "cannot create the alarm-manager state tables yet; loading a partition retries");
            }
            let engine = ManagerEngine::new(
                ManagerSettings {
                    scope_prefix: format!("{}/{}", manager.group, manager.filtered_topic),
                    persist_interval: manager.persist_interval,
                    max_message_bytes: config.engine.max_message_bytes,
                    state: ManagerStateSettings { notify_resolved_if_notified: manager.notify_resolved_if_notified },
                },
                live_rules.clone(),
                state_store,
                db.clone(),
                lookup.clone(),
                delivery.clone(),
                metrics.clone(),
                fatal.clone(),
            );
            // One partition's records apply to its state in order: one in flight per partition.
            let settings = consumer("alarm-manager", ConsumingEngine::Manager, &manager.group, &manager.filtered_topic, 1, &config.engine.dead_letter_topic);
            members.push(Member::prepare(settings, Arc::new(ManagerHandler(engine)), &dead_letters, &metrics)?);
        }
        if config.retry.enabled {
            let r = &config.retry;
            let engine = RetryEngine::new(
                RetryPolicy {
                    interval: r.interval,
                    max_attempts: r.max_attempts,
                    backoff_multiplier: r.backoff_multiplier,
                    max_interval: r.max_interval,
                    jitter: r.jitter,
                },
                RetryTopics {
                    notification_topic: kafka.notification_topic.clone(),
                    retry_topic: kafka.notification_retry_topic.clone(),
                    dead_letter_topic: r.dead_letter_topic.clone(),
                },
                config.engine.max_message_bytes,
                db.clone(),
                dispatcher.clone(),
                publisher.clone(),
                metrics.clone(),
                fatal.clone(),
            );
            let settings = consumer("retry", ConsumingEngine::Retry, &r.group, &kafka.notification_retry_topic, r.max_waiting_per_partition, &r.dead_letter_topic);
            members.push(Member::prepare(settings, Arc::new(engine), &dead_letters, &metrics)?);
        }
        if config.periodic.enabled {
            let p = &config.periodic;
            for (period, topic) in &periodic_topics {
                let engine = PeriodicEngine::new(
                    *period,
                    PeriodicTopics {
                        periodic_topic: topic.clone(),
                        notification_topic: kafka.notification_topic.clone(),
                        retry_topic: kafka.notification_retry_topic.clone(),
                    },
                    config.engine.max_message_bytes,
                    db.clone(),
                    dispatcher.clone(),
                    publisher.clone(),
                    metrics.clone(),
                    fatal.clone(),
                );
                let group = format!("{}-{period}", p.group_prefix);
                let settings = consumer("periodic", ConsumingEngine::Periodic, &group, topic, p.max_waiting_per_partition, &p.dead_letter_topic);
                members.push(Member::prepare(settings, Arc::new(engine), &dead_letters, &metrics)?);
            }
        }

        // From here on nothing fails but joining itself; if that does, the members that joined
        // leave again before the error is returned.
        tokio::spawn(register_types(db.clone(), plugins.type_names(), fatal.clone(), stop.clone()));
        if let Some(created) = rule_tables {
            tokio::spawn(follow_rules(created, rule_store.clone(), live_rules.clone(), db.clone(), manager.rules_poll_interval, stop.clone()));
        }
        let mut engines = Vec::new();
        for member in members {
            match member.join(&metrics, &stop) {
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
        let mut router = telemetry::http::router(metrics.clone(), db.clone(), producer.clone(), publisher.clone());
        if let Some(auth) = authenticator {
            router = router.merge(api::router(ApiState {
                store: rule_store.clone(),
                db: db.clone(),
                auth,
                valid_periods: config.api.valid_notification_periods.clone(),
                plugins: plugins.clone(),
                guard: guard.clone(),
                limits: config.api.limits.clone(),
                writes: Arc::new(api::limits::WriteLimiter::new(config.api.limits.writes_per_minute)),
            }));
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
        let statsd = tokio::spawn(metrics.clone().run_statsd(config.statsd.clone(), stop.clone()));
        tracing::info!(
            address = %http_addr,
            topic = %config.kafka.alarm_topic,
            group = %config.kafka.group,
            database = %config.database.masked_url(),
            "tocsin listening on http://{http_addr}"
        );
        stop_unless_started.disarm();
        let _stop_when_dropped = [stop.clone().drop_guard(), http_stop.clone().drop_guard()];
        Ok(App { http_addr, metrics, stop, fatal, engines, producer, db, http, statsd, http_stop, _stop_when_dropped })
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

/// An engine's consumer-group member, created but not yet in its group.
struct Member {
    name: &'static str,
    topic: String,
    group: String,
    first: Prepared,
    /// Creates and joins a fresh member, for restarts after a failure.
    restart: Box<dyn FnMut(CancellationToken) -> Result<ConsumerGroup, kafka::Error> + Send>,
}

impl Member {
    fn prepare<H: Handler>(settings: ConsumerSettings, handler: Arc<H>, dead_letters: &Arc<dyn DeadLetters>, metrics: &Metrics) -> anyhow::Result<Member> {
        let (name, topic, group) = (settings.engine, settings.topic.clone(), settings.group.clone());
        let first = ConsumerGroup::prepare(settings.clone(), handler.clone(), dead_letters.clone(), metrics.clone())
            .with_context(|| format!("kafka consumer of the {name} engine (topic {topic})"))?;
        let (dead_letters, metrics) = (dead_letters.clone(), metrics.clone());
        let restart = Box::new(move |stop| ConsumerGroup::start(settings.clone(), handler.clone(), dead_letters.clone(), metrics.clone(), stop));
        Ok(Member { name, topic, group, first, restart })
    }

    /// Joins the group and keeps the member running under [`supervise`].
    fn join(self, metrics: &Metrics, stop: &CancellationToken) -> anyhow::Result<JoinHandle<()>> {
        let Member { name, topic, group, first, mut restart } = self;
        let first = first.join(stop.clone()).with_context(|| format!("kafka consumer of the {name} engine (topic {topic})"))?;
        tracing::info!(engine = name, %topic, %group, "engine started");
        let mut first = Some(first);
        Ok(tokio::spawn(supervise(name, metrics.clone(), stop.clone(), move |stop| {
            let member = match first.take() {
                Some(member) => Ok(member),
                None => restart(stop),
            };
            async move { member.map_err(|e| EngineFailed(e.to_string()))?.wait().await }
        })))
    }
}

/// The topics the enabled engines read and write, each with who uses it.
pub fn needed_topics(config: &Config) -> Vec<Needed> {
    let kafka = &config.kafka;
    let mut needed = Vec::new();
    let mut need = |name: &str, role: &str| needed.push(Needed { name: name.to_owned(), role: role.to_owned() });
    let manager = config.manager.enabled;
    if config.engine.enabled {
        need(&kafka.alarm_topic, "alarm transitions, read by the notification engine");
        need(&config.engine.dead_letter_topic, "malformed alarm transitions");
        if manager {
            need(&config.manager.filtered_topic, "transitions of tenants with rules, for the alarm manager");
        }
    }
    if manager {
        need(&config.manager.filtered_topic, "read by the alarm manager");
        need(&config.engine.dead_letter_topic, "malformed alarm transitions");
    }
    if config.engine.enabled || manager || config.retry.enabled || config.periodic.enabled {
        need(&kafka.notification_topic, "sent notifications");
        need(&kafka.notification_retry_topic, "failed notifications, for the retry engine");
        for (_, topic) in &kafka.periodic {
            need(topic, "periodic notifications");
        }
    }
    if config.retry.enabled {
        need(&config.retry.dead_letter_topic, "notifications the retry engine gave up");
    }
    if config.periodic.enabled {
        need(&config.periodic.dead_letter_topic, "malformed periodic notifications");
    }
    needed
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

/// Keeps the live rules current. Where the rule tables are missing and cannot be created (a
/// read-only database user, as monasca-notification's often is), the instance runs without
/// rules rather than holding every notification back.
async fn follow_rules(mut created: Result<(), crate::rules::store::Error>, store: RuleStore, rules: LiveRules, db: Database, every: Duration, stop: CancellationToken) {
    while let Err(e) = created {
        if store.revision().await.is_ok() {
            break;
        }
        if db.ping().await.is_ok() {
            tracing::error!(error = %e, "the alarm-manager rule tables are missing and cannot be created; running without rules until they can");
            rules.replace(crate::rules::index::RuleIndex::new());
        } else {
            tracing::warn!(error = %e, "cannot create the rule tables yet; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.cancelled() => return,
        }
        created = store.init_schema().await;
    }
    rules.follow(store, every, stop).await;
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
    let mut backoff = Duration::from_millis(200);
    loop {
        match db.register_types(&names).await {
            Ok(()) => return,
            Err(e) if e.refused_credentials() => {
                fatal.raise(format!("the config database refused Tocsin's credentials: {e}"));
                return;
            }
            Err(e) => tracing::warn!(error = %e, retry_in = ?backoff, "cannot register notification types yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
