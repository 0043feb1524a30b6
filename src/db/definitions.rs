//! The `alarm_definition` and `alarm_action` tables as the API writes them: one tenant's
//! definitions (read, listed by name before paging, counted, created) and which methods each
//! state of a definition notifies. Every definition query is scoped to the tenant. It validates
//! nothing; the API checks fields and that the actions are the tenant's methods.

use super::{text, Database, Error};
use crate::model::AlarmState;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDefinition {
    pub id: String,
    pub name: String,
    pub description: String,
    pub expression: String,
    pub severity: String,
    pub match_by: Vec<String>,
    pub actions_enabled: bool,
}

/// A definition's actions: method ids per state, in method-id order.
pub type Actions = Vec<(AlarmState, Vec<String>)>;

#[derive(Clone)]
pub struct DefinitionStore {
    db: Database,
}

const COLUMNS: &str = "SELECT id, name, description, expression, severity, match_by, CASE WHEN actions_enabled THEN 1 ELSE 0 END FROM alarm_definition";

impl DefinitionStore {
    pub fn new(db: Database) -> DefinitionStore {
        DefinitionStore { db }
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<StoredDefinition>, Error> {
        let sql = self.db.sql(&format!("{COLUMNS} WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL"));
        let row = sqlx::query(&sql).bind(tenant).bind(id).fetch_optional(self.db.pool()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The tenant's definitions by name, optionally only those named `name` (filtered before
    /// paging).
    pub async fn list(&self, tenant: &str, name: Option<&str>, offset: usize, limit: usize) -> Result<Vec<StoredDefinition>, Error> {
        let named = if name.is_some() { " AND name = ?" } else { "" };
        let sql = self.db.sql(&format!("{COLUMNS} WHERE tenant_id = ? AND deleted_at IS NULL{named} ORDER BY name, id LIMIT {limit} OFFSET {offset}"));
        let mut select = sqlx::query(&sql).bind(tenant);
        if let Some(name) = name {
            select = select.bind(name);
        }
        select.fetch_all(self.db.pool()).await?.iter().map(from_row).collect()
    }

    pub async fn count(&self, tenant: &str) -> Result<usize, Error> {
        let sql = self.db.sql("SELECT COUNT(*) FROM alarm_definition WHERE tenant_id = ? AND deleted_at IS NULL");
        let row = sqlx::query(&sql).bind(tenant).fetch_one(self.db.pool()).await?;
        Ok(row.try_get::<i64, _>(0)? as usize)
    }

    pub async fn name_taken(&self, tenant: &str, name: &str) -> Result<bool, Error> {
        let sql = self.db.sql("SELECT id FROM alarm_definition WHERE tenant_id = ? AND name = ? AND deleted_at IS NULL");
        Ok(sqlx::query(&sql).bind(tenant).bind(name).fetch_optional(self.db.pool()).await?.is_some())
    }

    /// A new definition with its actions, in one transaction.
    pub async fn insert(&self, tenant: &str, definition: &StoredDefinition, actions: &Actions) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        let sql = self.db.sql(&format!(
            "INSERT INTO alarm_definition (id, tenant_id, name, description, expression, severity, match_by, actions_enabled, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, {}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            if definition.actions_enabled { "TRUE" } else { "FALSE" }
        ));
        sqlx::query(&sql)
            .bind(&definition.id)
            .bind(tenant)
            .bind(&definition.name)
            .bind(&definition.description)
            .bind(&definition.expression)
            .bind(&definition.severity)
            .bind(definition.match_by.join(","))
            .execute(&mut *tx)
            .await?;
        self.write_actions(&mut tx, &definition.id, actions).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces every action list of a definition (the caller checked that it is the tenant's).
    pub async fn replace_actions(&self, id: &str, actions: &Actions) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        self.write_actions(&mut tx, id, actions).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn write_actions(&self, tx: &mut Transaction<'static, Any>, id: &str, actions: &Actions) -> Result<(), Error> {
        sqlx::query(&self.db.sql("DELETE FROM alarm_action WHERE alarm_definition_id = ?")).bind(id).execute(&mut **tx).await?;
        let insert = self.db.sql("INSERT INTO alarm_action (alarm_definition_id, alarm_state, action_id) VALUES (?, ?, ?)");
        for (state, ids) in actions {
            for action in ids {
                sqlx::query(&insert).bind(id).bind(state.as_str()).bind(action).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// The actions of the given definitions, one query per thousand definitions (a listed page
    /// holds up to 10,000): definition id → (state, method id) in method-id order.
    pub async fn actions(&self, ids: &[&str]) -> Result<HashMap<String, Vec<(String, String)>>, Error> {
        let mut by_definition: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for chunk in ids.chunks(1000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self.db.sql(&format!(
                "SELECT alarm_definition_id, alarm_state, action_id FROM alarm_action WHERE alarm_definition_id IN ({marks}) ORDER BY action_id"
            ));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(self.db.pool()).await? {
                by_definition.entry(row.try_get(0)?).or_default().push((row.try_get(1)?, row.try_get(2)?));
            }
        }
        Ok(by_definition)
    }
}

fn from_row(row: &AnyRow) -> Result<StoredDefinition, Error> {
    let enabled = row.try_get::<i64, _>(6).or_else(|_| row.try_get::<i32, _>(6).map(i64::from))?;
    Ok(StoredDefinition {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
        // LONGTEXT on MySQL, which arrives as a BLOB.
        expression: text(row, 3)?,
        severity: row.try_get(4)?,
        match_by: row.try_get::<Option<String>, _>(5)?.unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        actions_enabled: enabled != 0,
    })
}
