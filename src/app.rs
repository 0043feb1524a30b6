//! Wiring and lifecycle: builds every part from a [`Config`], starts the notification engine and
//! the HTTP server, and stops them in reverse order. Tests run the whole service in-process
//! through [`App::start`] with port 0 and read the bound address from [`App::http_addr`].

use crate::config::Config;
use crate::db::{Database, MethodLookup};
use crate::dispatch::Dispatcher;
use crate::kafka::{ConsumerGroup, ConsumerSettings, Producer};
use crate::notify::{EngineSettings, NotificationEngine};
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
    consumer: ConsumerGroup,
    producer: Producer,
    db: Database,
    http: JoinHandle<()>,
    statsd: JoinHandle<()>,
    /// Stops the HTTP server last, so health stays observable during the drain.
    http_stop: CancellationToken,
}

impl App {
    pub async fn start(config: Config) -> anyhow::Result<App> {
        for notice in &config.notices {
            tracing::info!(file = %config.file.display(), "{notice}");
        }
        for name in &config.plugins.unavailable {
            tracing::warn!(plugin = %name, "notification type enabled in [notification_types] has no plugin in this build; its notifications are counted as invalid");
        }
        let metrics = Metrics::new();
        let stop = CancellationToken::new();

        let db = Database::connect_lazy(&config.database.url).context("config database")?;
        let plugins = Registry::build(&config.plugins, config.engine.max_concurrent_sends).context("notification plugins")?;
        tokio::spawn(register_types(db.clone(), plugins.type_names(), stop.clone()));

        let producer = Producer::new(&config.kafka.brokers, &config.kafka.producer_properties).context("kafka producer")?;
        let publisher = Publisher::new(producer.clone(), metrics.clone());
        let engine = NotificationEngine::new(
            EngineSettings {
                notification_topic: config.kafka.notification_topic.clone(),
                retry_topic: config.kafka.notification_retry_topic.clone(),
                dead_letter_topic: config.engine.dead_letter_topic.clone(),
                ttl: config.engine.ttl,
                max_message_bytes: config.engine.max_message_bytes,
            },
            MethodLookup::new(db.clone(), config.engine.lookup_cache_ttl, metrics.clone()),
            Dispatcher::new(plugins, metrics.clone(), config.engine.max_concurrent_sends),
            publisher,
            metrics.clone(),
        );
        let consumer = ConsumerGroup::start(
            ConsumerSettings {
                brokers: config.kafka.brokers.clone(),
                group: config.kafka.group.clone(),
                topic: config.kafka.alarm_topic.clone(),
                properties: config.kafka.consumer_properties.clone(),
                max_in_flight_per_partition: config.engine.max_in_flight_per_partition,
                partition_queue: config.engine.partition_queue,
                commit_interval: config.engine.commit_interval,
                drain_timeout: config.service.shutdown_timeout,
            },
            Arc::new(engine),
            metrics.clone(),
            stop.clone(),
        )
        .context("kafka consumer")?;

        let listener = tokio::net::TcpListener::bind(config.service.http_listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.service.http_listen))?;
        let http_addr = listener.local_addr()?;
        let http_stop = CancellationToken::new();
        let router = telemetry::http::router(metrics.clone(), db.clone(), producer.clone());
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
        Ok(App { http_addr, metrics, stop, consumer, producer, db, http, statsd, http_stop })
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
        self.consumer.wait().await;
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
}

/// Runs until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    wait_for_signal().await;
    app.shutdown().await
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
async fn register_types(db: Database, names: Vec<String>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match db.register_types(&names).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, retry_in = ?backoff, "cannot register notification types yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
