//! The config database: the Monasca schema on MariaDB/MySQL, PostgreSQL or SQLite through one
//! sqlx pool, the queries of monasca-notification (`docs/compatibility.md`, Database), `db init`, and the
//! cached method lookup the notification engine uses ([`MethodLookup`]).
//!
//! Queries are written once with `?` placeholders and numbered for PostgreSQL. This module
//! returns errors; it never retries on its own except inside [`MethodLookup`], whose callers
//! must not fail on a database outage.

mod config;
pub mod definitions;
mod lookup;
pub mod methods;
mod schema;

pub use config::DatabaseConfig;
pub use definitions::{DefinitionStore, StoredDefinition};
pub use lookup::MethodLookup;
pub use methods::{MethodStore, StoredMethod};

use crate::model::{AlarmState, NotificationMethod};
use crate::backoff::{self, Backoff};
use crate::supervise::{Cancelled, Fatal};
use crate::telemetry::Metrics;
use tokio_util::sync::CancellationToken;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("unsupported database URL {0:?}: expected mysql://, postgres:// or sqlite://")]
    UnsupportedUrl(String),
}

impl Error {
    /// Whether the server refused our credentials (SQLSTATE class 28): no retry can cure that.
    pub fn refused_credentials(&self) -> bool {
        match self {
            Error::Query(sqlx::Error::Database(e)) => e.code().is_some_and(|code| code.starts_with("28")),
            _ => false,
        }
    }
}

/// Runs `query` until the database answers, retrying with backoff from 100 ms to 5 s; `Err`
/// only when `cancel` fired first. Failures are counted, logged once per distinct error, and
/// refused credentials raise [`Fatal`].
pub async fn until_answered<T, F, Fut>(what: &str, metrics: &Metrics, fatal: &Fatal, cancel: &CancellationToken, mut query: F) -> Result<T, Cancelled>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut last_error: Option<String> = None;
    let value = backoff::retry(QUERY_BACKOFF, cancel, &mut query, |error: Error, retry_in| {
        metrics.db_error();
        if error.refused_credentials() {
            fatal.raise(format!("the config database refused Tocsin's credentials: {error}"));
        }
        let text = error.to_string();
        if last_error.as_ref() != Some(&text) {
            tracing::error!(query = what, error = %text, ?retry_in, "config database query failed; retrying until it answers");
            last_error = Some(text);
        }
    })
    .await?;
    if last_error.is_some() {
        tracing::info!(query = what, "config database answers again");
    }
    Ok(value)
}

/// How a query is retried while the database does not answer.
pub const QUERY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    MySql,
    Postgres,
    Sqlite,
}

#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    dialect: Dialect,
}

impl Database {
    /// A pool that connects on first use, so a database that is down at start-up delays work
    /// instead of preventing the process from starting.
    pub fn connect_lazy(url: &str) -> Result<Database, Error> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("mysql:") {
            Dialect::MySql
        } else if url.starts_with("postgres:") {
            Dialect::Postgres
        } else if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            return Err(Error::UnsupportedUrl(url.to_owned()));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(url)?;
        Ok(Database { pool, dialect })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool, for the modules that own their own tables (rules, alarm-manager state).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): of two deferred transactions that both read and then write, SQLite fails one
    /// at once with "database is locked" (it would deadlock otherwise) instead of letting it wait
    /// its turn; the API, the rule store and the alarm manager's state all read before writing.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::MySql | Dialect::Postgres => self.pool.begin().await,
        }
    }

    /// Rewrites `?` placeholders for PostgreSQL.
    pub(crate) fn sql(&self, query: &str) -> String {
        if self.dialect != Dialect::Postgres {
            return query.to_owned();
        }
        let mut out = String::with_capacity(query.len() + 8);
        let mut n = 0;
        for c in query.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The methods attached to a definition for a state, in database order (Monasca's query).
    pub async fn fetch_methods(&self, alarm_definition_id: &str, state: AlarmState) -> Result<Vec<NotificationMethod>, Error> {
        let sql = self.sql(
            "SELECT id, type, name, address, period FROM alarm_action as aa \
             JOIN notification_method as nm ON aa.action_id = nm.id \
             WHERE aa.alarm_definition_id = ? and aa.alarm_state = ?",
        );
        let rows = sqlx::query(&sql)
            .bind(alarm_definition_id)
            .bind(state.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(method_from_row).collect()
    }

    /// One notification method by id, or `None` if it no longer exists (Monasca's
    /// `get_notification`; the retry and periodic engines refresh methods with it).
    pub async fn fetch_method(&self, id: &str) -> Result<Option<NotificationMethod>, Error> {
        let sql = self.sql("SELECT id, type, name, address, period FROM notification_method WHERE id = ?");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(method_from_row).transpose()
    }

    /// One notification method of one tenant, or `None` when the tenant has no such method.
    pub async fn fetch_tenant_method(&self, tenant_id: &str, id: &str) -> Result<Option<NotificationMethod>, Error> {
        let sql = self.sql("SELECT id, type, name, address, period FROM notification_method WHERE tenant_id = ? AND id = ?");
        let row = sqlx::query(&sql).bind(tenant_id).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(method_from_row).transpose()
    }

    /// The current state of an alarm, or `None` if the alarm was deleted (Monasca's
    /// `get_alarm_current_state`).
    pub async fn alarm_state(&self, alarm_id: &str) -> Result<Option<String>, Error> {
        let sql = self.sql("SELECT state FROM alarm WHERE alarm.id = ?");
        let row = sqlx::query(&sql).bind(alarm_id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// Inserts the upper-case types of the enabled plugins that are missing from
    /// `notification_method_type` (rows other instances insert at the same time are ignored).
    pub async fn register_types(&self, names: &[String]) -> Result<(), Error> {
        let existing = self.notification_types().await?;
        let insert = match self.dialect {
            Dialect::MySql => "INSERT IGNORE INTO notification_method_type (name) VALUES (?)",
            Dialect::Postgres => "INSERT INTO notification_method_type (name) VALUES ($1) ON CONFLICT DO NOTHING",
            Dialect::Sqlite => "INSERT OR IGNORE INTO notification_method_type (name) VALUES (?)",
        };
        for name in names.iter().filter(|n| !existing.contains(n)) {
            tracing::info!(r#type = %name, "new plugin detected: adding its notification type to the database");
            sqlx::query(insert).bind(name.as_str()).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Every row of `notification_method_type`.
    pub async fn notification_types(&self) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT name from notification_method_type").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>()?)
    }

    /// Creates the tables of the Monasca schema that are missing. Existing tables are untouched.
    pub async fn init_schema(&self) -> Result<(), Error> {
        for statement in schema::statements(self.dialect) {
            sqlx::query(statement).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// The Monasca tables Tocsin reads that are missing or that this user cannot read.
    pub async fn missing_tables(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        for table in ["notification_method_type", "notification_method", "alarm_action", "alarm_definition", "alarm"] {
            if sqlx::query(&format!("SELECT 1 FROM {table} WHERE 1 = 0")).fetch_optional(&self.pool).await.is_err() {
                missing.push(table);
            }
        }
        missing
    }

    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Runs a statement with string parameters; for tools and tests that seed rows.
    pub async fn execute(&self, query: &str, params: &[&str]) -> Result<u64, Error> {
        let sql = self.sql(query);
        let mut q = sqlx::query(&sql);
        for p in params {
            q = q.bind(*p);
        }
        Ok(q.execute(&self.pool).await?.rows_affected())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A text column, whatever the server calls its type: MySQL and MariaDB send `TEXT` and
/// `LONGTEXT` columns as BLOBs, which sqlx's `Any` driver will not decode as a `String`.
pub fn text(row: &AnyRow, index: usize) -> Result<String, sqlx::Error> {
    match row.try_get::<String, _>(index) {
        Ok(text) => Ok(text),
        Err(as_text) => match row.try_get::<Vec<u8>, _>(index) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|e| sqlx::Error::ColumnDecode { index: index.to_string(), source: format!("not UTF-8 text: {e}").into() }),
            Err(_) => Err(as_text),
        },
    }
}

/// As [`text`], for a nullable column.
pub fn optional_text(row: &AnyRow, index: usize) -> Result<Option<String>, sqlx::Error> {
    match row.try_get::<Option<String>, _>(index) {
        Ok(text) => Ok(text),
        Err(as_text) => match row.try_get::<Option<Vec<u8>>, _>(index) {
            Ok(bytes) => bytes
                .map(|bytes| String::from_utf8(bytes).map_err(|e| sqlx::Error::ColumnDecode { index: index.to_string(), source: format!("not UTF-8 text: {e}").into() }))
                .transpose(),
            Err(_) => Err(as_text),
        },
    }
}

fn method_from_row(row: &AnyRow) -> Result<NotificationMethod, Error> {
    Ok(NotificationMethod {
        id: row.try_get(0)?,
        kind: row.try_get::<String, _>(1)?.to_ascii_lowercase(),
        name: row.try_get(2)?,
        address: row.try_get(3)?,
        period: row.try_get::<i64, _>(4).or_else(|_| row.try_get::<i32, _>(4).map(i64::from))?,
    })
}

#[cfg(test)]
mod tests {
    use super::Database;
    use sqlx::Executor;

    /// Two transactions that read and then write, interleaved as concurrent API requests and the
    /// alarm manager's persistence can be: with `begin_write` both succeed, one after the other.
    #[tokio::test]
    async fn interleaved_read_then_write_transactions_wait_their_turn_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect_lazy(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).unwrap();
        db.pool().execute("CREATE TABLE t (n INTEGER)").await.unwrap();
        let mut first = db.begin_write().await.unwrap();
        first.fetch_all("SELECT n FROM t").await.unwrap();
        let second = tokio::spawn({
            let db = db.clone();
            async move {
                let mut second = db.begin_write().await?;
                second.fetch_all("SELECT n FROM t").await?;
                second.execute("INSERT INTO t VALUES (2)").await?;
                second.commit().await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        first.execute("INSERT INTO t VALUES (1)").await.unwrap();
        first.commit().await.unwrap();
        second.await.unwrap().expect("the second transaction waited instead of failing");
        let rows = db.pool().fetch_all("SELECT n FROM t").await.unwrap();
        assert_eq!(rows.len(), 2);
    }
}
