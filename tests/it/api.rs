//! The REST API over real HTTP on loopback, on real MariaDB, PostgreSQL and SQLite databases:
//! every route's success and failure codes, validation messages that say what to fix, tenant
//! isolation, and that a refused request writes nothing. The router is Tocsin's own
//! (`tocsin::api::router`) served by axum, as `tocsin run` serves it; no broker is involved.

use crate::support::api::ApiClient;
use crate::support::{DbKind, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tocsin::api::auth::ConfiguredTokens;
use tocsin::api::ApiState;
use tocsin::rules::index::RuleIndex;
use tocsin::rules::store::RuleStore;

pub struct ApiServer {
    pub client: ApiClient,
    pub db: TestDb,
    pub store: RuleStore,
    pub history: tocsin::history::store::HistoryStore,
    pub manager_state: tocsin::engines::manager::persist::StateStore,
    /// The rules in force, polled every 100 ms as the engines poll them.
    pub rules: tocsin::rules::live::LiveRules,
}

pub const TOKEN_A: &str = "token-of-a";
pub const TOKEN_B: &str = "token-of-b";
pub const TENANT_A: &str = "tenant-a";
pub const TENANT_B: &str = "tenant-b";

impl ApiServer {
    pub async fn start(kind: DbKind) -> ApiServer {
        let tokens = [(TOKEN_A, TENANT_A), (TOKEN_B, TENANT_B)].map(|(t, n)| (tocsin::config::Secret::new(t), n.to_owned()));
        ApiServer::start_with(kind, Arc::new(ConfiguredTokens::new(&tokens))).await
    }

    pub async fn start_with(kind: DbKind, auth: Arc<dyn tocsin::api::auth::Authenticator>) -> ApiServer {
        // The defaults of a configuration file without an [api] section: its limits, and the
        // email, PagerDuty and webhook plugins.
        let defaults = tocsin::app::Config::from_source(&tocsin::config::Source::default()).unwrap();
        ApiServer::start_configured(kind, auth, &defaults).await
    }

    /// As [`ApiServer::start_with`], with the limits and plugins of `config`.
    pub async fn start_configured(kind: DbKind, auth: Arc<dyn tocsin::api::auth::Authenticator>, config: &tocsin::app::Config) -> ApiServer {
        let db = TestDb::new(kind).await;
        db.ensure_type("WEBHOOK").await;
        db.ensure_type("EMAIL").await;
        let store = RuleStore::new(db.db.clone());
        store.init_schema().await.unwrap();
        let history = tocsin::history::store::HistoryStore::new(db.db.clone());
        history.init_schema().await.unwrap();
        let manager_state = tocsin::engines::manager::persist::StateStore::new(db.db.clone());
        manager_state.init_schema().await.unwrap();
        let rules = tocsin::rules::live::LiveRules::default();
        rules.start(store.clone(), std::time::Duration::from_millis(100), tocsin::telemetry::Metrics::new(), tokio_util::sync::CancellationToken::new()).await;
        let guard = crate::support::loopback_guard();
        let plugins = tocsin::plugins::Registry::build(&config.plugins, 4, &guard).unwrap();
        let router = tocsin::api::router(ApiState {
            store: store.clone(),
            methods: tocsin::db::methods::MethodStore::new(db.db.clone()),
            definitions: tocsin::db::definitions::DefinitionStore::new(db.db.clone()),
            db: db.db.clone(),
            auth,
            valid_periods: vec![0, 60],
            plugins,
            guard,
            limits: config.api.limits.clone(),
            writes: Arc::new(tocsin::api::limits::WriteLimiter::new(config.api.limits.writes_per_minute)),
            history: history.clone(),
            manager_state: manager_state.clone(),
            rules: rules.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        ApiServer { client: ApiClient::new(&addr.to_string()), db, store, history, manager_state, rules }
    }

    /// See [`ApiClient::call`].
    pub async fn call(&self, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.client.call(token, method, path, body).await
    }

    pub async fn a(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(Some(TOKEN_A), method, path, body).await
    }

    pub async fn b(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(Some(TOKEN_B), method, path, body).await
    }

    /// A webhook method of the tenant of `token`; its id.
    pub async fn method(&self, token: &str, name: &str) -> String {
        let (status, body) = self
            .call(Some(token), Method::POST, "/v2.0/notification-methods", Some(json!({"name": name, "type": "WEBHOOK", "address": "http://127.0.0.1:9/hook"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn revision(&self) -> i64 {
        self.store.revision().await.unwrap()
    }
}

/// Asserts a 4xx whose description contains `needle`.
#[track_caller]
pub fn refused(answer: &(StatusCode, Value), status: StatusCode, needle: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let description = answer.1["description"].as_str().unwrap_or_default();
    assert!(description.contains(needle), "description {description:?} does not say {needle:?}");
}

async fn group_rule_lifecycle(kind: DbKind) {
    let api = ApiServer::start(kind).await;
    let page = api.method(TOKEN_A, "page-ops").await;
    let mail = api.method(TOKEN_A, "mail-ops").await;
    let before = api.revision().await;

    let (status, created) = api
        .a(Method::POST, "/v2.0/group-rules", Some(json!({"name": "by-host", "expression": "excluding {__alarmName__=cpu_too_high} group by hostname", "alarm_actions": [page]})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["group_wait"], "30s", "the default group_wait");
    assert_eq!(created["repeat_interval"], "2h", "the default repeat_interval");
    assert_eq!(created["description"], "");
    assert_eq!(created["matchers"], json!(["hostname"]));
    assert_eq!(created["exclusions"], json!({"__alarmName__": "cpu_too_high"}));
    assert_eq!(created["ok_actions"], json!([]));
    assert!(created["links"][0]["href"].as_str().unwrap().ends_with(&format!("/v2.0/group-rules/{id}")));
    assert!(api.revision().await > before, "a write bumps the revision the engines poll");

    let (status, read) = api.a(Method::GET, &format!("/v2.0/group-rules/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);

    let (status, list) = api.a(Method::GET, "/v2.0/group-rules?name=by-host", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["elements"].as_array().unwrap().len(), 1);
    let (_, list) = api.a(Method::GET, "/v2.0/group-rules?name=other", None).await;
    assert_eq!(list["elements"], json!([]));
    // A listed page carries each rule's own actions (read for the whole page at once).
    let (status, second) =
        api.a(Method::POST, "/v2.0/group-rules", Some(json!({"name": "by-service", "expression": "group by service", "ok_actions": [mail], "undetermined_actions": [page, mail]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let (_, list) = api.a(Method::GET, "/v2.0/group-rules", None).await;
    let actions: Vec<_> = list["elements"].as_array().unwrap().iter().map(|r| (r["name"].clone(), r["alarm_actions"].clone(), r["ok_actions"].clone(), r["undetermined_actions"].clone())).collect();
    let mut both = vec![page.clone(), mail.clone()];
    both.sort();
    assert_eq!(actions, [(json!("by-host"), json!([page]), json!([]), json!([])), (json!("by-service"), json!([]), json!([mail]), json!(both))]);
    let (status, _) = api.a(Method::DELETE, &format!("/v2.0/group-rules/{}", second["id"].as_str().unwrap()), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    refused(&api.a(Method::GET, "/v2.0/group-rules?offset=x", None).await, StatusCode::UNPROCESSABLE_ENTITY, "offset must be a whole number");

    // PUT replaces everything and must be given everything.
    refused(
        &api.a(Method::PUT, &format!("/v2.0/group-rules/{id}"), Some(json!({"name": "by-host", "expression": "excluding {__alarmName__=cpu_too_high} group by hostname"}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "group_wait is required",
    );
    let full = json!({
        "name": "by-host-2", "expression": "excluding {__alarmName__=cpu_too_high} group by hostname", "description": "hosts",
        "group_wait": "10s", "repeat_interval": "1h", "alarm_actions": [page], "ok_actions": [mail], "undetermined_actions": [],
    });
    let (status, replaced) = api.a(Method::PUT, &format!("/v2.0/group-rules/{id}"), Some(full)).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!((replaced["name"].clone(), replaced["group_wait"].clone(), replaced["ok_actions"].clone()), (json!("by-host-2"), json!("10s"), json!([mail])));

    // PATCH changes only what it names.
    let (status, patched) = api.a(Method::PATCH, &format!("/v2.0/group-rules/{id}"), Some(json!({"repeat_interval": "3h"}))).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!((patched["repeat_interval"].clone(), patched["group_wait"].clone(), patched["description"].clone()), (json!("3h"), json!("10s"), json!("hosts")));

    // The expression cannot change, in either form.
    refused(&api.a(Method::PATCH, &format!("/v2.0/group-rules/{id}"), Some(json!({"expression": "group by service"}))).await, StatusCode::UNPROCESSABLE_ENTITY, "must not change");
    refused(&api.a(Method::PATCH, &format!("/v2.0/group-rules/{id}"), Some(json!({"matchers": ["service"]}))).await, StatusCode::UNPROCESSABLE_ENTITY, "must not change");
    // Giving the same selectors in the JSON form is not a change.
    let (status, same) = api
        .a(Method::PATCH, &format!("/v2.0/group-rules/{id}"), Some(json!({"matchers": ["hostname"], "exclusions": {"alarm_name": "cpu_too_high"}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{same}");

    // The rule as the engines load it.
    let rules = api.store.load_all().await.unwrap();
    assert_eq!(rules.len(), 1);
    match &rules[0] {
        tocsin::rules::Rule::Group(rule) => {
            assert_eq!((rule.group_wait.as_secs(), rule.repeat_interval.as_secs()), (10, 3 * 3600));
            assert_eq!(rule.alarm_actions, vec![page.clone()]);
            assert_eq!(rule.meta.tenant_id, TENANT_A);
        }
        other => panic!("a group rule was stored, not {other:?}"),
    }

    // Deleting a method detaches it from the rule's actions.
    let (status, _) = api.a(Method::DELETE, &format!("/v2.0/notification-methods/{mail}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, read) = api.a(Method::GET, &format!("/v2.0/group-rules/{id}"), None).await;
    assert_eq!(read["ok_actions"], json!([]));

    let (status, _) = api.a(Method::DELETE, &format!("/v2.0/group-rules/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    refused(&api.a(Method::GET, &format!("/v2.0/group-rules/{id}"), None).await, StatusCode::NOT_FOUND, &id);
    refused(&api.a(Method::DELETE, &format!("/v2.0/group-rules/{id}"), None).await, StatusCode::NOT_FOUND, &id);
    refused(&api.a(Method::PUT, &format!("/v2.0/group-rules/{id}"), Some(json!({"name": "x"}))).await, StatusCode::NOT_FOUND, &id);
    assert!(api.store.load_all().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn group_rules_are_created_read_listed_replaced_patched_and_deleted_on_sqlite() {
    group_rule_lifecycle(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn group_rules_are_created_read_listed_replaced_patched_and_deleted_on_mariadb() {
    group_rule_lifecycle(DbKind::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn group_rules_are_created_read_listed_replaced_patched_and_deleted_on_postgresql() {
    group_rule_lifecycle(DbKind::Postgres).await;
}

async fn silence_and_inhibit_rules(kind: DbKind) {
    let api = ApiServer::start(kind).await;

    // The unit-test vector of the blueprint's API: defaults filled in, the expression parsed.
    let (status, silence) = api
        .a(Method::POST, "/v2.0/silence-rules", Some(json!({"name": "test_silence_rule", "expression": "targets cpu.percent", "start_time": "2017-04-10T10:42:10.685Z"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{silence}");
    assert_eq!(silence["matchers"], json!({"__metricName__": "cpu.percent"}));
    assert_eq!(silence["silence_duration"], "10m");
    assert_eq!(silence["start_time"], "2017-04-10T10:42:10.685Z");
    let silence_id = silence["id"].as_str().unwrap().to_owned();

    // The worked examples' spelling: "duration" and a space-separated UTC time.
    let (status, example) = api
        .a(Method::POST, "/v2.0/silence-rules", Some(json!({"name": "maintenance", "matchers": {"hostname": "host1"}, "start_time": "2017-02-21 20:00:00", "duration": "2h"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{example}");
    assert_eq!((example["start_time"].clone(), example["silence_duration"].clone()), (json!("2017-02-21T20:00:00.000Z"), json!("2h")));
    assert_eq!(example["expression"], "targets {hostname=host1}");

    let (status, patched) = api.a(Method::PATCH, &format!("/v2.0/silence-rules/{silence_id}"), Some(json!({"silence_duration": "1d"}))).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["silence_duration"], "1d");
    refused(&api.a(Method::PATCH, &format!("/v2.0/silence-rules/{silence_id}"), Some(json!({"start_time": "tomorrow"}))).await, StatusCode::UNPROCESSABLE_ENTITY, "start_time \"tomorrow\" is not a time");
    refused(&api.a(Method::PATCH, &format!("/v2.0/silence-rules/{silence_id}"), Some(json!({"silence_duration": "10 minutes"}))).await, StatusCode::UNPROCESSABLE_ENTITY, "silence_duration");

    let (status, inhibit) = api
        .a(
            Method::POST,
            "/v2.0/inhibit-rules",
            Some(json!({"name": "critical-mutes-low", "expression": "source {__severity__=CRITICAL} targets {__severity__=LOW} excluding {__alarmName__=cpu_too_high} group by __alarmName__, __metricName__, hostname"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inhibit}");
    assert_eq!(inhibit["source_match"], json!({"__severity__": "CRITICAL"}));
    assert_eq!(inhibit["target_match"], json!({"__severity__": "LOW"}));
    assert_eq!(inhibit["equal"], json!(["__alarmName__", "__metricName__", "hostname"]));
    let (status, json_form) = api
        .a(Method::POST, "/v2.0/inhibit-rules", Some(json!({"name": "json-form", "source_match": {"severity": "HIGH"}, "target_match": {"severity": "LOW"}, "equal": ["hostname"], "wait_time": "5s"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{json_form}");
    assert_eq!(json_form["expression"], "source {__severity__=HIGH} targets {__severity__=LOW} group by hostname");
    assert_eq!(json_form["wait_time"], "5s");

    let (_, list) = api.a(Method::GET, "/v2.0/inhibit-rules", None).await;
    assert_eq!(list["elements"].as_array().unwrap().len(), 2);
    let (_, list) = api.a(Method::GET, "/v2.0/silence-rules?limit=1", None).await;
    assert_eq!(list["elements"].as_array().unwrap().len(), 1);
    assert_eq!(api.store.load_all().await.unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn silence_and_inhibit_rules_take_both_forms_on_sqlite() {
    silence_and_inhibit_rules(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn silence_and_inhibit_rules_take_both_forms_on_mariadb() {
    silence_and_inhibit_rules(DbKind::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn silence_and_inhibit_rules_take_both_forms_on_postgresql() {
    silence_and_inhibit_rules(DbKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_request_says_what_to_fix_and_writes_nothing() {
    let api = ApiServer::start(DbKind::Sqlite).await;
    let own = api.method(TOKEN_A, "own").await;
    let theirs = api.method(TOKEN_B, "theirs").await;
    let before = api.revision().await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let post = |path: &'static str, body: Value| {
        let api = &api;
        async move { api.a(Method::POST, path, Some(body)).await }
    };

    // Authentication.
    refused(&api.call(None, Method::GET, "/v2.0/group-rules", None).await, StatusCode::UNAUTHORIZED, "X-Auth-Token header is required");
    refused(&api.call(Some("nobody"), Method::GET, "/v2.0/silence-rules", None).await, StatusCode::UNAUTHORIZED, "not valid");

    // Bodies.
    let status = api.client.request(Some(TOKEN_A), Method::POST, "/v2.0/group-rules").body("{not json").send().await.unwrap().status();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    refused(&post("/v2.0/group-rules", json!(["a list"])).await, unprocessable, "must be a JSON object");
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by a", "colour": "red"})).await, unprocessable, "Unknown field \"colour\"");
    refused(&post("/v2.0/group-rules", json!({"expression": "group by a"})).await, unprocessable, "name is required");
    refused(&post("/v2.0/group-rules", json!({"name": "r"})).await, unprocessable, "expression is required");
    refused(&post("/v2.0/group-rules", json!({"name": 7, "expression": "group by a"})).await, unprocessable, "name must be a string");
    refused(&post("/v2.0/group-rules", json!({"name": "x".repeat(256), "expression": "group by a"})).await, unprocessable, "name must be at most 255 characters");
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": format!("group by {}", "a".repeat(1100))})).await, unprocessable, "expression must be at most 1024");
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by a", "matchers": ["a"]})).await, unprocessable, "not both");

    // Expressions: the grammar of each kind.
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by"})).await, unprocessable, "expression:");
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "targets {a=b}"})).await, unprocessable, "expression:");
    refused(&post("/v2.0/silence-rules", json!({"name": "r", "expression": "group by hostname"})).await, unprocessable, "expression:");
    refused(&post("/v2.0/silence-rules", json!({"name": "r", "expression": "targets {hostname=}"})).await, unprocessable, "expression:");
    refused(&post("/v2.0/inhibit-rules", json!({"name": "r", "expression": "source {a=b"})).await, unprocessable, "expression:");
    refused(&post("/v2.0/group-rules", json!({"name": "r", "matchers": ["hostname", "hostname"]})).await, unprocessable, "twice");
    refused(&post("/v2.0/silence-rules", json!({"name": "r", "matchers": {"hostname": 3}})).await, unprocessable, "matchers.hostname must be a string");

    // Durations.
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by a", "group_wait": "soon"})).await, unprocessable, "group_wait:");
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by a", "repeat_interval": ""})).await, unprocessable, "repeat_interval:");
    refused(&post("/v2.0/inhibit-rules", json!({"name": "r", "expression": "source {a=b} targets {c=d}", "wait_time": "-5s"})).await, unprocessable, "wait_time:");
    refused(&post("/v2.0/silence-rules", json!({"name": "r", "expression": "targets {a=b}", "silence_duration": "12345678901234567"})).await, unprocessable, "silence_duration must be at most 16");
    refused(&post("/v2.0/silence-rules", json!({"name": "r", "expression": "targets {a=b}", "silence_duration": "99999999d"})).await, unprocessable, "at most 36525d");

    // Action ids: the tenant's own methods, each once, at most 50 characters.
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by a", "alarm_actions": [own, own]})).await, unprocessable, &format!("Duplicate ALARM notification method {own}"));
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by a", "ok_actions": ["no-such-method"]})).await, unprocessable, "Non-existent notification id no-such-method submitted for OK");
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by a", "undetermined_actions": [theirs]})).await, unprocessable, &format!("Non-existent notification id {theirs}"));
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by a", "alarm_actions": ["x".repeat(51)]})).await, unprocessable, "longer than 50 characters");
    refused(&post("/v2.0/group-rules", json!({"name": "r", "expression": "group by a", "alarm_actions": own})).await, unprocessable, "must be a list of strings");

    // Paths and methods the API does not have.
    refused(&api.a(Method::GET, "/v2.0/group-rule", None).await, StatusCode::NOT_FOUND, "the API's resources are");
    refused(&api.a(Method::DELETE, "/v2.0/group-rules", None).await, StatusCode::METHOD_NOT_ALLOWED, "DELETE is not supported on /v2.0/group-rules");

    // Paging.
    refused(&api.a(Method::GET, "/v2.0/inhibit-rules?limit=0", None).await, unprocessable, "limit must be between");

    // Names are unique per tenant.
    let (status, _) = post("/v2.0/silence-rules", json!({"name": "quiet", "expression": "targets {a=b}"})).await;
    assert_eq!(status, StatusCode::CREATED);
    refused(&post("/v2.0/silence-rules", json!({"name": "quiet", "expression": "targets {c=d}"})).await, StatusCode::CONFLICT, "A silence rule with the name quiet already exists");

    // Nothing but that one silence was written.
    let rules = api.store.load_all().await.unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(api.revision().await, before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_never_sees_changes_or_is_affected_by_another_tenants_rules() {
    let api = ApiServer::start(DbKind::Sqlite).await;
    let a_method = api.method(TOKEN_A, "pager").await;
    // The same name in another tenant is no conflict.
    api.method(TOKEN_B, "pager").await;
    let (status, a_rule) = api.a(Method::POST, "/v2.0/group-rules", Some(json!({"name": "hosts", "expression": "group by hostname", "alarm_actions": [a_method]}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let a_rule = a_rule["id"].as_str().unwrap().to_owned();
    let (status, _) = api.b(Method::POST, "/v2.0/group-rules", Some(json!({"name": "hosts", "expression": "group by service"}))).await;
    assert_eq!(status, StatusCode::CREATED, "names are unique per tenant only");
    let (status, b_silence) = api.b(Method::POST, "/v2.0/silence-rules", Some(json!({"name": "everything", "expression": "targets {hostname=host1}", "start_time": "2000-01-01T00:00:00Z", "silence_duration": "10000d"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{b_silence}");

    let path = format!("/v2.0/group-rules/{a_rule}");
    refused(&api.b(Method::GET, &path, None).await, StatusCode::NOT_FOUND, &a_rule);
    refused(&api.b(Method::PATCH, &path, Some(json!({"group_wait": "1s"}))).await, StatusCode::NOT_FOUND, &a_rule);
    refused(&api.b(Method::DELETE, &path, None).await, StatusCode::NOT_FOUND, &a_rule);
    let (_, b_list) = api.b(Method::GET, "/v2.0/group-rules", None).await;
    assert_eq!(b_list["elements"].as_array().unwrap().iter().map(|r| r["expression"].clone()).collect::<Vec<_>>(), vec![json!("group by service")]);
    refused(&api.b(Method::GET, &format!("/v2.0/notification-methods/{a_method}"), None).await, StatusCode::NOT_FOUND, &a_method);
    refused(&api.b(Method::DELETE, &format!("/v2.0/notification-methods/{a_method}"), None).await, StatusCode::NOT_FOUND, &a_method);
    let (_, a_read) = api.a(Method::GET, &path, None).await;
    assert_eq!((a_read["group_wait"].clone(), a_read["alarm_actions"].clone()), (json!("30s"), json!([a_method])), "B's attempts changed nothing");

    // B's silence matches host1 but never mutes A's alarm on host1; B's own alarm it does.
    let index = RuleIndex::from_rules(api.store.load_all().await.unwrap());
    let transition = |tenant: &str| {
        let raw = crate::support::alarm_message("alarm-1", "definition-1", "ALARM")["alarm-transitioned"].as_object().unwrap().clone();
        let mut raw = raw;
        raw.insert("tenantId".into(), json!(tenant));
        raw.insert("metrics".into(), json!([{"id": null, "name": "cpu.percent", "dimensions": {"hostname": "host1"}}]));
        tocsin::ingest::transition(raw).unwrap()
    };
    assert!(index.silences_for(&transition(TENANT_A)).is_empty());
    assert_eq!(index.silences_for(&transition(TENANT_B)).len(), 1);
    assert_eq!(index.groups_for(&transition(TENANT_A)).iter().map(|r| r.meta.id.clone()).collect::<Vec<_>>(), vec![a_rule]);
}

#[tokio::test(flavor = "multi_thread")]
async fn notification_methods_follow_monasca_api_shapes_and_validation() {
    let api = ApiServer::start(DbKind::Sqlite).await;
    let (status, created) = api
        .a(Method::POST, "/v2.0/notification-methods", Some(json!({"name": "ops hook", "type": "webhook", "address": "https://hooks.example.com/ops", "period": 60})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!((created["type"].clone(), created["period"].clone()), (json!("WEBHOOK"), json!(60)));
    let id = created["id"].as_str().unwrap().to_owned();
    let post = |body: Value| {
        let api = &api;
        async move { api.a(Method::POST, "/v2.0/notification-methods", Some(body)).await }
    };
    let bad = StatusCode::BAD_REQUEST;
    refused(&post(json!({"name": "n", "type": "CARRIER_PIGEON", "address": "loft 3"})).await, bad, "Not a valid notification method type CARRIER_PIGEON");
    refused(&post(json!({"name": "n", "type": "WEBHOOK", "address": "ftp://example.com/x"})).await, bad, "scheme is not in ['http', 'https']");
    refused(&post(json!({"name": "n", "type": "WEBHOOK", "address": "http://"})).await, bad, "does not have network location");
    refused(&post(json!({"name": "n", "type": "WEBHOOK", "address": "http://example.com", "period": 30})).await, bad, "30 is not in the configured list of valid periods");
    refused(&post(json!({"name": "n", "type": "WEBHOOK", "address": "http://example.com", "period": "soon"})).await, bad, "Period soon must be a valid integer");
    refused(&post(json!({"name": "n", "type": "EMAIL", "address": "not-an-address"})).await, bad, "Address not-an-address is not of correct format");
    refused(&post(json!({"name": "n", "type": "WEBHOOK"})).await, bad, "address is required");
    refused(&post(json!({"name": "ops hook", "type": "WEBHOOK", "address": "http://example.com"})).await, StatusCode::CONFLICT, "already exists");

    refused(&api.a(Method::PUT, &format!("/v2.0/notification-methods/{id}"), Some(json!({"name": "x", "type": "WEBHOOK", "address": "http://example.com"}))).await, bad, "Period is required");
    let (status, patched) = api.a(Method::PATCH, &format!("/v2.0/notification-methods/{id}"), Some(json!({"period": 0}))).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!((patched["name"].clone(), patched["period"].clone()), (json!("ops hook"), json!(0)));
    let (_, list) = api.a(Method::GET, "/v2.0/notification-methods", None).await;
    assert_eq!(list["elements"].as_array().unwrap().len(), 1);

    // An alarm definition with actions, so the notification engine finds the method.
    let (status, definition) = api
        .a(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "cpu", "expression": "avg(cpu.percent) > 90", "alarm_actions": [id], "ok_actions": [id]})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{definition}");
    let definition_id = definition["id"].as_str().unwrap().to_owned();
    let methods = api.db.db.fetch_methods(&definition_id, tocsin::model::AlarmState::Alarm).await.unwrap();
    assert_eq!(methods.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![id.clone()]);
    let actions_path = format!("/v2.0/alarm-definitions/{definition_id}/actions");
    let (status, actions) = api.a(Method::PUT, &actions_path, Some(json!({"undetermined_actions": [id]}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(actions, json!({"alarm_actions": [], "ok_actions": [], "undetermined_actions": [id]}));
    refused(&api.a(Method::PUT, &actions_path, Some(json!({"alarm_actions": ["missing"]}))).await, StatusCode::UNPROCESSABLE_ENTITY, "Non-existent notification id missing");
    refused(&api.b(Method::GET, &actions_path, None).await, StatusCode::NOT_FOUND, &definition_id);
    refused(&api.a(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "cpu", "expression": "avg(cpu.percent) > 90"}))).await, StatusCode::CONFLICT, "already exists");
    refused(&api.a(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "d", "expression": "x > 1", "severity": "DIRE"}))).await, StatusCode::UNPROCESSABLE_ENTITY, "severity must be one of");

    let (status, _) = api.a(Method::DELETE, &format!("/v2.0/notification-methods/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, actions) = api.a(Method::GET, &actions_path, None).await;
    assert_eq!(actions["undetermined_actions"], json!([]), "a deleted method leaves no dangling action");
}

/// Runs the `tocsin` binary against `api` as the tenant of `token`: (succeeded, stdout, stderr).
pub async fn tocsin(api: &ApiServer, token: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    command.args(args).env("TOCSIN_API_URL", &api.client.base).env_remove("TOCSIN_TOKEN");
    if let Some(token) = token {
        command.env("TOCSIN_TOKEN", token);
    }
    let out = command.output().await.unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_manages_methods_rules_and_silences_through_the_api() {
    let api = ApiServer::start(DbKind::Sqlite).await;
    let a = Some(TOKEN_A);

    let (ok, out, err) = tocsin(&api, a, &["methods", "create", "--name", "ops", "--type", "webhook", "--address", "http://127.0.0.1:9/hook"]).await;
    assert!(ok, "{err}");
    let method: Value = serde_json::from_str(&out).unwrap();
    let method_id = method["id"].as_str().unwrap().to_owned();
    let (ok, out, _) = tocsin(&api, a, &["methods", "list"]).await;
    assert!(ok && out.contains(&method_id) && out.contains("WEBHOOK"), "{out}");

    let (_, definition) = api.a(Method::POST, "/v2.0/alarm-definitions", Some(json!({"name": "cpu", "expression": "avg(cpu.percent) > 90"}))).await;
    let definition_id = definition["id"].as_str().unwrap().to_owned();
    let (ok, _, err) = tocsin(&api, a, &["methods", "attach", "--definition", &definition_id, "--state", "ALARM", &method_id]).await;
    assert!(ok, "{err}");
    let attached = api.db.db.fetch_methods(&definition_id, tocsin::model::AlarmState::Alarm).await.unwrap();
    assert_eq!(attached.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![method_id.clone()]);
    let (ok, _, err) = tocsin(&api, a, &["methods", "attach", "--definition", &definition_id, "--state", "SOMETIMES", &method_id]).await;
    assert!(!ok && err.contains("--state must be ALARM, OK or UNDETERMINED"), "{err}");
    let (ok, _, err) = tocsin(&api, a, &["methods", "detach", "--definition", &definition_id, "--state", "alarm", &method_id]).await;
    assert!(ok, "{err}");
    assert!(api.db.db.fetch_methods(&definition_id, tocsin::model::AlarmState::Alarm).await.unwrap().is_empty());

    let actions = format!("alarm_actions=[\"{method_id}\"]");
    let (ok, out, err) = tocsin(&api, a, &["rules", "create", "group", "--name", "by-host", "--expression", "group by hostname", "--set", "group_wait=10s", "--set", &actions]).await;
    assert!(ok, "{err}");
    let rule: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((rule["group_wait"].clone(), rule["alarm_actions"].clone()), (json!("10s"), json!([method_id])));
    let (ok, _, err) = tocsin(&api, a, &["rules", "create", "group", "--name", "broken", "--expression", "group hostname"]).await;
    assert!(!ok && err.contains("422") && err.contains("expression:"), "the API's reason reaches the operator: {err}");
    let (ok, out, _) = tocsin(&api, a, &["rules", "list"]).await;
    assert!(ok && out.contains("by-host") && out.contains("group by hostname"), "{out}");
    let rule_id = rule["id"].as_str().unwrap();
    let (ok, out, err) = tocsin(&api, a, &["rules", "update", "group", rule_id, "--set", "repeat_interval=1h"]).await;
    assert!(ok && out.contains("\"repeat_interval\": \"1h\""), "{out}{err}");

    let (ok, out, err) = tocsin(&api, a, &["silence", "add", "--matcher", "hostname=host1", "--duration", "1h", "--name", "maintenance"]).await;
    assert!(ok, "{err}");
    let silence_id = out.trim().to_owned();
    let (_, out, _) = tocsin(&api, a, &["silence", "list"]).await;
    assert!(out.lines().any(|l| l.contains(&silence_id) && l.contains("active")), "{out}");
    let (ok, out, err) = tocsin(&api, a, &["silence", "expire", &silence_id]).await;
    assert!(ok && out.contains("expired"), "{out}{err}");
    let (_, out, _) = tocsin(&api, a, &["silence", "list"]).await;
    assert!(!out.contains(&silence_id), "an expired silence is listed only with --all: {out}");
    let (_, out, _) = tocsin(&api, a, &["silence", "list", "--all"]).await;
    assert!(out.lines().any(|l| l.contains(&silence_id) && l.contains("expired")), "{out}");

    // Another tenant's CLI sees none of it; no token is a clear error.
    let (ok, out, _) = tocsin(&api, Some(TOKEN_B), &["rules", "list"]).await;
    assert!(ok && !out.contains("by-host"), "{out}");
    let (ok, _, err) = tocsin(&api, None, &["methods", "list"]).await;
    assert!(!ok && err.contains("--token"), "{err}");

    let (ok, _, err) = tocsin(&api, a, &["rules", "delete", "group", rule_id]).await;
    assert!(ok, "{err}");
    let (ok, _, err) = tocsin(&api, a, &["methods", "delete", &method_id]).await;
    assert!(ok, "{err}");
    assert_eq!(api.store.load_all().await.unwrap().len(), 1, "only the expired silence is left");
}

/// A Keystone v3 speaking just enough of its protocol: password logins for the service user
/// (`POST /v3/auth/tokens`) and token validation (`GET /v3/auth/tokens`), counting both.
struct FakeKeystone {
    url: String,
    logins: Arc<std::sync::atomic::AtomicUsize>,
    validations: Arc<std::sync::atomic::AtomicUsize>,
    /// How long each validation takes, and how many were in progress at once (now, at most).
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    most_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// The service token Keystone accepts now; replacing it revokes Tocsin's, as an expiry or a
    /// Keystone restart would.
    service_token: Arc<std::sync::Mutex<Option<String>>>,
}

impl FakeKeystone {
    async fn start() -> FakeKeystone {
        use axum::http::{HeaderMap, StatusCode as Code};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let logins = Arc::new(AtomicUsize::new(0));
        let validations = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most_in_flight = Arc::new(AtomicUsize::new(0));
        let service_token: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let login = {
            let (logins, service_token, expires) = (logins.clone(), service_token.clone(), expires.clone());
            move |body: axum::Json<Value>| async move {
                let user = &body["auth"]["identity"]["password"]["user"];
                if user["name"] != "tocsin" || user["password"] != "service-secret" {
                    return (Code::UNAUTHORIZED, HeaderMap::new(), axum::Json(json!({"error": {"code": 401}})));
                }
                let token = format!("service-token-{}", logins.fetch_add(1, Ordering::SeqCst));
                *service_token.lock().unwrap() = Some(token.clone());
                let mut headers = HeaderMap::new();
                headers.insert("x-subject-token", token.parse().unwrap());
                (Code::CREATED, headers, axum::Json(json!({"token": {"expires_at": expires}})))
            }
        };
        let validate = {
            let (validations, service_token) = (validations.clone(), service_token.clone());
            let (delay_ms, in_flight, most_in_flight) = (delay_ms.clone(), in_flight.clone(), most_in_flight.clone());
            move |headers: HeaderMap| async move {
                let presented = headers.get("x-auth-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
                if presented.is_none() || presented != *service_token.lock().unwrap() {
                    return (Code::UNAUTHORIZED, axum::Json(json!({"error": {"code": 401}})));
                }
                validations.fetch_add(1, Ordering::SeqCst);
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms.load(Ordering::SeqCst))).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let project = json!({"id": "project-p", "name": "p"});
                let roles = |names: &[&str]| names.iter().map(|n| json!({"id": format!("id-{n}"), "name": n})).collect::<Vec<_>>();
                let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
                let token = match headers.get("x-subject-token").and_then(|v| v.to_str().ok()) {
                    Some("writer") => json!({"project": project, "roles": roles(&["member", "monasca-user"]), "expires_at": in_an_hour}),
                    Some("reader" | "another-reader") => json!({"project": project, "roles": roles(&["monasca-read-only-user"]), "expires_at": in_an_hour}),
                    Some("member") => json!({"project": project, "roles": roles(&["member"]), "expires_at": in_an_hour}),
                    Some("unscoped") => json!({"roles": roles(&["monasca-user"]), "expires_at": in_an_hour}),
                    _ => return (Code::NOT_FOUND, axum::Json(json!({"error": {"code": 404, "message": "Could not find token"}}))),
                };
                (Code::OK, axum::Json(json!({"token": token})))
            }
        };
        let router = axum::Router::new().route("/v3/auth/tokens", axum::routing::post(login).get(validate));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v3", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeKeystone { url, logins, validations, delay_ms, in_flight, most_in_flight, service_token }
    }

    fn authenticator(auth_url: &str) -> Arc<dyn tocsin::api::auth::Authenticator> {
        FakeKeystone::authenticator_with(auth_url, 8)
    }

    fn authenticator_with(auth_url: &str, max_concurrent_validations: usize) -> Arc<dyn tocsin::api::auth::Authenticator> {
        let service = tocsin::keystone::KeystoneConfig {
            auth_required: false,
            webhook_hosts: Default::default(),
            auth_url: auth_url.to_owned(),
            username: "tocsin".into(),
            password: tocsin::config::Secret::new("service-secret"),
            project_name: "service".into(),
            user_domain_name: "default".into(),
            project_domain_name: "default".into(),
        };
        Arc::new(
            tocsin::api::keystone::KeystoneTokens::new(tocsin::api::KeystoneAuthConfig {
                service,
                default_authorized_roles: vec!["monasca-user".into()],
                read_only_authorized_roles: vec!["monasca-read-only-user".into()],
                token_cache_ttl: std::time::Duration::from_secs(60),
                invalid_token_cache_ttl: std::time::Duration::from_secs(10),
                max_concurrent_validations,
            })
            .unwrap(),
        )
    }
}

#[tokio::test]
async fn keystone_tokens_act_for_their_project_and_roles_decide_reading_and_writing() {
    use std::sync::atomic::Ordering;
    let keystone = FakeKeystone::start().await;
    let api = ApiServer::start_with(DbKind::Sqlite, FakeKeystone::authenticator(&keystone.url)).await;
    let rule = json!({"name": "hosts", "expression": "group by hostname"});

    let (status, created) = api.call(Some("writer"), Method::POST, "/v2.0/group-rules", Some(rule.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let stored = api.store.list(tocsin::rules::store::Kind::Group, "project-p", None, 0, 10).await.unwrap();
    assert_eq!(stored.len(), 1, "the rule belongs to the token's project");

    let (status, list) = api.call(Some("reader"), Method::GET, "/v2.0/group-rules", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["elements"].as_array().unwrap().len(), 1);
    refused(&api.call(Some("reader"), Method::POST, "/v2.0/group-rules", Some(json!({"name": "other", "expression": "group by service"}))).await, StatusCode::FORBIDDEN, "needs one of the roles: monasca-user");
    refused(&api.call(Some("member"), Method::GET, "/v2.0/group-rules", None).await, StatusCode::FORBIDDEN, "monasca-user, monasca-read-only-user");
    refused(&api.call(Some("unknown"), Method::GET, "/v2.0/group-rules", None).await, StatusCode::UNAUTHORIZED, "not valid");
    refused(&api.call(Some("unscoped"), Method::GET, "/v2.0/silence-rules", None).await, StatusCode::UNAUTHORIZED, "not scoped to a project");

    // Validations are remembered: more requests with known tokens do not ask Keystone again.
    let asked = keystone.validations.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(api.call(Some("writer"), Method::GET, "/v2.0/group-rules", None).await.0, StatusCode::OK);
    }
    assert_eq!(keystone.validations.load(Ordering::SeqCst), asked);
    assert_eq!(keystone.logins.load(Ordering::SeqCst), 1, "one service login so far");

    // A revoked service token is replaced once, and the request still succeeds.
    *keystone.service_token.lock().unwrap() = Some("revoked".into());
    let (status, body) = api.call(Some("another-reader"), Method::GET, "/v2.0/inhibit-rules", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keystone.logins.load(Ordering::SeqCst), 2);
    assert_eq!(api.store.list(tocsin::rules::store::Kind::Group, "project-p", None, 0, 10).await.unwrap().len(), 1, "nothing else was written");

    // Keystone unreachable: 503 that says so, never a guess.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let nowhere = ApiServer::start_with(DbKind::Sqlite, FakeKeystone::authenticator(&format!("http://{closed}/v3"))).await;
    refused(&nowhere.call(Some("writer"), Method::GET, "/v2.0/group-rules", None).await, StatusCode::SERVICE_UNAVAILABLE, "cannot be validated now");
}

/// Anonymous callers cannot make Keystone work for them: a refused token is remembered for a
/// while, at most `max_concurrent_validations` are asked at once, and the API serves at most
/// `max_concurrent_requests` at once, answering the rest 503 at once.
#[tokio::test(flavor = "multi_thread")]
async fn refused_tokens_are_remembered_and_validations_and_requests_are_bounded() {
    use std::sync::atomic::Ordering;
    let keystone = FakeKeystone::start().await;
    let api = ApiServer::start_with(DbKind::Sqlite, FakeKeystone::authenticator_with(&keystone.url, 1)).await;
    for _ in 0..5 {
        refused(&api.call(Some("bogus"), Method::GET, "/v2.0/group-rules", None).await, StatusCode::UNAUTHORIZED, "not valid");
    }
    assert_eq!(keystone.validations.load(Ordering::SeqCst), 1, "a refused token is asked about once");
    refused(&api.call(Some(""), Method::GET, "/v2.0/group-rules", None).await, StatusCode::UNAUTHORIZED, "not valid");
    assert_eq!(keystone.validations.load(Ordering::SeqCst), 1, "an empty token is never sent to Keystone");

    keystone.delay_ms.store(200, Ordering::SeqCst);
    let answers = futures::future::join_all((0..4).map(|n| {
        let api = &api;
        async move { api.call(Some(&format!("unknown-{n}")), Method::GET, "/v2.0/group-rules", None).await.0 }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{answers:?}");
    assert_eq!(keystone.most_in_flight.load(Ordering::SeqCst), 1, "one validation at a time");

    // One request at a time: a second one while a slow validation holds the first is 503.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.conf");
    std::fs::write(&file, "[api]\nmax_concurrent_requests = 1\n").unwrap();
    let config = tocsin::app::Config::load(&file).unwrap();
    let narrow = ApiServer::start_configured(DbKind::Sqlite, FakeKeystone::authenticator(&keystone.url), &config).await;
    keystone.delay_ms.store(2_000, Ordering::SeqCst);
    let first = tokio::spawn({
        let client = narrow.client.clone();
        async move { client.call(Some("writer"), Method::GET, "/v2.0/group-rules", None).await.0 }
    });
    crate::support::eventually(std::time::Duration::from_secs(10), "the first request's validation", || async {
        (keystone.in_flight.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    refused(&narrow.call(Some("writer"), Method::GET, "/v2.0/group-rules", None).await, StatusCode::SERVICE_UNAVAILABLE, "Too many requests are in progress");
    assert_eq!(first.await.unwrap(), StatusCode::OK);
}
