//! The alarm manager end to end: rules and methods written through the HTTP API, transitions
//! through the broker, notifications at real webhook receivers, state through a kill -9.
//! Waits are short (group_wait 1 s, inhibit wait 2 s) so the examples run in seconds; the exact
//! timings of the examples are unit tests of the state machine (`src/engines/manager/tests.rs`).

use crate::support::receiver::Receiver;
use crate::support::api::ApiClient;
use crate::support::tocsin::{manager_committed, manager_settled, metric_value, rules_in_force, start_in_process, write_config, Process, Topics};
use crate::support::{broker, eventually, unique, TestDb, DbKind};
use serde_json::{json, Value};
use tocsin::rules::store::RuleStore;
use std::collections::BTreeMap;
use std::time::Duration;

/// One tenant of the API: its token and id.
struct Tenant {
    token: String,
    id: String,
}

/// The configuration that turns the alarm manager and the API on for `tenants`.
fn manager_config(tenants: &[&Tenant]) -> String {
    let tokens: Vec<String> = tenants.iter().map(|t| format!("{}:{}", t.token, t.id)).collect();
    format!("[alarm_manager]\nenabled = true\n\n[api]\nenabled = true\ntokens = {}\n", tokens.join(", "))
}

fn tenant(name: &str) -> Tenant {
    Tenant { token: unique(&format!("token-{name}")), id: unique(&format!("tenant-{name}")) }
}

/// The API as the tests' tenants use it.
struct Api(ApiClient);

impl Api {
    fn new(http_addr: &str) -> Api {
        Api(ApiClient::new(http_addr))
    }

    async fn post(&self, tenant: &Tenant, path: &str, body: Value) -> Value {
        self.0.create(&tenant.token, &format!("/v2.0{path}"), body).await
    }

    /// A webhook method at `receiver{path}`; returns its id.
    async fn webhook(&self, tenant: &Tenant, receiver: &Receiver, name: &str, path: &str) -> String {
        let created = self.post(tenant, "/notification-methods", json!({"name": name, "type": "WEBHOOK", "address": receiver.url(path)})).await;
        created["id"].as_str().unwrap().to_owned()
    }

    /// A definition whose ALARM, OK and UNDETERMINED actions are `actions`; returns its id.
    async fn definition(&self, tenant: &Tenant, name: &str, actions: &[&str]) -> String {
        let created = self
            .post(tenant, "/alarm-definitions", json!({
                "name": name, "expression": "avg(cpu.percent) > 90",
                "alarm_actions": actions, "ok_actions": actions, "undetermined_actions": actions,
            }))
            .await;
        created["id"].as_str().unwrap().to_owned()
    }
}

/// A fresh transition of `tenant` (its timestamp is now, inside every silence the tests make).
fn transition(tenant: &Tenant, alarm_id: &str, definition: &str, name: &str, state: &str, severity: &str, hostname: &str) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    json!({"alarm-transitioned": {
        "tenantId": tenant.id, "alarmId": alarm_id, "alarmDefinitionId": definition,
        "metrics": [{"id": null, "name": "cpu.percent", "dimensions": {"hostname": hostname}}],
        "alarmName": name, "alarmDescription": "", "oldState": "OK", "newState": state, "actionsEnabled": true,
        "stateChangeReason": format!("{name} is {state}"), "severity": severity, "link": null, "lifecycleState": null,
        "subAlarms": [], "timestamp": now,
    }})
}

async fn produce(topics: &Topics, transitions: &[Value]) {
    let b = broker();
    let producer = b.producer();
    for t in transitions {
        let key = t["alarm-transitioned"]["alarmId"].as_str().unwrap();
        b.produce(&producer, &topics.alarms, key, t.to_string().as_bytes()).await;
    }
}

/// (path, alarm name) of every request, sorted.
fn received(receiver: &Receiver, prefix: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = receiver
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            (r.path, body["alarm_name"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    out.sort();
    out
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    out.sort();
    out
}

crate::on_every_database! {
    async fn the_seed_example_makes_one_grouped_notification_named_as_the_blueprint_says(kind: DbKind) {
        let db = TestDb::new(kind).await;
        db.ensure_type("WEBHOOK").await;
        let receiver = Receiver::start().await;
        let topics = Topics::create(2).await;
        let seed = tenant("seed");
        let dir = tempfile::tempdir().unwrap();
        let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &manager_config(&[&seed]))).await;
        let addr = app.http_addr().to_string();
        let api = Api::new(&addr);

        let cd892 = api.webhook(&seed, &receiver, "cd892", "/seed/cd892").await;
        // The blueprint's JSON shape: matchers = group-by keys, exclusions = key → value.
        api.post(&seed, "/group-rules", json!({
            "name": "group_rule_1", "matchers": ["hostname"], "exclusions": {"alarm_name": "cpu_percent_high"},
            "group_wait": "1s", "repeat_interval": "2h", "alarm_actions": [cd892],
        }))
        .await;
        rules_in_force(&addr, &db.db).await;
        produce(&topics, &[
            transition(&seed, "at1", "def1", "cpu_percent_high", "ALARM", "LOW", "host1"),
            transition(&seed, "at2", "def2", "cpu_system_perc_high", "ALARM", "LOW", "host1"),
            transition(&seed, "at3", "def3", "cpu_percent_high", "ALARM", "LOW", "host2"),
        ])
        .await;

        let request = eventually(Duration::from_secs(20), "the grouped notification", || async { receiver.requests().into_iter().next() }).await;
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["alarm_name"], "group_notification_rule_1_host1_alarm[1]");
        assert_eq!(body["state"], "ALARM");
        assert_eq!(body["tenant_id"], seed.id.as_str());
        let members = body["members"].as_array().expect("a grouped notification lists its members");
        assert_eq!(members.len(), 1);
        assert_eq!(members[0]["alarm_id"], "at2");
        assert_eq!(members[0]["alarm_name"], "cpu_system_perc_high");
        assert_eq!(members[0]["metrics"][0]["dimensions"]["hostname"], "host1");
        assert!(body["message"].as_str().unwrap().contains("cpu_system_perc_high (at2) ALARM"));

        let sent = broker().read(&topics.sent, 1, Duration::from_secs(10));
        let record: Value = serde_json::from_str(&sent[0].payload).unwrap();
        assert_eq!(record["alarm_name"], "group_notification_rule_1_host1_alarm[1]");
        assert_eq!(record["id"], cd892.as_str());

        // AT1 and AT3 are excluded and their definitions have no actions: once the manager has
        // applied all three and has nothing pending, nothing else is sent until the 2 h repeat.
        manager_settled(&addr, &topics, 3).await;
        assert_eq!(receiver.count(), 1);
        let metrics = app.metrics().render_prometheus();
        assert_eq!(metric_value(&metrics, "tocsin_alarms_finished_total"), 3, "a routed alarm counts once: {metrics}");
        app.shutdown().await.unwrap();
    }
}

crate::on_every_database! {
    /// The worked examples 1–7 of docs/rules.md, each in its own tenant of one running Tocsin (so they
    /// also show that tenants do not see each other's rules).
    async fn examples_1_to_7_give_the_outputs_docs_rules_md_gives(kind: DbKind) {
        let db = TestDb::new(kind).await;
        db.ensure_type("WEBHOOK").await;
        let receiver = Receiver::start().await;
        let topics = Topics::create(4).await;
        let tenants: BTreeMap<u8, Tenant> = (1..=7).map(|n| (n, tenant(&format!("ex{n}")))).collect();
        let all: Vec<&Tenant> = tenants.values().collect();
        let dir = tempfile::tempdir().unwrap();
        let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &manager_config(&all))).await;
        let addr = app.http_addr().to_string();
        let api = Api::new(&addr);

        let start = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let silence = |expression: &str| json!({"name": unique("silence"), "expression": expression, "start_time": start, "silence_duration": "2h"});
        let inhibit = |expression: &str| json!({"name": unique("inhibit"), "expression": expression, "wait_time": "2s"});
        let ex2_inhibit = "source {severity=CRITICAL} targets {severity=HIGH} excluding {severity=LOW} group by alarmName";

        /// group_rule_2 of the examples with its three actions; returns nothing, the paths tell.
        async fn group_rule_2(api: &Api, t: &Tenant, receiver: &Receiver, ex: &str) {
            let cd892 = api.webhook(t, receiver, "cd892", &format!("/{ex}/cd892")).await;
            let ad892 = api.webhook(t, receiver, "ad892", &format!("/{ex}/ad892")).await;
            let cf892 = api.webhook(t, receiver, "cf892", &format!("/{ex}/cf892")).await;
            api.post(t, "/group-rules", json!({
                "name": "group_rule_2", "expression": "group by hostname", "group_wait": "1s", "repeat_interval": "2h",
                "alarm_actions": [cd892], "ok_actions": [ad892], "undetermined_actions": [cf892],
            }))
            .await;
        }

        let mut transitions = Vec::new();
        // Ex 1: silence LOW; both definitions notify /ex1/own.
        let t = &tenants[&1];
        let own = api.webhook(t, &receiver, "own", "/ex1/own").await;
        let def = api.definition(t, "ex1", &[&own]).await;
        api.post(t, "/silence-rules", silence("targets {__severity__=LOW}")).await;
        transitions.push(transition(t, "ex1-at1", &def, "a1", "ALARM", "HIGH", "host1"));
        transitions.push(transition(t, "ex1-at2", &def, "a2", "ALARM", "LOW", "host1"));
        // Ex 2: inhibit; all three definitions notify /ex2/own.
        let t = &tenants[&2];
        let own = api.webhook(t, &receiver, "own", "/ex2/own").await;
        let def = api.definition(t, "ex2", &[&own]).await;
        api.post(t, "/inhibit-rules", inhibit(ex2_inhibit)).await;
        transitions.push(transition(t, "ex2-at1", &def, "cpu_high", "ALARM", "CRITICAL", "h"));
        transitions.push(transition(t, "ex2-at2", &def, "cpu_high", "ALARM", "HIGH", "h"));
        transitions.push(transition(t, "ex2-at3", &def, "cpu_high", "ALARM", "LOW", "h"));
        // Ex 3: group; AT1 and AT2 have their own actions, AT3 none.
        let t = &tenants[&3];
        group_rule_2(&api, t, &receiver, "ex3").await;
        let m123ab = api.webhook(t, &receiver, "123ab", "/ex3/123ab").await;
        let mcd839 = api.webhook(t, &receiver, "cd839", "/ex3/cd839").await;
        let def1 = api.definition(t, "ex3-1", &[&m123ab]).await;
        let def2 = api.definition(t, "ex3-2", &[&mcd839]).await;
        transitions.push(transition(t, "ex3-at1", &def1, "a1", "ALARM", "HIGH", "host1"));
        transitions.push(transition(t, "ex3-at2", &def2, "a2", "ALARM", "HIGH", "host1"));
        transitions.push(transition(t, "ex3-at3", "no-actions", "a3", "ALARM", "HIGH", "host2"));
        // Ex 4: silence LOW + group.
        let t = &tenants[&4];
        group_rule_2(&api, t, &receiver, "ex4").await;
        api.post(t, "/silence-rules", silence("targets {__severity__=LOW}")).await;
        for (id, severity, host, state) in [("at1", "HIGH", "host1", "ALARM"), ("at2", "LOW", "host1", "ALARM"), ("at3", "HIGH", "host2", "OK"), ("at4", "HIGH", "host1", "ALARM")] {
            transitions.push(transition(t, &format!("ex4-{id}"), "no-actions", id, state, severity, host));
        }
        // Ex 5: silence {CRITICAL, host1} + the inhibit of ex 2; both definitions notify /ex5/own.
        let t = &tenants[&5];
        let own = api.webhook(t, &receiver, "own", "/ex5/own").await;
        let def = api.definition(t, "ex5", &[&own]).await;
        api.post(t, "/silence-rules", silence("targets {__severity__=CRITICAL, hostname=host1}")).await;
        api.post(t, "/inhibit-rules", inhibit(ex2_inhibit)).await;
        transitions.push(transition(t, "ex5-at1", &def, "cpu_high", "ALARM", "CRITICAL", "host1"));
        transitions.push(transition(t, "ex5-at2", &def, "cpu_high", "ALARM", "HIGH", "host2"));
        // Ex 6: inhibit of ex 2 + group.
        let t = &tenants[&6];
        group_rule_2(&api, t, &receiver, "ex6").await;
        api.post(t, "/inhibit-rules", inhibit(ex2_inhibit)).await;
        transitions.push(transition(t, "ex6-at1", "no-actions", "cpu_high", "OK", "CRITICAL", "host1"));
        transitions.push(transition(t, "ex6-at2", "no-actions", "cpu_high", "ALARM", "HIGH", "host2"));
        transitions.push(transition(t, "ex6-at3", "no-actions", "cpu_high", "ALARM", "CRITICAL", "host1"));
        // Ex 7: silence {HIGH, host1} + group + inhibit CRITICAL → HIGH by hostname.
        let t = &tenants[&7];
        group_rule_2(&api, t, &receiver, "ex7").await;
        api.post(t, "/silence-rules", silence("targets {__severity__=HIGH, hostname=host1}")).await;
        api.post(t, "/inhibit-rules", inhibit("source {severity=CRITICAL} targets {severity=HIGH} excluding {severity=LOW} group by hostname")).await;
        for (id, state, severity, host) in [
            ("at1", "ALARM", "HIGH", "host1"),
            ("at2", "ALARM", "HIGH", "host2"),
            ("at3", "OK", "HIGH", "host1"),
            ("at4", "ALARM", "CRITICAL", "host2"),
            ("at5", "UNDETERMINED", "CRITICAL", "host3"),
        ] {
            transitions.push(transition(t, &format!("ex7-{id}"), "no-actions", id, state, severity, host));
        }

        rules_in_force(&addr, &db.db).await;
        produce(&topics, &transitions).await;
        let expected: BTreeMap<&str, Vec<(String, String)>> = [
            ("/ex1/", pairs(&[("/ex1/own", "a1")])),
            ("/ex2/", pairs(&[("/ex2/own", "cpu_high"), ("/ex2/own", "cpu_high")])),
            ("/ex3/", pairs(&[
                ("/ex3/123ab", "a1"),
                ("/ex3/cd839", "a2"),
                ("/ex3/cd892", "group_notification_rule_2_host1_alarm[2]"),
                ("/ex3/cd892", "group_notification_rule_2_host2_alarm[1]"),
            ])),
            ("/ex4/", pairs(&[("/ex4/cd892", "group_notification_rule_2_host1_alarm[2]"), ("/ex4/ad892", "group_notification_rule_2_host2_ok[1]")])),
            ("/ex5/", vec![]),
            ("/ex6/", pairs(&[("/ex6/ad892", "group_notification_rule_2_host1_ok[1]"), ("/ex6/cd892", "group_notification_rule_2_host1_alarm[1]")])),
            ("/ex7/", pairs(&[("/ex7/cd892", "group_notification_rule_2_host2_alarm[1]"), ("/ex7/cf892", "group_notification_rule_2_host3_undetermined[1]")])),
        ]
        .into_iter()
        .collect();
        let total: usize = expected.values().map(Vec::len).sum();
        // Every transition applied, every hold released and every group's first notice made:
        // what arrived is all that will.
        manager_settled(&addr, &topics, transitions.len() as i64).await;
        eventually(Duration::from_secs(30), "every expected notification", || async { (receiver.count() >= total).then_some(()) }).await;
        for (prefix, want) in &expected {
            assert_eq!(&received(&receiver, prefix), want, "example {prefix}");
        }
        // Ex 2: the target (AT2) is the one inhibited.
        let ex2_ids: Vec<String> = receiver
            .requests()
            .into_iter()
            .filter(|r| r.path == "/ex2/own")
            .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["alarm_id"].as_str().unwrap().to_owned())
            .collect();
        assert!(!ex2_ids.contains(&"ex2-at2".to_string()), "{ex2_ids:?}");
        app.shutdown().await.unwrap();
    }
}

crate::on_every_database! {
    /// kill -9 of the instance holding open groups and pending holds: the restarted instance sends
    /// each due notification (at least once), from the persisted state.
    async fn open_groups_and_holds_survive_a_kill_9(kind: DbKind) {
        let db = TestDb::new(kind).await;
        db.ensure_type("WEBHOOK").await;
        let receiver = Receiver::start().await;
        let topics = Topics::create(2).await;
        let t = tenant("crash");
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &topics, &db.url, &manager_config(&[&t]));
        let mut first = Process::spawn(&config);
        let api = Api::new(&first.http_addr().await);
        let group_action = api.webhook(&t, &receiver, "group", "/crash/group").await;
        let own = api.webhook(&t, &receiver, "own", "/crash/own").await;
        let def = api.definition(&t, "crash", &[&own]).await;
        api.post(&t, "/group-rules", json!({"name": "group_hosts", "expression": "group by hostname", "group_wait": "6s", "alarm_actions": [group_action]})).await;
        api.post(&t, "/inhibit-rules", json!({"name": "hold", "expression": "source {severity=CRITICAL} targets {severity=HIGH} group by hostname", "wait_time": "6s"})).await;
        rules_in_force(&first.http_addr().await, &db.db).await;
        produce(&topics, &[
            transition(&t, "g1", &def, "disk", "ALARM", "LOW", "host1"),
            transition(&t, "g2", &def, "mem", "ALARM", "LOW", "host1"),
            transition(&t, "held", &def, "cpu", "ALARM", "HIGH", "host9"),
        ])
        .await;
        manager_committed(&topics, 3).await;
        assert!(receiver.requests().iter().all(|r| r.path != "/crash/group"), "the group is not due yet");
        first.kill_9();

        let mut second = Process::spawn(&config);
        let wait_for_group = async {
            loop {
                if let Some(request) = receiver.requests().into_iter().find(|r| r.path == "/crash/group") {
                    return request;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let Ok(group_notice) = tokio::time::timeout(Duration::from_secs(30), wait_for_group).await else {
            panic!("no grouped notification within 30 s of the restart\n--- first instance ---\n{}\n--- second instance ---\n{}", first.log_text(), second.log_text());
        };
        let body: Value = serde_json::from_str(&group_notice.body).unwrap();
        assert_eq!(body["alarm_name"], "group_notification_hosts_host1_alarm[2]");
        eventually(Duration::from_secs(30), "the held transition released after the restart", || async {
            receiver
                .requests()
                .into_iter()
                .find(|r| r.path == "/crash/own" && serde_json::from_str::<Value>(&r.body).unwrap()["alarm_id"] == "held")
        })
        .await;
        // Once or twice (a crash may repeat), never more: counted once the second instance has
        // nothing pending.
        manager_settled(&second.http_addr().await, &topics, 3).await;
        let requests = receiver.requests();
        let groups = requests.iter().filter(|r| r.path == "/crash/group").count();
        let held = requests.iter().filter(|r| r.path == "/crash/own" && serde_json::from_str::<Value>(&r.body).unwrap()["alarm_id"] == "held").count();
        assert!(groups <= 2 && held <= 2, "{groups} grouped notifications, {held} released holds");
        second.terminate();
    }
}

crate::on_every_database! {
    /// Open groups move with their partition: a second instance joins, the first leaves (SIGTERM);
    /// the instance that ends up with the partition sends the due grouped notification, once or
    /// twice, never zero times.
    async fn open_groups_move_with_their_partition_to_another_instance(kind: DbKind) {
        let db = TestDb::new(kind).await;
        db.ensure_type("WEBHOOK").await;
        let receiver = Receiver::start().await;
        let topics = Topics::create(2).await;
        let t = tenant("move");
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &topics, &db.url, &manager_config(&[&t]));
        let mut first = Process::spawn(&config);
        let api = Api::new(&first.http_addr().await);
        let group_action = api.webhook(&t, &receiver, "group", "/move/group").await;
        api.post(&t, "/group-rules", json!({"name": "group_hosts", "expression": "group by hostname", "group_wait": "20s", "alarm_actions": [group_action]})).await;
        rules_in_force(&first.http_addr().await, &db.db).await;
        produce(&topics, &[
            transition(&t, "m1", "no-actions", "disk", "ALARM", "LOW", "host1"),
            transition(&t, "m2", "no-actions", "mem", "ALARM", "LOW", "host1"),
        ])
        .await;
        manager_committed(&topics, 2).await;

        let mut second = Process::spawn(&config);
        let filtered_assigned = |p: &Process| p.log_text().lines().any(|l| l.contains("partitions assigned") && l.contains(topics.filtered.as_str()));
        eventually(Duration::from_secs(30), "the second instance to join the manager's group", || async { filtered_assigned(&second).then_some(()) }).await;
        assert!(first.terminate().success());
        assert!(receiver.requests().iter().all(|r| r.path != "/move/group"), "the group was not due before the move");

        let wait_for_group = async {
            loop {
                let notices: Vec<_> = receiver.requests().into_iter().filter(|r| r.path == "/move/group").collect();
                if !notices.is_empty() {
                    return notices;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let Ok(notices) = tokio::time::timeout(Duration::from_secs(40), wait_for_group).await else {
            panic!("no grouped notification after the move\n--- first ---\n{}\n--- second ---\n{}", first.log_text(), second.log_text());
        };
        let body: Value = serde_json::from_str(&notices[0].body).unwrap();
        assert_eq!(body["alarm_name"], "group_notification_hosts_host1_alarm[2]");
        manager_settled(&second.http_addr().await, &topics, 2).await;
        let count = receiver.requests().iter().filter(|r| r.path == "/move/group").count();
        assert!(count <= 2, "{count} grouped notifications for one due group");
        second.terminate();
    }
}

/// A database user that can only read (as monasca-notification's often is) and a schema without
/// the rule tables: the alarm manager has no rules, and notifications flow as before instead of
/// waiting for rules that can never load.
#[tokio::test(flavor = "multi_thread")]
async fn without_rule_tables_and_rights_to_create_them_notifications_still_flow() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let receiver = Receiver::start().await;
    db.definition_with_method("def-ro", "m-ro", "WEBHOOK", &receiver.url("/ro"), &["ALARM"]).await;
    let topics = Topics::create(2).await;
    let dir = tempfile::tempdir().unwrap();
    let read_only = format!("{}?mode=ro", db.url);
    let app = start_in_process(&write_config(dir.path(), &topics, &read_only, "[alarm_manager]\nenabled = true\n")).await;
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, "alarm-ro", crate::support::alarm_message("alarm-ro", "def-ro", "ALARM").to_string().as_bytes()).await;
    eventually(Duration::from_secs(30), "the webhook POST", || async { (receiver.count() == 1).then_some(()) }).await;
    app.shutdown().await.unwrap();
}

crate::on_every_database! {
    /// The state tables read back on every database (on MariaDB their text columns arrive as
    /// BLOBs), and a row that cannot be decoded is reported with its table, key and column and
    /// left out, instead of failing the whole partition's load for ever.
    async fn state_rows_read_back_and_unreadable_rows_are_named(kind: DbKind) {
        use tocsin::engines::manager::persist::StateStore;
        use tocsin::engines::manager::state::{Change, Entity};
        let db = TestDb::new(kind).await;
        let store = StateStore::new(db.db.clone());
        store.init_schema().await.unwrap();
        let scope = unique("scope");
        let body = json!({"members": "x".repeat(100_000)});
        let change = Change { entity: Entity::Notified { tenant: "t".into(), alarm_id: "a".into() }, value: Some(body.to_string()) };
        store.save(&scope, &[change], 42).await.unwrap();
        let good_entity = serde_json::to_string(&Entity::Notified { tenant: "t".into(), alarm_id: "b".into() }).unwrap();
        for (hash, entity, body) in [("bad-entity", "{\"Nonsense\": 1}", "{}"), ("bad-body", good_entity.as_str(), "{not json")] {
            db.db
                .execute("INSERT INTO alarm_manager_state (scope, entity_hash, entity, body) VALUES (?, ?, ?, ?)", &[&scope, hash, entity, body])
                .await
                .unwrap();
        }

        let snapshot = store.load(&scope).await.expect("a partition with bad rows still loads");
        assert_eq!(snapshot.next_offset, 42);
        assert_eq!(snapshot.rows, vec![(Entity::Notified { tenant: "t".into(), alarm_id: "a".into() }, body)], "a 100 kB body reads back whole");
        let mut bad: Vec<(String, &str, &str)> = snapshot.unreadable.iter().map(|u| (u.entity_hash.clone(), u.table, u.column)).collect();
        bad.sort();
        assert_eq!(bad, [("bad-body".to_owned(), "alarm_manager_state", "body"), ("bad-entity".to_owned(), "alarm_manager_state", "entity")]);
        let text = snapshot.unreadable[0].to_string();
        assert!(text.contains(&format!("scope {scope:?}")) && text.contains("of table alarm_manager_state, column"), "{text}");
    }
}

crate::on_every_database! {
    /// A tenant's open groups are found through the indexed `group_tenant_id` column, and a
    /// table of an earlier version (no such column, rows written without it) is brought up to
    /// date on first use, its group rows still found by their JSON key. Group bodies are read by
    /// scope and key, so the same group persisted under two partitions reads back each its own.
    async fn a_tenants_groups_are_found_by_an_indexed_column_also_in_tables_of_earlier_versions(kind: DbKind) {
        use tocsin::engines::manager::persist::{entity_hash, StateStore};
        use tocsin::engines::manager::state::{Change, Entity, GroupKey};
        use tocsin::model::AlarmState;
        let db = TestDb::new(kind).await;
        let text = if kind == DbKind::MariaDb { "LONGTEXT" } else { "TEXT" };
        db.db.execute("DROP TABLE IF EXISTS alarm_manager_state", &[]).await.unwrap();
        db.db
            .execute(&format!("CREATE TABLE alarm_manager_state (scope VARCHAR(255) NOT NULL, entity_hash VARCHAR(32) NOT NULL, entity {text} NOT NULL, body {text} NOT NULL, PRIMARY KEY (scope, entity_hash))"), &[])
            .await
            .unwrap();
        let group = |tenant: &str, host: &str| Entity::Group { tenant: tenant.into(), key: GroupKey { rule_id: "rule".into(), values: vec![host.into()], state: AlarmState::Alarm } };
        let body = |due_ms: i64| json!({"key": {}, "group": {"members": {}, "due_ms": due_ms, "sent": 0}}).to_string();
        let legacy = |entity: &Entity, due_ms: i64| (serde_json::to_string(entity).unwrap(), entity_hash(entity), body(due_ms));
        for (entity, due_ms) in [(group("t1", "old-host"), 1), (group("t2", "other"), 2), (Entity::Notified { tenant: "t1".into(), alarm_id: "a".into() }, 3)] {
            let (entity, hash, body) = legacy(&entity, due_ms);
            db.db.execute("INSERT INTO alarm_manager_state (scope, entity_hash, entity, body) VALUES (?, ?, ?, ?)", &["old/0", &hash, &entity, &body]).await.unwrap();
        }

        let store = StateStore::new(db.db.clone());
        let found = store.tenant_groups("t1").await.expect("the old table is brought up to date on first use");
        assert_eq!(found.iter().map(|g| g.key.values.clone()).collect::<Vec<_>>(), [vec!["old-host".to_owned()]], "the earlier version's group row");
        assert_eq!(db.count("SELECT COUNT(*) FROM alarm_manager_state WHERE group_tenant_id IS NULL").await, 2, "old group rows keep NULL");
        assert_eq!(db.count("SELECT COUNT(*) FROM alarm_manager_state WHERE group_tenant_id = ''").await, 1, "other old rows are marked");
        let index = match kind {
            DbKind::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'alarm_manager_state_group_tenant'",
            DbKind::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'alarm_manager_state_group_tenant'",
            DbKind::MariaDb => "SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = 'alarm_manager_state_group_tenant'",
        };
        assert_eq!(db.count(index).await, 1, "the column is indexed");

        // The same group under two partitions (as after a move), plus another tenant's.
        for (scope, due_ms) in [("new/0", 10), ("new/1", 11)] {
            let change = Change { entity: group("t1", "new-host"), value: Some(body(due_ms)) };
            store.save(scope, &[change], 1).await.unwrap();
        }
        store.save("new/0", &[Change { entity: group("t3", "elsewhere"), value: Some(body(12)) }], 2).await.unwrap();
        assert_eq!(db.count("SELECT COUNT(*) FROM alarm_manager_state WHERE group_tenant_id = 't1'").await, 2);

        let mut t1 = store.tenant_groups("t1").await.unwrap();
        t1.sort_by(|a, b| (&a.scope, &a.key.values).cmp(&(&b.scope, &b.key.values)));
        let seen: Vec<(&str, &str)> = t1.iter().map(|g| (g.scope.as_str(), g.key.values[0].as_str())).collect();
        assert_eq!(seen, [("new/0", "new-host"), ("new/1", "new-host"), ("old/0", "old-host")]);
        let bodies = store.group_bodies(&t1.iter().collect::<Vec<_>>()).await.unwrap();
        assert_eq!(bodies.iter().map(|(_, g)| g.due_ms).collect::<Vec<_>>(), [10, 11, 1], "each scope's own body");
        assert_eq!(store.tenant_groups("t3").await.unwrap().len(), 1);
        assert_eq!(store.tenant_groups("t2").await.unwrap().len(), 1);
        assert!(store.tenant_groups("t").await.unwrap().is_empty(), "a prefix of a tenant is not that tenant");

        StateStore::new(db.db.clone()).init_schema().await.expect("an up-to-date table is left as it is");
    }
}

/// A database user that may read and write the state tables but not change them (they were
/// made by an earlier version): the alarm manager keeps working with the tables as they are,
/// and a tenant's groups are still found. On the two servers with users and grants; a SQLite
/// file cannot be writable and unalterable at once.
mod a_user_who_cannot_alter_the_state_table_keeps_using_it_as_it_is {
    use super::*;

    async fn run(kind: DbKind) {
        use tocsin::engines::manager::persist::StateStore;
        use tocsin::engines::manager::state::{Change, Entity, GroupKey};
        use tocsin::model::AlarmState;
        let db = TestDb::new(kind).await;
        let text = if kind == DbKind::MariaDb { "LONGTEXT" } else { "TEXT" };
        db.db.execute("DROP TABLE IF EXISTS alarm_manager_state", &[]).await.unwrap();
        db.db
            .execute(&format!("CREATE TABLE alarm_manager_state (scope VARCHAR(255) NOT NULL, entity_hash VARCHAR(32) NOT NULL, entity {text} NOT NULL, body {text} NOT NULL, PRIMARY KEY (scope, entity_hash))"), &[])
            .await
            .unwrap();
        db.db.execute("CREATE TABLE IF NOT EXISTS alarm_manager_offset (scope VARCHAR(255) NOT NULL, next_offset BIGINT NOT NULL, PRIMARY KEY (scope))", &[]).await.unwrap();
        let user = unique("dml").replace('-', "_");
        let database = db.url.rsplit('/').next().unwrap().to_owned();
        let (restricted_url, columns) = match kind {
            DbKind::Postgres => {
                db.db.execute(&format!("CREATE ROLE {user} LOGIN"), &[]).await.unwrap();
                db.db.execute(&format!("GRANT SELECT, INSERT, UPDATE, DELETE ON alarm_manager_state, alarm_manager_offset TO {user}"), &[]).await.unwrap();
                (format!("postgres://{user}@127.0.0.1:5432/{database}"), "table_schema = current_schema()")
            }
            DbKind::MariaDb => {
                db.db.execute(&format!("CREATE USER '{user}'@'%'"), &[]).await.unwrap();
                for table in ["alarm_manager_state", "alarm_manager_offset"] {
                    db.db.execute(&format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {database}.{table} TO '{user}'@'%'"), &[]).await.unwrap();
                }
                (format!("mysql://{user}@127.0.0.1:3306/{database}"), "table_schema = DATABASE()")
            }
            DbKind::Sqlite => unreachable!("SQLite has no grants"),
        };
        let restricted = tocsin::db::Database::connect_lazy(&restricted_url).unwrap();

        let store = StateStore::new(restricted);
        let entity = Entity::Group { tenant: "t1".into(), key: GroupKey { rule_id: "rule".into(), values: vec!["host".into()], state: AlarmState::Alarm } };
        let body = json!({"key": {}, "group": {"members": {}, "due_ms": 5, "sent": 0}}).to_string();
        store.save("p/0", &[Change { entity, value: Some(body) }], 7).await.expect("written without the new column");
        assert_eq!(store.load("p/0").await.unwrap().next_offset, 7);
        let groups = store.tenant_groups("t1").await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(store.group_bodies(&[&groups[0]]).await.unwrap()[0].1.due_ms, 5);
        let columns = db.count(&format!("SELECT COUNT(*) FROM information_schema.columns WHERE {columns} AND table_name = 'alarm_manager_state' AND column_name = 'group_tenant_id'")).await;
        assert_eq!(columns, 0, "the table was left as it was");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(DbKind::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mariadb() {
        run(DbKind::MariaDb).await
    }
}

/// A group rule whose action was pointed, behind the API's back, at another tenant's method:
/// the manager reads a rule's methods as its tenant's, so the other tenant's receiver never
/// gets tenant A's alarms.
#[tokio::test(flavor = "multi_thread")]
async fn a_rules_actions_are_read_as_its_own_tenants_methods() {
    let db = TestDb::new(DbKind::Sqlite).await;
    db.ensure_type("WEBHOOK").await;
    let mine = Receiver::start().await;
    let theirs = Receiver::start().await;
    let topics = Topics::create(2).await;
    let (a, b) = (tenant("owner"), tenant("other"));
    let dir = tempfile::tempdir().unwrap();
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &manager_config(&[&a, &b]))).await;
    let addr = app.http_addr().to_string();
    let api = Api::new(&addr);
    let a_method = api.webhook(&a, &mine, "mine", "/mine").await;
    let b_method = api.webhook(&b, &theirs, "theirs", "/theirs").await;
    api.post(&a, "/group-rules", json!({"name": "hosts", "expression": "group by hostname", "group_wait": "1s", "alarm_actions": [a_method]})).await;
    db.db.execute("UPDATE group_rule_action SET action_id = ? WHERE action_id = ?", &[&b_method, &a_method]).await.unwrap();
    db.db.execute("UPDATE rule_revision SET revision = revision + 1 WHERE id = 1", &[]).await.unwrap();
    db.db.execute("UPDATE rule_tenant_revision SET revision = (SELECT revision FROM rule_revision WHERE id = 1) WHERE tenant_id = ?", &[&a.id]).await.unwrap();
    let stored = RuleStore::new(db.db.clone()).load_tenant(&a.id).await.unwrap();
    assert!(stored.iter().any(|r| matches!(r, tocsin::rules::Rule::Group(g) if g.alarm_actions == [b_method.clone()])), "{stored:?}");
    rules_in_force(&addr, &db.db).await;
    produce(&topics, &[transition(&a, "a1", "no-actions", "disk", "ALARM", "LOW", "host1")]).await;
    eventually(Duration::from_secs(20), "the grouped notice", || async {
        (metric_value(&app.metrics().render_prometheus(), "tocsin_manager_group_notifications_total") >= 1).then_some(())
    })
    .await;
    manager_committed(&topics, 1).await;
    assert_eq!(theirs.count(), 0, "tenant B's receiver got tenant A's notice");
    assert_eq!(mine.count(), 0);
    app.shutdown().await.unwrap();
}

crate::on_every_database! {
    /// A source on another filtered partition than its targets, and behind a backlog: every target
    /// of the tenant (grouped by host, so spread over the filtered partitions) waits for the source
    /// that was published within its wait, even though the source reaches the alarm manager seconds
    /// after the targets' wait has passed on the clock.
    ///
    /// The source's alarm partition is made slow on purpose: thirty transitions of another tenant,
    /// each posted to a receiver that answers in 100 ms, are ahead of it, and the notification
    /// engine works on one record of a partition at a time. The targets' partition has nothing
    /// ahead of them.
    async fn a_source_stuck_behind_a_backlog_on_another_partition_still_inhibits_every_target(kind: DbKind) {
        let db = TestDb::new(kind).await;
        db.ensure_type("WEBHOOK").await;
        let receiver = Receiver::start().await;
        let slow = Receiver::start().await;
        slow.delay(Duration::from_millis(100));
        db.definition_with_method("filler-def", "filler-hook", "WEBHOOK", &slow.url("/filler"), &["ALARM"]).await;
        let topics = Topics::create(2).await;
        // A fixed tenant id: the spread of its hosts over the filtered partitions is the same each run.
        let t = Tenant { token: unique("token-spread"), id: "spread-tenant".into() };
        let other = Tenant { token: unique("token-other"), id: "no-rules-tenant".into() };
        let dir = tempfile::tempdir().unwrap();
        let one_at_a_time = format!("{}\n[notification_engine]\nmax_in_flight_per_partition = 1\n", manager_config(&[&t]));
        let config = write_config(dir.path(), &topics, &db.url, &one_at_a_time);
        let app = start_in_process(&config).await;
        let addr = app.http_addr().to_string();
        let api = Api::new(&addr);
        let group_action = api.webhook(&t, &receiver, "group", "/group").await;
        api.post(&t, "/group-rules", json!({"name": "hosts", "expression": "group by hostname", "group_wait": "1s", "alarm_actions": [group_action]})).await;
        api.post(&t, "/inhibit-rules", json!({"name": "outage", "expression": "source {severity=CRITICAL} targets {severity=HIGH}", "wait_time": "2s"})).await;
        rules_in_force(&addr, &db.db).await;
        app.shutdown().await.unwrap();

        // The input, all in the alarm topic before Tocsin starts again: a backlog.
        let b = broker();
        let producer = b.producer();
        for _ in 0..30 {
            b.produce_to(&producer, &topics.alarms, 0, "filler", transition(&other, "filler", "filler-def", "filler", "ALARM", "LOW", "f").to_string().as_bytes()).await;
        }
        let hosts: Vec<String> = (0..8).map(|n| format!("host{n}")).collect();
        for host in &hosts {
            b.produce_to(&producer, &topics.alarms, 1, host, transition(&t, &format!("target-{host}"), "no-actions", "disk", "ALARM", "HIGH", host).to_string().as_bytes()).await;
        }
        b.produce_to(&producer, &topics.alarms, 0, "source", transition(&t, "source", "no-actions", "network down", "ALARM", "CRITICAL", "router").to_string().as_bytes()).await;

        let app = start_in_process(&config).await;
        let addr = app.http_addr().to_string();
        manager_settled(&addr, &topics, hosts.len() as i64 + 1).await;
        eventually(Duration::from_secs(20), "the source's own group notice", || async { (receiver.count() >= 1).then_some(()) }).await;
        let notices = received(&receiver, "/group");
        assert_eq!(notices, pairs(&[("/group", "group_notification_hosts_router_alarm[1]")]), "no target leaked through: {notices:?}");
        let metrics = app.metrics().render_prometheus();
        assert_eq!(metric_value(&metrics, "tocsin_manager_suppressed_total{by=\"inhibited\"}"), hosts.len() as u64, "{metrics}");
        assert!(slow.count() >= 30, "the backlog ahead of the source was worked through");
        let used = b.records_by_partition(&topics.filtered).iter().filter(|records| **records > 0).count();
        assert!(used >= 2, "one tenant's groups spread over the filtered partitions: {:?}", b.records_by_partition(&topics.filtered));
        app.shutdown().await.unwrap();
    }
}

/// One tenant's outage divides between two instances: each applies the transitions and sends
/// the notices of the groups on its partitions, and together they notify every group once.
#[tokio::test(flavor = "multi_thread")]
async fn one_tenants_groups_divide_between_two_instances() {
    let db = TestDb::new(DbKind::Postgres).await;
    db.ensure_type("WEBHOOK").await;
    let receiver = Receiver::start().await;
    let topics = Topics::create(4).await;
    let t = tenant("divide");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &topics, &db.url, &manager_config(&[&t]));
    let mut first = Process::spawn(&config);
    let mut second = Process::spawn(&config);
    let (first_addr, second_addr) = (first.http_addr().await, second.http_addr().await);
    let api = Api::new(&first_addr);
    let action = api.webhook(&t, &receiver, "group", "/group").await;
    // group_wait is wall-clock time from a group's first member: long enough that, on a loaded
    // CI machine, all 120 records (one per produce batch) are routed and applied within it, so
    // that every first notice lists its three members (with 1 s, one full-suite run saw groups
    // notified with one or two).
    api.post(&t, "/group-rules", json!({"name": "hosts", "expression": "group by hostname", "group_wait": "5s", "alarm_actions": [action]})).await;
    rules_in_force(&first_addr, &db.db).await;
    rules_in_force(&second_addr, &db.db).await;
    let assigned = |p: &Process| p.log_text().lines().any(|l| l.contains("partitions assigned") && l.contains(topics.filtered.as_str()));
    eventually(Duration::from_secs(60), "both instances in the manager's group", || async { (assigned(&first) && assigned(&second)).then_some(()) }).await;

    let hosts = 40;
    let transitions: Vec<Value> = (0..hosts * 3).map(|n| transition(&t, &format!("a{n}"), "no-actions", "disk", "ALARM", "LOW", &format!("host{}", n % hosts))).collect();
    produce(&topics, &transitions).await;
    eventually(Duration::from_secs(60), "every group notified", || async { (receiver.count() >= hosts).then_some(()) }).await;
    manager_committed(&topics, transitions.len() as i64).await;
    let notices = |addr: String| async move { crate::support::tocsin::metric_value(&crate::support::tocsin::scrape(&addr).await, "tocsin_manager_group_notifications_total") };
    let (by_first, by_second) = (notices(first_addr).await, notices(second_addr).await);
    assert_eq!(by_first + by_second, hosts as u64, "every group once");
    assert!(by_first > 0 && by_second > 0, "both instances notified groups: {by_first} and {by_second}");
    let names: std::collections::BTreeSet<String> = received(&receiver, "/group").into_iter().map(|(_, name)| name).collect();
    assert_eq!(names.len(), hosts, "one notice per host, each with its three members: {names:?}");
    assert!(names.iter().all(|name| name.ends_with("_alarm[3]")), "{names:?}");
    first.terminate();
    second.terminate();
}
