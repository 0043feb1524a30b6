//! The operator console as a person uses it, in a real headless Chromium against a running
//! Tocsin: sign in with the API token, preview and create a silence, watch a grouped notice
//! appear in the history after transitions go through the broker, expire the silence, and read
//! the overview at phone width. No page may log an error (a failed load or a CSP violation
//! included). With `TOCSIN_SCREENSHOTS=<dir>` each page's screenshot is written there (the
//! ones in docs/screenshots/ come from this test).

use crate::support::api::ApiClient;
use crate::support::receiver::Receiver;
use crate::support::tocsin::{rules_in_force, start_in_process, write_config, Topics};
use crate::support::webdriver::Browser;
use crate::support::{broker, eventually, unique, DbKind, TestDb};
use serde_json::{json, Value};
use std::time::Duration;

/// Writes the page's screenshot when asked to.
async fn screenshot(browser: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("TOCSIN_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), browser.screenshot().await).unwrap();
    }
}

/// Log entries of level SEVERE (errors) since the last look.
async fn errors(browser: &Browser) -> Vec<Value> {
    browser.log().await.into_iter().filter(|e| e["level"] == "SEVERE").collect()
}

/// Errors since the last look, which must all be the refusal (`status`) a step provoked: the
/// browser logs every 4xx answer as a failed load, even one the page expected and explained.
async fn only_refusals(browser: &Browser, status: &str) {
    let unexpected: Vec<Value> = errors(browser).await.into_iter().filter(|e| !e["message"].as_str().unwrap_or_default().contains(status)).collect();
    assert!(unexpected.is_empty(), "the console logged errors: {unexpected:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_silences_watches_the_history_and_expires_the_silence() {
    let db = TestDb::new(DbKind::Sqlite).await;
    db.ensure_type("WEBHOOK").await;
    let receiver = Receiver::start().await;
    let topics = Topics::create(2).await;
    let (token, tenant) = (unique("console-token"), unique("console-tenant"));
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("[alarm_manager]\nenabled = true\n\n[api]\nenabled = true\ntokens = {token}:{tenant}\n\n[history]\nenabled = true\n");
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &extra)).await;
    let addr = app.http_addr().to_string();
    let api = ApiClient::new(&addr);
    let ops = api.create(&token, "/v2.0/notification-methods", json!({"name": "ops", "type": "WEBHOOK", "address": receiver.url("/ops")})).await["id"].as_str().unwrap().to_owned();
    let definition = api.create(&token, "/v2.0/alarm-definitions", json!({"name": "cpu", "expression": "avg(cpu.percent) > 90", "alarm_actions": [ops]})).await["id"].as_str().unwrap().to_owned();
    api.create(&token, "/v2.0/group-rules", json!({"name": "by-host", "expression": "group by hostname", "group_wait": "1s", "alarm_actions": [ops]})).await;
    rules_in_force(&addr, &db.db).await;

    // The console is served, locked to its own origin.
    let page = reqwest::get(format!("http://{addr}/ui/")).await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"), "{policy}");
    assert!(reqwest::get(format!("http://{addr}/")).await.unwrap().url().path().starts_with("/ui/"), "/ leads to the console");

    // Each transition is stamped when it is written: a silence judges a transition by its time.
    let produce = |alarm_id: &'static str, hostname: &'static str| {
        let (definition, tenant, alarm_topic) = (definition.clone(), tenant.clone(), topics.alarms.clone());
        async move {
            let now = chrono::Utc::now().timestamp_millis();
            let message = json!({"alarm-transitioned": {
                "tenantId": tenant, "alarmId": alarm_id, "alarmDefinitionId": definition,
                "metrics": [{"id": null, "name": "cpu.percent", "dimensions": {"hostname": hostname}}],
                "alarmName": format!("cpu high on {hostname}"), "alarmDescription": "", "oldState": "OK", "newState": "ALARM",
                "actionsEnabled": true, "stateChangeReason": "over 90", "severity": "HIGH", "link": null, "lifecycleState": null,
                "subAlarms": [], "timestamp": now,
            }});
            let b = broker();
            b.produce(&b.producer(), &alarm_topic, alarm_id, message.to_string().as_bytes()).await;
        }
    };
    produce("web-1-cpu", "web-1").await;

    let browser = Browser::start(1280, 800).await;
    browser.go(&format!("http://{addr}/ui/")).await;
    browser.type_into("#token", "not-a-token-of-anyone").await;
    browser.click("#sign-in").await;
    let refused = eventually(Duration::from_secs(10), "the refusal to show", || async {
        let text = browser.text("#sign-in-error").await;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(refused.to_lowercase().contains("token"), "a wrong token says why: {refused}");
    only_refusals(&browser, "status of 401").await;
    browser.type_into("#token", &token).await;
    browser.click("#sign-in").await;
    browser.element("#outcome-counts").await;

    // The first transition's notification is in the history and counted on the overview.
    eventually(Duration::from_secs(30), "the first notification on the overview", || async {
        browser.click("#refresh").await;
        let sent = browser.text("#outcome-counts [data-outcome=\"sent\"]").await;
        (!sent.starts_with('0') && sent.chars().any(|c| c.is_ascii_digit() && c != '0')).then_some(())
    })
    .await;
    screenshot(&browser, "overview").await;

    // A silence: the preview names the known alarm it would mute, then it is created.
    browser.go(&format!("http://{addr}/ui/#/silences")).await;
    browser.type_into("#silence-matchers", "hostname=web-1").await;
    browser.type_into("#silence-duration", "1h").await;
    browser.click("#silence-preview").await;
    let preview = browser.wait_for_text("#silence-preview-result", "would be muted").await;
    assert!(preview.starts_with("1 alarm would be muted"), "{preview}");
    browser.element("#silence-preview-result tr[data-alarm-id=\"web-1-cpu\"]").await;
    screenshot(&browser, "silence-preview").await;
    browser.type_into("#silence-name", "web-1 maintenance").await;
    browser.click("#silence-create").await;
    browser.wait_for_text("#silences-table", "web-1 maintenance").await;
    let silence_row = browser.run("const r = document.querySelector('#silences-table tr[data-silence-id]'); return r && r.dataset.silenceId;", json!([])).await;
    let silence_id = silence_row.as_str().expect("the new silence has a row").to_owned();
    screenshot(&browser, "silences").await;

    // Transitions through the broker, once the engines apply the new silence: web-1's is
    // silenced, web-2's is grouped, and the grouped notice shows up in the history.
    rules_in_force(&addr, &db.db).await;
    produce("web-1-disk", "web-1").await;
    produce("web-2-cpu", "web-2").await;
    browser.go(&format!("http://{addr}/ui/#/history?outcome=grouped")).await;
    eventually(Duration::from_secs(30), "the grouped notice in the history", || async {
        browser.click("#history-apply").await;
        let rows = browser.run("return Array.from(document.querySelectorAll('#history-table tr[data-outcome=\"grouped\"]')).map(r => r.innerText).join('\\n');", json!([])).await;
        rows.as_str().filter(|r| r.contains("group_notification_by-host_web-2_alarm")).map(str::to_owned)
    })
    .await;
    screenshot(&browser, "history").await;
    browser.go(&format!("http://{addr}/ui/#/history?outcome=silenced")).await;
    eventually(Duration::from_secs(20), "the silenced transition in the history", || async {
        browser.click("#history-apply").await;
        let silenced = browser.run("return Array.from(document.querySelectorAll('#history-table tr[data-outcome=\"silenced\"]')).map(r => r.innerText).join('\\n');", json!([])).await;
        silenced.as_str().filter(|r| r.contains("cpu high on web-1") && r.contains("web-1 maintenance")).map(str::to_owned)
    })
    .await;

    // Rules: the list, the API's validation message under the form, a test of a known alarm.
    browser.go(&format!("http://{addr}/ui/#/rules")).await;
    browser.wait_for_text("#group-rules-table", "group by hostname").await;
    screenshot(&browser, "rules").await;
    browser.type_into("#rule-name", "broken").await;
    browser.type_into("#rule-expression", "group hostname").await;
    browser.click("#rule-save").await;
    // The API's reason, shown inline under the form.
    browser.wait_for_text("#rule-form .error", "expression").await;
    only_refusals(&browser, "status of 422").await;
    browser.type_into("#rule-test-input", "web-2-cpu").await;
    browser.click("#rule-test").await;
    browser.wait_for_text("#rule-test-result", "by-host").await;
    screenshot(&browser, "rule-test").await;
    // A method's test send, answered in its row.
    browser.go(&format!("http://{addr}/ui/#/methods")).await;
    browser.wait_for_text("#methods-table", "ops").await;
    let posts = receiver.count();
    browser.click(&format!("#methods-table tr[data-method-id=\"{ops}\"] .send-test")).await;
    browser.wait_for_text(&format!("#methods-table tr[data-method-id=\"{ops}\"] .test-result"), "sent").await;
    assert_eq!(receiver.count(), posts + 1, "the test notification reached the method's address");
    screenshot(&browser, "methods").await;

    // Expire the silence: it leaves the list of current silences and is kept as expired.
    browser.go(&format!("http://{addr}/ui/#/silences")).await;
    browser.click(&format!("#silences-table tr[data-silence-id=\"{silence_id}\"] .expire")).await;
    eventually(Duration::from_secs(10), "the expired silence to leave the list", || async {
        let present = browser.run("return !!document.querySelector(`#silences-table tr[data-silence-id=\"${arguments[0]}\"]`);", json!([silence_id])).await;
        (present == json!(false)).then_some(())
    })
    .await;
    let (_, stored) = api.call(Some(&token), reqwest::Method::GET, &format!("/v2.0/silence-rules/{silence_id}"), None).await;
    let ends = chrono::DateTime::parse_from_rfc3339(stored["start_time"].as_str().unwrap()).unwrap().timestamp_millis()
        + tocsin::rules::duration::parse(stored["silence_duration"].as_str().unwrap()).unwrap().as_millis() as i64;
    assert!(ends <= chrono::Utc::now().timestamp_millis(), "the silence ends no later than now: {stored}");

    // Phone width: the overview fits without sideways scrolling of the page.
    browser.resize(375, 800).await;
    browser.go(&format!("http://{addr}/ui/#/overview")).await;
    browser.element("#outcome-counts").await;
    let overflow = browser.run("return document.documentElement.scrollWidth - window.innerWidth;", json!([])).await;
    assert!(overflow.as_i64().unwrap() <= 1, "the page scrolls sideways by {overflow} px at phone width");
    screenshot(&browser, "overview-phone").await;

    let errors = errors(&browser).await;
    assert!(errors.is_empty(), "the console logged errors: {errors:#?}");
    browser.close().await;
    app.shutdown().await.unwrap();
}
