//! The writer thread: one connection, driven on a runtime of its own, running batches of jobs
//! through [`crate::store::batch`].

use std::collections::HashMap;

use tokio_postgres::{Client, Row, Statement};

use super::tx::PgTx;
use super::*;
use crate::store::batch::BatchConn;

/// The writer's connection: statements prepared once, and the rows changed so far (the batch
/// runner's sign that a failed job needs an undo).
pub(super) struct PgConn {
    rt: tokio::runtime::Runtime,
    client: Client,
    statements: HashMap<String, Statement>,
    changes: u64,
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.rt.block_on(self.client.prepare(sql)).map_err(|e| {
            // A failed statement aborts the PostgreSQL transaction: the batch must replay.
            self.changes += 1;
            StoreError::from(e)
        })?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Runs a query and returns its rows.
    pub(super) fn query(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
        let s = self.statement(sql)?;
        self.rt
            .block_on(self.client.query(&s, params))
            .map_err(|e| {
                self.changes += 1;
                e.into()
            })
    }

    /// Runs a query returning at most one row.
    pub(super) fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
        let s = self.statement(sql)?;
        self.rt
            .block_on(self.client.query_opt(&s, params))
            .map_err(|e| {
                self.changes += 1;
                e.into()
            })
    }

    /// Runs a statement and returns how many rows it changed.
    pub(super) fn execute(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
        let s = self.statement(sql)?;
        match self.rt.block_on(self.client.execute(&s, params)) {
            Ok(n) => {
                self.changes += n;
                Ok(n)
            }
            Err(e) => {
                self.changes += 1;
                Err(e.into())
            }
        }
    }
}

/// The advisory lock every instance's write transaction takes first: one batch at a time
/// across the deployment, so two batches can never lock shared rows (a tenant's seq, a queue's
/// counters and lengths) in opposite orders and deadlock. Each instance still commits many jobs
/// per batch, and batches grow while they wait.
const WRITE_LOCK: i64 = 0x5351_5752_4954; // "SQWRIT"

impl BatchConn for PgConn {
    fn step(&mut self, sql: &str) -> Result<(), String> {
        let sql = if sql == "BEGIN" {
            std::borrow::Cow::Owned(format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"))
        } else {
            std::borrow::Cow::Borrowed(sql)
        };
        self.rt
            .block_on(self.client.batch_execute(&sql))
            .map_err(|e| StoreError::from(e).to_string())
    }

    fn run(&mut self, job: &mut Job, events: &mut Vec<StoredEvent>) -> bool {
        job.run(&mut PgTx { conn: self, events })
    }

    fn changes(&self) -> u64 {
        self.changes
    }

    fn before_commit(&mut self, events: &[StoredEvent]) -> Result<(), String> {
        // Each tenant's last seq of the batch, for the other instances (delivered on commit).
        let mut last: HashMap<Id, i64> = HashMap::new();
        for e in events {
            last.insert(e.tenant_id, e.seq());
        }
        for (tenant, seq) in last {
            let payload = format!("{tenant}:{seq}");
            self.query("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Opens the writer's connection on a runtime of its own.
fn connect(config: &tokio_postgres::Config) -> StoreResult<PgConn> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Migration(format!("writer runtime: {e}")))?;
    let (client, connection) = rt
        .block_on(config.connect(NoTls))
        .map_err(|e| StoreError::Migration(format!("cannot connect to PostgreSQL: {e}")))?;
    // Driven whenever the writer waits for a statement (a current-thread runtime runs its tasks
    // inside `block_on`).
    rt.spawn(connection);
    Ok(PgConn {
        rt,
        client,
        statements: HashMap::new(),
        changes: 0,
    })
}

/// Connects, tells `ready` whether it could, then runs batches until the store closes. A lost
/// connection (database restarted, network cut) is opened again before the next batch; the
/// jobs of a batch it failed were answered with the error, none is committed twice.
pub(super) fn writer_loop(
    config: tokio_postgres::Config,
    rx: mpsc::Receiver<Job>,
    bus: Arc<dyn EventBus>,
    ready: tokio::sync::oneshot::Sender<StoreResult<()>>,
) {
    let mut conn = match connect(&config) {
        Ok(c) => {
            let _ = ready.send(Ok(()));
            c
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if conn.client.is_closed() {
            match connect(&config) {
                Ok(c) => conn = c,
                Err(e) => {
                    tracing::warn!(error = %e, "the PostgreSQL writer cannot reconnect");
                    // Answered as not committed; the next batch tries again.
                    for job in batch {
                        job.answer(Err(e.to_string()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    continue;
                }
            }
        }
        let events = commit_batch(&mut conn, batch);
        if !events.is_empty() {
            bus.publish(events);
        }
    }
}
