//! The history's tables in the config database, on MySQL/MariaDB, PostgreSQL and SQLite:
//! `notification_history` (one row per outcome) and `notification_history_alarm` (the newest
//! transition of every alarm seen, with the rule that muted it if one did: the "known alarms"
//! a silence preview looks at and `/v2.0/muted` lists).
//!
//! Writes are batches, idempotent (a row's key is a hash of where it was read, so a record read
//! twice writes once) and bounded (every text is cut to its column). Reads are scoped to one
//! tenant. It must not decide what an outcome is; `history` does.

use super::{Entry, MethodRef, Outcome};
use crate::db::{self, Database, Dialect, Error};
use crate::engines::manager::persist::stable_hash_hex;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

#[derive(Clone)]
pub struct HistoryStore {
    db: Database,
}

/// Rows per multi-row statement: 17 placeholders each stays well under every backend's limit.
const ROWS_PER_STATEMENT: usize = 100;
/// Longest identifier kept (ids, names of types and states).
const ID_CHARS: usize = 255;
/// Longest free text kept (names, reasons, notices, addresses).
const TEXT_CHARS: usize = 4096;
/// Largest transition object kept for a known alarm.
const ALARM_JSON_BYTES: usize = 64 * 1024;

/// A page of the history, filtered.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub alarm_id: Option<String>,
    pub definition_id: Option<String>,
    pub method_id: Option<String>,
    pub state: Option<String>,
    pub outcome: Option<Outcome>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// A row read back, with its key.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEntry {
    pub id: String,
    pub entry: Entry,
}

/// An alarm's newest known transition.
#[derive(Clone, Debug, PartialEq)]
pub struct KnownAlarm {
    pub alarm_id: String,
    pub alarm_name: String,
    pub alarm_definition_id: String,
    pub state: String,
    pub alarm_timestamp_ms: i64,
    pub last_seen_ms: i64,
    /// The outcome of its newest transition.
    pub outcome: Outcome,
    pub rule_id: Option<String>,
    pub source_alarm_id: Option<String>,
    /// The transition's object as received.
    pub alarm_json: String,
}

impl HistoryStore {
    pub fn new(db: Database) -> HistoryStore {
        HistoryStore { db }
    }

    /// Creates the tables and indexes where they are missing. Every index is paid for on every
    /// write, and the database servers' share of that is most of what the history costs
    /// (BENCHMARKS.md), so there is one beyond the keys: a tenant's rows by time, for listing.
    /// Retention finds old rows through the key, which begins with the time, and scans the
    /// known alarms, one row per alarm, every ten minutes.
    pub async fn init_schema(&self) -> Result<(), Error> {
        let (text, long_text, suffix) = match self.db.dialect() {
            // utf8mb4 whatever the database's default: alarm names may hold any character.
            Dialect::MySql => ("TEXT", "LONGTEXT", " DEFAULT CHARSET=utf8mb4"),
            Dialect::Postgres | Dialect::Sqlite => ("TEXT", "TEXT", ""),
        };
        let mysql = self.db.dialect() == Dialect::MySql;
        let inline_index = |definition: &str| if mysql { format!(", INDEX {definition}") } else { String::new() };
        let mut statements = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS notification_history (id VARCHAR(32) NOT NULL PRIMARY KEY, tenant_id VARCHAR(255) NOT NULL, \
                 time_ms BIGINT NOT NULL, outcome VARCHAR(16) NOT NULL, alarm_id VARCHAR(255) NOT NULL, alarm_name {text} NOT NULL, \
                 alarm_definition_id VARCHAR(255) NOT NULL, state VARCHAR(32) NOT NULL, alarm_timestamp_ms BIGINT NOT NULL, \
                 method_id VARCHAR(255), method_name {text}, method_type VARCHAR(255), method_address {text}, attempt BIGINT, \
                 reason {text}, rule_id VARCHAR(255), source_alarm_id VARCHAR(255), notice {text}{}){suffix}",
                inline_index("notification_history_tenant_time (tenant_id, time_ms)"),
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS notification_history_alarm (tenant_id VARCHAR(255) NOT NULL, alarm_id VARCHAR(255) NOT NULL, \
                 alarm_name {text} NOT NULL, alarm_definition_id VARCHAR(255) NOT NULL, state VARCHAR(32) NOT NULL, \
                 alarm_timestamp_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL, outcome VARCHAR(16) NOT NULL, rule_id VARCHAR(255), \
                 source_alarm_id VARCHAR(255), alarm_json {long_text} NOT NULL, PRIMARY KEY (tenant_id, alarm_id)){suffix}"
            ),
        ];
        if !mysql {
            statements.push("CREATE INDEX IF NOT EXISTS notification_history_tenant_time ON notification_history (tenant_id, time_ms)".to_owned());
        }
        for statement in statements {
            sqlx::query(&statement).execute(self.db.pool()).await?;
        }
        Ok(())
    }

    /// Writes a batch in one transaction: every row (rows already written are left alone) and
    /// the newest transition of each alarm it names.
    pub async fn write(&self, entries: &[Entry]) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        let (insert, conflict) = match self.db.dialect() {
            Dialect::MySql => ("INSERT IGNORE INTO", ""),
            Dialect::Postgres => ("INSERT INTO", " ON CONFLICT (id) DO NOTHING"),
            Dialect::Sqlite => ("INSERT OR IGNORE INTO", ""),
        };
        for chunk in entries.chunks(ROWS_PER_STATEMENT) {
            let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = self.db.sql(&format!(
                "{insert} notification_history (id, tenant_id, time_ms, outcome, alarm_id, alarm_name, alarm_definition_id, state, \
                 alarm_timestamp_ms, method_id, method_name, method_type, method_address, attempt, reason, rule_id, source_alarm_id, notice) \
                 VALUES {rows}{conflict}"
            ));
            let mut query = sqlx::query(&sql);
            for e in chunk {
                let method = e.method.as_ref();
                query = query
                    .bind(row_id(e))
                    .bind(cut(&e.tenant_id, ID_CHARS))
                    .bind(e.time_ms)
                    .bind(e.outcome.as_str())
                    .bind(cut(&e.alarm_id, ID_CHARS))
                    .bind(cut(&e.alarm_name, TEXT_CHARS))
                    .bind(cut(&e.alarm_definition_id, ID_CHARS))
                    .bind(cut(&e.state, 32))
                    .bind(e.alarm_timestamp_ms)
                    .bind(method.map(|m| cut(&m.id, ID_CHARS)))
                    .bind(method.and_then(|m| m.name.as_deref()).map(|n| cut(n, TEXT_CHARS)))
                    .bind(method.map(|m| cut(&m.kind, ID_CHARS)))
                    .bind(method.and_then(|m| m.address.as_deref()).map(|a| cut(a, TEXT_CHARS)))
                    .bind(e.attempt.map(i64::from))
                    .bind(e.reason.as_deref().map(|r| cut(r, TEXT_CHARS)))
                    .bind(e.rule_id.as_deref().map(|r| cut(r, ID_CHARS)))
                    .bind(e.source_alarm_id.as_deref().map(|r| cut(r, ID_CHARS)))
                    .bind(e.notice.as_deref().map(|n| cut(n, TEXT_CHARS)));
            }
            query.execute(&mut *tx).await?;
        }
        self.write_known_alarms(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps, per alarm, its newest transition: a later transition replaces the row; of the
    /// entries of one transition, the one that says it was muted wins. One upsert per chunk,
    /// which the database decides row by row (`replaces`, written in SQL).
    async fn write_known_alarms(&self, tx: &mut sqlx::Transaction<'static, sqlx::Any>, entries: &[Entry]) -> Result<(), Error> {
        let mut newest: HashMap<(&str, &str), &Entry> = HashMap::new();
        for e in entries.iter().filter(|e| e.alarm_json.is_some()) {
            let slot = newest.entry((cut(&e.tenant_id, ID_CHARS), cut(&e.alarm_id, ID_CHARS))).or_insert(e);
            if replaces((e.alarm_timestamp_ms, e.outcome), (slot.alarm_timestamp_ms, slot.outcome)) {
                *slot = e;
            }
        }
        let rows: Vec<((&str, &str), &Entry)> = newest.into_iter().collect();
        let upsert = known_alarm_upsert(self.db.dialect());
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = self.db.sql(&format!(
                "INSERT INTO notification_history_alarm (tenant_id, alarm_id, alarm_name, alarm_definition_id, state, alarm_timestamp_ms, \
                 last_seen_ms, outcome, rule_id, source_alarm_id, alarm_json) VALUES {values} {upsert}"
            ));
            let mut query = sqlx::query(&sql);
            for ((tenant, alarm), e) in chunk {
                let json = e.alarm_json.as_deref().unwrap_or("{}");
                query = query
                    .bind(*tenant)
                    .bind(*alarm)
                    .bind(cut(&e.alarm_name, TEXT_CHARS))
                    .bind(cut(&e.alarm_definition_id, ID_CHARS))
                    .bind(cut(&e.state, 32))
                    .bind(e.alarm_timestamp_ms)
                    .bind(e.time_ms)
                    .bind(e.outcome.as_str())
                    .bind(e.rule_id.as_deref().map(|r| cut(r, ID_CHARS)))
                    .bind(e.source_alarm_id.as_deref().map(|r| cut(r, ID_CHARS)))
                    // An object cut short is no object: a huge one is kept as `{}`, unmatchable.
                    .bind(if json.len() <= ALARM_JSON_BYTES { json } else { "{}" });
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Deletes what is older than `before_ms`; returns the rows deleted.
    pub async fn purge(&self, before_ms: i64) -> Result<u64, Error> {
        let pool = self.db.pool();
        let history = sqlx::query(&self.db.sql("DELETE FROM notification_history WHERE id < ?")).bind(id_prefix(before_ms)).execute(pool).await?;
        let alarms = sqlx::query(&self.db.sql("DELETE FROM notification_history_alarm WHERE last_seen_ms < ?")).bind(before_ms).execute(pool).await?;
        Ok(history.rows_affected() + alarms.rows_affected())
    }

    /// A tenant's rows, newest first.
    pub async fn list(&self, tenant_id: &str, filter: &Filter, offset: u64, limit: u64) -> Result<Vec<StoredEntry>, Error> {
        let mut conditions = vec!["tenant_id = ?"];
        let mut texts: Vec<&str> = vec![tenant_id];
        let pairs: [(&str, Option<&str>); 5] = [
            ("alarm_id = ?", filter.alarm_id.as_deref()),
            ("alarm_definition_id = ?", filter.definition_id.as_deref()),
            ("method_id = ?", filter.method_id.as_deref()),
            ("state = ?", filter.state.as_deref()),
            ("outcome = ?", filter.outcome.map(Outcome::as_str)),
        ];
        for (condition, value) in pairs {
            if let Some(value) = value {
                conditions.push(condition);
                texts.push(value);
            }
        }
        let mut numbers = Vec::new();
        if let Some(since) = filter.since_ms {
            conditions.push("time_ms >= ?");
            numbers.push(since);
        }
        if let Some(until) = filter.until_ms {
            conditions.push("time_ms < ?");
            numbers.push(until);
        }
        let sql = self.db.sql(&format!(
            "SELECT id, tenant_id, time_ms, outcome, alarm_id, alarm_name, alarm_definition_id, state, alarm_timestamp_ms, method_id, \
             method_name, method_type, method_address, attempt, reason, rule_id, source_alarm_id, notice FROM notification_history \
             WHERE {} ORDER BY time_ms DESC, id DESC LIMIT ? OFFSET ?",
            conditions.join(" AND ")
        ));
        let mut query = sqlx::query(&sql);
        for text in texts {
            query = query.bind(text);
        }
        for number in numbers {
            query = query.bind(number);
        }
        let rows = query.bind(limit as i64).bind(offset as i64).fetch_all(self.db.pool()).await?;
        rows.iter().map(stored_entry).collect::<Result<_, sqlx::Error>>().map_err(Error::from)
    }

    /// How many rows of each outcome a tenant has since `since_ms`.
    pub async fn counts(&self, tenant_id: &str, since_ms: i64) -> Result<Vec<(Outcome, i64)>, Error> {
        let sql = self.db.sql("SELECT outcome, COUNT(*) FROM notification_history WHERE tenant_id = ? AND time_ms >= ? GROUP BY outcome");
        let rows = sqlx::query(&sql).bind(tenant_id).bind(since_ms).fetch_all(self.db.pool()).await?;
        let mut counts = Vec::new();
        for row in rows {
            let outcome: String = row.try_get(0)?;
            if let Some(outcome) = Outcome::parse(&outcome) {
                counts.push((outcome, row.try_get(1)?));
            }
        }
        Ok(counts)
    }

    /// A tenant's known alarms, most recently seen first; only the muted ones if asked.
    pub async fn known_alarms(&self, tenant_id: &str, muted_only: bool, limit: u64) -> Result<Vec<KnownAlarm>, Error> {
        let muted = if muted_only { " AND outcome IN ('silenced', 'inhibited')" } else { "" };
        let sql = self.db.sql(&format!(
            "SELECT alarm_id, alarm_name, alarm_definition_id, state, alarm_timestamp_ms, last_seen_ms, outcome, rule_id, source_alarm_id, \
             alarm_json FROM notification_history_alarm WHERE tenant_id = ?{muted} ORDER BY last_seen_ms DESC LIMIT ?"
        ));
        let rows = sqlx::query(&sql).bind(tenant_id).bind(limit as i64).fetch_all(self.db.pool()).await?;
        let mut alarms = Vec::with_capacity(rows.len());
        for row in rows {
            let outcome: String = row.try_get(6)?;
            alarms.push(KnownAlarm {
                alarm_id: row.try_get(0)?,
                alarm_name: db::text(&row, 1)?,
                alarm_definition_id: row.try_get(2)?,
                state: row.try_get(3)?,
                alarm_timestamp_ms: row.try_get(4)?,
                last_seen_ms: row.try_get(5)?,
                outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Sent),
                rule_id: row.try_get(7)?,
                source_alarm_id: row.try_get(8)?,
                alarm_json: db::text(&row, 9)?,
            });
        }
        Ok(alarms)
    }

    /// One known alarm of a tenant.
    pub async fn known_alarm(&self, tenant_id: &str, alarm_id: &str) -> Result<Option<String>, Error> {
        let sql = self.db.sql("SELECT alarm_json FROM notification_history_alarm WHERE tenant_id = ? AND alarm_id = ?");
        let row = sqlx::query(&sql).bind(tenant_id).bind(alarm_id).fetch_optional(self.db.pool()).await?;
        Ok(row.map(|r| db::text(&r, 0)).transpose()?)
    }
}

/// A row's key: its time, zero-padded, then a hash of where it was read. Unique and stable for a
/// record read twice (its time is the record's), and increasing with time, so InnoDB, which
/// stores a table in key order, appends rows instead of splitting pages all over the table.
fn row_id(e: &Entry) -> String {
    let mut id = id_prefix(e.time_ms);
    id.push_str(&stable_hash_hex(&e.source)[..19]);
    id
}

/// The part of a row's key its time decides: every key of a row older than `time_ms` sorts
/// below it, every other key above it.
fn id_prefix(time_ms: i64) -> String {
    format!("{:013}", time_ms.clamp(0, 9_999_999_999_999))
}

/// The conflict clause that keeps a known alarm's newest transition, [`replaces`] in SQL. MySQL
/// assigns left to right, each assignment seeing the ones before, so the columns the condition
/// reads are assigned last, the outcome before the timestamp (the condition holds on through
/// the outcome's change, not through the timestamp's).
fn known_alarm_upsert(dialect: Dialect) -> String {
    const COPIED: [&str; 7] = ["alarm_name", "alarm_definition_id", "state", "last_seen_ms", "rule_id", "source_alarm_id", "alarm_json"];
    const DECIDING: [&str; 2] = ["outcome", "alarm_timestamp_ms"];
    const MUTING: &str = "('silenced', 'inhibited')";
    match dialect {
        Dialect::MySql => {
            let newer = format!(
                "(VALUES(alarm_timestamp_ms) > alarm_timestamp_ms OR (VALUES(alarm_timestamp_ms) = alarm_timestamp_ms \
                 AND (VALUES(outcome) IN {MUTING} OR outcome NOT IN {MUTING})))"
            );
            let assignments: Vec<String> = COPIED.iter().chain(&DECIDING).map(|c| format!("{c} = IF({newer}, VALUES({c}), {c})")).collect();
            format!("ON DUPLICATE KEY UPDATE {}", assignments.join(", "))
        }
        Dialect::Postgres | Dialect::Sqlite => {
            let assignments: Vec<String> = COPIED.iter().chain(&DECIDING).map(|c| format!("{c} = excluded.{c}")).collect();
            format!(
                "ON CONFLICT (tenant_id, alarm_id) DO UPDATE SET {} WHERE excluded.alarm_timestamp_ms > notification_history_alarm.alarm_timestamp_ms \
                 OR (excluded.alarm_timestamp_ms = notification_history_alarm.alarm_timestamp_ms \
                 AND (excluded.outcome IN {MUTING} OR notification_history_alarm.outcome NOT IN {MUTING}))",
                assignments.join(", ")
            )
        }
    }
}

/// Whether a transition (timestamp, outcome) replaces the one stored for its alarm.
fn replaces(new: (i64, Outcome), old: (i64, Outcome)) -> bool {
    new.0 > old.0 || (new.0 == old.0 && (new.1.is_muting() || !old.1.is_muting()))
}

/// At most `max` characters, cut on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

fn stored_entry(row: &AnyRow) -> Result<StoredEntry, sqlx::Error> {
    let outcome: String = row.try_get(3)?;
    let method_id: Option<String> = row.try_get(9)?;
    let method = match method_id {
        Some(id) => Some(MethodRef { id, name: db::optional_text(row, 10)?, kind: row.try_get::<Option<String>, _>(11)?.unwrap_or_default(), address: db::optional_text(row, 12)? }),
        None => None,
    };
    Ok(StoredEntry {
        id: row.try_get(0)?,
        entry: Entry {
            source: String::new(),
            tenant_id: row.try_get(1)?,
            time_ms: row.try_get(2)?,
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Sent),
            alarm_id: row.try_get(4)?,
            alarm_name: db::text(row, 5)?,
            alarm_definition_id: row.try_get(6)?,
            state: row.try_get(7)?,
            alarm_timestamp_ms: row.try_get(8)?,
            method,
            attempt: row.try_get::<Option<i64>, _>(13)?.map(|a| a.clamp(0, u32::MAX as i64) as u32),
            reason: db::optional_text(row, 14)?,
            rule_id: row.try_get(15)?,
            source_alarm_id: row.try_get(16)?,
            notice: db::optional_text(row, 17)?,
            alarm_json: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_ids_follow_time_and_differ_by_source() {
        let entry = |source: &str, time_ms| Entry {
            source: source.into(),
            tenant_id: "t".into(),
            time_ms,
            outcome: Outcome::Sent,
            alarm_id: "a".into(),
            alarm_name: "n".into(),
            alarm_definition_id: "d".into(),
            state: "ALARM".into(),
            alarm_timestamp_ms: 0,
            method: None,
            attempt: None,
            reason: None,
            rule_id: None,
            source_alarm_id: None,
            notice: None,
            alarm_json: None,
        };
        let (early, late) = (row_id(&entry("s/0/1", 1_700_000_000_000)), row_id(&entry("s/0/2", 1_700_000_000_001)));
        assert!(early < late && early.len() == 32 && late.len() == 32, "{early} {late}");
        assert_eq!(row_id(&entry("s/0/1", 5)), row_id(&entry("s/0/1", 5)));
        assert_ne!(row_id(&entry("s/0/1", 5)), row_id(&entry("s/0/3", 5)));
        let bound = id_prefix(1_700_000_000_001);
        assert!(early < bound && late > bound && row_id(&entry("s/0/9", 1_700_000_000_002)) > bound);
    }

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        assert_eq!(cut("héllo", 2), "hé");
        assert_eq!(cut("hé", 5), "hé");
        assert_eq!(cut("", 0), "");
    }

    #[test]
    fn a_newer_transition_replaces_and_a_muted_one_wins_its_tie() {
        assert!(replaces((2, Outcome::Sent), (1, Outcome::Silenced)));
        assert!(!replaces((1, Outcome::Sent), (2, Outcome::Sent)));
        assert!(replaces((1, Outcome::Silenced), (1, Outcome::Sent)));
        assert!(!replaces((1, Outcome::Sent), (1, Outcome::Inhibited)));
        assert!(replaces((1, Outcome::Failed), (1, Outcome::Sent)));
    }
}
