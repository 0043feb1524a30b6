//! `tocsin rules …`, `tocsin silence …`, `tocsin methods …`: the operator's side of the REST API
//! (`crate::api`). Every command is one or two HTTP requests to a running Tocsin with
//! `[api] enabled`, so the CLI validates exactly as the API does and needs no database access;
//! it must not write to the database itself. An API refusal is printed with its description
//! and the command exits non-zero.

use crate::rules::duration;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

/// Where the API is and who is calling.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Base URL of a Tocsin HTTP listener (`[tocsin] http_listen`) with `[api] enabled`.
    #[arg(long, env = "TOCSIN_API_URL", default_value = "http://127.0.0.1:8085", global = true)]
    url: String,
    /// An `X-Auth-Token` of `[api] tokens`; it names the tenant the command acts for.
    #[arg(long, env = "TOCSIN_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Group,
    Inhibit,
    Silence,
}

impl RuleKind {
    fn path(self) -> &'static str {
        match self {
            RuleKind::Group => "/v2.0/group-rules",
            RuleKind::Inhibit => "/v2.0/inhibit-rules",
            RuleKind::Silence => "/v2.0/silence-rules",
        }
    }
}

/// Fields of a request body beyond the named options.
#[derive(Args, Debug, Clone, Default)]
pub struct BodyArgs {
    /// A field of the body as KEY=VALUE (repeatable). VALUE is read as JSON when it is a JSON
    /// list, object, number or boolean, else as text: `--set group_wait=10s`,
    /// `--set 'alarm_actions=["id1","id2"]'`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// A JSON file holding the body (the options above are added to it).
    #[arg(long, value_name = "FILE")]
    file: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// List the tenant's rules of one kind, or of every kind.
    List {
        #[arg(long, value_enum)]
        kind: Option<RuleKind>,
    },
    /// Print one rule as JSON.
    Show {
        #[arg(value_enum)]
        kind: RuleKind,
        id: String,
    },
    /// Create a rule: `tocsin rules create group --name by-host --expression 'group by hostname'`.
    Create {
        #[arg(value_enum)]
        kind: RuleKind,
        #[arg(long)]
        name: Option<String>,
        /// The rule's AQL expression (immutable once created).
        #[arg(long)]
        expression: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        body: BodyArgs,
    },
    /// Change the given fields of a rule (PATCH).
    Update {
        #[arg(value_enum)]
        kind: RuleKind,
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        body: BodyArgs,
    },
    /// Delete a rule.
    Delete {
        #[arg(value_enum)]
        kind: RuleKind,
        id: String,
    },
    /// What Tocsin would do with a transition arriving now: the silences and inhibitions that
    /// match, the groups it would join and their notices, the methods it would go to.
    Test {
        /// A JSON file holding an alarm-transitioned message (or its inner object).
        #[arg(long, value_name = "FILE", required_unless_present = "alarm")]
        transition: Option<std::path::PathBuf>,
        /// Or an alarm of the notification history: its newest transition.
        #[arg(long, value_name = "ALARM_ID", conflicts_with = "transition")]
        alarm: Option<String>,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// `tocsin history`: filters of `GET /v2.0/notifications`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[arg(long, value_name = "ALARM_ID")]
    alarm: Option<String>,
    #[arg(long, value_name = "DEFINITION_ID")]
    definition: Option<String>,
    #[arg(long, value_name = "METHOD_ID")]
    method: Option<String>,
    /// ALARM, OK or UNDETERMINED.
    #[arg(long)]
    state: Option<String>,
    /// sent, failed, given_up, skipped, silenced, inhibited or grouped.
    #[arg(long)]
    outcome: Option<String>,
    /// From this time: RFC 3339 (2026-12-04T10:00:00Z) or epoch milliseconds.
    #[arg(long)]
    since: Option<String>,
    /// Before this time.
    #[arg(long)]
    until: Option<String>,
    /// Rows, newest first (at most 1000).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print the API's JSON answer.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum SilenceCommand {
    /// Silence the alarms matching every `--matcher` (or `--expression`) from `--start` (default
    /// now) for `--duration` (default 10m).
    Add {
        /// KEY=VALUE the alarm must match, e.g. hostname=host1 (repeatable).
        #[arg(long = "matcher", value_name = "KEY=VALUE")]
        matchers: Vec<String>,
        /// The AQL form instead: `targets {hostname=host1, service=web}`.
        #[arg(long, conflicts_with = "matchers")]
        expression: Option<String>,
        /// How long, e.g. 30m, 2h, 1d4h.
        #[arg(long)]
        duration: Option<String>,
        /// When it starts: ISO 8601 in UTC (2026-11-30T20:00:00Z); default now.
        #[arg(long)]
        start: Option<String>,
        /// Default: silence-<start time>.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// End a silence now (it is kept, expired, for the record).
    Expire { id: String },
    /// List silences with their state (pending, active, expired).
    List {
        /// Include expired silences.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum MethodsCommand {
    /// List the tenant's notification methods.
    List,
    /// Print one method as JSON.
    Show { id: String },
    /// Create a method: `tocsin methods create --name ops --type WEBHOOK --address https://…`.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long = "type")]
        kind: String,
        #[arg(long)]
        address: String,
        /// Seconds between periodic re-sends (0: none); one of `[api] valid_notification_periods`.
        #[arg(long)]
        period: Option<i64>,
    },
    /// Change the given fields of a method (PATCH).
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        period: Option<i64>,
    },
    /// Delete a method (it is detached from every alarm definition and group rule).
    Delete { id: String },
    /// Add methods to an alarm definition's actions for one state.
    Attach(ActionArgs),
    /// Remove methods from an alarm definition's actions for one state.
    Detach(ActionArgs),
}

/// Which methods change in which of a definition's action lists.
#[derive(Args, Debug)]
pub struct ActionArgs {
    #[arg(long)]
    definition: String,
    /// ALARM, OK or UNDETERMINED.
    #[arg(long)]
    state: String,
    #[arg(required = true)]
    methods: Vec<String>,
}

struct Client {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    fn new(args: &ApiArgs) -> anyhow::Result<Client> {
        let token = args.token.clone().ok_or_else(|| anyhow::anyhow!("--token (or TOCSIN_TOKEN) is required: an X-Auth-Token of [api] tokens"))?;
        Ok(Client { url: args.url.trim_end_matches('/').to_owned(), token, http: reqwest::Client::new() })
    }

    /// One request; the JSON answer of a 2xx, else an error carrying the API's description.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.url)).header("X-Auth-Token", &self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| anyhow::anyhow!("cannot reach the Tocsin API at {}: {e}", self.url))?;
        let status = response.status();
        let text = response.text().await?;
        let answer: Value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if !status.is_success() {
            let description = answer["description"].as_str().map(str::to_owned).unwrap_or_else(|| answer.to_string());
            anyhow::bail!("{method} {path}: {status}: {description}");
        }
        Ok(answer)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }
}

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialise"));
}

fn elements(list: &Value) -> &[Value] {
    list["elements"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// A body from `--file` and `--set`, then the named options.
fn body(args: &BodyArgs, named: &[(&str, Option<&String>)]) -> anyhow::Result<Value> {
    let mut fields: Map<String, Value> = match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            match serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))? {
                Value::Object(fields) => fields,
                _ => anyhow::bail!("{} must hold a JSON object", path.display()),
            }
        }
        None => Map::new(),
    };
    for pair in &args.set {
        let (key, value) = pair.split_once('=').ok_or_else(|| anyhow::anyhow!("--set {pair:?}: expected KEY=VALUE"))?;
        let parsed = match serde_json::from_str::<Value>(value) {
            Ok(v @ (Value::Array(_) | Value::Object(_) | Value::Number(_) | Value::Bool(_))) => v,
            _ => Value::String(value.to_owned()),
        };
        fields.insert(key.trim().to_owned(), parsed);
    }
    for (key, value) in named {
        if let Some(value) = value {
            fields.insert((*key).to_owned(), Value::String((*value).clone()));
        }
    }
    Ok(Value::Object(fields))
}

pub async fn rules(api: &ApiArgs, command: RulesCommand) -> anyhow::Result<()> {
    let client = Client::new(api)?;
    match command {
        RulesCommand::List { kind } => {
            let kinds = kind.map(|k| vec![k]).unwrap_or_else(|| vec![RuleKind::Group, RuleKind::Inhibit, RuleKind::Silence]);
            println!("{:<8} {:<36} {:<24} EXPRESSION", "KIND", "ID", "NAME");
            for kind in kinds {
                let list = client.get(kind.path()).await?;
                for rule in elements(&list) {
                    let kind_name = format!("{kind:?}").to_ascii_lowercase();
                    println!("{kind_name:<8} {:<36} {:<24} {}", text(&rule["id"]), text(&rule["name"]), text(&rule["expression"]));
                }
            }
        }
        RulesCommand::Show { kind, id } => print_json(&client.get(&format!("{}/{id}", kind.path())).await?),
        RulesCommand::Create { kind, name, expression, description, body: args } => {
            let body = body(&args, &[("name", name.as_ref()), ("expression", expression.as_ref()), ("description", description.as_ref())])?;
            print_json(&client.call(reqwest::Method::POST, kind.path(), Some(&body)).await?);
        }
        RulesCommand::Update { kind, id, name, description, body: args } => {
            let body = body(&args, &[("name", name.as_ref()), ("description", description.as_ref())])?;
            print_json(&client.call(reqwest::Method::PATCH, &format!("{}/{id}", kind.path()), Some(&body)).await?);
        }
        RulesCommand::Delete { kind, id } => {
            client.call(reqwest::Method::DELETE, &format!("{}/{id}", kind.path()), None).await?;
            println!("deleted {} rule {id}", format!("{kind:?}").to_ascii_lowercase());
        }
        RulesCommand::Test { transition, alarm, json } => {
            let body = match (transition, alarm) {
                (Some(file), _) => {
                    let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
                    let transition: Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", file.display()))?;
                    json!({ "transition": transition })
                }
                (None, Some(alarm)) => json!({ "alarm_id": alarm }),
                (None, None) => anyhow::bail!("give --transition FILE or --alarm ALARM_ID"),
            };
            let answer = client.call(reqwest::Method::POST, "/v2.0/rules/test", Some(&body)).await?;
            if json {
                print_json(&answer);
            } else {
                print_explanation(&answer);
            }
        }
    }
    Ok(())
}

fn text(value: &Value) -> String {
    value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())
}

/// Where a silence stands at `now`.
fn silence_state(rule: &Value, now: DateTime<Utc>) -> Option<(&'static str, DateTime<Utc>, DateTime<Utc>)> {
    let start = crate::api::parse_start_time(rule["start_time"].as_str()?).ok()?;
    let length = duration::parse(rule["silence_duration"].as_str()?).ok()?;
    // The API accepts start times up to chrono's last year, where adding even a short duration
    // overflows (the `+` operator panics): such a silence has no end to show.
    let end = start.checked_add_signed(chrono::Duration::from_std(length).ok()?)?;
    let state = if now < start {
        "pending"
    } else if now < end {
        "active"
    } else {
        "expired"
    };
    Some((state, start, end))
}

pub async fn silence(api: &ApiArgs, command: SilenceCommand) -> anyhow::Result<()> {
    let client = Client::new(api)?;
    let path = RuleKind::Silence.path();
    match command {
        SilenceCommand::Add { matchers, expression, duration, start, name, description } => {
            let start = start.unwrap_or_else(|| Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            let mut fields = Map::new();
            fields.insert("name".into(), json!(name.unwrap_or_else(|| format!("silence-{start}"))));
            fields.insert("start_time".into(), json!(start));
            match expression {
                Some(expression) => {
                    fields.insert("expression".into(), json!(expression));
                }
                None if matchers.is_empty() => anyhow::bail!("give the alarms to silence: --matcher KEY=VALUE (repeatable) or --expression 'targets {{…}}'"),
                None => {
                    let mut selector = Map::new();
                    for pair in &matchers {
                        let (key, value) = pair.split_once('=').ok_or_else(|| anyhow::anyhow!("--matcher {pair:?}: expected KEY=VALUE"))?;
                        selector.insert(key.trim().to_owned(), json!(value.trim()));
                    }
                    fields.insert("matchers".into(), Value::Object(selector));
                }
            }
            if let Some(duration) = duration {
                fields.insert("silence_duration".into(), json!(duration));
            }
            if let Some(description) = description {
                fields.insert("description".into(), json!(description));
            }
            let created = client.call(reqwest::Method::POST, path, Some(&Value::Object(fields))).await?;
            println!("{}", text(&created["id"]));
        }
        SilenceCommand::Expire { id } => {
            let rule = client.get(&format!("{path}/{id}")).await?;
            let now = Utc::now();
            let (state, start, _) = silence_state(&rule, now).ok_or_else(|| anyhow::anyhow!("silence {id} has no readable start_time/silence_duration: {rule}"))?;
            // The window is [start, start + duration): shortening it to end now expires it while
            // keeping its record; a silence that has not started becomes an empty window.
            let patch = match state {
                "expired" => {
                    println!("silence {id} had already expired");
                    return Ok(());
                }
                "pending" => json!({"silence_duration": "0s"}),
                _ => json!({"silence_duration": duration::format((now - start).to_std().unwrap_or_default())}),
            };
            client.call(reqwest::Method::PATCH, &format!("{path}/{id}"), Some(&patch)).await?;
            println!("silence {id} expired");
        }
        SilenceCommand::List { all } => {
            let list = client.get(path).await?;
            let now = Utc::now();
            println!("{:<36} {:<8} {:<24} {:<24} {:<24} EXPRESSION", "ID", "STATE", "NAME", "STARTS", "ENDS");
            for rule in elements(&list) {
                let Some((state, start, end)) = silence_state(rule, now) else { continue };
                if state == "expired" && !all {
                    continue;
                }
                let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                println!("{:<36} {state:<8} {:<24} {:<24} {:<24} {}", text(&rule["id"]), text(&rule["name"]), time(start), time(end), text(&rule["expression"]));
            }
        }
    }
    Ok(())
}

pub async fn methods(api: &ApiArgs, command: MethodsCommand) -> anyhow::Result<()> {
    let client = Client::new(api)?;
    let path = "/v2.0/notification-methods";
    match command {
        MethodsCommand::List => {
            let list = client.get(path).await?;
            println!("{:<36} {:<24} {:<10} {:<7} ADDRESS", "ID", "NAME", "TYPE", "PERIOD");
            for m in elements(&list) {
                println!("{:<36} {:<24} {:<10} {:<7} {}", text(&m["id"]), text(&m["name"]), text(&m["type"]), text(&m["period"]), text(&m["address"]));
            }
        }
        MethodsCommand::Show { id } => print_json(&client.get(&format!("{path}/{id}")).await?),
        MethodsCommand::Create { name, kind, address, period } => {
            let mut body = json!({"name": name, "type": kind, "address": address});
            if let Some(period) = period {
                body["period"] = json!(period);
            }
            print_json(&client.call(reqwest::Method::POST, path, Some(&body)).await?);
        }
        MethodsCommand::Update { id, name, kind, address, period } => {
            let mut body = Map::new();
            for (key, value) in [("name", name), ("type", kind), ("address", address)] {
                if let Some(value) = value {
                    body.insert(key.into(), json!(value));
                }
            }
            if let Some(period) = period {
                body.insert("period".into(), json!(period));
            }
            print_json(&client.call(reqwest::Method::PATCH, &format!("{path}/{id}"), Some(&Value::Object(body))).await?);
        }
        MethodsCommand::Delete { id } => {
            client.call(reqwest::Method::DELETE, &format!("{path}/{id}"), None).await?;
            println!("deleted notification method {id}");
        }
        MethodsCommand::Attach(args) => change_actions(&client, &args, true).await?,
        MethodsCommand::Detach(args) => change_actions(&client, &args, false).await?,
    }
    Ok(())
}

/// Reads the definition's three action lists, changes one, writes all three back.
async fn change_actions(client: &Client, args: &ActionArgs, attach: bool) -> anyhow::Result<()> {
    let ActionArgs { definition, state, methods } = args;
    let field = match state.to_ascii_uppercase().as_str() {
        "ALARM" => "alarm_actions",
        "OK" => "ok_actions",
        "UNDETERMINED" => "undetermined_actions",
        _ => anyhow::bail!("--state must be ALARM, OK or UNDETERMINED, not {state:?}"),
    };
    let path = format!("/v2.0/alarm-definitions/{definition}/actions");
    let mut actions = client.get(&path).await?;
    let mut list: Vec<String> = actions[field].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    for method in methods {
        if attach && !list.contains(method) {
            list.push(method.clone());
        } else if !attach {
            list.retain(|m| m != method);
        }
    }
    actions[field] = json!(list);
    print_json(&client.call(reqwest::Method::PUT, &path, Some(&actions)).await?);
    Ok(())
}

pub async fn history(api: &ApiArgs, args: HistoryArgs) -> anyhow::Result<()> {
    let client = Client::new(api)?;
    let limit = args.limit.to_string();
    let pairs = [
        ("alarm_id", args.alarm.as_deref()),
        ("definition_id", args.definition.as_deref()),
        ("method_id", args.method.as_deref()),
        ("state", args.state.as_deref()),
        ("outcome", args.outcome.as_deref()),
        ("since", args.since.as_deref()),
        ("until", args.until.as_deref()),
        ("limit", Some(limit.as_str())),
    ];
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs.iter().filter_map(|(k, v)| v.map(|v| (k, v)))).finish();
    let page = client.get(&format!("/v2.0/notifications?{query}")).await?;
    if args.json {
        print_json(&page);
        return Ok(());
    }
    println!("{:<24} {:<9} {:<12} {:<36} {:<28} {:>7} DETAIL", "TIME", "OUTCOME", "STATE", "ALARM", "METHOD", "ATTEMPT");
    for row in elements(&page) {
        let method = match &row["method"] {
            Value::Null => String::new(),
            m => format!("{} ({})", text(&m["name"]), text(&m["type"])),
        };
        let rule = row["rule_name"].as_str().or(row["rule_id"].as_str()).map(|r| ("rule", r));
        let detail = [("reason", row["reason"].as_str()), ("notice", row["notice"].as_str()), ("source alarm", row["source_alarm_id"].as_str())]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .chain(rule)
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let attempt = row["attempt"].as_u64().map(|a| a.to_string()).unwrap_or_default();
        println!("{:<24} {:<9} {:<12} {:<36} {:<28} {attempt:>7} {detail}", text(&row["time"]), text(&row["outcome"]), text(&row["state"]), text(&row["alarm_id"]), method);
    }
    Ok(())
}

/// `tocsin groups`: the open groups and when each notifies next.
pub async fn groups(api: &ApiArgs, json: bool) -> anyhow::Result<()> {
    let client = Client::new(api)?;
    let groups = client.get("/v2.0/alarm-groups?limit=1000").await?;
    if json {
        print_json(&groups);
        return Ok(());
    }
    println!("{:<24} {:<32} {:<12} {:>7} {:<24} NOTICE", "RULE", "VALUES", "STATE", "MEMBERS", "NEXT NOTIFICATION");
    for group in elements(&groups) {
        let values = group["values"].as_object().map(|v| v.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(",")).unwrap_or_default();
        println!(
            "{:<24} {values:<32} {:<12} {:>7} {:<24} {}",
            text(&group["rule_name"]),
            text(&group["state"]),
            text(&group["member_count"]),
            text(&group["next_notification_at"]),
            text(&group["notice"])
        );
    }
    if let Some(total) = groups["total"].as_u64().filter(|t| *t as usize > elements(&groups).len()) {
        println!("({total} open groups; the first {} shown)", elements(&groups).len());
    }
    Ok(())
}

/// The answer of `POST /v2.0/rules/test` as a person reads it.
fn print_explanation(answer: &Value) {
    println!("verdict: {}", text(&answer["verdict"]));
    for silence in answer["silenced_by"].as_array().into_iter().flatten() {
        let applies = if silence["active"] == true { "active" } else { "not active now" };
        let scope = if silence["actions_only"] == true { ", mutes matching methods only" } else { "" };
        println!("silence: {} ({}), {applies}{scope}, ends {}", text(&silence["name"]), text(&silence["rule_id"]), text(&silence["ends"]));
    }
    for inhibit in answer["inhibited_by"].as_array().into_iter().flatten() {
        let source = match inhibit["source_alarm_id"].as_str() {
            Some(source) => format!("source alarm {source} is in ALARM"),
            None => "no source alarm in ALARM is known".to_owned(),
        };
        println!("inhibit: {} ({}): {source}", text(&inhibit["name"]), text(&inhibit["rule_id"]));
    }
    for group in answer["groups"].as_array().into_iter().flatten() {
        let methods: Vec<String> = group["methods"].as_array().into_iter().flatten().map(|m| text(&m["name"])).collect();
        let open = if group["group_open"] == true { "joins the open group" } else { "opens a group" };
        println!("group: {} {}: {open}, notice {} after group_wait {} to [{}]", text(&group["name"]), group["values"], text(&group["notice"]), text(&group["group_wait"]), methods.join(", "));
    }
    for method in answer["methods"].as_array().into_iter().flatten() {
        let muted = method["muted_by"].as_str().map(|r| format!(" (muted by rule {r})")).unwrap_or_default();
        println!("method: {} ({} {}){muted}", text(&method["name"]), text(&method["type"]), text(&method["address"]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A silence starting at chrono's last millisecond (which the API accepts as epoch
    /// milliseconds) made `tocsin silence list` panic computing its end.
    #[test]
    fn a_silence_whose_end_is_past_chronos_range_has_no_state() {
        let last = DateTime::<Utc>::MAX_UTC.timestamp_millis().to_string();
        assert_eq!(silence_state(&json!({"start_time": last, "silence_duration": "1s"}), Utc::now()), None);
        let (state, _, _) = silence_state(&json!({"start_time": "2017-04-10T10:42:10Z", "silence_duration": "10m"}), Utc::now()).unwrap();
        assert_eq!(state, "expired");
    }
}
