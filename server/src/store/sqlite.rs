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
use smartqueue_core::numbering::format_number;
use smartqueue_core::selection::QueuePolicy;
use smartqueue_core::{
    AgentProfile, AuditLog, Id, Lane, Queue, Site, Tenant, TenantMembership, Ticket, TicketStatus,
    User,
};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::*;
use crate::bus::{EventBus, InProcessBus, Subscription};
use smartqueue_core::event::DeviceRef;

mod devices;
mod tx;

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

/// A write waiting for the writer thread.
trait WriteJob: Send {
    /// Runs the write inside the writer's open transaction and keeps its result; `true` if it
    /// succeeded. A job can run more than once: when another job of its batch fails after
    /// writing, the batch is rolled back and replayed (see [`run_batch`]).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the transaction's fate is known (`Err` = not committed).
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

type Job = Box<dyn WriteJob>;

/// A write closure and the channel its caller waits on.
struct Pending<T, F> {
    f: F,
    tx: oneshot::Sender<StoreResult<T>>,
    result: Option<StoreResult<T>>,
}

impl<T, F> WriteJob for Pending<T, F>
where
    T: Send,
    F: Fn(&Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = crate::store::tx::run_caught(|| (self.f)(conn));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let _ = self
            .tx
            .send(crate::store::tx::settle(self.result, committed));
    }
}

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

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, bus: Arc<dyn EventBus>) {
    reset_config_cache();
    // Transaction statements, prepared once: parsing them on every job showed in the profile.
    let step = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]).map(drop))
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = run_batch(&conn, &step, &mut batch)
            .inspect_err(|_| {
                // Whatever was left open of the batch goes (an error when nothing is open).
                let _ = step("ROLLBACK");
                reset_config_cache();
                PENDING_EVENTS.with(|p| p.borrow_mut().clear());
            })
            .and_then(|()| {
                step("COMMIT").map_err(|e| {
                    reset_config_cache();
                    let _ = step("ROLLBACK");
                    e.to_string()
                })
            });
        // Callers are answered first: publishing wakes every subscribed session (ten thousand
        // screens, say), and an answer queued behind them reached the agent who called ~100 ms
        // late. Events go out only once their transaction is durable, in commit order.
        let pending = PENDING_EVENTS.with(|p| std::mem::take(&mut *p.borrow_mut()));
        for job in batch {
            job.answer(committed.clone());
        }
        if committed.is_ok() {
            bus.publish(pending);
        }
    }
}

/// Runs `batch` inside one open transaction (left open for the caller to commit); `Err` if no
/// transaction could be opened (nothing ran).
///
/// Jobs run back to back without savepoints: a savepoint per job made SQLite copy every page a
/// job touched into its sub-journal, ~10 % of the writer's time, while almost every failing job
/// fails before it writes (validation, not found, conflict) and so needs no undo at all. A job
/// that fails *after* changing rows is the rare case: the whole transaction is rolled back and
/// the batch replayed with a savepoint around each job, so the failed one is undone alone and
/// the others still commit.
fn run_batch(
    conn: &Connection,
    step: &dyn Fn(&str) -> rusqlite::Result<()>,
    batch: &mut [Job],
) -> Result<(), String> {
    step("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    let mut clean = true;
    for job in batch.iter_mut() {
        let (changes, mark) = (conn.total_changes(), pending_events());
        if !job.run(conn) {
            // Nothing it emitted may go out; rows it changed force the replay below.
            PENDING_EVENTS.with(|p| p.borrow_mut().truncate(mark));
            if conn.total_changes() != changes {
                clean = false;
                break;
            }
        }
    }
    if clean {
        return Ok(());
    }
    reset_config_cache();
    PENDING_EVENTS.with(|p| p.borrow_mut().clear());
    step("ROLLBACK").map_err(|e| e.to_string())?;
    step("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    let replayed = replay(conn, step, batch);
    if replayed.is_err() {
        // Without its savepoint a failed job's writes cannot be undone alone: nothing of the
        // batch may commit.
        reset_config_cache();
        PENDING_EVENTS.with(|p| p.borrow_mut().clear());
        let _ = step("ROLLBACK");
    }
    replayed
}

/// The replay of [`run_batch`]: each job inside its own savepoint, a failed one rolled back to
/// it. `Err` when a savepoint statement itself fails; the transaction must then be rolled back.
fn replay(
    conn: &Connection,
    step: &dyn Fn(&str) -> rusqlite::Result<()>,
    batch: &mut [Job],
) -> Result<(), String> {
    let failed = |what: &str, e: rusqlite::Error| format!("{what} failed: {e}");
    for job in batch.iter_mut() {
        step("SAVEPOINT job").map_err(|e| failed("SAVEPOINT", e))?;
        let mark = pending_events();
        if !job.run(conn) {
            reset_config_cache();
            PENDING_EVENTS.with(|p| p.borrow_mut().truncate(mark));
            step("ROLLBACK TO job").map_err(|e| failed("ROLLBACK TO", e))?;
        }
        step("RELEASE job").map_err(|e| failed("RELEASE", e))?;
    }
    Ok(())
}

/// How many events the open transaction has emitted so far.
fn pending_events() -> usize {
    PENDING_EVENTS.with(|p| p.borrow().len())
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] on its own connection until `stop` is dropped.
///
/// Left to SQLite, the checkpoint runs inside whichever commit crosses the threshold: the writer
/// (and every request waiting on it) then stalls while pages are copied and the database file is
/// fsynced, which made the slowest creates 50 ms. A passive checkpoint here runs beside the
/// writer on the other core and never blocks it.
///
/// Under sustained writes the WAL only starts over when a checkpoint has copied *every* frame,
/// which a checkpoint beside a busy writer never quite does; the writer then checkpoints itself
/// at [`WRITER_CHECKPOINT_PAGES`] and everyone waits while it copies what is left. So while the
/// WAL is long this thread chases the writer with short pauses, keeping that remainder small.
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>) {
    let mut pause = CHECKPOINT_EVERY;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(pause) {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(frames) if frames >= CHASE_FRAMES => pause = CHASE_PAUSE,
            Ok(_) => pause = CHECKPOINT_EVERY,
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
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

    /// Runs `f` in the writer's transaction and answers after the commit.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(Pending {
            f,
            tx,
            result: None,
        });
        {
            let guard = self.writer.lock().map_err(|_| StoreError::Closed)?;
            let sender = guard.as_ref().ok_or(StoreError::Closed)?;
            sender.send(job).map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
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

// ---------------------------------------------------------------------------------------------
// Synchronous helpers used inside jobs
// ---------------------------------------------------------------------------------------------

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    Ok(serde_json::from_str(s)?)
}

/// The tenant's slug (events carry it); None for an unknown tenant.
fn tenant_slug(conn: &Connection, tenant: Id) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT slug FROM tenants WHERE id = ?1")?
        .query_row([tenant.to_string()], |r| r.get(0))
        .optional()?)
}

/// The columns `seq, type, at, data` of an `events` row.
type EventRow = (i64, String, String, String);

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

/// An `events` row as the envelope it is published as.
fn stored_event(
    tenant: Id,
    slug: &str,
    (seq, kind, at, data): EventRow,
) -> StoreResult<StoredEvent> {
    let at = DateTime::parse_from_rfc3339(&at)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Internal(format!("stored event: {e}")))?;
    let event = Event::from_parts(&kind, &data)
        .map_err(|e| StoreError::Internal(format!("stored event {seq}: {e}")))?;
    Ok(StoredEvent {
        tenant_id: tenant,
        envelope: Envelope {
            seq,
            tenant: slug.to_owned(),
            at,
            event,
        },
    })
}

/// Parsed documents by (tenant, kind, id); see `CONFIG_CACHE`.
type ConfigCache = HashMap<(Id, Kind, Id), Box<dyn std::any::Any>>;

thread_local! {
    /// Parsed configuration documents (sites, services, queues, counters) read by the writer:
    /// every ticket write needs its queue and site, and parsing them each time was a few percent
    /// of the writer's time. Only the writer thread uses it, and it is the only writer: each
    /// change of a document removes its entry, and a rolled-back job clears the whole cache (it
    /// may have cached something that was never committed). Readers never cache.
    static CONFIG_CACHE: std::cell::RefCell<Option<ConfigCache>> =
        const { std::cell::RefCell::new(None) };
}

fn cacheable(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Site | Kind::Service | Kind::Queue | Kind::Counter
    )
}

/// Turns the cache on for this thread (the writer), empty; also how a rollback forgets it all.
fn reset_config_cache() {
    CONFIG_CACHE.with(|c| *c.borrow_mut() = Some(HashMap::new()));
}

/// Forgets a cached document (it changed or was deleted).
fn uncache(tenant: Id, kind: Kind, id: Id) {
    CONFIG_CACHE.with(|c| {
        if let Some(map) = c.borrow_mut().as_mut() {
            map.remove(&(tenant, kind, id));
        }
    });
}

fn get_doc<T: DeserializeOwned + Clone + 'static>(
    conn: &Connection,
    tenant: Id,
    kind: Kind,
    id: Id,
) -> StoreResult<Option<T>> {
    if !cacheable(kind) {
        return load_doc(conn, tenant, kind, id);
    }
    let key = (tenant, kind, id);
    let hit = CONFIG_CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|m| m.get(&key))
            .and_then(|d| d.downcast_ref::<T>())
            .cloned()
    });
    if hit.is_some() {
        return Ok(hit);
    }
    let doc = load_doc::<T>(conn, tenant, kind, id)?;
    if let Some(d) = &doc {
        CONFIG_CACHE.with(|c| {
            if let Some(map) = c.borrow_mut().as_mut() {
                map.insert(key, Box::new(d.clone()));
            }
        });
    }
    Ok(doc)
}

fn load_doc<T: DeserializeOwned>(
    conn: &Connection,
    tenant: Id,
    kind: Kind,
    id: Id,
) -> StoreResult<Option<T>> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT doc FROM entities WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3")?
        .query_row(
            params![tenant.to_string(), kind.as_str(), id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    raw.map(|s| from_json(&s)).transpose()
}

fn require_doc<T: DeserializeOwned + Clone + 'static>(
    conn: &Connection,
    tenant: Id,
    kind: Kind,
    id: Id,
) -> StoreResult<T> {
    get_doc(conn, tenant, kind, id)?.ok_or(StoreError::NotFound(kind.as_str()))
}

fn put_doc<T: Serialize>(
    conn: &Connection,
    tenant: Id,
    kind: Kind,
    id: Id,
    doc: &T,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    uncache(tenant, kind, id);
    conn.prepare_cached(
        "INSERT INTO entities (tenant_id, kind, id, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant_id, kind, id) DO UPDATE SET doc = excluded.doc",
    )?
    .execute(params![
        tenant.to_string(),
        kind.as_str(),
        id.to_string(),
        ts(now),
        serde_json::to_string(doc)?
    ])?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn audit(
    conn: &Connection,
    tenant: Id,
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: Id,
    before: Option<Value>,
    after: Option<&Value>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let (before, after) = changed_fields(before, after);
    let entry = AuditRow {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        actor_user_id: actor.user_id,
        actor_kind: actor.kind,
        action,
        entity_type,
        entity_id,
        before: before.as_ref(),
        after: after.as_ref(),
        request_id: actor.request_id.as_deref(),
        created_at: now,
    };
    entry.insert(conn)
}

/// The audit entry of a creation whose document was already serialized (`after_json`, e.g. by
/// [`emit_json`]): the same row as [`audit`] writes, without serializing the document again.
#[allow(clippy::too_many_arguments)]
fn audit_created(
    conn: &Connection,
    tenant: Id,
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: Id,
    after_json: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let after: &serde_json::value::RawValue = serde_json::from_str(after_json)?;
    let entry = AuditRow {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        actor_user_id: actor.user_id,
        actor_kind: actor.kind,
        action,
        entity_type,
        entity_id,
        before: None::<&Value>,
        after: Some(after),
        request_id: actor.request_id.as_deref(),
        created_at: now,
    };
    entry.insert(conn)
}

/// One audit entry as written: [`AuditLog`]'s fields in its order (reads deserialize the row's
/// `doc` as an `AuditLog`), borrowed, with `before`/`after` as a JSON tree or as JSON text
/// embedded as is.
#[derive(Serialize)]
struct AuditRow<'a, B: Serialize + ?Sized, A: Serialize + ?Sized> {
    // v7: appended in index order (see smartqueue_core::Id).
    id: Uuid,
    tenant_id: Id,
    actor_user_id: Option<Id>,
    actor_kind: &'a str,
    action: &'a str,
    entity_type: &'a str,
    entity_id: Id,
    before: Option<&'a B>,
    after: Option<&'a A>,
    request_id: Option<&'a str>,
    created_at: DateTime<Utc>,
}

impl<B: Serialize + ?Sized, A: Serialize + ?Sized> AuditRow<'_, B, A> {
    fn insert(&self, conn: &Connection) -> StoreResult<()> {
        conn.prepare_cached(
            "INSERT INTO audit_logs (tenant_id, id, created_at, entity_type, entity_id, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            self.tenant_id.to_string(),
            self.id.to_string(),
            ts(self.created_at),
            self.entity_type,
            self.entity_id.to_string(),
            serde_json::to_string(self)?
        ])?;
        Ok(())
    }
}

/// For an update (both sides are objects), keeps only the fields that changed, so an audit entry
/// says exactly what a change did and stays small; creations and deletions keep the whole object.
fn changed_fields(before: Option<Value>, after: Option<&Value>) -> (Option<Value>, Option<Value>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut old = serde_json::Map::new();
            let mut new = serde_json::Map::new();
            for (k, v) in a {
                if b.get(k) != Some(v) {
                    old.insert(k.clone(), b.get(k).cloned().unwrap_or(Value::Null));
                    new.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in &b {
                if !a.contains_key(k) {
                    old.insert(k.clone(), v.clone());
                    new.insert(k.clone(), Value::Null);
                }
            }
            (Some(Value::Object(old)), Some(Value::Object(new)))
        }
        (before, after) => (before, after.cloned()),
    }
}

/// Appends an event to the tenant's log with the next `seq` (committed with the change);
/// returns the seq and the payload as it was serialized into the log (for an audit entry).
fn emit(
    conn: &Connection,
    tenant: Id,
    event: Event,
    now: DateTime<Utc>,
) -> StoreResult<(i64, String)> {
    let (seq, slug): (i64, String) = conn
        .prepare_cached("UPDATE tenants SET last_event_seq = last_event_seq + 1 WHERE id = ?1 RETURNING last_event_seq, slug")?
        .query_row([tenant.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let json = event.data_json()?;
    conn.prepare_cached(
        "INSERT INTO events (tenant_id, seq, type, at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        tenant.to_string(),
        seq,
        event.kind(),
        ts(now),
        json
    ])?;
    // Held until the transaction commits; the writer loop publishes or discards it.
    PENDING_EVENTS.with(|p| {
        p.borrow_mut().push(StoredEvent {
            tenant_id: tenant,
            envelope: Envelope {
                seq,
                tenant: slug,
                at: now,
                event,
            },
        })
    });
    Ok((seq, json))
}

thread_local! {
    /// Events emitted by the writer thread's current transaction, not yet committed.
    static PENDING_EVENTS: std::cell::RefCell<Vec<StoredEvent>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn queue_policy(queue: &Queue) -> QueuePolicy {
    QueuePolicy::from(queue)
}

fn lane_num(l: Lane) -> i64 {
    match l {
        Lane::Front => 0,
        Lane::Normal => 1,
    }
}

fn load_ticket(conn: &Connection, tenant: Id, id: Id) -> StoreResult<Option<Ticket>> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT doc FROM tickets WHERE tenant_id = ?1 AND id = ?2")?
        .query_row(params![tenant.to_string(), id.to_string()], |r| r.get(0))
        .optional()?;
    raw.map(|s| from_json(&s)).transpose()
}

fn insert_ticket(conn: &Connection, t: &Ticket, policy: &QueuePolicy) -> StoreResult<()> {
    let key = policy.key(t);
    conn.prepare_cached(
        "INSERT INTO tickets (tenant_id, id, queue_id, origin_queue_id, business_day, sequence, status, tracking_token,
                              agent_id, lane, deadline_us, queued_at_us, created_at, doc)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        t.tenant_id.to_string(),
        t.id.to_string(),
        t.queue_id.to_string(),
        t.business_day.to_string(),
        t.sequence,
        t.status.as_str(),
        t.tracking_token,
        t.agent_id.map(|a| a.to_string()),
        lane_num(t.lane),
        key.deadline_us,
        key.queued_at_us,
        ts(t.created_at),
        serde_json::to_string(t)?
    ])?;
    Ok(())
}

fn update_ticket(conn: &Connection, t: &Ticket, policy: &QueuePolicy) -> StoreResult<()> {
    let key = policy.key(t);
    conn.prepare_cached(
        "UPDATE tickets SET queue_id = ?3, status = ?4, agent_id = ?5, lane = ?6, deadline_us = ?7, queued_at_us = ?8, doc = ?9
         WHERE tenant_id = ?1 AND id = ?2",
    )?
    .execute(params![
        t.tenant_id.to_string(),
        t.id.to_string(),
        t.queue_id.to_string(),
        t.status.as_str(),
        t.agent_id.map(|a| a.to_string()),
        lane_num(t.lane),
        key.deadline_us,
        key.queued_at_us,
        serde_json::to_string(t)?
    ])?;
    Ok(())
}

/// Adds `delta` to a queue's waiting count and returns the new count.
fn bump_waiting(conn: &Connection, tenant: Id, queue: Id, delta: i64) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO queue_waiting (tenant_id, queue_id, waiting) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id, queue_id) DO UPDATE SET waiting = waiting + excluded.waiting
             RETURNING waiting",
        )?
        .query_row(params![tenant.to_string(), queue.to_string(), delta], |r| {
            r.get(0)
        })?)
}

/// Number of waiting tickets in a queue (O(1)).
fn waiting_count(conn: &Connection, tenant: Id, queue: Id) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT waiting FROM queue_waiting WHERE tenant_id = ?1 AND queue_id = ?2")?
        .query_row(params![tenant.to_string(), queue.to_string()], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Keeps the waiting counts and the day's ended counts (`queue_day_counts`) right across a
/// ticket's change from `before` to `after`, and returns the new length of each queue whose line
/// changed.
fn track_counts(
    conn: &Connection,
    before: Option<&Ticket>,
    after: &Ticket,
) -> StoreResult<Vec<(Id, i64)>> {
    let was = before
        .filter(|b| b.status == TicketStatus::Waiting)
        .map(|b| b.queue_id);
    let is = (after.status == TicketStatus::Waiting).then_some(after.queue_id);
    let mut changed = Vec::new();
    if was != is {
        if let Some(q) = was {
            changed.push((q, bump_waiting(conn, after.tenant_id, q, -1)?));
        }
        if let Some(q) = is {
            changed.push((q, bump_waiting(conn, after.tenant_id, q, 1)?));
        }
    }
    // Ended tickets per queue and day (the lifecycle never leaves these statuses, but a count
    // is kept right for any change).
    let ended = |t: &Ticket| {
        matches!(
            t.status,
            TicketStatus::Closed | TicketStatus::NoShow | TicketStatus::Cancelled
        )
        .then_some((t.queue_id, t.business_day, t.status))
    };
    let (was_ended, is_ended) = (before.and_then(ended), ended(after));
    if was_ended != is_ended {
        for (key, delta) in [(was_ended, -1), (is_ended, 1)] {
            if let Some((queue, day, status)) = key {
                conn.prepare_cached(
                    "INSERT INTO queue_day_counts (tenant_id, queue_id, business_day, status, n) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tenant_id, queue_id, business_day, status) DO UPDATE SET n = n + excluded.n",
                )?
                .execute(params![after.tenant_id.to_string(), queue.to_string(), day.to_string(), status.as_str(), delta])?;
            }
        }
    }
    Ok(changed)
}

/// Puts the new queue lengths into the ticket event that changed them (`"queues": [{queue_id,
/// waiting}]`): one event per transition (design §3), and screens still learn every length
/// change without polling.
/// Positions are counted on whichever side of the ticket is short: the tickets behind it
/// (a new ticket is usually last, so this is usually zero), else the ones ahead. At most this
/// many index entries are scanned on the first side.
macro_rules! position_scan {
    () => {
        256
    };
}
const POSITION_SCAN: i64 = position_scan!();

/// 1-based position of a waiting ticket in its queue's calling order.
fn position(conn: &Connection, t: &Ticket, policy: &QueuePolicy) -> StoreResult<Option<u32>> {
    if t.status != TicketStatus::Waiting {
        return Ok(None);
    }
    let key = policy.key(t);
    let (tenant, queue) = (t.tenant_id.to_string(), t.queue_id.to_string());
    let behind: i64 = conn
        .prepare_cached(
            // The limit is a literal: SQLite plans around a bound LIMIT's value, so a `LIMIT ?`
            // made it re-prepare the statement on every run (17 % of the writer's time).
            concat!("SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status = 'waiting'
               AND (lane, deadline_us, queued_at_us, sequence) > (?3, ?4, ?5, ?6) LIMIT ", position_scan!(), ")"),
        )?
        .query_row(params![tenant, queue, lane_num(t.lane), key.deadline_us, key.queued_at_us, t.sequence], |r| r.get(0))?;
    if behind < POSITION_SCAN {
        let total = waiting_count(conn, t.tenant_id, t.queue_id)?;
        return Ok(Some((total - behind).max(1) as u32));
    }
    let ahead: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status = 'waiting'
               AND (lane, deadline_us, queued_at_us, sequence) < (?3, ?4, ?5, ?6)",
        )?
        .query_row(params![tenant, queue, lane_num(t.lane), key.deadline_us, key.queued_at_us, t.sequence], |r| r.get(0))?;
    Ok(Some(ahead as u32 + 1))
}

fn placed(conn: &Connection, t: Ticket) -> StoreResult<PlacedTicket> {
    let queue: Option<Queue> = get_doc(conn, t.tenant_id, Kind::Queue, t.queue_id)?;
    let position = match queue {
        Some(q) => position(conn, &t, &queue_policy(&q))?,
        None => None,
    };
    Ok(PlacedTicket {
        ticket: t,
        position,
    })
}

fn member_of_row(conn: &Connection, tenant: Id, user_id: Id) -> StoreResult<Option<Member>> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT m.doc, u.doc FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ?1 AND m.user_id = ?2",
        )?
        .query_row(params![tenant.to_string(), user_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((m, u)) = row else { return Ok(None) };
    let agent_id: Option<String> = conn
        .prepare_cached("SELECT id FROM entities WHERE tenant_id = ?1 AND kind = 'agent' AND json_extract(doc, '$.user_id') = ?2")?
        .query_row(params![tenant.to_string(), user_id.to_string()], |r| r.get(0))
        .optional()?;
    let agent = match agent_id.and_then(|a| a.parse::<Uuid>().ok()) {
        Some(a) => get_doc(conn, tenant, Kind::Agent, a)?,
        None => None,
    };
    Ok(Some(Member {
        user: from_json(&u)?,
        membership: from_json(&m)?,
        agent,
        existing_user: true,
    }))
}

// ---------------------------------------------------------------------------------------------
// The Store implementation
// ---------------------------------------------------------------------------------------------

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn submit(&self, job: Box<dyn crate::store::tx::TxJob>) -> StoreResult<()> {
        let guard = self.writer.lock().map_err(|_| StoreError::Closed)?;
        let sender = guard.as_ref().ok_or(StoreError::Closed)?;
        sender
            .send(Box::new(tx::Neutral(job)))
            .map_err(|_| StoreError::Closed)
    }

    async fn signing_secret(&self) -> StoreResult<Vec<u8>> {
        self.write(|conn| {
            // 384 random bits as 96 hex digits (generated once, on first start).
            let candidate = hex::encode(rand::Rng::random::<[u8; 48]>(&mut rand::rng()));
            conn.prepare_cached(
                "INSERT OR IGNORE INTO settings (key, value) VALUES ('jwt_secret', ?1)",
            )?
            .execute([candidate])?;
            let s: String = conn
                .prepare_cached("SELECT value FROM settings WHERE key = 'jwt_secret'")?
                .query_row([], |r| r.get(0))?;
            Ok(s.into_bytes())
        })
        .await
    }

    async fn create_tenant(
        &self,
        name: &str,
        slug: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Tenant> {
        let tenant = Tenant {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            slug: slug.to_owned(),
            is_active: true,
            created_at: now,
        };
        self.write(move |conn| {
            let exists: bool = conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = ?1)")?
                .query_row([&tenant.slug], |r| r.get(0))?;
            if exists {
                return Err(StoreError::conflict(
                    "slug_taken",
                    format!("a tenant with slug {:?} already exists", tenant.slug),
                ));
            }
            conn.prepare_cached("INSERT INTO tenants (id, slug, doc) VALUES (?1, ?2, ?3)")?
                .execute(params![
                    tenant.id.to_string(),
                    tenant.slug,
                    serde_json::to_string(&tenant)?
                ])?;
            audit(
                conn,
                tenant.id,
                &Actor::system(),
                "tenant.create",
                "tenant",
                tenant.id,
                None,
                Some(&serde_json::to_value(&tenant)?),
                now,
            )?;
            Ok(tenant.clone())
        })
        .await
    }

    async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        let slug = slug.to_owned();
        self.read(move |conn| {
            let raw: Option<String> = conn
                .prepare_cached("SELECT doc FROM tenants WHERE slug = ?1")?
                .query_row([slug], |r| r.get(0))
                .optional()?;
            raw.map(|s| from_json(&s)).transpose()
        })
        .await
    }

    async fn user_credentials(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let email = email.trim().to_owned();
        self.read(move |conn| {
            let row: Option<(String, String)> = conn
                .prepare_cached("SELECT doc, password_hash FROM users WHERE email = ?1")?
                .query_row([email], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(d, h)| Ok((from_json(&d)?, h))).transpose()
        })
        .await
    }

    async fn user(&self, id: Id) -> StoreResult<Option<User>> {
        self.read(move |conn| {
            let raw: Option<String> = conn
                .prepare_cached("SELECT doc FROM users WHERE id = ?1")?
                .query_row([id.to_string()], |r| r.get(0))
                .optional()?;
            raw.map(|s| from_json(&s)).transpose()
        })
        .await
    }

    async fn memberships(&self, user_id: Id) -> StoreResult<Vec<MembershipInfo>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT t.id, t.slug, m.role,
                        (SELECT e.id FROM entities e WHERE e.tenant_id = m.tenant_id AND e.kind = 'agent'
                           AND json_extract(e.doc, '$.user_id') = m.user_id)
                 FROM memberships m JOIN tenants t ON t.id = m.tenant_id
                 WHERE m.user_id = ?1 ORDER BY t.slug",
            )?;
            let rows = stmt.query_map([user_id.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (tid, slug, role, agent) = row?;
                out.push(MembershipInfo {
                    tenant_id: tid.parse().map_err(|_| StoreError::Internal("bad tenant id".into()))?,
                    tenant_slug: slug,
                    role: role.parse().map_err(|_| StoreError::Internal(format!("bad role {role}")))?,
                    agent_id: agent.and_then(|a| a.parse().ok()),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn list_members(&self, tenant_id: Id) -> StoreResult<Vec<Member>> {
        self.read(move |conn| {
            let ids: Vec<String> = conn
                .prepare_cached(
                    "SELECT user_id FROM memberships WHERE tenant_id = ?1 ORDER BY rowid",
                )?
                .query_map([tenant_id.to_string()], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let uid: Uuid = id
                    .parse()
                    .map_err(|_| StoreError::Internal("bad user id".into()))?;
                if let Some(m) = member_of_row(conn, tenant_id, uid)? {
                    out.push(m);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn save_refresh(&self, r: RefreshRecord) -> StoreResult<()> {
        self.write(move |conn| insert_refresh(conn, &r)).await
    }

    async fn rotate_refresh(
        &self,
        presented: &str,
        next: RefreshRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome> {
        let presented = presented.to_owned();
        self.write(move |conn| {
            let row: Option<(String, String, Option<String>, String, Option<String>, bool)> = conn
                .prepare_cached("SELECT family_id, user_id, tenant_id, expires_at, used_at, revoked FROM refresh_tokens WHERE token_hash = ?1")?
                .query_row([&presented], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
                .optional()?;
            let Some((family, user, tenant, expires, used, revoked)) = row else { return Ok(RefreshOutcome::Invalid) };
            if revoked {
                return Ok(RefreshOutcome::Invalid);
            }
            if used.is_some() {
                conn.prepare_cached("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?1")?.execute([&family])?;
                return Ok(RefreshOutcome::Reused);
            }
            let expired = DateTime::parse_from_rfc3339(&expires).map(|e| e < now).unwrap_or(true);
            if expired {
                return Ok(RefreshOutcome::Invalid);
            }
            conn.prepare_cached("UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1")?.execute(params![presented, ts(now)])?;
            let user_id: Id = user.parse().map_err(|_| StoreError::Internal("bad user id".into()))?;
            let tenant_id: Option<Id> = tenant.and_then(|t| t.parse().ok());
            let family_id: Id = family.parse().map_err(|_| StoreError::Internal("bad family".into()))?;
            insert_refresh(conn, &RefreshRecord { family_id, user_id, tenant_id, ..next.clone() })?;
            Ok(RefreshOutcome::Rotated { user_id, tenant_id })
        })
        .await
    }

    async fn create_entity(
        &self,
        tenant_id: Id,
        kind: Kind,
        id: Id,
        doc: Value,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |conn| {
            if get_doc::<Value>(conn, tenant_id, kind, id)?.is_some() {
                return Err(StoreError::conflict(
                    "already_exists",
                    format!("{} already exists", kind.as_str()),
                ));
            }
            save_entity(conn, tenant_id, kind, id, &doc, None, &actor, now)
        })
        .await
    }

    async fn update_entity(
        &self,
        tenant_id: Id,
        kind: Kind,
        id: Id,
        edit: Edit,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<Value> {
        let actor = actor.clone();
        self.write(move |conn| {
            let before: Value =
                load_doc(conn, tenant_id, kind, id)?.ok_or(StoreError::NotFound(kind.as_str()))?;
            let doc = edit(before.clone())?;
            if doc != before {
                save_entity(conn, tenant_id, kind, id, &doc, Some(before), &actor, now)?;
            }
            Ok(doc)
        })
        .await
    }

    async fn get_entity(&self, tenant_id: Id, kind: Kind, id: Id) -> StoreResult<Option<Value>> {
        self.read(move |conn| get_doc(conn, tenant_id, kind, id))
            .await
    }

    async fn list_entities(
        &self,
        tenant_id: Id,
        kind: Kind,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<Value>> {
        self.read(move |conn| {
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM entities WHERE tenant_id = ?1 AND kind = ?2")?
                .query_row(params![tenant_id.to_string(), kind.as_str()], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(
                "SELECT doc FROM entities WHERE tenant_id = ?1 AND kind = ?2 ORDER BY created_at, id LIMIT ?3 OFFSET ?4",
            )?;
            let results = stmt
                .query_map(params![tenant_id.to_string(), kind.as_str(), limit, offset], |r| r.get::<_, String>(0))?
                .map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s)))
                .collect::<StoreResult<Vec<Value>>>()?;
            Ok(Page { count: count as u64, results })
        })
        .await
    }

    async fn delete_entity(
        &self,
        tenant_id: Id,
        kind: Kind,
        id: Id,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |conn| {
            let before: Value = require_doc(conn, tenant_id, kind, id)?;
            let in_use = match kind {
                Kind::Site => count_refs(conn, tenant_id, &["queue", "counter", "display", "kiosk"], "$.site_id", id)?,
                Kind::Service => count_refs(conn, tenant_id, &["queue"], "$.service_id", id)?,
                Kind::Queue => {
                    conn.prepare_cached("SELECT COUNT(*) FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status IN ('waiting','called','in_service','paused')")?
                        .query_row(params![tenant_id.to_string(), id.to_string()], |r| r.get::<_, i64>(0))?
                }
                _ => 0,
            };
            if in_use > 0 {
                return Err(StoreError::conflict("in_use", format!("this {} is still in use ({in_use} dependent items)", kind.as_str())));
            }
            let device = match kind {
                Kind::Display => Some(DeviceKind::Display),
                Kind::Kiosk => Some(DeviceKind::Kiosk),
                _ => None,
            };
            if let Some(device) = device {
                // Its tokens die with it, and its open sockets are told.
                devices::revoke(conn, tenant_id, device, id, false, now)?;
            }
            uncache(tenant_id, kind, id);
            conn.prepare_cached("DELETE FROM entities WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3")?
                .execute(params![tenant_id.to_string(), kind.as_str(), id.to_string()])?;
            audit(conn, tenant_id, &actor, &format!("{}.delete", kind.as_str()), kind.as_str(), id, Some(before), None, now)
        })
        .await
    }

    async fn ticket(&self, tenant_id: Id, id: Id) -> StoreResult<Option<PlacedTicket>> {
        self.read(move |conn| {
            load_ticket(conn, tenant_id, id)?
                .map(|t| placed(conn, t))
                .transpose()
        })
        .await
    }

    async fn ticket_by_token(
        &self,
        tenant_id: Id,
        token: String,
    ) -> StoreResult<Option<PlacedTicket>> {
        self.read(move |conn| {
            let raw: Option<String> = conn
                .prepare_cached(
                    "SELECT doc FROM tickets WHERE tracking_token = ?1 AND tenant_id = ?2",
                )?
                .query_row(params![token, tenant_id.to_string()], |r| r.get(0))
                .optional()?;
            raw.map(|d| from_json::<Ticket>(&d))
                .transpose()?
                .map(|t| placed(conn, t))
                .transpose()
        })
        .await
    }

    async fn list_tickets(&self, tenant_id: Id, f: TicketFilter) -> StoreResult<Page<Ticket>> {
        self.read(move |conn| {
            let mut cond = String::from("tenant_id = ?1");
            let mut args: Vec<String> = vec![tenant_id.to_string()];
            if let Some(q) = f.queue_id {
                args.push(q.to_string());
                cond.push_str(&format!(" AND queue_id = ?{}", args.len()));
            }
            if let Some(s) = f.status {
                args.push(s.as_str().to_owned());
                cond.push_str(&format!(" AND status = ?{}", args.len()));
            }
            if let Some(d) = f.business_day {
                args.push(d.to_string());
                cond.push_str(&format!(" AND business_day = ?{}", args.len()));
            }
            let order = if f.status == Some(TicketStatus::Waiting) {
                "lane, deadline_us, queued_at_us, sequence"
            } else {
                "created_at DESC, sequence DESC"
            };
            let count: i64 = conn
                .prepare(&format!("SELECT COUNT(*) FROM tickets WHERE {cond}"))?
                .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
            let sql = format!(
                "SELECT doc FROM tickets WHERE {cond} ORDER BY {order} LIMIT {} OFFSET {}",
                f.limit, f.offset
            );
            let mut stmt = conn.prepare(&sql)?;
            let results = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    r.get::<_, String>(0)
                })?
                .map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s)))
                .collect::<StoreResult<Vec<Ticket>>>()?;
            Ok(Page {
                count: count as u64,
                results,
            })
        })
        .await
    }

    async fn queue_counts(
        &self,
        tenant_id: Id,
        queue_id: Id,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> StoreResult<QueueCounts> {
        self.read(move |conn| {
            let (t, q, d) = (tenant_id.to_string(), queue_id.to_string(), day.to_string());
            let count = |sql: &str| -> StoreResult<u32> {
                let n: i64 = conn.prepare_cached(sql)?.query_row(params![t, q], |r| r.get(0))?;
                Ok(n as u32)
            };
            let waiting = count("SELECT COALESCE((SELECT waiting FROM queue_waiting WHERE tenant_id = ?1 AND queue_id = ?2), 0)")?;
            let active = count("SELECT COUNT(*) FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status IN ('called','in_service','paused')")?;
            // The day's ended tickets, one row per status that has any.
            let (mut served_today, mut no_show_today, mut cancelled_today) = (0, 0, 0);
            let mut stmt = conn.prepare_cached(
                "SELECT status, n FROM queue_day_counts WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3",
            )?;
            let mut rows = stmt.query(params![t, q, d])?;
            while let Some(row) = rows.next()? {
                let n = row.get::<_, i64>(1)?.max(0) as u32;
                match row.get_ref(0)?.as_str().unwrap_or_default() {
                    "closed" => served_today = n,
                    "no_show" => no_show_today = n,
                    "cancelled" => cancelled_today = n,
                    _ => {}
                }
            }
            drop(rows);
            drop(stmt);
            let oldest: Option<i64> = conn
                .prepare_cached("SELECT MIN(queued_at_us) FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status = 'waiting'")?
                .query_row(params![t, q], |r| r.get(0))?;
            let longest_wait_seconds = oldest.map(|us| ((now.timestamp_micros() - us).max(0) / 1_000_000) as u32).unwrap_or(0);
            let active_agents = count(SERVING_AGENTS)?;
            Ok(QueueCounts { waiting, active, served_today, no_show_today, cancelled_today, longest_wait_seconds, active_agents })
        })
        .await
    }

    async fn serving_agents(&self, tenant_id: Id, queue_id: Id) -> StoreResult<u32> {
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached(SERVING_AGENTS)?
                .query_row(params![tenant_id.to_string(), queue_id.to_string()], |r| {
                    r.get(0)
                })?;
            Ok(n as u32)
        })
        .await
    }

    async fn recent_service_times(
        &self,
        tenant_id: Id,
        queue_id: Id,
        limit: u32,
    ) -> StoreResult<Vec<f64>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seconds FROM service_times WHERE tenant_id = ?1 AND queue_id = ?2 ORDER BY closed_at_us DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![tenant_id.to_string(), queue_id.to_string(), limit], |r| r.get::<_, i64>(0))?;
            Ok(rows.map(|r| r.map(|s| s as f64)).collect::<Result<_, _>>()?)
        })
        .await
    }

    fn subscribe(&self) -> Subscription {
        self.bus.subscribe()
    }

    async fn events_since(
        &self,
        tenant_id: Id,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| {
            let Some(slug) = tenant_slug(conn, tenant_id)? else { return Ok(Vec::new()) };
            let mut stmt = conn.prepare_cached(
                "SELECT seq, type, at, data FROM events WHERE tenant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![tenant_id.to_string(), since, limit], event_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(stored_event(tenant_id, &slug, row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn emit_event(
        &self,
        tenant_id: Id,
        event: Event,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        self.write(move |conn| emit(conn, tenant_id, event.clone(), now).map(|(seq, _)| seq))
            .await
    }

    async fn last_event_seq(&self, tenant_id: Id) -> StoreResult<i64> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT last_event_seq FROM tenants WHERE id = ?1")?
                .query_row([tenant_id.to_string()], |r| r.get(0))
                .optional()?
                .unwrap_or(0))
        })
        .await
    }

    async fn audit_logs(
        &self,
        tenant_id: Id,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<AuditLog>> {
        self.read(move |conn| {
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM audit_logs WHERE tenant_id = ?1")?
                .query_row([tenant_id.to_string()], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(
                "SELECT doc FROM audit_logs WHERE tenant_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3",
            )?;
            let results = stmt
                .query_map(params![tenant_id.to_string(), limit, offset], |r| r.get::<_, String>(0))?
                .map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s)))
                .collect::<StoreResult<Vec<AuditLog>>>()?;
            Ok(Page { count: count as u64, results })
        })
        .await
    }

    async fn start_pairing(&self, p: NewPairing, now: DateTime<Utc>) -> StoreResult<bool> {
        self.write(move |conn| devices::start_pairing(conn, p.clone(), now))
            .await
    }

    async fn pair_device(
        &self,
        tenant_id: Id,
        kind: DeviceKind,
        device_id: Id,
        code: String,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<Value> {
        let actor = actor.clone();
        self.write(move |conn| {
            devices::pair_device(conn, tenant_id, kind, device_id, &code, &actor, now)
        })
        .await
    }

    async fn claim_pairing(
        &self,
        id: Id,
        secret_hash: String,
        token_hash: String,
        now: DateTime<Utc>,
    ) -> StoreResult<ClaimOutcome> {
        self.write(move |conn| devices::claim_pairing(conn, id, &secret_hash, &token_hash, now))
            .await
    }

    async fn device_by_token(&self, token_hash: String) -> StoreResult<Option<DeviceAuth>> {
        self.read(move |conn| devices::device_by_token(conn, &token_hash))
            .await
    }

    async fn revoke_device(
        &self,
        tenant_id: Id,
        kind: DeviceKind,
        device_id: Id,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<Value> {
        let actor = actor.clone();
        self.write(move |conn| {
            require_doc::<Value>(conn, tenant_id, kind.kind(), device_id)?;
            let (before, after) = devices::revoke(conn, tenant_id, kind, device_id, true, now)?
                .ok_or(StoreError::NotFound(kind.as_str()))?;
            let action = format!("{}.revoke", kind.as_str());
            audit(
                conn,
                tenant_id,
                &actor,
                &action,
                kind.as_str(),
                device_id,
                Some(before),
                Some(&after),
                now,
            )?;
            Ok(after)
        })
        .await
    }

    async fn lease_numbers(
        &self,
        tenant_id: Id,
        kiosk_id: Id,
        queue_id: Id,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> StoreResult<NumberLease> {
        self.write(move |conn| {
            devices::lease_numbers(conn, tenant_id, kiosk_id, queue_id, day, now)
        })
        .await
    }

    async fn recent_calls(
        &self,
        tenant_id: Id,
        queue_ids: Vec<Id>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| match tenant_slug(conn, tenant_id)? {
            Some(slug) => devices::recent_calls(conn, tenant_id, &slug, &queue_ids, limit),
            None => Ok(Vec::new()),
        })
        .await
    }
}

/// Writes an entity document (new when `before` is None) with what follows a change of its kind,
/// and its audit entry.
#[allow(clippy::too_many_arguments)]
fn save_entity(
    conn: &Connection,
    tenant_id: Id,
    kind: Kind,
    id: Id,
    doc: &Value,
    before: Option<Value>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    put_doc(conn, tenant_id, kind, id, doc, now)?;
    let updated = before.is_some();
    if kind == Kind::Queue && updated {
        // The queue's algorithm or targets may have changed: re-key its waiting tickets so the
        // stored calling order follows the new policy.
        let queue: Queue = serde_json::from_value(doc.clone())?;
        rekey_waiting(conn, tenant_id, &queue)?;
    }
    if updated {
        // A paired screen or kiosk follows its configuration live.
        let event = match kind {
            Kind::Display => Some(Event::DisplayUpdated(serde_json::from_value(doc.clone())?)),
            Kind::Kiosk => Some(Event::KioskUpdated(serde_json::from_value(doc.clone())?)),
            _ => None,
        };
        if let Some(e) = event {
            emit(conn, tenant_id, e, now)?;
        }
    }
    let action = format!(
        "{}.{}",
        kind.as_str(),
        if updated { "update" } else { "create" }
    );
    audit(
        conn,
        tenant_id,
        actor,
        &action,
        kind.as_str(),
        id,
        before,
        Some(doc),
        now,
    )
}

fn insert_refresh(conn: &Connection, r: &RefreshRecord) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, tenant_id, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![r.token_hash, r.family_id.to_string(), r.user_id.to_string(), r.tenant_id.map(|t| t.to_string()), ts(r.expires_at)])?;
    Ok(())
}

fn rekey_waiting(conn: &Connection, tenant: Id, queue: &Queue) -> StoreResult<()> {
    let policy = queue_policy(queue);
    let docs: Vec<String> = conn
        .prepare_cached(
            "SELECT doc FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status = 'waiting'",
        )?
        .query_map(params![tenant.to_string(), queue.id.to_string()], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    for d in docs {
        update_ticket(conn, &from_json::<Ticket>(&d)?, &policy)?;
    }
    Ok(())
}

fn count_refs(
    conn: &Connection,
    tenant: Id,
    kinds: &[&str],
    path: &str,
    id: Id,
) -> StoreResult<i64> {
    let mut total = 0;
    for kind in kinds {
        let n: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM entities WHERE tenant_id = ?1 AND kind = ?2 AND json_extract(doc, ?3) = ?4")?
            .query_row(params![tenant.to_string(), kind, path, id.to_string()], |r| r.get(0))?;
        total += n;
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
