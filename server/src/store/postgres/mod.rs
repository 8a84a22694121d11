//! [`Store`] on PostgreSQL, for several server instances on one database.
//!
//! **Driver**: tokio-postgres (the async driver the rest of the Rust PostgreSQL ecosystem builds
//! on) with deadpool-postgres for the reads' connection pool — plain SQL like the SQLite store,
//! no query builder or compile-time database checks (sqlx would need a database at build time
//! or checked-in query metadata, for statements that are simple and covered by the suite).
//!
//! **Writes** run like on SQLite, through [`crate::store::batch`]: one writer thread per
//! instance owns a connection and runs every job waiting in one transaction (group commit). The
//! services' repository ([`crate::store::tx::Tx`]) is synchronous, so the writer drives its
//! connection on a runtime of its own. One batch at a time runs across the deployment (an
//! advisory lock at `BEGIN`), and a write epoch tells a writer whether anyone else wrote since
//! its last commit: if not, it trusts what it remembers (`cache.rs`) and waits for almost no
//! statement — writes are sent without waiting, or held back and sent as multi-row statements
//! (`deferred.rs`). On a cold cache, correctness across instances comes from the database's row
//! locks, taken in the statements themselves: the
//! tenant's `last_event_seq` row (seq gap-free and in commit order), a queue's day counter
//! (numbers gap-free), `FOR UPDATE SKIP LOCKED` on the head of a queue (each ticket to one
//! agent), `FOR UPDATE` on a ticket or an agent profile being changed.
//!
//! **Reads** use the pool on the server's runtime and see committed data only.

use std::sync::{Arc, Mutex, mpsc};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::de::DeserializeOwned;
use smartqueue_core::Id;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::*;
use crate::bus::{EventBus, InProcessBus, Subscription};
use crate::store::batch::{Job, commit_batch};
use cluster::CHANNEL;

mod cache;
mod cluster;
mod deferred;
mod pgtx;
mod reads;
mod tx;
mod writer;

pub use cluster::ELECTION_EVERY;
pub use writer::WRITER_NAME;

mod embedded {
    refinery::embed_migrations!("../migrations/postgres");
}

/// Most jobs committed together in one transaction.
const MAX_BATCH: usize = 256;
/// Connections of the reads' pool.
const READ_POOL: usize = 8;

impl From<tokio_postgres::Error> for StoreError {
    /// PostgreSQL's errors stay inside this module: a unique violation becomes
    /// [`StoreError::Unique`], anything else [`StoreError::Backend`].
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Unique(e.to_string())
        } else {
            StoreError::Backend(format!(
                "{e}: {}",
                e.as_db_error().map(|d| d.message()).unwrap_or("")
            ))
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Backend(format!("connection pool: {e}"))
    }
}

/// The PostgreSQL implementation of [`Store`].
pub struct PgStore {
    pool: Pool,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    bus: Arc<dyn EventBus>,
    leader: tokio::sync::watch::Receiver<bool>,
    /// Set when the store is dropped: its background tasks end.
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// Connects to the database at `url`, applies the embedded migrations it lacks, and returns
/// its connection settings.
pub async fn migrate(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Invalid(format!("database URL: {e}")))?;
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Migration(format!("cannot connect to PostgreSQL: {e}")))?;
    let task = tokio::spawn(connection);
    embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    drop(client);
    let _ = task.await;
    Ok(config)
}

/// Whether a database URL names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`), runs the embedded
    /// migrations and starts the writer thread.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let config = migrate(url).await?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(READ_POOL)
            .build()
            .map_err(|e| StoreError::Migration(format!("connection pool: {e}")))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let bus: Arc<dyn EventBus> =
            cluster::start_bus(config.clone(), pool.clone(), stopped.clone());
        let leader = cluster::elect(config.clone(), stopped);
        let publisher = bus.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("pg-writer".into())
            .spawn(move || writer::writer_loop(config, rx, publisher, ready_tx))
            .map_err(|e| StoreError::Migration(format!("cannot start the writer thread: {e}")))?;
        ready_rx
            .await
            .map_err(|_| StoreError::Migration("the writer thread stopped".into()))??;
        Ok(PgStore {
            pool,
            writer: Mutex::new(Some(tx)),
            bus,
            leader,
            stop,
        })
    }

    /// Stops accepting writes; the writer finishes the jobs already sent and exits.
    pub fn close(&self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        let _ = self.stop.send(true);
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Parses a stored JSON document.
fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    Ok(serde_json::from_str(s)?)
}

/// A stored id.
fn id(s: &str) -> StoreResult<Id> {
    s.parse()
        .map_err(|_| StoreError::Internal(format!("stored id {s:?} is not a UUID")))
}

/// An `events` row (`seq, type, at, data`) as the envelope it is published as.
fn stored_event(tenant: Id, slug: &str, row: &tokio_postgres::Row) -> StoreResult<StoredEvent> {
    crate::store::shared::stored_event(
        tenant,
        slug,
        (row.get(0), row.get(1), row.get(2), row.get(3)),
    )
}

/// The SQL of the agents serving a queue (status available or busy, the queue among theirs).
const SERVING_AGENTS: &str = "SELECT COUNT(*) FROM entities WHERE tenant_id = $1 AND kind = 'agent'
   AND (doc::jsonb ->> 'status') IN ('available', 'busy')
   AND (doc::jsonb -> 'queue_ids') ? $2";

/// Positions are counted on whichever side of the ticket is short (see the SQLite store).
const POSITION_SCAN: i64 = 256;

/// A SQL parameter list.
type Params<'a> = [&'a (dyn ToSql + Sync)];
