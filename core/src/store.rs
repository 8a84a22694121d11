//! Local rusqlite store of an app's offline state (feature `store`).
//!
//! The schema is versioned with `PRAGMA user_version`; [`LocalStore::open`] applies every
//! migration above the file's version in one transaction, so an app started on an old database
//! upgrades it in place. Migrations are append-only: never edit one that has shipped.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

/// Schema migrations, index `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // v1: key/value snapshot state (view snapshots as JSON, last event seq, settings).
    "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL);",
    // v2: outbox of commands made offline, replayed in order with their idempotency keys.
    "CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        idempotency_key TEXT NOT NULL UNIQUE,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );",
];

/// The current schema version.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Errors of the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("local database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored value is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("local database has schema version {found}, newer than this app's {supported}")]
    TooNew { found: u32, supported: u32 },
    /// A thread panicked while holding the store.
    #[error("local store unusable after a crash in another thread")]
    Poisoned,
}

/// A command made while offline, replayed in order with its idempotency key.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutboxCommand {
    pub idempotency_key: String,
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
}

/// An app's local database.
#[derive(Debug)]
pub struct LocalStore {
    conn: Connection,
}

impl LocalStore {
    /// Opens (creating if needed) and upgrades the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::from_connection(Connection::open(path)?)
    }

    /// An in-memory store (tests, previews).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(mut conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let tx = conn.transaction()?;
        for sql in &MIGRATIONS[found as usize..] {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(LocalStore { conn })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Stores `value` as JSON under `key`.
    pub fn put<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let json = serde_json::to_string(value)?;
        self.conn.execute(
            "INSERT INTO kv (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![key, json, chrono::Utc::now().to_rfc3339()],
        )?;
        Ok(())
    }

    /// Reads the JSON value stored under `key`.
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let raw: Option<String> = self
            .conn
            .query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        raw.map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(Into::into)
    }

    /// Appends a command to the outbox.
    pub fn outbox_push(&self, cmd: &OutboxCommand) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO outbox (idempotency_key, method, path, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![cmd.idempotency_key, cmd.method, cmd.path, cmd.body.to_string(), chrono::Utc::now().to_rfc3339()],
        )?;
        Ok(())
    }

    /// Every queued command, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxCommand>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT idempotency_key, method, path, body FROM outbox ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (idempotency_key, method, path, body) = row?;
            out.push(OutboxCommand {
                idempotency_key,
                method,
                path,
                body: serde_json::from_str(&body)?,
            });
        }
        Ok(out)
    }

    /// Removes a command once the server has answered it.
    pub fn outbox_remove(&self, idempotency_key: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM outbox WHERE idempotency_key = ?1",
            [idempotency_key],
        )?;
        Ok(())
    }

    /// The schema as SQL text (table definitions in name order), for upgrade tests.
    pub fn schema_sql(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_schema_upgrades_to_match_a_fresh_database() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.db");
        {
            // A database as the first released version left it, with data in it.
            let conn = Connection::open(&old).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES ('last_seq', '41', 'x')",
                [],
            )
            .unwrap();
        }
        let upgraded = LocalStore::open(&old).unwrap();
        let fresh = LocalStore::open(dir.path().join("fresh.db")).unwrap();
        assert_eq!(upgraded.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(upgraded.schema_sql().unwrap(), fresh.schema_sql().unwrap());
        assert_eq!(
            upgraded.get::<u64>("last_seq").unwrap(),
            Some(41),
            "data survives the upgrade"
        );
    }

    #[test]
    fn values_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        LocalStore::open(&path)
            .unwrap()
            .put("view", &vec!["A001", "A002"])
            .unwrap();
        let again = LocalStore::open(&path).unwrap();
        assert_eq!(
            again.get::<Vec<String>>("view").unwrap().unwrap(),
            vec!["A001", "A002"]
        );
        assert_eq!(again.get::<u64>("missing").unwrap(), None);
    }

    #[test]
    fn a_newer_database_is_refused_not_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        assert!(matches!(
            LocalStore::open(&path),
            Err(StoreError::TooNew { .. })
        ));
    }
}
