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

impl BatchConn for PgConn {
    fn step(&mut self, sql: &str) -> Result<(), String> {
        self.rt
            .block_on(self.client.batch_execute(sql))
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

/// Connects, tells `ready` whether it could, then runs batches until the store closes.
pub(super) fn writer_loop(
    config: tokio_postgres::Config,
    rx: mpsc::Receiver<Job>,
    bus: Arc<dyn EventBus>,
    ready: tokio::sync::oneshot::Sender<StoreResult<()>>,
) {
    let connected = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Migration(format!("writer runtime: {e}")))
        .and_then(|rt| {
            let (client, connection) = rt
                .block_on(config.connect(NoTls))
                .map_err(|e| StoreError::Migration(format!("cannot connect to PostgreSQL: {e}")))?;
            // Driven whenever the writer waits for a statement (a current-thread runtime runs
            // its tasks inside `block_on`).
            rt.spawn(connection);
            Ok(PgConn {
                rt,
                client,
                statements: HashMap::new(),
                changes: 0,
            })
        });
    let mut conn = match connected {
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
        let events = commit_batch(&mut conn, batch);
        if !events.is_empty() {
            bus.publish(events);
        }
    }
}
