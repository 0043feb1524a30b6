//! Self-monitoring: every event the engines report goes through one [`Metrics`] method, which
//! updates both the StatsD aggregate (Monasca's names, `docs/compatibility.md`) and the Prometheus
//! registry served at `/metrics`, so the two never drift apart. Also sets up logging.

mod config;
mod statsd;

pub use config::{LogFormat, StatsdConfig};
use prometheus::{Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use statsd::Aggregator;

/// Why a well-formed transition produced no notification.
#[derive(Clone, Copy, Debug)]
pub enum NoNotification {
    ActionsDisabled,
    Expired,
    NoMethods,
}

impl NoNotification {
    fn as_str(self) -> &'static str {
        match self {
            NoNotification::ActionsDisabled => "actions_disabled",
            NoNotification::Expired => "expired",
            NoNotification::NoMethods => "no_methods",
        }
    }
}

/// The steps of the alarm manager's path that are timed.
#[derive(Clone, Copy, Debug)]
pub enum ManagerStage {
    Route,
    Apply,
    Advance,
    Notices,
    Persist,
}

impl ManagerStage {
    fn as_str(self) -> &'static str {
        match self {
            ManagerStage::Route => "route",
            ManagerStage::Apply => "apply",
            ManagerStage::Advance => "advance",
            ManagerStage::Notices => "notices",
            ManagerStage::Persist => "persist",
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    statsd: Aggregator,
    registry: Registry,
    alarms_finished: IntCounter,
    alarms_failed_parse: IntCounter,
    alarms_dead_lettered: IntCounter,
    alarms_no_notification: IntCounterVec,
    notifications_created: IntCounter,
    notifications_sent: IntCounterVec,
    notifications_failed: IntCounterVec,
    notifications_invalid_type: IntCounter,
    send_duration: HistogramVec,
    db_lookup_duration: HistogramVec,
    db_errors: IntCounter,
    publish_errors: IntCounterVec,
    unconfirmed_records: IntGaugeVec,
    commits: IntCounterVec,
    engine_restarts: IntCounterVec,
    stored_rejected: IntCounterVec,
    records_discarded: IntCounterVec,
    retries_requeued: IntCounterVec,
    retries_given_up: IntCounterVec,
    chains_stopped: IntCounterVec,
    waiting: IntGaugeVec,
    routed_to_manager: IntCounter,
    manager_transitions: IntCounter,
    manager_suppressed: IntCounterVec,
    manager_group_notices: IntCounter,
    manager_open_groups: IntGauge,
    manager_groups_awaiting_first_notice: IntGauge,
    manager_held_transitions: IntGauge,
    manager_persist_errors: IntCounter,
    manager_stage_duration: HistogramVec,
    manager_input_lag: Histogram,
    manager_unreadable_rows: IntCounter,
    rules_revision: IntGauge,
    history_rows: IntCounter,
    history_write_duration: Histogram,
    history_deferred: prometheus::Counter,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric name");
    registry.register(Box::new(c.clone())).expect("metric registered once");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric name");
    registry.register(Box::new(g.clone())).expect("metric registered once");
    g
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric name");
    registry.register(Box::new(c.clone())).expect("metric registered once");
    c
}

/// Buckets for how far behind a stage is: from milliseconds to the minutes a large backlog takes.
const LAG_BUCKETS: [f64; 12] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

fn histogram_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let buckets = vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric name");
    registry.register(Box::new(h.clone())).expect("metric registered once");
    h
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let inner = Inner {
            alarms_finished: counter(&r, "tocsin_alarms_finished_total", "Alarm messages fully processed"),
            alarms_failed_parse: counter(&r, "tocsin_alarms_failed_parse_total", "Alarm messages that could not be decoded"),
            alarms_dead_lettered: counter(&r, "tocsin_alarms_dead_lettered_total", "Malformed alarm messages copied to the dead-letter topic"),
            alarms_no_notification: counter_vec(&r, "tocsin_alarms_no_notification_total", "Transitions that produced no notification", &["reason"]),
            notifications_created: counter(&r, "tocsin_notifications_created_total", "Notifications built from transitions"),
            notifications_sent: counter_vec(&r, "tocsin_notifications_sent_total", "Notifications sent successfully", &["type"]),
            notifications_failed: counter_vec(&r, "tocsin_notifications_failed_total", "Notification sends that failed", &["type", "reason"]),
            notifications_invalid_type: counter(&r, "tocsin_notifications_invalid_type_total", "Notifications whose type has no enabled plugin"),
            send_duration: histogram_vec(&r, "tocsin_send_duration_seconds", "Duration of one plugin send", &["type"]),
            db_lookup_duration: histogram_vec(&r, "tocsin_db_lookup_duration_seconds", "Duration of a notification-method lookup", &["cache"]),
            db_errors: counter(&r, "tocsin_db_errors_total", "Config database queries that failed"),
            publish_errors: counter_vec(&r, "tocsin_publish_errors_total", "Records the broker did not confirm (retried)", &["topic"]),
            unconfirmed_records: {
                let g = IntGaugeVec::new(Opts::new("tocsin_unconfirmed_records", "Records whose publish is being retried because the broker did not confirm them"), &["topic"])
                    .expect("valid metric name");
                r.register(Box::new(g.clone())).expect("metric registered once");
                g
            },
            commits: counter_vec(&r, "tocsin_offset_commits_total", "Offset commits by outcome", &["outcome"]),
            engine_restarts: counter_vec(&r, "tocsin_engine_restarts_total", "Engine tasks restarted after a failure", &["engine"]),
            stored_rejected: counter_vec(&r, "tocsin_stored_rejected_total", "Records of the retry or periodic topics that are not notifications (dead-lettered)", &["engine"]),
            records_discarded: counter_vec(
                &r,
                "tocsin_records_discarded_total",
                "Records dead-lettered instead of handled: rejected as input, or their handling panicked (internal_error, a bug)",
                &["engine", "cause"],
            ),
            retries_requeued: counter_vec(&r, "tocsin_retries_requeued_total", "Failed retries put back on the retry topic", &["type"]),
            retries_given_up: counter_vec(&r, "tocsin_retries_given_up_total", "Notifications given up and dead-lettered by the retry engine", &["type", "why"]),
            chains_stopped: counter_vec(&r, "tocsin_periodic_chains_stopped_total", "Periodic chains ended", &["why"]),
            waiting: {
                let g = IntGaugeVec::new(Opts::new("tocsin_waiting_notifications", "Notifications held until their retry or period comes due"), &["engine"]).expect("valid metric name");
                r.register(Box::new(g.clone())).expect("metric registered once");
                g
            },
            routed_to_manager: counter(&r, "tocsin_alarms_routed_to_manager_total", "Transitions of tenants with rules handed to the alarm manager"),
            manager_transitions: counter(&r, "tocsin_manager_transitions_total", "Transitions the alarm manager applied"),
            history_rows: counter(&r, "tocsin_history_rows_total", "Rows the history engine wrote (one per outcome)"),
            history_write_duration: {
                let h = Histogram::with_opts(HistogramOpts::new("tocsin_history_write_duration_seconds", "One batch of history rows written to the config database")).expect("valid metric name");
                r.register(Box::new(h.clone())).expect("metric registered once");
                h
            },
            history_deferred: {
                let c = prometheus::Counter::new("tocsin_history_deferred_seconds_total", "Time history batches waited for the notification path to catch up ([history] defer_while_busy)").expect("valid metric name");
                r.register(Box::new(c.clone())).expect("metric registered once");
                c
            },
            manager_suppressed: counter_vec(&r, "tocsin_manager_suppressed_total", "Transitions whose own actions a rule suppressed", &["by"]),
            manager_group_notices: counter(&r, "tocsin_manager_group_notifications_total", "Grouped notifications made (first and repeats)"),
            manager_open_groups: gauge(&r, "tocsin_manager_open_groups", "Groups open in the partitions this instance holds"),
            manager_groups_awaiting_first_notice: gauge(
                &r,
                "tocsin_manager_groups_awaiting_first_notice",
                "Open groups whose first notification (group_wait after they opened) is still to come; updated at each state write",
            ),
            manager_held_transitions: gauge(
                &r,
                "tocsin_manager_held_transitions",
                "Transitions held back waiting for an inhibition source (wait_time); updated at each state write",
            ),
            manager_persist_errors: counter(&r, "tocsin_manager_persist_errors_total", "Failed writes of alarm-manager state (retried)"),
            manager_stage_duration: histogram_vec(
                &r,
                "tocsin_manager_stage_duration_seconds",
                "Time one step of the alarm manager's path took: route (a transition written to the filtered and sources topics, confirmed), \
                 apply (one transition through the state machine), advance (due timers of a partition), notices (a batch of grouped \
                 notifications rendered, sent and published), persist (one state write)",
                &["stage"],
            ),
            manager_input_lag: {
                let h = Histogram::with_opts(
                    HistogramOpts::new("tocsin_manager_input_lag_seconds", "From a transition's record time on the alarm topic (when it was written there) to the alarm manager applying it")
                        .buckets(LAG_BUCKETS.to_vec()),
                )
                .expect("valid metric name");
                r.register(Box::new(h.clone())).expect("metric registered once");
                h
            },
            manager_unreadable_rows: counter(&r, "tocsin_manager_unreadable_state_rows_total", "Persisted alarm-manager state rows that could not be read and were left out"),
            rules_revision: gauge(&r, "tocsin_rules_revision", "The rule-store revision the rules in force reflect"),
            registry: r,
            statsd: Aggregator::default(),
        };
        Metrics { inner: Arc::new(inner) }
    }

    pub fn alarm_finished(&self) {
        self.inner.alarms_finished.inc();
        self.inner.statsd.count("alarms_finished_count", 1);
    }

    pub fn alarm_failed_parse(&self) {
        self.inner.alarms_failed_parse.inc();
        self.inner.statsd.count("alarms_failed_parse_count", 1);
    }

    pub fn alarm_dead_lettered(&self) {
        self.inner.alarms_dead_lettered.inc();
        self.inner.statsd.count("alarms_dead_lettered_count", 1);
    }

    pub fn alarm_no_notification(&self, why: NoNotification) {
        self.inner.alarms_no_notification.with_label_values(&[why.as_str()]).inc();
        self.inner.statsd.count("alarms_no_notification_count", 1);
    }

    pub fn notifications_created(&self, n: usize) {
        self.inner.notifications_created.inc_by(n as u64);
        self.inner.statsd.count("created_count", n as i64);
    }

    pub fn notification_sent(&self, kind: &str, statsd_name: &str, took: Duration) {
        self.inner.notifications_sent.with_label_values(&[kind]).inc();
        self.inner.statsd.count(statsd_name, 1);
        self.send_time(kind, took);
    }

    pub fn notification_failed(&self, kind: &str, reason: &str, took: Duration) {
        self.inner.notifications_failed.with_label_values(&[kind, reason]).inc();
        self.inner.statsd.count("sent_failed_count", 1);
        self.send_time(kind, took);
    }

    fn send_time(&self, kind: &str, took: Duration) {
        self.inner.send_duration.with_label_values(&[kind]).observe(took.as_secs_f64());
        self.inner.statsd.timing(&format!("{kind}_time"), took.as_secs_f64());
    }

    pub fn notification_invalid_type(&self) {
        self.inner.notifications_invalid_type.inc();
        self.inner.statsd.count("invalid_type_count", 1);
    }

    pub fn db_lookup(&self, cached: bool, took: Duration) {
        let label = if cached { "hit" } else { "miss" };
        self.inner.db_lookup_duration.with_label_values(&[label]).observe(took.as_secs_f64());
        self.inner.statsd.timing("config_db_time", took.as_secs_f64());
    }

    pub fn db_error(&self) {
        self.inner.db_errors.inc();
        self.inner.statsd.count("db_error_count", 1);
    }

    pub fn publish_error(&self, topic: &str) {
        self.inner.publish_errors.with_label_values(&[topic]).inc();
    }

    /// Counts a record as unconfirmed on `topic` until the guard is dropped.
    pub fn unconfirmed(&self, topic: &str) -> WaitingGuard {
        let gauge = self.inner.unconfirmed_records.with_label_values(&[topic]);
        gauge.inc();
        WaitingGuard(gauge)
    }

    pub fn commit(&self, ok: bool) {
        self.inner.commits.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
    }

    pub fn engine_restart(&self, engine: &str) {
        self.inner.engine_restarts.with_label_values(&[engine]).inc();
    }

    pub fn record_discarded(&self, engine: &str, cause: &str) {
        self.inner.records_discarded.with_label_values(&[engine, cause]).inc();
    }

    pub fn stored_rejected(&self, engine: &str) {
        self.inner.stored_rejected.with_label_values(&[engine]).inc();
    }

    pub fn retry_requeued(&self, kind: &str) {
        self.inner.retries_requeued.with_label_values(&[kind]).inc();
    }

    pub fn retry_given_up(&self, kind: &str, why: &str) {
        self.inner.retries_given_up.with_label_values(&[kind, why]).inc();
        self.inner.statsd.count("retry_given_up_count", 1);
    }

    pub fn alarm_routed_to_manager(&self) {
        self.inner.routed_to_manager.inc();
    }

    pub fn manager_transition(&self) {
        self.inner.manager_transitions.inc();
    }

    pub fn manager_suppressed(&self, by: &str) {
        self.inner.manager_suppressed.with_label_values(&[by]).inc();
        self.inner.statsd.count(&format!("alarms_{by}_count"), 1);
    }

    pub fn history_written(&self, rows: usize, took: Duration) {
        self.inner.history_rows.inc_by(rows as u64);
        self.inner.history_write_duration.observe(took.as_secs_f64());
    }

    pub fn history_deferred(&self, waited: Duration) {
        self.inner.history_deferred.inc_by(waited.as_secs_f64());
    }

    pub fn manager_group_notice(&self) {
        self.inner.manager_group_notices.inc();
        self.inner.statsd.count("group_notifications_count", 1);
    }

    pub fn manager_open_groups(&self, change: i64) {
        self.inner.manager_open_groups.add(change);
    }

    /// Changes, since the partition last reported, in its groups awaiting their first notice
    /// and its held transitions.
    pub fn manager_pending(&self, groups_awaiting_first_notice: i64, held_transitions: i64) {
        self.inner.manager_groups_awaiting_first_notice.add(groups_awaiting_first_notice);
        self.inner.manager_held_transitions.add(held_transitions);
    }

    /// One step of the alarm manager's path (see `tocsin_manager_stage_duration_seconds`).
    pub fn manager_stage(&self, stage: ManagerStage, took: Duration) {
        self.inner.manager_stage_duration.with_label_values(&[stage.as_str()]).observe(took.as_secs_f64());
    }

    pub fn manager_input_lag(&self, lag: Duration) {
        self.inner.manager_input_lag.observe(lag.as_secs_f64());
    }

    pub fn manager_persist_error(&self) {
        self.inner.manager_persist_errors.inc();
    }

    pub fn rules_revision(&self, revision: i64) {
        self.inner.rules_revision.set(revision);
    }

    pub fn manager_unreadable_row(&self) {
        self.inner.manager_unreadable_rows.inc();
    }

    pub fn chain_stopped(&self, why: &str) {
        self.inner.chains_stopped.with_label_values(&[why]).inc();
    }

    /// Counts a notification as waiting for its due time until the guard is dropped.
    pub fn waiting(&self, engine: &str) -> WaitingGuard {
        let gauge = self.inner.waiting.with_label_values(&[engine]);
        gauge.inc();
        WaitingGuard(gauge)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render_prometheus(&self) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.inner.registry.gather(), &mut out)
            .expect("encoding to memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    /// Sends aggregated StatsD values every flush interval until `stop`, then once more.
    pub async fn run_statsd(self, settings: StatsdConfig, stop: CancellationToken) {
        if !settings.enable {
            tracing::warn!("StatsD monitoring disabled");
            return;
        }
        let target = format!("{}:{}", settings.host, settings.port);
        let socket = match UdpSocket::bind("0.0.0.0:0").and_then(|s| s.set_nonblocking(true).map(|_| s)) {
            Ok(socket) => socket,
            Err(e) => {
                tracing::error!(error = %e, "cannot open a UDP socket for StatsD; StatsD metrics are off");
                return;
            }
        };
        let mut tick = tokio::time::interval(settings.flush_interval);
        let mut last_error: Option<String> = None;
        loop {
            let stopping = tokio::select! {
                _ = tick.tick() => false,
                _ = stop.cancelled() => true,
            };
            let outcome = self.inner.statsd.flush(&socket, &target).err().map(|e| e.to_string());
            if outcome != last_error {
                if let Some(e) = &outcome {
                    tracing::warn!(target = %target, error = %e, "cannot send StatsD metrics");
                }
                last_error = outcome;
            }
            if stopping {
                return;
            }
        }
    }
}

use std::net::UdpSocket;

/// See [`Metrics::waiting`] and [`Metrics::unconfirmed`].
pub struct WaitingGuard(prometheus::IntGauge);

impl Drop for WaitingGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Sets up `tracing` for the binary: `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
