//! The notification history and the operator's questions about it: the store on every database
//! (idempotent batches, filters, newest first, known alarms, retention), the API that answers
//! from it (`/v2.0/notifications`, `/summary`, `/muted`, `/alarm-groups`, `/rules/test`, the
//! silence dry run, a method's test send), and the whole path through the broker: outcomes of
//! real transitions recorded by the history engine and read back over HTTP.

use crate::api::{tocsin, ApiServer, TENANT_A, TENANT_B, TOKEN_A};
use crate::support::api::ApiClient;
use crate::support::receiver::Receiver;
use crate::support::tocsin::{rules_in_force, start_in_process, write_config, Topics};
use crate::support::{broker, eventually, unique, DbKind, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use tocsin::engines::manager::state::{Change, Entity, GroupKey};
use tocsin::history::store::{Filter, HistoryStore};
use tocsin::history::{Entry, MethodRef, Outcome};
use tocsin::model::AlarmState;

/// A transition object (the inner `alarm-transitioned`) of `tenant` at `timestamp_ms`.
fn alarm_object(tenant: &str, alarm_id: &str, name: &str, state: &str, hostname: &str, timestamp_ms: i64) -> Value {
    json!({
        "tenantId": tenant, "alarmId": alarm_id, "alarmDefinitionId": "def-1",
        "metrics": [{"id": null, "name": "cpu.percent", "dimensions": {"hostname": hostname}}],
        "alarmName": name, "alarmDescription": "", "oldState": "OK", "newState": state, "actionsEnabled": true,
        "stateChangeReason": "because", "severity": "HIGH", "link": null, "lifecycleState": null,
        "subAlarms": [], "timestamp": timestamp_ms,
    })
}

fn entry(tenant: &str, source: &str, outcome: Outcome, alarm_id: &str, hostname: &str, time_ms: i64, alarm_timestamp_ms: i64) -> Entry {
    let name = format!("cpu high on {hostname} ✓");
    Entry {
        source: source.into(),
        tenant_id: tenant.into(),
        time_ms,
        outcome,
        alarm_id: alarm_id.into(),
        alarm_name: name.clone(),
        alarm_definition_id: "def-1".into(),
        state: "ALARM".into(),
        alarm_timestamp_ms,
        method: (outcome == Outcome::Sent).then(|| MethodRef { id: "m1".into(), name: Some("ops".into()), kind: "webhook".into(), address: Some("http://h/x".into()) }),
        attempt: (outcome == Outcome::Sent).then_some(1),
        reason: None,
        rule_id: outcome.is_muting().then(|| "rule-1".into()),
        source_alarm_id: None,
        notice: None,
        alarm_json: Some(alarm_object(tenant, alarm_id, &name, "ALARM", hostname, alarm_timestamp_ms).to_string()),
    }
}

crate::on_every_database! {
    async fn the_store_writes_each_row_once_and_reads_a_tenants_rows_newest_first(kind: DbKind) {
        let db = TestDb::new(kind).await;
        let store = HistoryStore::new(db.db.clone());
        store.init_schema().await.unwrap();
        store.init_schema().await.expect("creating the tables again changes nothing");
        let mut batch: Vec<Entry> = (0..250).map(|i| entry("t-a", &format!("sent/0/{i}"), Outcome::Sent, &format!("a{}", i % 10), "h1", 1_000 + i, 500 + i)).collect();
        batch.push(entry("t-b", "sent/0/999", Outcome::Sent, "b1", "h1", 5_000, 5_000));
        // Longer than every column and outside the BMP: cut, never refused.
        let mut long = entry("t-a", "events/0/1", Outcome::Skipped, "a-long", "h2", 900, 900);
        long.alarm_name = "🔥".repeat(5000);
        long.reason = Some("x".repeat(10_000));
        batch.push(long);
        store.write(&batch).await.unwrap();
        store.write(&batch[..100]).await.expect("a batch read twice writes nothing new");

        let all = store.list("t-a", &Filter::default(), 0, 1000).await.unwrap();
        assert_eq!(all.len(), 251);
        let times: Vec<i64> = all.iter().map(|r| r.entry.time_ms).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
        let long = all.iter().find(|r| r.entry.alarm_id == "a-long").unwrap();
        assert_eq!(long.entry.alarm_name.chars().count(), 4096);
        assert_eq!(long.entry.reason.as_ref().unwrap().len(), 4096);
        let sent = &all[0].entry;
        assert_eq!((sent.outcome, sent.attempt, sent.method.as_ref().unwrap().name.as_deref()), (Outcome::Sent, Some(1), Some("ops")));

        let page = store.list("t-a", &Filter::default(), 10, 5).await.unwrap();
        assert_eq!(page.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), all[10..15].iter().map(|r| r.id.clone()).collect::<Vec<_>>());
        let filtered = Filter { alarm_id: Some("a3".into()), since_ms: Some(1_100), until_ms: Some(1_200), ..Filter::default() };
        let rows = store.list("t-a", &filtered, 0, 100).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.entry.time_ms).collect::<Vec<_>>(), [1_193, 1_183, 1_173, 1_163, 1_153, 1_143, 1_133, 1_123, 1_113, 1_103]);
        let skipped = store.list("t-a", &Filter { outcome: Some(Outcome::Skipped), ..Filter::default() }, 0, 100).await.unwrap();
        assert_eq!(skipped.len(), 1);
        assert_eq!(store.list("t-b", &Filter::default(), 0, 100).await.unwrap().len(), 1, "a tenant sees only its rows");
        let mut counts = store.counts("t-a", 0).await.unwrap();
        counts.sort_by_key(|(outcome, _)| outcome.as_str());
        assert_eq!(counts, [(Outcome::Sent, 250), (Outcome::Skipped, 1)]);

        // Known alarms: the newest transition of each; of one transition, the muted entry wins.
        let known = store.known_alarms("t-a", false, 100).await.unwrap();
        assert_eq!(known.len(), 11);
        let a3 = known.iter().find(|k| k.alarm_id == "a3").unwrap();
        assert_eq!(a3.alarm_timestamp_ms, 500 + 243);
        store.write(&[entry("t-a", "events/0/2", Outcome::Silenced, "a3", "h1", 3_000, 743)]).await.unwrap();
        store.write(&[entry("t-a", "sent/0/1000", Outcome::Sent, "a3", "h1", 3_001, 743)]).await.unwrap();
        store.write(&[entry("t-a", "sent/0/1001", Outcome::Sent, "a3", "h1", 3_002, 100)]).await.unwrap();
        let muted = store.known_alarms("t-a", true, 100).await.unwrap();
        assert_eq!(muted.iter().map(|k| (k.alarm_id.as_str(), k.outcome, k.rule_id.as_deref())).collect::<Vec<_>>(), [("a3", Outcome::Silenced, Some("rule-1"))]);
        store.write(&[entry("t-a", "sent/0/1002", Outcome::Sent, "a3", "h1", 3_003, 744)]).await.unwrap();
        assert!(store.known_alarms("t-a", true, 100).await.unwrap().is_empty(), "a later transition that was sent unmutes");

        let deleted = store.purge(1_100).await.unwrap();
        assert_eq!(deleted, 101 + 1, "100 sent rows and the long one before 1,100, and no known alarm seen that long ago: {deleted}");
        assert_eq!(store.list("t-a", &Filter::default(), 0, 1000).await.unwrap().len(), 251 + 4 - 101);
    }
}

/// Known alarms of tenant A on h1 and h2, and one of tenant B on h1.
async fn some_known_alarms(api: &ApiServer) {
    let now = chrono::Utc::now().timestamp_millis();
    api.history
        .write(&[
            entry(TENANT_A, "s/0/1", Outcome::Sent, "a-h1", "h1", now - 3_000, now - 3_000),
            entry(TENANT_A, "s/0/2", Outcome::Sent, "a-h2", "h2", now - 2_000, now - 2_000),
            entry(TENANT_B, "s/0/3", Outcome::Sent, "b-h1", "h1", now - 1_000, now - 1_000),
        ])
        .await
        .unwrap();
}

/// Waits until the API's rules include `id`.
async fn in_force(api: &ApiServer, id: &str) {
    eventually(Duration::from_secs(10), "the rule to be in force", || async { api.rules.current().get(id).map(|_| ()) }).await;
}

crate::on_every_database! {
    async fn the_history_api_is_filtered_paginated_and_scoped_to_the_tenant(kind: DbKind) {
        let api = ApiServer::start(kind).await;
        some_known_alarms(&api).await;
        let (status, page) = api.a(Method::GET, "/v2.0/notifications?limit=1", None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["elements"].as_array().unwrap().len(), 1);
        let element = &page["elements"][0];
        assert_eq!((element["alarm_id"].as_str(), element["outcome"].as_str(), element["method"]["type"].as_str()), (Some("a-h2"), Some("sent"), Some("WEBHOOK")));
        assert!(element["time"].as_str().unwrap().ends_with('Z'), "{element}");
        let next = page["links"].as_array().unwrap().iter().find(|l| l["rel"] == "next").expect("a full page links the next");
        assert!(next["href"].as_str().unwrap().contains("offset=1"), "{next}");

        let (_, filtered) = api.a(Method::GET, "/v2.0/notifications?alarm_id=a-h1&outcome=sent&state=alarm", None).await;
        assert_eq!(filtered["elements"].as_array().unwrap().iter().map(|e| e["alarm_id"].as_str().unwrap()).collect::<Vec<_>>(), ["a-h1"]);
        let (_, others) = api.b(Method::GET, "/v2.0/notifications", None).await;
        assert_eq!(others["elements"].as_array().unwrap().iter().map(|e| e["alarm_id"].as_str().unwrap()).collect::<Vec<_>>(), ["b-h1"]);
        let (_, summary) = api.a(Method::GET, "/v2.0/notifications/summary", None).await;
        assert_eq!((summary["counts"]["sent"].as_i64(), summary["counts"]["silenced"].as_i64()), (Some(2), Some(0)), "{summary}");

        for (query, says) in [
            ("outcome=delivered", "outcome must be one of sent, failed"),
            ("state=FIRING", "state must be ALARM, OK or UNDETERMINED"),
            ("limit=0", "limit must be between 1 and 1000"),
            ("since=yesterday", "since:"),
            ("colour=red", "the filters are alarm_id"),
        ] {
            let (status, error) = api.a(Method::GET, &format!("/v2.0/notifications?{query}"), None).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {error}");
            assert!(error["description"].as_str().unwrap().contains(says), "{query}: {error}");
        }
        let (status, _) = api.call(None, Method::GET, "/v2.0/notifications", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

crate::on_every_database! {
    async fn a_silence_dry_run_lists_the_known_alarms_it_would_mute_and_stores_nothing(kind: DbKind) {
        let api = ApiServer::start(kind).await;
        some_known_alarms(&api).await;
        let silence = json!({"name": "maintenance", "matchers": {"hostname": "h1"}, "silence_duration": "1h"});
        let (status, preview) = api.a(Method::POST, "/v2.0/silence-rules?dry_run=true", Some(silence.clone())).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert_eq!(preview["dry_run"], true);
        assert_eq!(preview["rule"]["expression"], "targets {hostname=h1}");
        let muted: Vec<&str> = preview["would_mute"].as_array().unwrap().iter().map(|a| a["alarm_id"].as_str().unwrap()).collect();
        assert_eq!(muted, ["a-h1"], "only the tenant's own alarms that match: {preview}");
        let (_, stored) = api.a(Method::GET, "/v2.0/silence-rules", None).await;
        assert!(stored["elements"].as_array().unwrap().is_empty(), "a dry run stores nothing: {stored}");

        let (status, error) = api.a(Method::POST, "/v2.0/silence-rules?dry_run=true", Some(json!({"name": "bad", "matchers": {"hostname": "h1"}, "silence_duration": "1 hour"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a dry run validates as a create does: {error}");
        let (status, error) = api.a(Method::POST, "/v2.0/group-rules?dry_run=true", Some(json!({"name": "g", "expression": "group by hostname"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert!(error["description"].as_str().unwrap().contains("silence rules only"), "{error}");
    }
}

crate::on_every_database! {
    async fn rules_test_explains_silences_groups_and_methods_and_muted_lists_what_a_rule_holds(kind: DbKind) {
        let api = ApiServer::start(kind).await;
        some_known_alarms(&api).await;
        let method = api.method(TOKEN_A, "ops").await;
        let (status, definition) = api.a(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "cpu", "expression": "avg(cpu.percent) > 90", "alarm_actions": [method]}))).await;
        assert_eq!(status, StatusCode::CREATED, "{definition}");
        let definition = definition["id"].as_str().unwrap().to_owned();
        let group = api.client.create(TOKEN_A, "/v2.0/group-rules", json!({"name": "by-host", "expression": "group by hostname", "group_wait": "30s", "alarm_actions": [method]})).await;
        in_force(&api, group["id"].as_str().unwrap()).await;

        let now = chrono::Utc::now().timestamp_millis();
        let mut transition = alarm_object("someone-else", "x1", "cpu high", "ALARM", "h1", now);
        transition["alarmDefinitionId"] = json!(definition);
        let (status, answer) = api.a(Method::POST, "/v2.0/rules/test", Some(json!({"transition": {"alarm-transitioned": transition}}))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["verdict"], "notify", "{answer}");
        assert_eq!(answer["methods"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect::<Vec<_>>(), [method.as_str()]);
        assert_eq!(answer["groups"][0]["values"], json!({"hostname": "h1"}));
        assert_eq!(answer["groups"][0]["notice"], "group_notification_by-host_h1_alarm[1]");

        let silence = api.client.create(TOKEN_A, "/v2.0/silence-rules", json!({"name": "quiet h1", "matchers": {"hostname": "h1"}, "silence_duration": "1h"})).await;
        let silence_id = silence["id"].as_str().unwrap().to_owned();
        in_force(&api, &silence_id).await;
        let (_, answer) = api.a(Method::POST, "/v2.0/rules/test", Some(json!({"transition": transition}))).await;
        assert_eq!(answer["verdict"], "silenced", "{answer}");
        assert_eq!(answer["silenced_by"][0]["rule_id"], silence_id.as_str());
        assert!(answer["methods"].as_array().unwrap().is_empty(), "nothing is sent for a silenced transition: {answer}");
        let (_, by_id) = api.a(Method::POST, "/v2.0/rules/test", Some(json!({"alarm_id": "a-h2"}))).await;
        assert_eq!(by_id["verdict"], "grouped_only", "a-h2's definition has no actions here, but the group rule takes it: {by_id}");
        assert_eq!(by_id["groups"][0]["values"], json!({"hostname": "h2"}));

        for (body, status) in [
            (json!({"alarm_id": "b-h1"}), StatusCode::NOT_FOUND),
            (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"alarm_id": "a-h1", "transition": transition}), StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"transition": {"alarmId": "x"}}), StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let (got, error) = api.a(Method::POST, "/v2.0/rules/test", Some(body.clone())).await;
            assert_eq!(got, status, "{body}: {error}");
        }

        // The manager recorded a-h1's newest transition as silenced by the rule: it is muted
        // while the silence lasts, and no longer once it is expired.
        api.history.write(&[Entry { rule_id: Some(silence_id.clone()), ..entry(TENANT_A, "e/0/1", Outcome::Silenced, "a-h1", "h1", now, now) }]).await.unwrap();
        let (_, muted) = api.a(Method::GET, "/v2.0/muted", None).await;
        assert_eq!(muted["elements"].as_array().unwrap().iter().map(|m| (m["alarm_id"].as_str().unwrap(), m["muted_by"].as_str().unwrap(), m["rule_name"].as_str().unwrap())).collect::<Vec<_>>(), [("a-h1", "silence", "quiet h1")]);
        let (_, others) = api.b(Method::GET, "/v2.0/muted", None).await;
        assert!(others["elements"].as_array().unwrap().is_empty());
        let (status, _) = api.a(Method::PATCH, &format!("/v2.0/silence-rules/{silence_id}"), Some(json!({"silence_duration": "0s"}))).await;
        assert_eq!(status, StatusCode::OK);
        eventually(Duration::from_secs(10), "the expired silence to mute nothing", || async {
            let (_, muted) = api.a(Method::GET, "/v2.0/muted", None).await;
            muted["elements"].as_array().unwrap().is_empty().then_some(())
        })
        .await;
    }
}

crate::on_every_database! {
    async fn open_groups_are_listed_as_the_manager_persisted_them(kind: DbKind) {
        let api = ApiServer::start(kind).await;
        let method = api.method(TOKEN_A, "ops").await;
        let rule = api.client.create(TOKEN_A, "/v2.0/group-rules", json!({"name": "by-host", "expression": "group by hostname", "alarm_actions": [method]})).await;
        let rule_id = rule["id"].as_str().unwrap().to_owned();
        in_force(&api, &rule_id).await;
        let due_ms = chrono::Utc::now().timestamp_millis() + 30_000;
        let body = json!({
            "key": {"rule_id": rule_id, "values": ["h1"], "state": "ALARM"},
            "group": {"due_ms": due_ms, "sent": 0, "members": {"a1": {
                "alarm_id": "a1", "alarm_name": "cpu", "alarm_definition_id": "d", "state": "ALARM", "severity": "HIGH",
                "reason": "r", "timestamp_ms": 1000.0, "metrics": [], "notified": false}}},
        });
        let entity = Entity::Group { tenant: TENANT_A.into(), key: GroupKey { rule_id: rule_id.clone(), values: vec!["h1".into()], state: AlarmState::Alarm } };
        api.manager_state.save("filtered/3", &[Change { entity, value: Some(body.to_string()) }], 10).await.unwrap();

        let (status, groups) = api.a(Method::GET, "/v2.0/alarm-groups", None).await;
        assert_eq!(status, StatusCode::OK, "{groups}");
        let group = &groups["elements"][0];
        assert_eq!((group["rule_name"].as_str(), group["values"].clone(), group["member_count"].as_u64()), (Some("by-host"), json!({"hostname": "h1"}), Some(1)), "{group}");
        assert_eq!(group["members"][0]["alarm_id"], "a1");
        assert_eq!(group["notice"], "group_notification_by-host_h1_alarm[1]");
        assert!(group["next_notification_at"].as_str().is_some(), "{group}");
        let (_, others) = api.b(Method::GET, "/v2.0/alarm-groups", None).await;
        assert!(others["elements"].as_array().unwrap().is_empty(), "{others}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_methods_test_send_reaches_its_address_and_says_what_came_back() {
    let api = ApiServer::start(DbKind::Sqlite).await;
    let receiver = Receiver::start().await;
    let method = api.client.create(TOKEN_A, "/v2.0/notification-methods", json!({"name": "hook", "type": "WEBHOOK", "address": receiver.url("/hook")})).await;
    let id = method["id"].as_str().unwrap();
    let (status, answer) = api.a(Method::POST, &format!("/v2.0/notification-methods/{id}/test"), None).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("sent")), "{answer}");
    assert_eq!(receiver.count(), 1);
    receiver.answer_with(500);
    let (_, answer) = api.a(Method::POST, &format!("/v2.0/notification-methods/{id}/test"), None).await;
    assert_eq!(answer["outcome"], "failed", "{answer}");
    let (status, _) = api.b(Method::POST, &format!("/v2.0/notification-methods/{id}/test"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's method cannot be tested");
}

crate::on_every_database! {
/// Transitions through the broker end as every kind of outcome, and the history engine records
/// each where the API reads it: sent, failed then given up, skipped, silenced, and grouped.
async fn every_outcome_of_real_transitions_reaches_the_history(kind: DbKind) {
    let db = TestDb::new(kind).await;
    db.ensure_type("WEBHOOK").await;
    let receiver = Receiver::start().await;
    let failing_receiver = Receiver::start().await;
    failing_receiver.answer_with(500);
    let topics = Topics::create(2).await;
    let (token, tenant) = (unique("token-history"), unique("tenant-history"));
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[alarm_manager]\nenabled = true\n\n[api]\nenabled = true\ntokens = {token}:{tenant}\n\n[history]\nenabled = true\n\n\
         [retry_engine]\nenabled = true\ninterval = 0\nmax_attempts = 0\n"
    );
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &extra)).await;
    let addr = app.http_addr().to_string();
    let api = ApiClient::new(&addr);
    let good = api.create(&token, "/v2.0/notification-methods", json!({"name": "good", "type": "WEBHOOK", "address": receiver.url("/good")})).await["id"].as_str().unwrap().to_owned();
    let bad = api.create(&token, "/v2.0/notification-methods", json!({"name": "bad", "type": "WEBHOOK", "address": failing_receiver.url("/bad")})).await["id"].as_str().unwrap().to_owned();
    let definition = api.create(&token, "/v2.0/alarm-definitions", json!({"name": "cpu", "expression": "avg(cpu.percent) > 90", "alarm_actions": [good]})).await["id"].as_str().unwrap().to_owned();
    let failing = api.create(&token, "/v2.0/alarm-definitions", json!({"name": "disk", "expression": "avg(disk.percent) > 90", "alarm_actions": [bad]})).await["id"].as_str().unwrap().to_owned();
    api.create(&token, "/v2.0/group-rules", json!({"name": "by-host", "expression": "group by hostname", "group_wait": "1s", "alarm_actions": [good]})).await;
    api.create(&token, "/v2.0/silence-rules", json!({"name": "quiet", "matchers": {"hostname": "quiet-host"}, "silence_duration": "1h"})).await;
    rules_in_force(&addr, &db.db).await;

    let now = chrono::Utc::now().timestamp_millis();
    let message = |alarm_id: &str, definition: &str, hostname: &str, actions: bool| {
        let mut object = alarm_object(&tenant, alarm_id, &format!("alarm {alarm_id}"), "ALARM", hostname, now);
        object["alarmDefinitionId"] = json!(definition);
        object["actionsEnabled"] = json!(actions);
        json!({"alarm-transitioned": object})
    };
    let b = broker();
    let producer = b.producer();
    for (id, m) in [
        ("sent-1", message("sent-1", &definition, "web-1", true)),
        ("fails-1", message("fails-1", &failing, "web-2", true)),
        ("skip-1", message("skip-1", &definition, "web-3", false)),
        ("quiet-1", message("quiet-1", &definition, "quiet-host", true)),
    ] {
        b.produce(&producer, &topics.alarms, id, m.to_string().as_bytes()).await;
    }

    let client = ApiClient::new(&addr);
    let outcomes = eventually(Duration::from_secs(60), "every outcome in the history", || async {
        let (_, page) = client.call(Some(&token), Method::GET, "/v2.0/notifications?limit=1000", None).await;
        let found: std::collections::BTreeSet<(String, String)> = page["elements"]
            .as_array()?
            .iter()
            .map(|e| (e["alarm_id"].as_str().unwrap_or_default().to_owned(), e["outcome"].as_str().unwrap_or_default().to_owned()))
            .collect();
        let wanted = [("sent-1", "sent"), ("sent-1", "grouped"), ("fails-1", "failed"), ("fails-1", "given_up"), ("skip-1", "skipped"), ("quiet-1", "silenced")];
        wanted.iter().all(|(a, o)| found.contains(&(a.to_string(), o.to_string()))).then_some(page)
    })
    .await;
    let elements = outcomes["elements"].as_array().unwrap();
    let of = |alarm: &str, outcome: &str| elements.iter().find(|e| e["alarm_id"] == alarm && e["outcome"] == outcome).unwrap().clone();
    assert_eq!(of("sent-1", "sent")["method"]["id"], good.as_str());
    assert_eq!(of("fails-1", "failed")["attempt"], 1);
    assert!(of("fails-1", "failed")["reason"].as_str().unwrap().contains("500"), "{}", of("fails-1", "failed"));
    assert!(of("fails-1", "given_up")["reason"].as_str().unwrap().contains("gave up"), "{}", of("fails-1", "given_up"));
    assert_eq!(of("skip-1", "skipped")["reason"], "actions disabled");
    assert_eq!(of("quiet-1", "silenced")["rule_id"].as_str().map(str::len), Some(36));
    assert!(of("sent-1", "grouped")["notice"].as_str().unwrap().starts_with("group_notification_by-host_web-1_alarm"));
    let notice = elements.iter().find(|e| e["notice"].as_str().is_some_and(|n| n.starts_with("group_notification")) && e["outcome"] == "sent");
    assert!(notice.is_some(), "the grouped notice's own send is in the history too: {outcomes}");
    let (_, muted) = client.call(Some(&token), Method::GET, "/v2.0/muted", None).await;
    assert_eq!(muted["elements"][0]["alarm_id"], "quiet-1", "{muted}");
    app.shutdown().await.unwrap();
}
}

/// `tocsin history`, `tocsin groups` and `tocsin rules test` answer from the API.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_shows_the_history_the_groups_and_a_rule_test() {
    let api = ApiServer::start(DbKind::Sqlite).await;
    some_known_alarms(&api).await;
    let a = Some(TOKEN_A);
    let (ok, out, err) = tocsin(&api, a, &["history", "--outcome", "sent"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("TIME") && lines.len() == 3, "a header and two rows: {out}");
    assert!(lines[1].contains("a-h2") && lines[1].contains("ops (WEBHOOK)") && lines[2].contains("a-h1"), "newest first: {out}");
    let (ok, out, _) = tocsin(&api, a, &["history", "--alarm", "a-h1", "--json"]).await;
    assert!(ok);
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["elements"].as_array().unwrap().len(), 1);
    let (ok, _, err) = tocsin(&api, a, &["history", "--outcome", "lost"]).await;
    assert!(!ok && err.contains("outcome must be one of"), "{err}");

    let (ok, out, err) = tocsin(&api, a, &["groups"]).await;
    assert!(ok && out.starts_with("RULE"), "{out}{err}");

    let silence = api.client.create(TOKEN_A, "/v2.0/silence-rules", json!({"name": "quiet h1", "matchers": {"hostname": "h1"}, "silence_duration": "1h"})).await;
    in_force(&api, silence["id"].as_str().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    std::fs::write(&file, json!({"alarm-transitioned": alarm_object(TENANT_A, "x", "cpu", "ALARM", "h1", chrono::Utc::now().timestamp_millis())}).to_string()).unwrap();
    let (ok, out, err) = tocsin(&api, a, &["rules", "test", "--transition", file.to_str().unwrap()]).await;
    assert!(ok, "{err}");
    assert!(out.contains("verdict: silenced") && out.contains("silence: quiet h1") && out.contains("active"), "{out}");
    let (ok, out, _) = tocsin(&api, a, &["rules", "test", "--alarm", "a-h2"]).await;
    assert!(ok && out.contains("verdict: no_methods"), "{out}");
}

/// Holds every record until opened: with one in flight, the rest wait in the partition's queue.
struct Gate {
    open: tokio::sync::watch::Receiver<bool>,
}

impl tocsin::kafka::Handler for Gate {
    type Job = ();
    const INPUT: &'static str = "Test";

    fn decode(&self, _record: &tocsin::kafka::Record) -> Result<(), tocsin::kafka::Rejected> {
        Ok(())
    }

    fn ordering_key(&self, _job: &()) -> Option<u64> {
        None
    }

    async fn handle(&self, _job: (), _stop: tocsin::kafka::Stop) -> Result<(), tocsin::supervise::Cancelled> {
        let mut open = self.open.clone();
        let _ = open.wait_for(|open| *open).await;
        Ok(())
    }
}

/// While a consumer counted in the backlog is behind, fresh rows wait (up to
/// `defer_while_busy`) and rows already that old are written at once; once it has caught up,
/// the waiting rows are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_defers_its_writes_while_the_notification_path_is_behind() {
    use std::sync::Arc;
    use tocsin::engines::history::Writer;
    use tocsin::kafka::{Backlog, ConsumerConfig, ConsumerGroup, DeadLetters, Producer};

    let b = broker();
    let (topic, group) = (unique("backlog"), unique("backlog-group"));
    b.create_topic(&topic, 1).await;
    let producer = b.producer();
    for i in 0..300 {
        b.produce(&producer, &topic, "k", format!("{i}").as_bytes()).await;
    }
    let metrics = tocsin::telemetry::Metrics::new();
    let backlog = Backlog::default();
    let (open, opened) = tokio::sync::watch::channel(false);
    let settings = ConsumerConfig {
        engine: "gate",
        brokers: vec![b.address.clone()],
        group,
        topic: topic.clone(),
        properties: vec![("fetch.wait.max.ms".into(), "10".into())],
        max_in_flight_per_partition: 1,
        partition_queue: 1000,
        commit_interval: Duration::from_millis(100),
        drain_timeout: Duration::from_secs(5),
        dead_letter_topic: unique("backlog-dead"),
        backlog: Some(backlog.clone()),
    };
    let dead_letters: Arc<dyn DeadLetters> = Arc::new(tocsin::publish::Publisher::new(Producer::new(std::slice::from_ref(&b.address), &[]).unwrap(), metrics.clone()));
    let stop = tokio_util::sync::CancellationToken::new();
    let member = ConsumerGroup::start(settings, Arc::new(Gate { open: opened }), dead_letters, metrics.clone(), stop.clone()).unwrap();
    eventually(Duration::from_secs(30), "all but one record waiting", || async { (backlog.waiting() == 299).then_some(()) }).await;

    let db = TestDb::new(DbKind::Sqlite).await;
    let store = HistoryStore::new(db.db.clone());
    store.init_schema().await.unwrap();
    let config = tocsin::history::HistoryConfig {
        enabled: true,
        group: "unused".into(),
        topic: "unused".into(),
        retention: Duration::from_secs(7 * 24 * 3600),
        batch_size: 500,
        batch_wait: Duration::from_millis(10),
        defer_while_busy: Duration::from_secs(60),
    };
    let writer = Writer::start(&config, store.clone(), backlog.clone(), metrics.clone(), tocsin::supervise::Fatal::default());
    let never = tokio_util::sync::CancellationToken::new();
    let now = chrono::Utc::now().timestamp_millis();

    let old = entry(TENANT_A, "s/0/1", Outcome::Sent, "old", "h1", now - 61_000, now - 61_000);
    tokio::time::timeout(Duration::from_secs(10), writer.write(vec![old], &never)).await.expect("a row older than the deferral is written at once").unwrap();

    let fresh = entry(TENANT_A, "s/0/2", Outcome::Sent, "fresh", "h1", now, now);
    let write = tokio::spawn({
        let writer = writer.clone();
        async move { writer.write(vec![fresh], &never).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!write.is_finished(), "a fresh row waits while 299 records wait in the notification path");
    assert_eq!(store.list(TENANT_A, &Filter::default(), 0, 10).await.unwrap().len(), 1);

    open.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), write).await.expect("written once the backlog cleared").unwrap().unwrap();
    assert_eq!(backlog.waiting(), 0);
    assert_eq!(store.list(TENANT_A, &Filter::default(), 0, 10).await.unwrap().len(), 2);
    let deferred = metrics.render_prometheus().lines().find_map(|l| l.strip_prefix("tocsin_history_deferred_seconds_total ")?.parse::<f64>().ok());
    assert!(deferred.is_some_and(|seconds| seconds >= 1.5), "the wait, about 2 s, is counted: {deferred:?}");
    stop.cancel();
    member.wait().await.unwrap();
}
