//! The rules in the config database: one table per kind (`group_rule` with `group_rule_action`,
//! `inhibit_rule`, `silence_rule`, as the blueprint's API change created them, plus Tocsin's
//! `inhibit_rule.wait_time`), `rule_revision`, a counter bumped in the same transaction as
//! every write, so engines notice a change with one cheap query ([`RuleStore::revision`]), and
//! `rule_tenant_revision`, the revision at which each tenant's rules last changed, so they
//! reload only the tenants that changed ([`RuleStore::changed_since`], [`RuleStore::load_tenant`]).
//!
//! Rules are stored as their canonical AQL expression and parsed when read, so both the
//! blueprint's JSON shape and an expression end up as one stored form. Every write is one
//! transaction: nothing half-written on any error. Every query filters by tenant. It must not
//! validate requests (that is `crate::api`'s job); it stores rules that are already valid.

use super::{aql, duration, GroupRule, InhibitRule, Rule, RuleMeta, SilenceRule};
use crate::db::{self, Database, Dialect};
use crate::model::AlarmState;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such rule")]
    NotFound,
    #[error("a rule named {0:?} already exists")]
    Conflict(String),
    #[error("stored rule {id} is unreadable: {why}")]
    Unreadable { id: String, why: String },
    #[error(transparent)]
    Db(#[from] db::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        Error::Db(db::Error::Query(e))
    }
}

/// The three kinds of rule, each with its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Group,
    Inhibit,
    Silence,
}

impl Kind {
    pub fn table(self) -> &'static str {
        match self {
            Kind::Group => "group_rule",
            Kind::Inhibit => "inhibit_rule",
            Kind::Silence => "silence_rule",
        }
    }

    pub fn of(rule: &Rule) -> Kind {
        match rule {
            Rule::Group(_) => Kind::Group,
            Rule::Inhibit(_) => Kind::Inhibit,
            Rule::Silence(_) => Kind::Silence,
        }
    }

    fn columns(self) -> &'static str {
        match self {
            Kind::Group => "id, tenant_id, name, description, expression, group_wait, repeat_interval",
            Kind::Inhibit => "id, tenant_id, name, description, expression, wait_time",
            Kind::Silence => "id, tenant_id, name, description, expression, start_time, silence_duration",
        }
    }
}

/// Characters the `expression` column holds.
pub const EXPRESSION_COLUMN: usize = 1024;
/// Characters a duration column holds: the longest canonical duration, `36524d23h59m59s`, has 15.
pub const DURATION_COLUMN: usize = 16;

#[derive(Clone)]
pub struct RuleStore {
    db: Database,
}

/// Group-rule actions by rule id: (state, action id) in action-id order.
#[derive(Default)]
struct GroupActions {
    by_rule: HashMap<String, Vec<(String, String)>>,
}

impl GroupActions {
    /// Adds rows of `group_rule_id, alarm_state, action_id`.
    fn add(&mut self, rows: &[AnyRow]) -> Result<(), sqlx::Error> {
        for row in rows {
            self.by_rule.entry(row.try_get(0)?).or_default().push((row.try_get(1)?, row.try_get(2)?));
        }
        Ok(())
    }
}

impl RuleStore {
    pub fn new(db: Database) -> RuleStore {
        RuleStore { db }
    }

    /// Creates the rule tables where they are missing.
    pub async fn init_schema(&self) -> Result<(), Error> {
        let (ts, engine) = match self.db.dialect() {
            Dialect::MySql => ("DATETIME", " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"),
            Dialect::Postgres => ("TIMESTAMP", ""),
            Dialect::Sqlite => ("TEXT", ""),
        };
        let common = format!(
            "id VARCHAR(36) NOT NULL PRIMARY KEY, tenant_id VARCHAR(36) NOT NULL, name VARCHAR(255) NOT NULL, \
             description VARCHAR(255) NOT NULL DEFAULT '', expression VARCHAR({EXPRESSION_COLUMN}) NOT NULL, \
             created_at {ts} NOT NULL, updated_at {ts} NOT NULL"
        );
        let statements = [
            format!("CREATE TABLE IF NOT EXISTS group_rule ({common}, group_wait VARCHAR({DURATION_COLUMN}) NOT NULL DEFAULT '30s', repeat_interval VARCHAR({DURATION_COLUMN}) NOT NULL DEFAULT '2h', UNIQUE (tenant_id, name)){engine}"),
            format!(
                "CREATE TABLE IF NOT EXISTS group_rule_action (group_rule_id VARCHAR(36) NOT NULL, alarm_state VARCHAR(20) NOT NULL, \
                 action_id VARCHAR(36) NOT NULL, PRIMARY KEY (group_rule_id, alarm_state, action_id), \
                 FOREIGN KEY (group_rule_id) REFERENCES group_rule (id) ON DELETE CASCADE){engine}"
            ),
            format!("CREATE TABLE IF NOT EXISTS inhibit_rule ({common}, wait_time VARCHAR({DURATION_COLUMN}) NOT NULL DEFAULT '30s', UNIQUE (tenant_id, name)){engine}"),
            format!("CREATE TABLE IF NOT EXISTS silence_rule ({common}, start_time VARCHAR(36) NOT NULL, silence_duration VARCHAR({DURATION_COLUMN}) NOT NULL DEFAULT '10m', UNIQUE (tenant_id, name)){engine}"),
            format!("CREATE TABLE IF NOT EXISTS rule_revision (id INT NOT NULL PRIMARY KEY, revision BIGINT NOT NULL){engine}"),
            format!("CREATE TABLE IF NOT EXISTS rule_tenant_revision (tenant_id VARCHAR(36) NOT NULL PRIMARY KEY, revision BIGINT NOT NULL){engine}"),
            match self.db.dialect() {
                Dialect::MySql => "INSERT IGNORE INTO rule_revision (id, revision) VALUES (1, 0)".to_owned(),
                Dialect::Postgres => "INSERT INTO rule_revision (id, revision) VALUES (1, 0) ON CONFLICT DO NOTHING".to_owned(),
                Dialect::Sqlite => "INSERT OR IGNORE INTO rule_revision (id, revision) VALUES (1, 0)".to_owned(),
            },
        ];
        for statement in statements {
            sqlx::query(&statement).execute(self.db.pool()).await?;
        }
        self.widen_duration_columns().await
    }

    /// Tables made by earlier versions hold durations in 10 characters, fewer than the longest
    /// canonical duration (`36524d23h59m59s`): widened where the database enforces widths.
    async fn widen_duration_columns(&self) -> Result<(), Error> {
        let schema = match self.db.dialect() {
            Dialect::MySql => "DATABASE()",
            Dialect::Postgres => "current_schema()",
            Dialect::Sqlite => return Ok(()),
        };
        for (table, column, default) in [("group_rule", "group_wait", "30s"), ("group_rule", "repeat_interval", "2h"), ("inhibit_rule", "wait_time", "30s"), ("silence_rule", "silence_duration", "10m")] {
            let sql = self.db.sql(&format!(
                "SELECT CAST(character_maximum_length AS SIGNED) FROM information_schema.columns WHERE table_schema = {schema} AND table_name = ? AND column_name = ?"
            ));
            let sql = if self.db.dialect() == Dialect::Postgres { sql.replace("AS SIGNED", "AS BIGINT") } else { sql };
            let width: Option<i64> = sqlx::query(&sql).bind(table).bind(column).fetch_optional(self.db.pool()).await?.map(|row| row.try_get(0)).transpose()?;
            if width.is_some_and(|w| w < DURATION_COLUMN as i64) {
                let alter = match self.db.dialect() {
                    Dialect::MySql => format!("ALTER TABLE {table} MODIFY {column} VARCHAR({DURATION_COLUMN}) NOT NULL DEFAULT '{default}'"),
                    _ => format!("ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR({DURATION_COLUMN})"),
                };
                sqlx::query(&alter).execute(self.db.pool()).await?;
                tracing::info!(table, column, width = DURATION_COLUMN, "widened a rule duration column");
            }
        }
        Ok(())
    }

    /// Whether the database answers at all.
    pub async fn reachable(&self) -> bool {
        self.db.ping().await.is_ok()
    }

    /// Bumped by every write; engines reload when it changes.
    pub async fn revision(&self) -> Result<i64, Error> {
        let row = sqlx::query("SELECT revision FROM rule_revision WHERE id = 1").fetch_optional(self.db.pool()).await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0))
    }

    /// How many rules of every kind the tenant has.
    pub async fn count(&self, tenant_id: &str) -> Result<usize, Error> {
        let mut total = 0;
        for kind in [Kind::Group, Kind::Inhibit, Kind::Silence] {
            let row = sqlx::query(&self.db.sql(&format!("SELECT COUNT(*) FROM {} WHERE tenant_id = ?", kind.table()))).bind(tenant_id).fetch_one(self.db.pool()).await?;
            total += row.try_get::<i64, _>(0)? as usize;
        }
        Ok(total)
    }

    /// The tenants whose rules changed after `revision`.
    pub async fn changed_since(&self, revision: i64) -> Result<Vec<String>, Error> {
        let rows = sqlx::query(&self.db.sql("SELECT tenant_id FROM rule_tenant_revision WHERE revision > ?")).bind(revision).fetch_all(self.db.pool()).await?;
        Ok(rows.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<_, _>>()?)
    }

    /// Every rule of every tenant. A row that no longer parses (edited by hand) is logged and
    /// left out rather than stopping every rule from loading.
    pub async fn load_all(&self) -> Result<Vec<Rule>, Error> {
        self.load(None).await
    }

    /// Every rule of one tenant, parsed as [`RuleStore::load_all`] does.
    pub async fn load_tenant(&self, tenant_id: &str) -> Result<Vec<Rule>, Error> {
        self.load(Some(tenant_id)).await
    }

    async fn load(&self, tenant_id: Option<&str>) -> Result<Vec<Rule>, Error> {
        let mut rules = Vec::new();
        let filter = if tenant_id.is_some() { " WHERE tenant_id = ?" } else { "" };
        for kind in [Kind::Group, Kind::Inhibit, Kind::Silence] {
            let sql = self.db.sql(&format!("SELECT {} FROM {}{filter}", kind.columns(), kind.table()));
            let mut query = sqlx::query(&sql);
            if let Some(tenant_id) = tenant_id {
                query = query.bind(tenant_id);
            }
            let rows = query.fetch_all(self.db.pool()).await?;
            let actions = match (kind, tenant_id) {
                (Kind::Group, None) => self.all_group_actions().await?,
                (Kind::Group, Some(_)) => {
                    let ids = rows.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<Vec<_>, _>>()?;
                    self.group_actions(&ids).await?
                }
                _ => GroupActions::default(),
            };
            for row in &rows {
                match self.rule_from_row(kind, row, &actions) {
                    Ok(rule) => rules.push(rule),
                    Err(why) => tracing::error!(table = kind.table(), error = %why, "rule row does not parse; left out"),
                }
            }
        }
        Ok(rules)
    }

    pub async fn get(&self, kind: Kind, tenant_id: &str, id: &str) -> Result<Rule, Error> {
        let sql = self.db.sql(&format!("SELECT {} FROM {} WHERE tenant_id = ? AND id = ?", kind.columns(), kind.table()));
        let row = sqlx::query(&sql).bind(tenant_id).bind(id).fetch_optional(self.db.pool()).await?.ok_or(Error::NotFound)?;
        let actions = if kind == Kind::Group { self.group_actions(&[id.to_owned()]).await? } else { GroupActions::default() };
        self.rule_from_row(kind, &row, &actions).map_err(|why| Error::Unreadable { id: id.to_owned(), why })
    }

    /// The tenant's rules of a kind, by name, optionally only those named `name`.
    pub async fn list(&self, kind: Kind, tenant_id: &str, name: Option<&str>, offset: usize, limit: usize) -> Result<Vec<Rule>, Error> {
        let filter = if name.is_some() { " AND name = ?" } else { "" };
        let sql = self.db.sql(&format!(
            "SELECT {} FROM {} WHERE tenant_id = ?{filter} ORDER BY name, id LIMIT {limit} OFFSET {offset}",
            kind.columns(),
            kind.table()
        ));
        let mut query = sqlx::query(&sql).bind(tenant_id);
        if let Some(name) = name {
            query = query.bind(name);
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        let ids = rows.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<Vec<_>, _>>()?;
        let actions = if kind == Kind::Group { self.group_actions(&ids).await? } else { GroupActions::default() };
        let mut rules = Vec::with_capacity(rows.len());
        for (row, id) in rows.iter().zip(&ids) {
            match self.rule_from_row(kind, row, &actions) {
                Ok(rule) => rules.push(rule),
                Err(why) => tracing::error!(table = kind.table(), id, error = %why, "rule row does not parse; left out"),
            }
        }
        Ok(rules)
    }

    pub async fn insert(&self, rule: &Rule) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        self.check_name(&mut tx, rule).await?;
        let kind = Kind::of(rule);
        let meta = rule.meta();
        let (extra_columns, extra_values) = extra_values(rule);
        let marks = vec!["?"; extra_values.len()].join(", ");
        let sql = self.db.sql(&format!(
            "INSERT INTO {} (id, tenant_id, name, description, expression, created_at, updated_at, {extra_columns}) \
             VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, {marks})",
            kind.table()
        ));
        let mut query = sqlx::query(&sql).bind(&meta.id).bind(&meta.tenant_id).bind(&meta.name).bind(&meta.description).bind(expression(rule));
        for value in &extra_values {
            query = query.bind(value.as_str());
        }
        query.execute(&mut *tx).await?;
        self.write_actions(&mut tx, rule).await?;
        self.bump(&mut tx, &meta.tenant_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a stored rule of the same tenant and id.
    pub async fn update(&self, rule: &Rule) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        self.check_name(&mut tx, rule).await?;
        let kind = Kind::of(rule);
        let meta = rule.meta();
        let (extra_columns, extra_values) = extra_values(rule);
        let assignments: String = extra_columns.split(", ").map(|c| format!(", {c} = ?")).collect();
        let sql = self.db.sql(&format!(
            "UPDATE {} SET name = ?, description = ?, expression = ?, updated_at = CURRENT_TIMESTAMP{assignments} WHERE tenant_id = ? AND id = ?",
            kind.table()
        ));
        let mut query = sqlx::query(&sql).bind(&meta.name).bind(&meta.description).bind(expression(rule));
        for value in &extra_values {
            query = query.bind(value.as_str());
        }
        if query.bind(&meta.tenant_id).bind(&meta.id).execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        if kind == Kind::Group {
            sqlx::query(&self.db.sql("DELETE FROM group_rule_action WHERE group_rule_id = ?")).bind(&meta.id).execute(&mut *tx).await?;
        }
        self.write_actions(&mut tx, rule).await?;
        self.bump(&mut tx, &meta.tenant_id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete(&self, kind: Kind, tenant_id: &str, id: &str) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        let exists = sqlx::query(&self.db.sql(&format!("SELECT id FROM {} WHERE tenant_id = ? AND id = ?", kind.table())))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(Error::NotFound);
        }
        if kind == Kind::Group {
            sqlx::query(&self.db.sql("DELETE FROM group_rule_action WHERE group_rule_id = ?")).bind(id).execute(&mut *tx).await?;
        }
        sqlx::query(&self.db.sql(&format!("DELETE FROM {} WHERE tenant_id = ? AND id = ?", kind.table()))).bind(tenant_id).bind(id).execute(&mut *tx).await?;
        self.bump(&mut tx, tenant_id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn check_name(&self, tx: &mut Transaction<'static, Any>, rule: &Rule) -> Result<(), Error> {
        let meta = rule.meta();
        let sql = self.db.sql(&format!("SELECT id FROM {} WHERE tenant_id = ? AND name = ? AND id <> ?", Kind::of(rule).table()));
        let clash = sqlx::query(&sql).bind(&meta.tenant_id).bind(&meta.name).bind(&meta.id).fetch_optional(&mut **tx).await?;
        match clash {
            Some(_) => Err(Error::Conflict(meta.name.clone())),
            None => Ok(()),
        }
    }

    async fn write_actions(&self, tx: &mut Transaction<'static, Any>, rule: &Rule) -> Result<(), Error> {
        let Rule::Group(group) = rule else { return Ok(()) };
        let sql = self.db.sql("INSERT INTO group_rule_action (group_rule_id, alarm_state, action_id) VALUES (?, ?, ?)");
        for (state, actions) in [(AlarmState::Alarm, &group.alarm_actions), (AlarmState::Ok, &group.ok_actions), (AlarmState::Undetermined, &group.undetermined_actions)] {
            for action in actions {
                sqlx::query(&sql).bind(&group.meta.id).bind(state.as_str()).bind(action).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Takes a deleted notification method out of the tenant's group rules' action lists, in
    /// the caller's transaction (the one deleting the method), and marks the rules changed.
    pub async fn forget_method(&self, tx: &mut Transaction<'static, Any>, tenant_id: &str, method_id: &str) -> Result<(), Error> {
        sqlx::query(&self.db.sql("DELETE FROM group_rule_action WHERE action_id = ?")).bind(method_id).execute(&mut **tx).await?;
        self.bump(tx, tenant_id).await
    }

    /// Marks the tenant's rules as changed: a new global revision, recorded as the tenant's.
    async fn bump(&self, tx: &mut Transaction<'static, Any>, tenant_id: &str) -> Result<(), Error> {
        sqlx::query("UPDATE rule_revision SET revision = revision + 1 WHERE id = 1").execute(&mut **tx).await?;
        let row = sqlx::query("SELECT revision FROM rule_revision WHERE id = 1").fetch_one(&mut **tx).await?;
        let revision: i64 = row.try_get(0)?;
        sqlx::query(&self.db.sql("DELETE FROM rule_tenant_revision WHERE tenant_id = ?")).bind(tenant_id).execute(&mut **tx).await?;
        sqlx::query(&self.db.sql("INSERT INTO rule_tenant_revision (tenant_id, revision) VALUES (?, ?)")).bind(tenant_id).bind(revision).execute(&mut **tx).await?;
        Ok(())
    }

    /// The actions of the given group rules: one query per thousand rules rather than one per
    /// rule (a listed page holds up to 10,000).
    async fn group_actions(&self, ids: &[String]) -> Result<GroupActions, Error> {
        let mut actions = GroupActions::default();
        for chunk in ids.chunks(1000) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let sql = self.db.sql(&format!(
                "SELECT group_rule_id, alarm_state, action_id FROM group_rule_action WHERE group_rule_id IN ({placeholders}) ORDER BY action_id"
            ));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            actions.add(&query.fetch_all(self.db.pool()).await?)?;
        }
        Ok(actions)
    }

    async fn all_group_actions(&self) -> Result<GroupActions, Error> {
        let rows = sqlx::query("SELECT group_rule_id, alarm_state, action_id FROM group_rule_action ORDER BY action_id").fetch_all(self.db.pool()).await?;
        let mut actions = GroupActions::default();
        actions.add(&rows)?;
        Ok(actions)
    }

    fn rule_from_row(&self, kind: Kind, row: &AnyRow, actions: &GroupActions) -> Result<Rule, String> {
        let text = |i: usize| row.try_get::<String, _>(i).map_err(|e| e.to_string());
        let meta = RuleMeta { id: text(0)?, tenant_id: text(1)?, name: text(2)?, description: text(3)? };
        let expression = text(4)?;
        let wait = |i: usize| text(i).and_then(|t| duration::parse(&t));
        let context = |e: aql::AqlError| format!("rule {}: {e}", meta.id);
        Ok(match kind {
            Kind::Group => {
                let of = |state: AlarmState| -> Vec<String> {
                    let of_rule = actions.by_rule.get(&meta.id).map_or(&[][..], Vec::as_slice);
                    of_rule.iter().filter(|(s, _)| s == state.as_str()).map(|(_, a)| a.clone()).collect()
                };
                Rule::Group(GroupRule {
                    spec: aql::parse_group(&expression).map_err(context)?,
                    group_wait: wait(5)?,
                    repeat_interval: wait(6)?,
                    alarm_actions: of(AlarmState::Alarm),
                    ok_actions: of(AlarmState::Ok),
                    undetermined_actions: of(AlarmState::Undetermined),
                    meta,
                })
            }
            Kind::Inhibit => Rule::Inhibit(InhibitRule { spec: aql::parse_inhibit(&expression).map_err(context)?, wait: wait(5)?, meta }),
            Kind::Silence => Rule::Silence(SilenceRule {
                spec: aql::parse_silence(&expression).map_err(context)?,
                start_time: text(5)?.parse().map_err(|e| format!("start_time: {e}"))?,
                duration: wait(6)?,
                meta,
            }),
        })
    }
}

fn expression(rule: &Rule) -> String {
    match rule {
        Rule::Group(r) => aql::render_group(&r.spec),
        Rule::Inhibit(r) => aql::render_inhibit(&r.spec),
        Rule::Silence(r) => aql::render_silence(&r.spec),
    }
}

/// The kind's own columns and their values, in order.
fn extra_values(rule: &Rule) -> (&'static str, Vec<String>) {
    match rule {
        Rule::Group(r) => ("group_wait, repeat_interval", vec![duration::format(r.group_wait), duration::format(r.repeat_interval)]),
        Rule::Inhibit(r) => ("wait_time", vec![duration::format(r.wait)]),
        Rule::Silence(r) => (
            "start_time, silence_duration",
            vec![r.start_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), duration::format(r.duration)],
        ),
    }
}
