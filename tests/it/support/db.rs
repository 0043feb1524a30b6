//! A fresh config database per test: a new database on the local MariaDB or PostgreSQL, or a
//! SQLite file in a temporary directory, with the Monasca schema created by Tocsin's own
//! `init_schema` and helpers to seed the rows monasca-api would write.

use sqlx::Connection;
use tocsin::db::{Database, Dialect};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    MariaDb,
    Postgres,
}

pub struct TestDb {
    pub url: String,
    pub db: Database,
    _dir: Option<tempfile::TempDir>,
}

pub const MARIADB_ADMIN: &str = "mysql://root@127.0.0.1:3306/";
pub const POSTGRES_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl TestDb {
    pub async fn new(kind: DbKind) -> TestDb {
        let name = super::unique("tocsin_it").replace('-', "_");
        let (url, dir) = match kind {
            DbKind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/config.db", dir.path().display());
                (url, Some(dir))
            }
            DbKind::MariaDb => {
                let mut admin = sqlx::MySqlConnection::connect(MARIADB_ADMIN).await.expect("MariaDB on 127.0.0.1:3306");
                sqlx::query(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")).execute(&mut admin).await.unwrap();
                (format!("{MARIADB_ADMIN}{name}"), None)
            }
            DbKind::Postgres => {
                let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN).await.expect("PostgreSQL on 127.0.0.1:5432");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
                (format!("postgres://postgres@127.0.0.1:5432/{name}"), None)
            }
        };
        let create_url = if kind == DbKind::Sqlite { format!("{url}?mode=rwc") } else { url.clone() };
        let db = Database::connect_lazy(&create_url).unwrap();
        db.init_schema().await.expect("schema");
        TestDb { url, db, _dir: dir }
    }

    /// The schema created in a SQLite file at a path chosen earlier (a database that "comes up"
    /// after Tocsin started).
    pub async fn sqlite_at(path: &std::path::Path) -> TestDb {
        let url = format!("sqlite://{}", path.display());
        let db = Database::connect_lazy(&format!("{url}?mode=rwc")).unwrap();
        db.init_schema().await.expect("schema");
        TestDb { url, db, _dir: None }
    }

    /// The single whole number a query answers (a `COUNT(*)`), read over a connection of its own.
    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let mut connection = sqlx::AnyConnection::connect(&self.url).await.expect("a connection to the test database");
        sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut connection).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn ensure_type(&self, name: &str) {
        let sql = match self.db.dialect() {
            Dialect::MySql => "INSERT IGNORE INTO notification_method_type (name) VALUES (?)",
            Dialect::Postgres => "INSERT INTO notification_method_type (name) VALUES (?) ON CONFLICT DO NOTHING",
            Dialect::Sqlite => "INSERT OR IGNORE INTO notification_method_type (name) VALUES (?)",
        };
        self.db.execute(sql, &[name]).await.unwrap();
    }

    pub async fn add_definition(&self, id: &str) {
        self.db
            .execute(
                "INSERT INTO alarm_definition (id, tenant_id, name, expression, severity, created_at, updated_at) \
                 VALUES (?, '62f7a7a314904aa3ab137d569d6b4fde', 'dummy_alarm', 'count(cpu.user_perc) >= 1', 'LOW', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                &[id],
            )
            .await
            .unwrap();
    }

    pub async fn add_method(&self, id: &str, kind: &str, name: &str, address: &str, period: i64) {
        self.ensure_type(kind).await;
        let period = period.to_string();
        let sql = format!(
            "INSERT INTO notification_method (id, tenant_id, name, type, address, created_at, updated_at, period) \
             VALUES (?, '62f7a7a314904aa3ab137d569d6b4fde', ?, ?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, {period})"
        );
        self.db.execute(&sql, &[id, name, kind, address]).await.unwrap();
    }

    pub async fn attach(&self, definition: &str, state: &str, method: &str) {
        self.db
            .execute("INSERT INTO alarm_action (alarm_definition_id, alarm_state, action_id) VALUES (?, ?, ?)", &[definition, state, method])
            .await
            .unwrap();
    }

    /// An alarm row of `definition` in `state` (what the periodic engine checks).
    pub async fn add_alarm(&self, id: &str, definition: &str, state: &str) {
        self.db
            .execute(
                "INSERT INTO alarm (id, alarm_definition_id, state, created_at, state_updated_at, updated_at) \
                 VALUES (?, ?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                &[id, definition, state],
            )
            .await
            .unwrap();
    }

    pub async fn set_alarm_state(&self, id: &str, state: &str) {
        self.db.execute("UPDATE alarm SET state = ? WHERE id = ?", &[state, id]).await.unwrap();
    }

    pub async fn set_method_period(&self, id: &str, period: i64) {
        self.db.execute(&format!("UPDATE notification_method SET period = {period} WHERE id = ?"), &[id]).await.unwrap();
    }

    /// A definition with one method attached for `states`.
    pub async fn definition_with_method(&self, definition: &str, method: &str, kind: &str, address: &str, states: &[&str]) {
        self.add_definition(definition).await;
        self.add_method(method, kind, &format!("{method} name"), address, 0).await;
        for state in states {
            self.attach(definition, state, method).await;
        }
    }
}
