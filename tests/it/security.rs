//! The tenant-facing surface, tried as a hostile tenant would: another tenant's objects on every
//! route and every database (and through the CLI), addresses that lead to the operator's
//! secrets, to the machine or its cloud, or to Tocsin itself, answers that never end, and more
//! objects and writes than a tenant may have. SECURITY.md says what each guard promises.

use crate::api::{refused, ApiServer, TENANT_A, TOKEN_A, TOKEN_B};
use crate::support::tocsin::{start_in_process, write_config, Process, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, Receiver, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use tocsin::rules::index::RuleIndex;

const WAIT: Duration = Duration::from_secs(40);

crate::on_every_database! {
    /// Tenant B, holding tenant A's ids, can read, list, change, delete, attach, detach or
    /// reference none of A's objects, through any route; its silences and inhibitions never
    /// touch A's alarms.
    async fn another_tenants_objects_are_out_of_reach_on_every_route(kind: DbKind) {
        let api = ApiServer::start(kind).await;
        let created = |answer: (StatusCode, Value)| {
            assert_eq!(answer.0, StatusCode::CREATED, "{}", answer.1);
            answer.1["id"].as_str().unwrap().to_owned()
        };
        let a_method = api.method(TOKEN_A, "a-hook").await;
        let b_method = api.method(TOKEN_B, "b-hook").await;
        let a_definition = created(api.a(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "a-cpu", "expression": "avg(cpu) > 1", "alarm_actions": [a_method]}))).await);
        let b_definition = created(api.b(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "b-cpu", "expression": "avg(cpu) > 1"}))).await);
        let a_group = created(api.a(Method::POST, "/v2.0/group-rules", Some(json!({"name": "a-group", "expression": "group by hostname", "alarm_actions": [a_method]}))).await);
        let a_inhibit = created(api.a(Method::POST, "/v2.0/inhibit-rules", Some(json!({"name": "a-inhibit", "expression": "source {severity=CRITICAL} targets {severity=LOW} group by hostname"}))).await);
        let a_silence = created(api.a(Method::POST, "/v2.0/silence-rules", Some(json!({"name": "a-silence", "expression": "targets {hostname=host9}"}))).await);
        let a_paths = [
            format!("/v2.0/notification-methods/{a_method}"),
            format!("/v2.0/alarm-definitions/{a_definition}"),
            format!("/v2.0/alarm-definitions/{a_definition}/actions"),
            format!("/v2.0/group-rules/{a_group}"),
            format!("/v2.0/inhibit-rules/{a_inhibit}"),
            format!("/v2.0/silence-rules/{a_silence}"),
        ];
        let before = as_a(&api, &a_paths).await;

        let not_found = StatusCode::NOT_FOUND;
        let method_path = format!("/v2.0/notification-methods/{a_method}");
        refused(&api.b(Method::GET, &method_path, None).await, not_found, &a_method);
        refused(&api.b(Method::PUT, &method_path, Some(json!({"name": "x", "type": "WEBHOOK", "address": "http://127.0.0.1:9/", "period": 0}))).await, not_found, &a_method);
        refused(&api.b(Method::PATCH, &method_path, Some(json!({"address": "http://127.0.0.1:9/stolen"}))).await, not_found, &a_method);
        refused(&api.b(Method::DELETE, &method_path, None).await, not_found, &a_method);
        refused(&api.b(Method::GET, &format!("/v2.0/alarm-definitions/{a_definition}"), None).await, not_found, &a_definition);
        let actions = format!("/v2.0/alarm-definitions/{a_definition}/actions");
        refused(&api.b(Method::GET, &actions, None).await, not_found, &a_definition);
        refused(&api.b(Method::PUT, &actions, Some(json!({"alarm_actions": [b_method]}))).await, not_found, &a_definition);
        refused(&api.b(Method::PUT, &actions, Some(json!({"alarm_actions": []}))).await, not_found, &a_definition);
        for (resource, id) in [("group-rules", &a_group), ("inhibit-rules", &a_inhibit), ("silence-rules", &a_silence)] {
            let path = format!("/v2.0/{resource}/{id}");
            refused(&api.b(Method::GET, &path, None).await, not_found, id);
            refused(&api.b(Method::PUT, &path, Some(json!({"name": "stolen"}))).await, not_found, id);
            refused(&api.b(Method::PATCH, &path, Some(json!({"name": "stolen"}))).await, not_found, id);
            refused(&api.b(Method::DELETE, &path, None).await, not_found, id);
            let (status, list) = api.b(Method::GET, &format!("/v2.0/{resource}"), None).await;
            assert_eq!((status, list["elements"].clone()), (StatusCode::OK, json!([])), "{resource}");
        }
        for resource in ["notification-methods", "alarm-definitions"] {
            let (_, list) = api.b(Method::GET, &format!("/v2.0/{resource}"), None).await;
            let ids: Vec<&str> = list["elements"].as_array().unwrap().iter().filter_map(|e| e["id"].as_str()).collect();
            assert!(!ids.contains(&a_method.as_str()) && !ids.contains(&a_definition.as_str()), "{resource}: {ids:?}");
        }
        // A's method referenced in B's own objects.
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        let not_theirs = format!("Non-existent notification id {a_method}");
        refused(&api.b(Method::POST, "/v2.0/group-rules", Some(json!({"name": "steal", "expression": "group by a", "alarm_actions": [a_method]}))).await, unprocessable, &not_theirs);
        refused(&api.b(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "steal", "expression": "x > 1", "ok_actions": [a_method]}))).await, unprocessable, &not_theirs);
        refused(&api.b(Method::PUT, &format!("/v2.0/alarm-definitions/{b_definition}/actions"), Some(json!({"alarm_actions": [a_method]}))).await, unprocessable, &not_theirs);

        // The CLI is a client of the same API, with the same answers.
        let cli = |args: Vec<String>| {
            let base = api.client.base.clone();
            async move {
                let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
                    .args(&args)
                    .env("TOCSIN_API_URL", base)
                    .env("TOCSIN_TOKEN", TOKEN_B)
                    .output()
                    .await
                    .unwrap();
                (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
            }
        };
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        for args in [
            s(&["methods", "attach", "--definition", &a_definition, "--state", "ALARM", &b_method]),
            s(&["methods", "detach", "--definition", &a_definition, "--state", "ALARM", &a_method]),
            s(&["methods", "delete", &a_method]),
            s(&["methods", "show", &a_method]),
            s(&["rules", "delete", "group", &a_group]),
            s(&["rules", "update", "inhibit", &a_inhibit, "--name", "stolen"]),
            s(&["silence", "expire", &a_silence]),
        ] {
            let (ok, stderr) = cli(args.clone()).await;
            assert!(!ok && stderr.contains("404"), "tocsin {args:?} as tenant B: {stderr}");
        }

        assert_eq!(before, as_a(&api, &a_paths).await, "nothing of tenant A's changed");

        // B's rules that would match A's alarms never apply to them.
        created(api.b(Method::POST, "/v2.0/silence-rules", Some(json!({"name": "mute-all", "expression": "targets {hostname=host1}"}))).await);
        created(api.b(Method::POST, "/v2.0/inhibit-rules", Some(json!({"name": "inhibit-all", "expression": "source {severity=LOW} targets {severity=LOW}"}))).await);
        let index = RuleIndex::from_rules(api.store.load_all().await.unwrap());
        let mut raw = alarm_message("a-alarm", &a_definition, "ALARM")["alarm-transitioned"].as_object().unwrap().clone();
        raw.insert("tenantId".into(), json!(TENANT_A));
        raw.insert("metrics".into(), json!([{"id": null, "name": "cpu", "dimensions": {"hostname": "host1"}}]));
        let a_alarm = tocsin::ingest::transition(raw).unwrap();
        assert!(index.silences_for(&a_alarm).is_empty(), "B's silence never mutes A's alarm");
        assert!(index.inhibits_as_target(&a_alarm).iter().all(|r| r.meta.tenant_id == TENANT_A), "B's inhibitions never hold A's alarm");
        assert!(index.inhibits_as_source(&a_alarm).iter().all(|r| r.meta.tenant_id == TENANT_A));
    }
}

/// What tenant A reads at each path.
async fn as_a(api: &ApiServer, paths: &[String]) -> Vec<Value> {
    let mut answers = Vec::new();
    for path in paths {
        let (status, body) = api.a(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        answers.push(body);
    }
    answers
}

/// A configuration with every plugin whose address a tenant writes, Keystone auth for webhooks
/// limited to one host, and Jira credentials limited to one server.
fn every_plugin_config() -> tocsin::app::Config {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.conf");
    std::fs::write(
        &file,
        "[notification_types]\nenabled = webhook, slack, hipchat, jira, pagerduty, email\n\
         [keystone]\nauth_required = true\nwebhook_hosts = https://hooks.example.com\n\
         [jira_notifier]\nuser = monasca\npassword = jira-secret\nservers = https://jira.example.com\n",
    )
    .unwrap();
    tocsin::app::Config::load(&file).unwrap()
}

/// Every method type's address is checked before it is stored: by its plugin (the operator's
/// credentials only where the operator said), and by the network guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_address_is_checked_before_it_is_stored() {
    let config = every_plugin_config();
    let tokens = [(TOKEN_A, TENANT_A)].map(|(t, n)| (tocsin::config::Secret::new(t), n.to_owned()));
    let auth = std::sync::Arc::new(tocsin::api::auth::ConfiguredTokens::new(&tokens));
    let api = ApiServer::start_configured(DbKind::Sqlite, auth, &config).await;
    for kind in ["SLACK", "HIPCHAT", "JIRA", "PAGERDUTY"] {
        api.db.ensure_type(kind).await;
    }
    let post = |kind: &str, address: &str| {
        let body = json!({"name": format!("{kind}-{}", address.len()), "type": kind, "address": address});
        let api = &api;
        async move { api.a(Method::POST, "/v2.0/notification-methods", Some(body)).await }
    };
    let bad = StatusCode::BAD_REQUEST;
    refused(&post("SLACK", "not a url").await, bad, "Address is not usable: the address is not an http:// or https:// URL");
    refused(&post("HIPCHAT", "https://chat.example/v2/room/1/notification").await, bad, "needs ?auth_token");
    refused(&post("PAGERDUTY", "a key with spaces").await, bad, "the integration key");
    refused(&post("JIRA", "https://jira.example.com/").await, bad, "no project");
    refused(&post("JIRA", "https://jira.evil.example/?project=OPS").await, bad, "is not one of [jira_notifier] servers (https://jira.example.com:443)");
    refused(&post("WEBHOOK", "https://collector.evil.example/hook").await, bad, "is not one of [keystone] webhook_hosts");
    // Where the address leads: the cloud's metadata service, this machine over IPv6.
    refused(&post("SLACK", "http://169.254.169.254/latest/meta-data/").await, bad, "a link-local address");
    refused(&post("SLACK", "http://169.254.169.254/latest/meta-data/").await, bad, "unless [network] allow lists it");
    refused(&post("HIPCHAT", "http://[::1]:8085/v2/room/1/notification?auth_token=t").await, bad, "a loopback address");
    let (methods, _) = api.a(Method::GET, "/v2.0/notification-methods", None).await;
    assert_eq!(methods, StatusCode::OK);
    assert_eq!(api.a(Method::GET, "/v2.0/notification-methods", None).await.1["elements"], json!([]), "nothing refused was stored");

    for (kind, address) in [
        ("JIRA", "https://jira.example.com/?project=OPS"),
        ("WEBHOOK", "https://hooks.example.com/ops"),
        ("PAGERDUTY", "0123456789abcdef0123456789abcdef"),
        ("SLACK", "https://hooks.slack.com/services/T0/B0/secret"),
    ] {
        let answer = post(kind, address).await;
        assert_eq!(answer.0, StatusCode::CREATED, "{kind} {address}: {}", answer.1);
    }
}

/// The configuration of the end-to-end credential tests: a fake Keystone, webhook auth for the
/// `trusted` receiver only, Jira credentials for the `jira` server only, fast retries.
async fn credential_config(dir: &std::path::Path, topics: &Topics, db: &TestDb, trusted: &Receiver, jira: &Receiver) -> std::path::PathBuf {
    let keystone = axum::Router::new().route(
        "/v3/auth/tokens",
        axum::routing::post(|| async {
            (axum::http::StatusCode::CREATED, [("X-Subject-Token", "operator-service-token")], axum::Json(json!({"token": {"expires_at": "2099-01-01T00:00:00Z"}})))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let keystone_url = format!("http://{}/v3", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, keystone).await.unwrap() });
    let extra = format!(
        "[notification_types]\nenabled = webhook, jira\n\n\
         [keystone]\nauth_required = true\nwebhook_hosts = {}\nauth_url = {keystone_url}\n\n\
         [jira_notifier]\nuser = monasca\npassword = jira-secret-pw\nservers = {}\n\n\
         [retry_engine]\nenabled = true\ninterval = 200ms\nmax_attempts = 2\n",
        trusted.url(""),
        jira.url(""),
    );
    write_config(dir, topics, &db.url, &extra)
}

/// Methods written behind the API's back (straight into the database, as an older API or a
/// migration might) still cannot make Tocsin hand the operator's credentials to another host:
/// the send fails permanently, is dead-lettered with the reason, and the other host sees
/// nothing, not even a redirect hop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_credentials_go_only_to_the_hosts_the_operator_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let trusted = Receiver::start().await;
    let evil = Receiver::start().await;
    let jira = Receiver::start().await;
    // The trusted host redirects one path to the evil one.
    let redirector = axum::Router::new().fallback({
        let target = evil.url("/via-redirect");
        move || async move { (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, target)]) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirecting = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirector).await.unwrap() });

    let topics = Topics::create(1).await;
    let mut config_text = std::fs::read_to_string(credential_config(dir.path(), &topics, &db, &trusted, &jira).await).unwrap();
    config_text = config_text.replace(&format!("webhook_hosts = {}", trusted.url("")), &format!("webhook_hosts = {}, {redirecting}", trusted.url("")));
    let config = dir.path().join("credentials.conf");
    std::fs::write(&config, config_text).unwrap();
    db.add_definition("def-cred").await;
    for (method, kind, address) in [
        ("m-trusted", "WEBHOOK", trusted.url("/ok")),
        ("m-evil", "WEBHOOK", evil.url("/direct")),
        ("m-redirect", "WEBHOOK", format!("{redirecting}/hop")),
        ("m-evil-jira", "JIRA", format!("{}?project=OPS", evil.url("/"))),
    ] {
        db.add_method(method, kind, method, &address, 0).await;
        db.attach("def-cred", "ALARM", method).await;
    }
    let app = start_in_process(&config).await;
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, "cred", alarm_message("alarm-cred", "def-cred", "ALARM").to_string().as_bytes()).await;

    let dead = b.read(&topics.retry_dead, 3, WAIT);
    assert_eq!(dead.len(), 3, "the three refused sends are given up: {dead:?}");
    let reason = |method: &str| {
        dead.iter().find(|r| serde_json::from_str::<Value>(&r.payload).unwrap()["id"] == method).map(|r| r.headers["tocsin.error"].clone()).unwrap_or_default()
    };
    assert!(reason("m-evil").contains("is not one of [keystone] webhook_hosts"), "{}", reason("m-evil"));
    assert!(reason("m-evil-jira").contains("is not one of [jira_notifier] servers"), "{}", reason("m-evil-jira"));
    assert!(reason("m-redirect").contains("302") && reason("m-redirect").contains("redirect that was not followed"), "{}", reason("m-redirect"));
    for r in &dead {
        assert!(r.headers["tocsin.error"].starts_with("permanent error"), "not retried: {:?}", r.headers);
    }
    assert_eq!(trusted.count(), 1);
    assert_eq!(trusted.requests()[0].headers["x-auth-token"], "operator-service-token", "the named host gets the token");
    assert_eq!(evil.count(), 0, "no request, no token, no password ever reached the other host: {:?}", evil.requests());
    app.shutdown().await.unwrap();
}

/// An existing Monasca INI with `auth_required = True` and no `webhook_hosts` still starts; the
/// token is withheld from every post and the log says so once, with why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_required_without_a_host_list_starts_and_withholds_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    db.definition_with_method("def-old", "m-old", "WEBHOOK", &hook.url("/"), &["ALARM"]).await;
    let topics = Topics::create(1).await;
    let config = write_config(dir.path(), &topics, &db.url, "[keystone]\nauth_required = True\nauth_url = http://127.0.0.1:9/v3\n");
    let tocsin = Process::spawn(&config);
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, "old", alarm_message("alarm-old", "def-old", "ALARM").to_string().as_bytes()).await;
    eventually(WAIT, "the post", || async { (hook.count() == 1).then_some(()) }).await;
    assert!(!hook.requests()[0].headers.contains_key("x-auth-token"), "no token without a host list");
    let log = tocsin.log_text();
    assert_eq!(log.matches("[keystone] webhook_hosts is empty: webhook posts carry no X-Auth-Token").count(), 1, "{log}");
}

/// No send reaches the cloud's metadata service, Tocsin's own listener, or this machine through
/// a name that resolves to it or a redirect that leads there, even with loopback allowed for
/// the test's receivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_send_reaches_metadata_services_tocsin_itself_or_denied_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    let redirector = axum::Router::new().fallback(|| async { (axum::http::StatusCode::TEMPORARY_REDIRECT, [(axum::http::header::LOCATION, "http://169.254.169.254/latest/meta-data/")]) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirecting = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirector).await.unwrap() });
    let topics = Topics::create(1).await;
    // Loopback is allowed by the test harness; localhost is not 127.0.0.2.
    let retry = "[retry_engine]\nenabled = true\ninterval = 200ms\nmax_attempts = 1\n";
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, retry)).await;
    let own = app.http_addr();
    db.add_definition("def-ssrf").await;
    let cases = [
        ("m-metadata", "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(), "a link-local address"),
        ("m-own", format!("http://{own}/v2.0/notification-methods"), "Tocsin's own listener"),
        ("m-redirect", format!("{redirecting}/x"), "a link-local address"),
        ("m-fine", hook.url("/fine"), ""),
    ];
    for (method, address, _) in &cases {
        db.add_method(method, "WEBHOOK", method, address, 0).await;
        db.attach("def-ssrf", "ALARM", method).await;
    }
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, "ssrf", alarm_message("alarm-ssrf", "def-ssrf", "ALARM").to_string().as_bytes()).await;
    let dead = b.read(&topics.retry_dead, 3, WAIT);
    assert_eq!(dead.len(), 3, "{dead:?}");
    for (method, _, why) in cases.iter().filter(|c| !c.2.is_empty()) {
        let record = dead.iter().find(|r| serde_json::from_str::<Value>(&r.payload).unwrap()["id"] == *method).unwrap_or_else(|| panic!("{method} not dead-lettered"));
        let error = &record.headers["tocsin.error"];
        assert!(error.starts_with("permanent error: invalid: refused to send to") && error.contains(why), "{method}: {error}");
    }
    assert_eq!(hook.count(), 1, "the allowed receiver still gets its post");
    app.shutdown().await.unwrap();

    // A name is judged by the addresses it resolves to: with only 127.0.0.2 allowed, localhost
    // (127.0.0.1) is refused.
    let defaults = tocsin::app::Config::from_source(&tocsin::config::Source::default()).unwrap();
    let narrow = tocsin::netguard::Guard::new(tocsin::netguard::NetworkPolicy { allow_networks: vec!["127.0.0.2/32".parse().unwrap()], ..Default::default() }, vec![]);
    let plugins = tocsin::plugins::Registry::build(&defaults.plugins, 1, &narrow).unwrap();
    let method = tocsin::model::NotificationMethod { id: "m".into(), kind: "webhook".into(), name: None, address: Some(format!("http://localhost:{}/", hook.addr.port())), period: 0 };
    let alarm = tocsin::ingest::decode(Some(alarm_message("a", "d", "ALARM").to_string().as_bytes()), 1 << 20).unwrap();
    let error = plugins.get("webhook").unwrap().send(&tocsin::model::Notification::new(method, std::sync::Arc::new(alarm))).await.unwrap_err();
    assert!(!error.retryable && error.detail.contains("localhost resolves to 127.0.0.1, a loopback address"), "{error}");
    assert_eq!(hook.count(), 1);
}

/// A receiver that answers with an endless body: Tocsin reads at most 64 KiB of it and drops
/// the connection, so no receiver can fill its memory; the send is judged on what was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_answers_are_cut_and_their_connection_dropped() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let written = Arc::new(AtomicUsize::new(0));
    let hung_up = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (counter, hangups) = (written.clone(), hung_up.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (counter, hangups) = (counter.clone(), hangups.clone());
            tokio::spawn(async move {
                let mut request = [0u8; 8192];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
                // Stops only when the client has gone: at most 1 GiB.
                for _ in 0..65_536 {
                    if socket.write_all(chunk.as_bytes()).await.is_err() {
                        hangups.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    counter.fetch_add(16 * 1024, Ordering::SeqCst);
                }
            });
        }
    });
    let config = every_plugin_config();
    let plugins = tocsin::plugins::Registry::build(&config.plugins, 1, &crate::support::loopback_guard()).unwrap();
    let alarm = Arc::new(tocsin::ingest::decode(Some(alarm_message("a", "d", "ALARM").to_string().as_bytes()), 1 << 20).unwrap());
    let notification = |kind: &str| {
        let method = tocsin::model::NotificationMethod { id: "m".into(), kind: kind.into(), name: None, address: Some(format!("http://{address}/hook")), period: 0 };
        tocsin::model::Notification::new(method, alarm.clone())
    };

    // every_plugin_config's webhook posts only to its webhook_hosts: a plain one answers here.
    let plain = tocsin::app::Config::from_source(&tocsin::config::Source::default()).unwrap();
    let plain = tocsin::plugins::Registry::build(&plain.plugins, 1, &crate::support::loopback_guard()).unwrap();
    let receipt = plain.get("webhook").unwrap().send(&notification("webhook")).await.expect("a 2xx answer is a sent notification");
    assert!(receipt.answer.starts_with("HTTP 200: xxx"), "{}", receipt.answer);
    let slack = plugins.get("slack").unwrap().send(&notification("slack")).await.unwrap_err();
    assert!(slack.detail.contains("answered more than 65536 bytes"), "{slack}");
    crate::support::eventually(Duration::from_secs(10), "the server to see both connections closed", || async {
        (hung_up.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 16 << 20, "the server could write {sent} bytes before Tocsin hung up");
}

/// Quotas: each tenant may own so many methods, rules and definitions; writes are budgeted per
/// tenant per minute. Another tenant is never slowed or refused by the first one's use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_and_the_write_budget_bound_each_tenant_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("limits.conf");
    std::fs::write(&file, "[api]\nmax_methods_per_tenant = 2\nmax_rules_per_tenant = 2\nmax_definitions_per_tenant = 1\nwrites_per_minute = 9\n").unwrap();
    let config = tocsin::app::Config::load(&file).unwrap();
    let tokens = [(TOKEN_A, TENANT_A), (TOKEN_B, "tenant-b")].map(|(t, n)| (tocsin::config::Secret::new(t), n.to_owned()));
    let api = ApiServer::start_configured(DbKind::Sqlite, std::sync::Arc::new(tocsin::api::auth::ConfiguredTokens::new(&tokens)), &config).await;
    let forbidden = StatusCode::FORBIDDEN;
    api.method(TOKEN_A, "one").await;
    api.method(TOKEN_A, "two").await;
    refused(&api.a(Method::POST, "/v2.0/notification-methods", Some(json!({"name": "three", "type": "WEBHOOK", "address": "http://127.0.0.1:9/"}))).await, forbidden, "[api] max_methods_per_tenant = 2");
    api.method(TOKEN_B, "one").await;
    for name in ["g1", "g2"] {
        assert_eq!(api.a(Method::POST, "/v2.0/group-rules", Some(json!({"name": name, "expression": "group by a"}))).await.0, StatusCode::CREATED);
    }
    refused(&api.a(Method::POST, "/v2.0/silence-rules", Some(json!({"name": "s", "expression": "targets {a=b}"}))).await, forbidden, "[api] max_rules_per_tenant = 2");
    assert_eq!(api.a(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "d1", "expression": "x > 1"}))).await.0, StatusCode::CREATED);
    refused(&api.a(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "d2", "expression": "x > 1"}))).await, forbidden, "[api] max_definitions_per_tenant = 1");
    // Eight writes so far (refused ones count): one more, then 429 with when to come back.
    assert_eq!(api.a(Method::DELETE, "/v2.0/group-rules/none", None).await.0, StatusCode::NOT_FOUND);
    let response = api.client.request(Some(TOKEN_A), Method::POST, "/v2.0/group-rules").json(&json!({"name": "g3"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(response.text().await.unwrap().contains("This tenant may make 9 writes per minute"));
    assert_eq!(api.a(Method::GET, "/v2.0/group-rules", None).await.0, StatusCode::OK, "reads are not budgeted");
    assert_eq!(api.b(Method::POST, "/v2.0/group-rules", Some(json!({"name": "g", "expression": "group by a"}))).await.0, StatusCode::CREATED, "tenant B is unaffected");
}

/// Lists filter by name before paging; a rule whose stored expression would not fit its column
/// is refused with a 422 instead of failing in the database or being cut short there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_filter_before_paging_and_expressions_fit_their_column() {
    let api = ApiServer::start(DbKind::Postgres).await;
    for name in ["a", "b", "c", "x"] {
        api.method(TOKEN_A, name).await;
        assert_eq!(api.a(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": name, "expression": "x > 1"}))).await.0, StatusCode::CREATED);
        assert_eq!(api.a(Method::POST, "/v2.0/group-rules", Some(json!({"name": name, "expression": "group by a"}))).await.0, StatusCode::CREATED);
    }
    for resource in ["notification-methods", "alarm-definitions", "group-rules"] {
        let (_, page) = api.a(Method::GET, &format!("/v2.0/{resource}?name=x&limit=1"), None).await;
        let names: Vec<&str> = page["elements"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
        assert_eq!(names, ["x"], "{resource}");
    }
    let keys: Vec<String> = (0..30).map(|n| format!("dimension_with_a_rather_long_name_{n:02}")).collect();
    refused(
        &api.a(Method::POST, "/v2.0/group-rules", Some(json!({"name": "long", "matchers": keys}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at most 1024 fit",
    );
    let (_, list) = api.a(Method::GET, "/v2.0/group-rules?name=long", None).await;
    assert_eq!(list["elements"], json!([]));
}

/// `/healthz` tells anyone whether the instance works, never why in the words of an error
/// (which can name hosts, users and databases).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_in_fixed_words() {
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::create(1).await;
    let app = start_in_process(&write_config(dir.path(), &topics, "mysql://tocsin_user:hunter2@127.0.0.1:1/secret_db", "")).await;
    let response = reqwest::get(format!("http://{}/healthz", app.http_addr())).await.unwrap();
    assert_eq!(response.status(), 503);
    let body = response.text().await.unwrap();
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((&health["status"], &health["broker"], &health["publishing"]), (&json!("unavailable"), &json!("ok"), &json!("ok")), "{body}");
    assert!(["unavailable", "timeout"].contains(&health["database"].as_str().unwrap()), "{body}");
    for detail in ["tocsin_user", "hunter2", "secret_db", "127.0.0.1:1", "refused"] {
        assert!(!body.contains(detail), "{detail} in {body}");
    }
    app.shutdown().await.unwrap();
}

crate::on_every_database! {
    /// A write marks only its tenant's rules as changed: engines reload that tenant, not all.
    async fn a_rule_write_reloads_only_its_tenant(kind: DbKind) {
        let api = ApiServer::start(kind).await;
        assert_eq!(api.a(Method::POST, "/v2.0/group-rules", Some(json!({"name": "a", "expression": "group by a"}))).await.0, StatusCode::CREATED);
        let after_a = api.store.revision().await.unwrap();
        assert_eq!(api.store.changed_since(after_a - 1).await.unwrap(), [TENANT_A]);
        assert_eq!(api.b(Method::POST, "/v2.0/silence-rules", Some(json!({"name": "b", "expression": "targets {a=b}"}))).await.0, StatusCode::CREATED);
        assert_eq!(api.store.changed_since(after_a).await.unwrap(), ["tenant-b"], "only B changed since A's write");
        let b_rules = api.store.load_tenant("tenant-b").await.unwrap();
        assert_eq!(b_rules.iter().map(|r| r.meta().name.as_str()).collect::<Vec<_>>(), ["b"]);

        // Following the store, B's write reaches the index without touching A's rules.
        let live = tocsin::rules::live::LiveRules::default();
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(live.clone().follow(api.store.clone(), Duration::from_millis(50), tocsin::telemetry::Metrics::new(), stop.clone()));
        live.loaded().await;
        let a_rule = live.current().tenant_rules(TENANT_A)[0].meta().id.clone();
        assert_eq!(api.b(Method::POST, "/v2.0/group-rules", Some(json!({"name": "b2", "expression": "group by b"}))).await.0, StatusCode::CREATED);
        eventually(WAIT, "B's new rule in the live index", || async { (live.current().tenant_rules("tenant-b").len() == 2).then_some(()) }).await;
        assert_eq!(live.current().tenant_rules(TENANT_A).iter().map(|r| r.meta().id.clone()).collect::<Vec<_>>(), [a_rule]);
        stop.cancel();
    }
}
