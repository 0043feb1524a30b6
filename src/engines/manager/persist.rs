//! Where the alarm manager keeps its state between runs: one row per [`Entity`] (an open group,
//! an alarm's held transitions, an inhibition source, a notified firing) under a scope naming
//! the partition that owns it, plus the offset the rows are complete up to. Rows of one flush
//! and their offset are written in one transaction, so a reader sees a consistent partition.
//!
//! It must not interpret the rows: [`ManagerState`](super::state::ManagerState) writes and reads
//! them. The tables live in the config database, which every instance shares, so a partition
//! that moves to another instance brings its state along.

use super::state::{Change, Entity, Group, GroupKey};
use crate::db::{self, Database, Dialect, Error};
use sqlx::Row;

/// A partition's persisted state.
pub struct Snapshot {
    pub rows: Vec<(Entity, serde_json::Value)>,
    /// Rows that could not be read: reported, then left out (never retried: reading them again
    /// gives the same answer).
    pub unreadable: Vec<Unreadable>,
    /// Records below this offset are already reflected in `rows`.
    pub next_offset: i64,
}

/// A state row that cannot be decoded, and where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("row (scope {scope:?}, entity_hash {entity_hash:?}) of table {table}, column {column}: {why}")]
pub struct Unreadable {
    pub table: &'static str,
    pub scope: String,
    pub entity_hash: String,
    pub column: &'static str,
    pub why: String,
}

#[derive(Clone)]
pub struct StateStore {
    db: Database,
}

/// Rows per multi-row statement: well under every backend's placeholder limit.
const BATCH: usize = 200;

impl StateStore {
    pub fn new(db: Database) -> StateStore {
        StateStore { db }
    }

    /// Creates the state tables where they are missing. The columns have the same types on every
    /// database: text of unbounded length is `TEXT`, spelled `LONGTEXT` on MySQL, whose `TEXT`
    /// stops at 64 KiB (a large group's body is longer).
    pub async fn init_schema(&self) -> Result<(), Error> {
        let text = match self.db.dialect() {
            Dialect::MySql => "LONGTEXT",
            Dialect::Postgres | Dialect::Sqlite => "TEXT",
        };
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS alarm_manager_state (scope VARCHAR(255) NOT NULL, entity_hash VARCHAR(32) NOT NULL, \
                 entity {text} NOT NULL, body {text} NOT NULL, PRIMARY KEY (scope, entity_hash))"
            ),
            "CREATE TABLE IF NOT EXISTS alarm_manager_offset (scope VARCHAR(255) NOT NULL, next_offset BIGINT NOT NULL, PRIMARY KEY (scope))".to_owned(),
        ];
        for statement in statements {
            sqlx::query(&statement).execute(self.db.pool()).await.map_err(Error::from)?;
        }
        Ok(())
    }

    pub async fn load(&self, scope: &str) -> Result<Snapshot, Error> {
        let pool = self.db.pool();
        let offset = sqlx::query(&self.db.sql("SELECT next_offset FROM alarm_manager_offset WHERE scope = ?"))
            .bind(scope)
            .fetch_optional(pool)
            .await?
            .map(|row| row.try_get::<i64, _>(0))
            .transpose()
            .map_err(Error::from)?;
        // Tables made by earlier versions have a CHAR(32) key, which sqlx's `Any` driver cannot
        // read on PostgreSQL (`bpchar`): read it as text.
        let hash = match self.db.dialect() {
            Dialect::Postgres => "entity_hash::text",
            Dialect::MySql | Dialect::Sqlite => "entity_hash",
        };
        let rows = sqlx::query(&self.db.sql(&format!("SELECT {hash}, entity, body FROM alarm_manager_state WHERE scope = ?")))
            .bind(scope)
            .fetch_all(pool)
            .await?;
        let mut parsed = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in &rows {
            match decode_row(scope, row) {
                Ok(pair) => parsed.push(pair),
                Err(bad) => unreadable.push(bad),
            }
        }
        Ok(Snapshot { rows: parsed, unreadable, next_offset: offset.unwrap_or(0) })
    }

    /// Writes the changes and the offset they are complete up to, atomically.
    pub async fn save(&self, scope: &str, changes: &[Change], next_offset: i64) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        // The bodies are bound borrowed: a first flush of 100,000 groups is 400 MB of them.
        let keyed: Vec<(String, String, Option<&str>)> = changes
            .iter()
            .map(|change| {
                let entity = serde_json::to_string(&change.entity).expect("an entity serializes");
                (stable_hash_hex(&entity), entity, change.value.as_deref())
            })
            .collect();
        for chunk in keyed.chunks(BATCH) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self.db.sql(&format!("DELETE FROM alarm_manager_state WHERE scope = ? AND entity_hash IN ({marks})"));
            let mut query = sqlx::query(&sql).bind(scope);
            for (hash, _, _) in chunk {
                query = query.bind(hash.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        let present: Vec<&(String, String, Option<&str>)> = keyed.iter().filter(|(_, _, body)| body.is_some()).collect();
        for chunk in present.chunks(BATCH) {
            let rows = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = self.db.sql(&format!("INSERT INTO alarm_manager_state (scope, entity_hash, entity, body) VALUES {rows}"));
            let mut query = sqlx::query(&sql);
            for (hash, entity, body) in chunk {
                query = query.bind(scope).bind(hash.as_str()).bind(entity.as_str()).bind(*body);
            }
            query.execute(&mut *tx).await?;
        }
        sqlx::query(&self.db.sql("DELETE FROM alarm_manager_offset WHERE scope = ?")).bind(scope).execute(&mut *tx).await?;
        sqlx::query(&self.db.sql("INSERT INTO alarm_manager_offset (scope, next_offset) VALUES (?, ?)"))
            .bind(scope)
            .bind(next_offset)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A tenant's open group as persisted: the partition's scope and row key, and its key.
#[derive(Clone, Debug, PartialEq)]
pub struct PersistedGroup {
    pub scope: String,
    pub entity_hash: String,
    pub key: GroupKey,
}

impl StateStore {
    /// The open groups of a tenant as last persisted by whichever instance owns them (at most
    /// `[alarm_manager] persist_interval` old), keys only: bodies are read for a page of them
    /// with [`StateStore::group_bodies`], as a large outage's groups are hundreds of megabytes.
    pub async fn tenant_groups(&self, tenant: &str) -> Result<Vec<PersistedGroup>, Error> {
        // The entity's JSON starts with its kind and tenant; LIKE narrows the rows (any of its
        // special characters made a one-character wildcard), the decoded entity decides.
        let tenant_json = serde_json::to_string(tenant).expect("a string serializes");
        let pattern: String = format!(r#"{{"kind":"group","tenant":{tenant_json},"#).chars().map(|c| if matches!(c, '%' | '_' | '\\') { '_' } else { c }).collect();
        let hash = match self.db.dialect() {
            Dialect::Postgres => "entity_hash::text",
            Dialect::MySql | Dialect::Sqlite => "entity_hash",
        };
        let sql = self.db.sql(&format!("SELECT scope, {hash}, entity FROM alarm_manager_state WHERE entity LIKE ?"));
        let rows = sqlx::query(&sql).bind(format!("{pattern}%")).fetch_all(self.db.pool()).await?;
        let mut groups = Vec::new();
        for row in &rows {
            let entity = db::text(row, 2)?;
            if let Ok(Entity::Group { tenant: owner, key }) = serde_json::from_str::<Entity>(&entity) {
                if owner == tenant {
                    groups.push(PersistedGroup { scope: db::text(row, 0)?, entity_hash: db::text(row, 1)?, key });
                }
            }
        }
        Ok(groups)
    }

    /// The bodies of some persisted groups, in their order, read [`BATCH`] rows per query; a
    /// group whose row is gone or unreadable is left out.
    pub async fn group_bodies(&self, groups: &[&PersistedGroup]) -> Result<Vec<(GroupKey, Group)>, Error> {
        #[derive(serde::Deserialize)]
        struct GroupRow {
            group: Group,
        }
        let hash = match self.db.dialect() {
            Dialect::Postgres => "entity_hash::text",
            Dialect::MySql | Dialect::Sqlite => "entity_hash",
        };
        let mut bodies: std::collections::HashMap<(String, String), String> = std::collections::HashMap::with_capacity(groups.len());
        for chunk in groups.chunks(BATCH) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self.db.sql(&format!("SELECT scope, {hash}, body FROM alarm_manager_state WHERE entity_hash IN ({marks})"));
            let mut query = sqlx::query(&sql);
            for group in chunk {
                query = query.bind(group.entity_hash.as_str());
            }
            for row in query.fetch_all(self.db.pool()).await? {
                bodies.insert((db::text(&row, 0)?, db::text(&row, 1)?), db::text(&row, 2)?);
            }
        }
        Ok(groups
            .iter()
            .filter_map(|g| {
                let body = bodies.get(&(g.scope.clone(), g.entity_hash.clone()))?;
                let row: GroupRow = serde_json::from_str(body).ok()?;
                Some((g.key.clone(), row.group))
            })
            .collect())
    }
}

/// The `entity_hash` key of an entity's row.
pub fn entity_hash(entity: &Entity) -> String {
    stable_hash_hex(&serde_json::to_string(entity).expect("an entity serializes"))
}

/// One state row as (entity, body), or where and why it cannot be read.
fn decode_row(scope: &str, row: &sqlx::any::AnyRow) -> Result<(Entity, serde_json::Value), Unreadable> {
    let entity_hash = db::text(row, 0).unwrap_or_else(|e| format!("<unreadable: {e}>"));
    let bad = |column: &'static str, why: String| Unreadable { table: "alarm_manager_state", scope: scope.to_owned(), entity_hash: entity_hash.clone(), column, why };
    let entity_text = db::text(row, 1).map_err(|e| bad("entity", e.to_string()))?;
    let entity = serde_json::from_str::<Entity>(&entity_text).map_err(|e| bad("entity", format!("not an alarm-manager entity: {e}")))?;
    let body_text = db::text(row, 2).map_err(|e| bad("body", e.to_string()))?;
    let body = serde_json::from_str::<serde_json::Value>(&body_text).map_err(|e| bad("body", format!("not JSON: {e}")))?;
    Ok((entity, body))
}

/// 128-bit FNV-1a as 32 hex digits: stable across builds and platforms (unlike std's hasher),
/// which persisted keys and group ids need.
pub fn stable_hash_hex(text: &str) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let hash = text.bytes().fold(OFFSET, |hash, byte| (hash ^ u128::from(byte)).wrapping_mul(PRIME));
    format!("{hash:032x}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stable_hash_is_fnv1a_128() {
        // Reference values of FNV-1a 128 (draft-eastlake-fnv).
        assert_eq!(super::stable_hash_hex(""), "6c62272e07bb014262b821756295c58d");
        assert_eq!(super::stable_hash_hex("a"), "d228cb696f1a8caf78912b704e4a8964");
    }
}
