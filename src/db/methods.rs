//! The `notification_method` table as the API writes it: one tenant's methods, read, listed
//! (filtered by name before paging), counted, created, changed and deleted. Every query is
//! scoped to the tenant. It validates nothing (that is the API's job) and does not touch the
//! rule tables: a deleted method's place in group rules is the rule store's to clear.

use super::{Database, Error};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// A notification method as the API shows it (type upper-case, as stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMethod {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub address: String,
    pub period: i64,
}

#[derive(Clone)]
pub struct MethodStore {
    db: Database,
}

const COLUMNS: &str = "SELECT id, name, type, address, period FROM notification_method";

impl MethodStore {
    pub fn new(db: Database) -> MethodStore {
        MethodStore { db }
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<StoredMethod>, Error> {
        let sql = self.db.sql(&format!("{COLUMNS} WHERE tenant_id = ? AND id = ?"));
        let row = sqlx::query(&sql).bind(tenant).bind(id).fetch_optional(self.db.pool()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The tenant's methods by name, optionally only those named `name`; the filter is part of
    /// the query, so `offset` and `limit` count matching methods.
    pub async fn list(&self, tenant: &str, name: Option<&str>, offset: usize, limit: usize) -> Result<Vec<StoredMethod>, Error> {
        let named = if name.is_some() { " AND name = ?" } else { "" };
        let sql = self.db.sql(&format!("{COLUMNS} WHERE tenant_id = ?{named} ORDER BY name, id LIMIT {limit} OFFSET {offset}"));
        let mut select = sqlx::query(&sql).bind(tenant);
        if let Some(name) = name {
            select = select.bind(name);
        }
        select.fetch_all(self.db.pool()).await?.iter().map(from_row).collect()
    }

    pub async fn count(&self, tenant: &str) -> Result<usize, Error> {
        let row = sqlx::query(&self.db.sql("SELECT COUNT(*) FROM notification_method WHERE tenant_id = ?")).bind(tenant).fetch_one(self.db.pool()).await?;
        Ok(row.try_get::<i64, _>(0)? as usize)
    }

    /// Whether another method of the tenant already has `name`.
    pub async fn name_taken(&self, tenant: &str, name: &str, id: &str) -> Result<bool, Error> {
        let sql = self.db.sql("SELECT id FROM notification_method WHERE tenant_id = ? AND name = ? AND id <> ?");
        Ok(sqlx::query(&sql).bind(tenant).bind(name).bind(id).fetch_optional(self.db.pool()).await?.is_some())
    }

    /// Which of `ids` are methods of the tenant.
    pub async fn owned(&self, tenant: &str, ids: &[String]) -> Result<Vec<String>, Error> {
        let mut owned = Vec::new();
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self.db.sql(&format!("SELECT id FROM notification_method WHERE tenant_id = ? AND id IN ({marks})"));
            let mut query = sqlx::query(&sql).bind(tenant);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(self.db.pool()).await? {
                owned.push(row.try_get(0)?);
            }
        }
        Ok(owned)
    }

    pub async fn insert(&self, tenant: &str, method: &StoredMethod) -> Result<(), Error> {
        // The period is a whole number the caller checked, written inline: sqlx's `Any` driver
        // binds integers as BIGINT, which an INT column of PostgreSQL refuses.
        let sql = self.db.sql(&format!(
            "INSERT INTO notification_method (id, tenant_id, name, type, address, period, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, {}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            method.period
        ));
        sqlx::query(&sql).bind(&method.id).bind(tenant).bind(&method.name).bind(&method.kind).bind(&method.address).execute(self.db.pool()).await?;
        Ok(())
    }

    pub async fn update(&self, tenant: &str, method: &StoredMethod) -> Result<(), Error> {
        let sql = self.db.sql(&format!(
            "UPDATE notification_method SET name = ?, type = ?, address = ?, period = {}, updated_at = CURRENT_TIMESTAMP WHERE tenant_id = ? AND id = ?",
            method.period
        ));
        sqlx::query(&sql).bind(&method.name).bind(&method.kind).bind(&method.address).bind(tenant).bind(&method.id).execute(self.db.pool()).await?;
        Ok(())
    }

    /// Deletes the method and detaches it from every alarm definition, in the caller's
    /// transaction (which clears its place in group rules too).
    pub async fn delete(&self, tx: &mut Transaction<'static, Any>, tenant: &str, id: &str) -> Result<(), Error> {
        sqlx::query(&self.db.sql("DELETE FROM alarm_action WHERE action_id = ?")).bind(id).execute(&mut **tx).await?;
        sqlx::query(&self.db.sql("DELETE FROM notification_method WHERE tenant_id = ? AND id = ?")).bind(tenant).bind(id).execute(&mut **tx).await?;
        Ok(())
    }
}

fn from_row(row: &AnyRow) -> Result<StoredMethod, Error> {
    Ok(StoredMethod {
        id: row.try_get(0)?,
        name: row.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
        kind: row.try_get(2)?,
        address: row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
        period: row.try_get::<i32, _>(4).map(i64::from).or_else(|_| row.try_get::<i64, _>(4))?,
    })
}
