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
    /// Set once the tables are known to exist: every read and write first makes sure of it, so
    /// a database that was down at start, or a table of an earlier version, is brought up to
    /// date before it is used.
    ready: std::sync::Arc<tokio::sync::OnceCell<Schema>>,
}

/// What the state table has, once ready.
#[derive(Clone, Copy, Debug)]
struct Schema {
    /// False only where the table predates the column and this database user may not add it:
    /// the rows are then written without it, and a tenant's groups are found by a scan.
    group_tenant_column: bool,
}

/// Rows per multi-row statement: well under every backend's placeholder limit.
const BATCH: usize = 200;

impl StateStore {
    pub fn new(db: Database) -> StateStore {
        StateStore { db, ready: std::sync::Arc::default() }
    }

    /// Creates the state tables where they are missing. The columns have the same types on every
    /// database: text of unbounded length is `TEXT`, spelled `LONGTEXT` on MySQL, whose `TEXT`
    /// stops at 64 KiB (a large group's body is longer).
    ///
    /// `group_tenant_id` (indexed) is the tenant of a group's row and empty on every other row,
    /// so a tenant's open groups are found without reading the others'. Tables of earlier
    /// versions get the column here; their rows keep it NULL until they are written again, and
    /// [`StateStore::tenant_groups`] still finds such rows.
    pub async fn init_schema(&self) -> Result<(), Error> {
        self.schema().await.map(|_| ())
    }

    async fn schema(&self) -> Result<Schema, Error> {
        self.ready.get_or_try_init(|| self.create_or_update()).await.copied()
    }

    /// A user without the right to change the schema works with the tables as they are.
    async fn create_or_update(&self) -> Result<Schema, Error> {
        let Err(e) = self.change_schema().await else {
            return Ok(Schema { group_tenant_column: true });
        };
        let exist = sqlx::query("SELECT scope FROM alarm_manager_state WHERE 1 = 0").fetch_optional(self.db.pool()).await.is_ok()
            && sqlx::query("SELECT scope FROM alarm_manager_offset WHERE 1 = 0").fetch_optional(self.db.pool()).await.is_ok();
        if !exist {
            return Err(e);
        }
        let group_tenant_column = self.has_group_tenant_column().await;
        if !group_tenant_column {
            tracing::warn!(
                error = %e,
                "the alarm-manager state table has no group_tenant_id column and this database user cannot add it; \
                 /v2.0/alarm-groups reads every tenant's group rows until a user with the right starts Tocsin once"
            );
        }
        Ok(Schema { group_tenant_column })
    }

    async fn change_schema(&self) -> Result<(), Error> {
        let mysql = self.db.dialect() == Dialect::MySql;
        let text = if mysql { "LONGTEXT" } else { "TEXT" };
        let inline_index = if mysql { ", INDEX alarm_manager_state_group_tenant (group_tenant_id)" } else { "" };
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS alarm_manager_state (scope VARCHAR(255) NOT NULL, entity_hash VARCHAR(32) NOT NULL, \
                 entity {text} NOT NULL, body {text} NOT NULL, group_tenant_id VARCHAR(255), PRIMARY KEY (scope, entity_hash){inline_index})"
            ),
            "CREATE TABLE IF NOT EXISTS alarm_manager_offset (scope VARCHAR(255) NOT NULL, next_offset BIGINT NOT NULL, PRIMARY KEY (scope))".to_owned(),
        ];
        for statement in statements {
            sqlx::query(&statement).execute(self.db.pool()).await.map_err(Error::from)?;
        }
        if !self.has_group_tenant_column().await {
            let add = if mysql {
                "ALTER TABLE alarm_manager_state ADD COLUMN group_tenant_id VARCHAR(255), ADD INDEX alarm_manager_state_group_tenant (group_tenant_id)"
            } else {
                "ALTER TABLE alarm_manager_state ADD COLUMN group_tenant_id VARCHAR(255)"
            };
            if let Err(e) = sqlx::query(add).execute(self.db.pool()).await {
                // Another instance starting at the same time may have added it first.
                if !self.has_group_tenant_column().await {
                    return Err(e.into());
                }
            }
            // Only rows that are not groups can be marked in SQL; earlier versions' group rows
            // stay NULL until rewritten (the tenant is inside their JSON key).
            sqlx::query("UPDATE alarm_manager_state SET group_tenant_id = '' WHERE group_tenant_id IS NULL AND entity NOT LIKE '{\"kind\":\"group\",%'")
                .execute(self.db.pool())
                .await?;
            tracing::info!("alarm-manager state table: added the group_tenant_id column");
        }
        if !mysql {
            sqlx::query("CREATE INDEX IF NOT EXISTS alarm_manager_state_group_tenant ON alarm_manager_state (group_tenant_id)").execute(self.db.pool()).await?;
        }
        Ok(())
    }

    /// `entity_hash` as the queries select it. Tables made by earlier versions have a CHAR(32)
    /// key, which sqlx's `Any` driver cannot read on PostgreSQL (`bpchar`): read it as text.
    fn hash_column(&self) -> &'static str {
        match self.db.dialect() {
            Dialect::Postgres => "entity_hash::text",
            Dialect::MySql | Dialect::Sqlite => "entity_hash",
        }
    }

    async fn has_group_tenant_column(&self) -> bool {
        sqlx::query("SELECT group_tenant_id FROM alarm_manager_state WHERE 1 = 0").fetch_optional(self.db.pool()).await.is_ok()
    }

    pub async fn load(&self, scope: &str) -> Result<Snapshot, Error> {
        self.schema().await?;
        let pool = self.db.pool();
        let offset = sqlx::query(&self.db.sql("SELECT next_offset FROM alarm_manager_offset WHERE scope = ?"))
            .bind(scope)
            .fetch_optional(pool)
            .await?
            .map(|row| row.try_get::<i64, _>(0))
            .transpose()
            .map_err(Error::from)?;
        let hash = self.hash_column();
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
        let schema = self.schema().await?;
        let mut tx = self.db.begin_write().await?;
        // The bodies are bound borrowed: a first flush of 100,000 groups is 400 MB of them.
        let keyed: Vec<Keyed> = changes
            .iter()
            .map(|change| {
                let entity = serde_json::to_string(&change.entity).expect("an entity serializes");
                let group_tenant_id = match &change.entity {
                    Entity::Group { tenant, .. } => tenant.as_str(),
                    Entity::Holds { .. } | Entity::Source { .. } | Entity::Notified { .. } => "",
                };
                Keyed { hash: stable_hash_hex(&entity), entity, body: change.value.as_deref(), group_tenant_id }
            })
            .collect();
        for chunk in keyed.chunks(BATCH) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self.db.sql(&format!("DELETE FROM alarm_manager_state WHERE scope = ? AND entity_hash IN ({marks})"));
            let mut query = sqlx::query(&sql).bind(scope);
            for row in chunk {
                query = query.bind(row.hash.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        let present: Vec<&Keyed> = keyed.iter().filter(|row| row.body.is_some()).collect();
        let (columns, marks) = if schema.group_tenant_column { (", group_tenant_id", "(?, ?, ?, ?, ?)") } else { ("", "(?, ?, ?, ?)") };
        for chunk in present.chunks(BATCH) {
            let rows = vec![marks; chunk.len()].join(", ");
            let sql = self.db.sql(&format!("INSERT INTO alarm_manager_state (scope, entity_hash, entity, body{columns}) VALUES {rows}"));
            let mut query = sqlx::query(&sql);
            for row in chunk {
                query = query.bind(scope).bind(row.hash.as_str()).bind(row.entity.as_str()).bind(row.body);
                if schema.group_tenant_column {
                    query = query.bind(row.group_tenant_id);
                }
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

/// One changed row as written: its key, entity and body (`None`: deleted), and the tenant of a
/// group's row (empty for other rows).
struct Keyed<'a> {
    hash: String,
    entity: String,
    body: Option<&'a str>,
    group_tenant_id: &'a str,
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
        let schema = self.schema().await?;
        // Rows written since the column exists are found through its index. Rows of earlier
        // versions (NULL) by their entity's JSON, which starts with its kind and tenant: LIKE
        // narrows them (any of its special characters made a one-character wildcard). Either
        // way the decoded entity decides.
        let tenant_json = serde_json::to_string(tenant).expect("a string serializes");
        let pattern: String = format!(r#"{{"kind":"group","tenant":{tenant_json},"#).chars().map(|c| if matches!(c, '%' | '_' | '\\') { '_' } else { c }).collect();
        let hash = self.hash_column();
        let rows = if schema.group_tenant_column {
            let sql = self.db.sql(&format!(
                "SELECT scope, {hash}, entity FROM alarm_manager_state WHERE group_tenant_id = ? OR (group_tenant_id IS NULL AND entity LIKE ?)"
            ));
            sqlx::query(&sql).bind(tenant).bind(format!("{pattern}%")).fetch_all(self.db.pool()).await?
        } else {
            let sql = self.db.sql(&format!("SELECT scope, {hash}, entity FROM alarm_manager_state WHERE entity LIKE ?"));
            sqlx::query(&sql).bind(format!("{pattern}%")).fetch_all(self.db.pool()).await?
        };
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
        let hash = self.hash_column();
        let mut bodies: std::collections::HashMap<(String, String), String> = std::collections::HashMap::with_capacity(groups.len());
        // Looked up by the whole key, scope first, so each query reads only the rows it names.
        let mut by_scope: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
        for group in groups {
            by_scope.entry(group.scope.as_str()).or_default().push(group.entity_hash.as_str());
        }
        for (scope, hashes) in by_scope {
            for chunk in hashes.chunks(BATCH) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let sql = self.db.sql(&format!("SELECT {hash}, body FROM alarm_manager_state WHERE scope = ? AND entity_hash IN ({marks})"));
                let mut query = sqlx::query(&sql).bind(scope);
                for entity_hash in chunk {
                    query = query.bind(*entity_hash);
                }
                for row in query.fetch_all(self.db.pool()).await? {
                    bodies.insert((scope.to_owned(), db::text(&row, 0)?), db::text(&row, 1)?);
                }
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
