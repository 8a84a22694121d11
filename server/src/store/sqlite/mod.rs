//! [`Store`] on one embedded SQLite file (WAL).
//!
//! **One writer thread with group commit.** All writes are closures sent to a dedicated thread
//! that owns the only write connection. It takes every job waiting, runs each inside its own
//! `SAVEPOINT` (a failing job rolls back alone) within a single transaction, commits once, and
//! only then answers the callers. Writes are therefore serialized — which is what makes numbers
//! gap-free and call-next exclusive without any lock juggling — while the commit (the expensive
//! fsync) is shared by every request that arrived meanwhile. `synchronous=FULL` keeps each
//! answered write durable. A second thread runs the WAL checkpoints.
//!
//! **Readers** use a small pool of read-only connections on blocking threads; WAL lets them run
//! beside the writer and see only committed data.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use smartqueue_core::selection::QueuePolicy;
use smartqueue_core::{
    AgentProfile, AuditLog, Id, Queue, Site, Tenant, TenantMembership, Ticket, TicketStatus, User,
};
use uuid::Uuid;

use super::*;
use crate::bus::{EventBus, InProcessBus, Subscription};

mod devices;
mod reads;
mod rows;
mod tx;
mod writer;

use rows::*;
use writer::{Job, checkpoint_loop, writer_loop};

impl From<rusqlite::Error> for StoreError {
    /// SQLite's errors stay inside this module: a unique violation becomes
    /// [`StoreError::Unique`], anything else [`StoreError::Backend`].
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Unique(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

mod embedded {
    refinery::embed_migrations!("../migrations/sqlite");
}

/// Most jobs committed together in one transaction.
const MAX_BATCH: usize = 512;
/// Read connections, and the most reads running at once: more would only add blocking threads
/// and connection churn on a small machine, while WAL readers never wait for the writer.
const READ_POOL: usize = 4;
/// How often the checkpoint thread copies the WAL back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// WAL length (frames) from which the checkpoint thread runs again after [`CHASE_PAUSE`].
const CHASE_FRAMES: i64 = 2_000;
/// Pause between checkpoints while the WAL is long.
const CHASE_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);
/// WAL pages after which the writer checkpoints by itself (only if the checkpoint thread falls
/// far behind; SQLite's default of 1,000 would put that work back on the writer).
const WRITER_CHECKPOINT_PAGES: i64 = 20_000;
/// Prepared statements kept per connection (more than the store has distinct statements).
const STATEMENT_CACHE: usize = 256;

/// Agents available or busy with `?2` among their queues, in tenant `?1`.
const SERVING_AGENTS: &str = "SELECT COUNT(*) FROM entities WHERE tenant_id = ?1 AND kind = 'agent'
   AND json_extract(doc, '$.status') IN ('available', 'busy')
   AND EXISTS (SELECT 1 FROM json_each(doc, '$.queue_ids') WHERE value = ?2)";

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    /// Dropping it stops the checkpoint thread.
    checkpointer: Mutex<Option<mpsc::Sender<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_permits: Arc<tokio::sync::Semaphore>,
    bus: Arc<dyn EventBus>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// The file path of a `sqlite://` database URL (`sqlite://./smartqueue.db`,
/// `sqlite:///var/lib/smartqueue.db`, or a bare path).
pub fn path_from_url(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let rest = rest.split('?').next().unwrap_or_default();
    if rest.is_empty() || rest == ":memory:" {
        return Err(StoreError::Invalid(format!(
            "database URL {url:?} names no file (use e.g. sqlite://./smartqueue.db)"
        )));
    }
    Ok(PathBuf::from(rest))
}

/// Process-wide SQLite settings, applied once before the first connection opens.
///
/// SQLite's memory statistics take a global mutex around every allocation and free; the
/// writer allocates on every page it journals, and the lock/unlock pairs were ~6 % of its time.
/// Nothing here reads those statistics.
fn configure_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is only valid before SQLite initializes; called later (another
        // part of the process opened a database first) it returns SQLITE_MISUSE and changes
        // nothing, which is harmless. The variadic argument is the documented `int`.
        let _ = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::os::raw::c_int,
            )
        };
    });
}

/// Settings every connection of the store shares.
fn tune_connection(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // The writer runs a few dozen distinct statements; rusqlite caches 16 by default, and a
    // statement pushed out is parsed and planned again on its next use.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Stable plans: without this SQLite re-plans a statement whenever a bound value it peeked at
    // while planning changes. The call-next head query (partial index + ORDER BY) was re-prepared
    // on every run, ~6 % of the writer's time; the plans are the same either way.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    configure_sqlite();
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The writer's working set (recent tickets, their indexes, the event and audit tails) stays
    // in a 16 MiB page cache. Larger caches made every commit slower (SQLite walks the whole
    // cache when a transaction ends); mmap gave little and inflated RSS (measured, BENCHMARKS.md).
    conn.pragma_update(None, "cache_size", -16384)?;
    // Every job runs in a savepoint, whose sub-journal (the original of each page it changes)
    // would otherwise be a temporary file, created and written through on every transaction.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    tune_connection(&conn)?;
    embedded::migrations::runner()
        .run(&mut conn)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    tune_connection(&conn)?;
    Ok(conn)
}

/// Runs the embedded migrations on the database at `path` (creating the file) and returns.
pub fn migrate(path: &Path) -> Result<(), StoreError> {
    open_writer(path).map(|_| ())
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `path` and starts the writer thread.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = open_writer(&path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::new());
        let publisher = bus.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, publisher))
            .map_err(|e| StoreError::Migration(format!("cannot start the writer thread: {e}")))?;
        let checkpoint_conn = Connection::open(&path)?;
        checkpoint_conn.busy_timeout(std::time::Duration::from_secs(1))?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, stopped))
            .map_err(|e| {
                StoreError::Migration(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(SqliteStore {
            path,
            writer: Mutex::new(Some(tx)),
            checkpointer: Mutex::new(Some(stop)),
            readers: Arc::new(Mutex::new(Vec::new())),
            read_permits: Arc::new(tokio::sync::Semaphore::new(READ_POOL)),
            bus,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting writes; the writer thread finishes the jobs already sent and exits.
    pub fn close(&self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Ok(mut c) = self.checkpointer.lock() {
            c.take();
        }
    }

    /// Runs `f` on a pooled read-only connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.readers.clone();
        let path = self.path.clone();
        let permit = self
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match pool.lock().ok().and_then(|mut p| p.pop()) {
                Some(c) => c,
                None => open_reader(&path)?,
            };
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| f(&conn)))
                .unwrap_or_else(|_| Err(StoreError::Internal("a read panicked".into())));
            if let Ok(mut p) = pool.lock()
                && p.len() < READ_POOL
            {
                p.push(conn);
            }
            out
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

#[cfg(test)]
mod tests;
