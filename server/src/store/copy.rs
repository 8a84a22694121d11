//! Moving a deployment: every table of an SQLite database copied, row for row, into an empty
//! PostgreSQL database (`smartqueue-server migrate-data --from sqlite://… --to postgres://…`).
//!
//! Both schemas have the same tables and columns (ids, days and instants as the same text), so
//! the copy converts nothing but SQLite's integer booleans. It runs in one PostgreSQL
//! transaction: a failed copy leaves the target empty. The server then continues on PostgreSQL
//! where it stopped on SQLite — numbers, event seqs, tracking links, sessions.

use std::collections::BTreeMap;

use tokio_postgres::types::ToSql;

use super::StoreError;

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Text,
    NullText,
    Int,
    Bool,
}

use Col::{Bool, Int, NullText, Text};

/// Every table, parents before children, with its columns.
pub const TABLES: &[(&str, &[(&str, Col)])] = &[
    ("settings", &[("key", Text), ("value", Text)]),
    (
        "tenants",
        &[
            ("id", Text),
            ("slug", Text),
            ("last_event_seq", Int),
            ("doc", Text),
        ],
    ),
    (
        "users",
        &[
            ("id", Text),
            ("email", Text),
            ("password_hash", Text),
            ("doc", Text),
        ],
    ),
    (
        "memberships",
        &[
            ("tenant_id", Text),
            ("id", Text),
            ("user_id", Text),
            ("role", Text),
            ("doc", Text),
        ],
    ),
    (
        "refresh_tokens",
        &[
            ("token_hash", Text),
            ("family_id", Text),
            ("user_id", Text),
            ("tenant_id", NullText),
            ("expires_at", Text),
            ("used_at", NullText),
            ("revoked", Bool),
        ],
    ),
    (
        "entities",
        &[
            ("tenant_id", Text),
            ("kind", Text),
            ("id", Text),
            ("created_at", Text),
            ("doc", Text),
        ],
    ),
    (
        "queue_counters",
        &[
            ("tenant_id", Text),
            ("queue_id", Text),
            ("business_day", Text),
            ("last", Int),
        ],
    ),
    (
        "tickets",
        &[
            ("tenant_id", Text),
            ("id", Text),
            ("queue_id", Text),
            ("origin_queue_id", Text),
            ("business_day", Text),
            ("sequence", Int),
            ("status", Text),
            ("tracking_token", Text),
            ("agent_id", NullText),
            ("lane", Int),
            ("deadline_us", Int),
            ("queued_at_us", Int),
            ("created_at", Text),
            ("doc", Text),
        ],
    ),
    (
        "service_times",
        &[
            ("tenant_id", Text),
            ("queue_id", Text),
            ("closed_at_us", Int),
            ("seconds", Int),
        ],
    ),
    (
        "idempotency_keys",
        &[
            ("tenant_id", Text),
            ("actor", Text),
            ("key", Text),
            ("request", Text),
            ("status", Int),
            ("body", Text),
            ("created_at", Text),
        ],
    ),
    (
        "events",
        &[
            ("tenant_id", Text),
            ("seq", Int),
            ("type", Text),
            ("at", Text),
            ("data", Text),
        ],
    ),
    (
        "audit_logs",
        &[
            ("tenant_id", Text),
            ("id", Text),
            ("created_at", Text),
            ("entity_type", Text),
            ("entity_id", Text),
            ("doc", Text),
        ],
    ),
    (
        "queue_waiting",
        &[("tenant_id", Text), ("queue_id", Text), ("waiting", Int)],
    ),
    (
        "device_pairings",
        &[
            ("id", Text),
            ("code", Text),
            ("secret_hash", Text),
            ("mode", Text),
            ("created_at", Text),
            ("expires_at", Text),
            ("tenant_id", NullText),
            ("device_id", NullText),
        ],
    ),
    (
        "device_tokens",
        &[
            ("token_hash", Text),
            ("tenant_id", Text),
            ("kind", Text),
            ("device_id", Text),
            ("created_at", Text),
            ("revoked_at", NullText),
        ],
    ),
    (
        "number_leases",
        &[
            ("tenant_id", Text),
            ("queue_id", Text),
            ("business_day", Text),
            ("kiosk_id", Text),
            ("first", Int),
            ("last", Int),
            ("created_at", Text),
        ],
    ),
    (
        "queue_day_counts",
        &[
            ("tenant_id", Text),
            ("queue_id", Text),
            ("business_day", Text),
            ("status", Text),
            ("n", Int),
        ],
    ),
];

/// One stored value, as both backends hold it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
}

impl Cell {
    /// The value as a statement parameter.
    pub(crate) fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Null => &None::<String>,
            Cell::Text(s) => s,
            Cell::Int(i) => i,
            Cell::Bool(b) => b,
        }
    }
}

/// Every row of every table, sorted (for comparing two databases).
pub type Dump = BTreeMap<&'static str, Vec<Vec<Cell>>>;

fn columns(cols: &[(&str, Col)]) -> String {
    cols.iter()
        .map(|(c, _)| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every row of the SQLite database at `path`.
pub fn dump_sqlite(path: &std::path::Path) -> Result<Dump, StoreError> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut dump = Dump::new();
    for (table, cols) in TABLES {
        let mut stmt = conn.prepare(&format!("SELECT {} FROM {table}", columns(cols)))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(cols.len());
            for (i, (_, col)) in cols.iter().enumerate() {
                cells.push(match col {
                    Text => Cell::Text(row.get(i)?),
                    NullText => row
                        .get::<_, Option<String>>(i)?
                        .map_or(Cell::Null, Cell::Text),
                    Int => Cell::Int(row.get(i)?),
                    Bool => Cell::Bool(row.get::<_, i64>(i)? != 0),
                });
            }
            out.push(cells);
        }
        out.sort();
        dump.insert(table, out);
    }
    Ok(dump)
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| StoreError::Migration(format!("cannot connect to PostgreSQL: {e}")))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Every row of the PostgreSQL database at `url`.
pub async fn dump_postgres(url: &str) -> Result<Dump, StoreError> {
    let client = connect(url).await?;
    let mut dump = Dump::new();
    for (table, cols) in TABLES {
        let rows = client
            .query(&format!("SELECT {} FROM {table}", columns(cols)), &[])
            .await?;
        let mut out: Vec<Vec<Cell>> = rows
            .iter()
            .map(|row| {
                cols.iter()
                    .enumerate()
                    .map(|(i, (_, col))| match col {
                        Text => Cell::Text(row.get(i)),
                        NullText => row
                            .get::<_, Option<String>>(i)
                            .map_or(Cell::Null, Cell::Text),
                        Int => Cell::Int(row.get(i)),
                        Bool => Cell::Bool(row.get(i)),
                    })
                    .collect()
            })
            .collect();
        out.sort();
        dump.insert(table, out);
    }
    Ok(dump)
}

/// Copies the SQLite database at `from` into the PostgreSQL database at `to` (migrated first),
/// which must hold no data; returns the rows copied per table.
pub async fn sqlite_to_postgres(
    from: &std::path::Path,
    to: &str,
) -> Result<Vec<(&'static str, usize)>, StoreError> {
    if !from.exists() {
        return Err(StoreError::Invalid(format!(
            "{} does not exist",
            from.display()
        )));
    }
    // Brings the source up to date (so both schemas match) and the target to its schema.
    super::sqlite::migrate(from)?;
    super::postgres::migrate(to).await?;
    let dump = dump_sqlite(from)?;
    let mut client = connect(to).await?;
    let tx = client.transaction().await?;
    for (table, _) in TABLES {
        let n: i64 = tx
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await?
            .get(0);
        if n > 0 {
            return Err(StoreError::conflict(
                "target_not_empty",
                format!(
                    "the target database already holds data (table {table}: {n} rows); copy only into an empty database"
                ),
            ));
        }
    }
    let mut copied = Vec::new();
    for (table, cols) in TABLES {
        let placeholders = (1..=cols.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {table} ({}) VALUES ({placeholders})",
                columns(cols)
            ))
            .await?;
        let rows = &dump[table];
        for row in rows {
            let params: Vec<&(dyn ToSql + Sync)> = row.iter().map(Cell::sql).collect();
            tx.execute(&insert, &params).await?;
        }
        copied.push((*table, rows.len()));
    }
    // Tells any running server that what it remembers of this database is stale
    // (server/src/store/postgres/cache.rs).
    tx.execute("UPDATE write_epoch SET n = n + 1", &[]).await?;
    tx.commit().await?;
    Ok(copied)
}
