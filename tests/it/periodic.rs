//! The periodic engine end to end: a method with a period is re-sent every period while the
//! alarm row stays in the notified state, and the chain stops within a period of the alarm
//! changing state or the method's period changing; a chain survives kill -9.

use crate::support::tocsin::{metric_value, scrape, start_in_process, write_config, Process, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, Receiver, TestDb};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const PERIODIC: &str = "[periodic_engine]\nenabled = true\n";

/// An alarm in ALARM whose definition has a webhook method with a 1 s period; the transition
/// is published.
async fn firing_alarm_with_periodic_hook(db: &TestDb, hook: &Receiver, topics: &Topics) {
    db.add_definition("def-1").await;
    db.add_method("m-1", "WEBHOOK", "periodic hook", &hook.url("/hook"), 1).await;
    db.attach("def-1", "ALARM", "m-1").await;
    db.add_alarm("alarm-1", "def-1", "ALARM").await;
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, "alarm-1", alarm_message("alarm-1", "def-1", "ALARM").to_string().as_bytes()).await;
}

/// Waits until the chain stopped (`tocsin_periodic_chains_stopped_total{why}` counted it on the
/// Tocsin at `http_addr`) and the periodic engine holds no record (every one in its topic is
/// committed): no re-send can follow. Returns the hook's count then.
async fn chain_stopped(http_addr: &str, topics: &Topics, why: &str, hook: &Receiver) -> usize {
    let stopped = format!("tocsin_periodic_chains_stopped_total{{why=\"{why}\"}}");
    let group = format!("{}-periodic-1", topics.group);
    eventually(WAIT, "the chain to stop and its last record to be committed", || async {
        let counted = metric_value(&scrape(http_addr).await, &stopped) >= 1;
        let b = broker();
        let drained = b.committed(&group, &topics.periodic).values().sum::<i64>() == b.records(&topics.periodic);
        (counted && drained).then_some(())
    })
    .await;
    hook.count()
}

crate::on_every_database! {
    async fn re_sends_every_period_while_in_alarm_and_stops_when_the_alarm_is_ok(kind: DbKind) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(kind).await;
        let hook = Receiver::start().await;
        let topics = Topics::create(1).await;
        let app = start_in_process(&write_config(dir.path(), &topics, &db.url, PERIODIC)).await;
        firing_alarm_with_periodic_hook(&db, &hook, &topics).await;

        eventually(WAIT, "the first send and three re-sends", || async { (hook.count() >= 4).then_some(()) }).await;
        let requests = hook.requests();
        for pair in requests.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(gap >= Duration::from_millis(900), "re-sent after {gap:?}, before the 1 s period");
        }
        assert!(requests.iter().all(|r| r.body == requests[0].body), "every re-send carries the original transition");
        // Re-sends are reported on the sent topic (Monasca did not publish them).
        assert!(broker().read(&topics.sent, 3, WAIT).len() >= 3);

        db.set_alarm_state("alarm-1", "OK").await;
        let at_change = hook.count();
        let settled = chain_stopped(&app.http_addr().to_string(), &topics, "state_changed", &hook).await;
        assert!(settled <= at_change + 1, "at most the re-send already under way: {at_change} → {settled}");
        app.shutdown().await.unwrap();
    }
}

crate::on_every_database! {
    async fn a_changed_period_stops_the_chain(kind: DbKind) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(kind).await;
        let hook = Receiver::start().await;
        let topics = Topics::create(1).await;
        let app = start_in_process(&write_config(dir.path(), &topics, &db.url, PERIODIC)).await;
        firing_alarm_with_periodic_hook(&db, &hook, &topics).await;

        eventually(WAIT, "two re-sends", || async { (hook.count() >= 3).then_some(()) }).await;
        db.set_method_period("m-1", 300).await;
        let at_change = hook.count();
        let settled = chain_stopped(&app.http_addr().to_string(), &topics, "period_changed", &hook).await;
        assert!(settled <= at_change + 1, "{at_change} → {settled}");
        app.shutdown().await.unwrap();
    }
}

crate::on_every_database! {
    async fn a_chain_continues_after_kill_9(kind: DbKind) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(kind).await;
        let hook = Receiver::start().await;
        let topics = Topics::create(1).await;
        let config = write_config(dir.path(), &topics, &db.url, PERIODIC);
        let mut first = Process::spawn(&config);
        firing_alarm_with_periodic_hook(&db, &hook, &topics).await;
        eventually(WAIT, "two re-sends before the kill", || async { (hook.count() >= 3).then_some(()) }).await;
        first.kill_9();
        let at_kill = hook.count();

        let mut second = Process::spawn(&config);
        eventually(WAIT, "re-sends after the restart", || async { (hook.count() >= at_kill + 3).then_some(()) }).await;
        db.set_alarm_state("alarm-1", "OK").await;
        let stopped = chain_stopped(&second.http_addr().await, &topics, "state_changed", &hook).await;
        assert!(second.terminate().success(), "{}", second.log_text());
        assert!(stopped >= at_kill + 3);
    }
}
