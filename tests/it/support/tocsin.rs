//! Tocsin under test: a configuration file per test (the INI form operators write), and Tocsin
//! either in-process through `App::start` or as the real binary for crash and signal tests.

use super::broker;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tocsin::app::App;
use tocsin::app::Config;

/// The topics and group one test uses, all unique.
#[derive(Clone, Debug)]
pub struct Topics {
    pub alarms: String,
    pub sent: String,
    pub retry: String,
    pub dead: String,
    /// Dead-letter topic of the retry engine.
    pub retry_dead: String,
    /// The periodic topic of period 1 s (`[kafka] periodic = 1:{periodic}`).
    pub periodic: String,
    /// The alarm manager's filtered-transitions topic (4 partitions).
    pub filtered: String,
    /// The alarm manager's inhibition sources (1 partition).
    pub sources: String,
    /// The history topic (`[history] topic`; the history engine is off unless a test enables it).
    pub history: String,
    pub group: String,
}

impl Topics {
    pub async fn create(partitions: i32) -> Topics {
        Topics::create_on(broker(), partitions).await
    }

    /// As [`Topics::create`], on a broker of the test's own.
    pub async fn create_on(b: &super::broker::Broker, partitions: i32) -> Topics {
        let t = Topics {
            alarms: super::unique("alarms"),
            sent: super::unique("sent"),
            retry: super::unique("retry"),
            dead: super::unique("dead"),
            retry_dead: super::unique("retry-dead"),
            periodic: super::unique("periodic"),
            filtered: super::unique("filtered"),
            sources: super::unique("sources"),
            history: super::unique("history"),
            group: super::unique("group"),
        };
        b.create_topic(&t.alarms, partitions).await;
        for topic in [&t.sent, &t.retry, &t.dead, &t.retry_dead, &t.periodic, &t.sources, &t.history] {
            b.create_topic(topic, 1).await;
        }
        b.create_topic(&t.filtered, 4).await;
        t
    }
}

/// Writes a monasca-notification INI file for a test with only the webhook plugin and the
/// notification engine enabled (tests of the retry and periodic engines and the alarm manager
/// enable them in `extra`, whose later assignments win); `extra` is appended verbatim.
pub fn write_config(dir: &Path, topics: &Topics, db_url: &str, extra: &str) -> PathBuf {
    write_config_with_plugins(dir, topics, db_url, "webhook", extra)
}

/// As [`write_config`], with `[notification_types] enabled = {enabled}`; the plugins' own
/// sections go in `extra`.
pub fn write_config_with_plugins(dir: &Path, topics: &Topics, db_url: &str, enabled: &str, extra: &str) -> PathBuf {
    let text = format!(
        "[kafka]\nurl = {broker}\ngroup = {group}\nalarm_topic = {alarms}\nnotification_topic = {sent}\n\
         notification_retry_topic = {retry}\nperiodic = 1:{periodic}\n\n[database]\nurl = {db_url}\n\n[notification_types]\nenabled = {enabled}\n\n\
         [webhook_notifier]\ntimeout = 2\n\n[network]\nallow = 127.0.0.0/8\n\n[statsd]\nenable = false\n\n\
         [notification_engine]\ndead_letter_topic = {dead}\ncommit_interval = 100ms\n\n\
         [retry_engine]\nenabled = false\ndead_letter_topic = {retry_dead}\n\n[periodic_engine]\nenabled = false\n\n\
         [alarm_manager]\nenabled = false\nfiltered_topic = {filtered}\nsources_topic = {sources}\npersist_interval = 100ms\nrules_poll_interval = 200ms\n\n\
         [history]\nenabled = false\ntopic = {history}\nbatch_wait = 50ms\n\n\
         [kafka_producer]\nlinger.ms = 0\nbatch.num.messages = 1\n\n[kafka_consumer]\nsession.timeout.ms = 6000\nfetch.wait.max.ms = 10\n\n\
         [tocsin]\nhttp_listen = 127.0.0.1:0\nshutdown_timeout = 10s\n\n{extra}\n",
        broker = broker().address,
        group = topics.group,
        alarms = topics.alarms,
        sent = topics.sent,
        retry = topics.retry,
        dead = topics.dead,
        retry_dead = topics.retry_dead,
        periodic = topics.periodic,
        filtered = topics.filtered,
        sources = topics.sources,
        history = topics.history,
    );
    let path = dir.join(format!("{}.conf", super::unique("tocsin")));
    std::fs::write(&path, text).unwrap();
    path
}

pub async fn start_in_process(config_file: &Path) -> App {
    let config = Config::load(config_file).expect("test config is valid");
    App::start(config).await.expect("tocsin starts")
}

/// The real binary, its stderr captured to a file next to the config.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn spawn(config_file: &Path) -> Process {
        Process::spawn_with(config_file, &[])
    }

    /// `tocsin run --config-file <file> <extra>`.
    pub fn spawn_with(config_file: &Path, extra: &[&str]) -> Process {
        let log = config_file.with_extension(format!("{}.log", super::unique("run")));
        let stderr = std::fs::File::create(&log).unwrap();
        let child = super::spawn_tied_to_process(
            Command::new(env!("CARGO_BIN_EXE_tocsin"))
                .args(["run", "--config-file"])
                .arg(config_file)
                .args(extra)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(stderr),
        )
        .unwrap();
        Process { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// The metrics/health address, read from the "tocsin listening on" log line.
    pub async fn http_addr(&self) -> String {
        super::eventually(std::time::Duration::from_secs(30), "the listening log line", || async {
            let log = self.log_text();
            let start = log.find("tocsin listening on http://")? + "tocsin listening on http://".len();
            let end = log[start..].find(|c: char| c.is_whitespace()).map_or(log.len(), |e| start + e);
            Some(log[start..end].to_owned())
        })
        .await
    }

    /// A counter's value from `/metrics` (0 when absent).
    pub async fn metric(&self, line_prefix: &str) -> u64 {
        metric_value(&scrape(&self.http_addr().await).await, line_prefix)
    }
}

/// The Prometheus text of the Tocsin listening on `http_addr`.
pub async fn scrape(http_addr: &str) -> String {
    reqwest::get(format!("http://{http_addr}/metrics")).await.unwrap().text().await.unwrap()
}

/// Waits until the Tocsin on `http_addr` applies every rule written so far: the revision its
/// rules reflect (`tocsin_rules_revision`) has reached the store's.
pub async fn rules_in_force(http_addr: &str, db: &tocsin::db::Database) {
    let written = tocsin::rules::store::RuleStore::new(db.clone()).revision().await.unwrap();
    super::eventually(std::time::Duration::from_secs(20), "the rules written so far to be in force", || async {
        (metric_value(&scrape(http_addr).await, "tocsin_rules_revision") as i64 >= written).then_some(())
    })
    .await;
}

/// Waits until the alarm manager committed `records` filtered-topic offsets, which it does only
/// once the state those records changed was persisted.
pub async fn manager_committed(topics: &Topics, records: i64) {
    let manager_group = format!("{}-manager", topics.group);
    super::eventually(std::time::Duration::from_secs(30), "the manager to persist and commit the records", || async {
        let committed: i64 = broker().committed(&manager_group, &topics.filtered).values().sum();
        (committed >= records).then_some(())
    })
    .await;
}

/// Waits until the alarm manager of the Tocsin on `http_addr` has nothing left to do without a
/// new transition: `records` filtered records committed (so applied and persisted), no held
/// transition, and no group awaiting its first notice (gauges updated at each state write, so
/// after the commit they reflect every committed record). What it sent by then is all it sends
/// until a group's repeat interval.
pub async fn manager_settled(http_addr: &str, topics: &Topics, records: i64) {
    manager_committed(topics, records).await;
    super::eventually(std::time::Duration::from_secs(30), "the alarm manager to have nothing pending", || async {
        let metrics = scrape(http_addr).await;
        let idle = metric_value(&metrics, "tocsin_manager_held_transitions") == 0
            && metric_value(&metrics, "tocsin_manager_groups_awaiting_first_notice") == 0;
        idle.then_some(())
    })
    .await;
}

/// The value of the first Prometheus sample line starting with `line_prefix` (0 when absent).
pub fn metric_value(text: &str, line_prefix: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_prefix) && l[line_prefix.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
