//! The writer thread: one connection, driven on a runtime of its own, running batches of jobs
//! through [`crate::store::batch`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio_postgres::{Client, Row, Statement};

use super::tx::PgTx;
use super::*;
use crate::store::batch::BatchConn;
use crate::store::copy::Cell;

/// A statement sent without waiting for its answer.
type Sent = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>>>>;

/// The writer's connection: statements prepared once, the rows changed so far (the batch
/// runner's sign that a failed job needs an undo), and the statements sent but not yet answered.
///
/// A write whose result no service reads (an audit entry, a ticket or agent update, a service
/// time) is *sent*: queued on the connection at once and answered later, so the job goes on
/// without waiting for a round trip. PostgreSQL runs a connection's statements in the order
/// they were sent, so a later query sees it; its answer is collected while the writer waits
/// for any later statement, and all of them before the job counts as done.
pub(super) struct PgConn {
    rt: tokio::runtime::Runtime,
    client: Arc<Client>,
    statements: HashMap<String, Statement>,
    changes: u64,
    sent: FuturesUnordered<Sent>,
    /// The first failure among the sent statements of the running job.
    failed: Option<tokio_postgres::Error>,
}

/// Counts a sent statement's answer: the rows it changed, or its failure (the first one kept;
/// a failure aborts the transaction, so it counts as a change that forces the replay).
fn record(
    changes: &mut u64,
    failed: &mut Option<tokio_postgres::Error>,
    done: Result<u64, tokio_postgres::Error>,
) {
    match done {
        Ok(n) => *changes += n,
        Err(e) => {
            *changes += 1;
            failed.get_or_insert(e);
        }
    }
}

impl PgConn {
    /// Waits for `make`'s statement, collecting the answers of sent statements meanwhile.
    fn wait<T, Fut>(&mut self, make: impl FnOnce(Arc<Client>) -> Fut) -> StoreResult<T>
    where
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let PgConn {
            rt,
            client,
            sent,
            changes,
            failed,
            ..
        } = self;
        let fut = make(client.clone());
        let result = rt.block_on(async {
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    biased;
                    Some(done) = sent.next(), if !sent.is_empty() => record(changes, failed, done),
                    r = &mut fut => return r,
                }
            }
        });
        result.map_err(|e| {
            // A failed statement aborts the PostgreSQL transaction: the batch must replay. An
            // earlier sent statement's failure is the cause worth reporting.
            self.changes += 1;
            self.failed.take().unwrap_or(e).into()
        })
    }

    /// Collects every sent statement's answer; the first failure, if any.
    fn settle(&mut self) -> Option<StoreError> {
        while let Some(done) = self.rt.block_on(self.sent.next()) {
            record(&mut self.changes, &mut self.failed, done);
        }
        self.failed.take().map(StoreError::from)
    }

    fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let owned = sql.to_owned();
        let s = self.wait(|c| async move { c.prepare(&owned).await })?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Runs a query and returns its rows.
    pub(super) fn query(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
        let s = self.statement(sql)?;
        self.wait(|c| async move { c.query(&s, params).await })
    }

    /// Runs a query returning at most one row.
    pub(super) fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
        let s = self.statement(sql)?;
        self.wait(|c| async move { c.query_opt(&s, params).await })
    }

    /// Runs a statement and returns how many rows it changed.
    pub(super) fn execute(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
        let s = self.statement(sql)?;
        let n = self.wait(|c| async move { c.execute(&s, params).await })?;
        self.changes += n;
        Ok(n)
    }

    /// Sends a write whose result nobody reads, without waiting for it (see [`PgConn`]).
    pub(super) fn send(&mut self, sql: &str, params: Vec<Cell>) -> StoreResult<()> {
        let s = self.statement(sql)?;
        let client = self.client.clone();
        let mut fut: Sent = Box::pin(async move {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Cell::sql).collect();
            client.execute(&s, &refs).await
        });
        // Polled once here: that queues the statement on the connection now, before any later
        // one, which is what keeps the transaction's order.
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(n)) => self.changes += n,
            Poll::Ready(Err(e)) => {
                self.changes += 1;
                return Err(e.into());
            }
            Poll::Pending => self.sent.push(fut),
        }
        Ok(())
    }
}

/// The advisory lock every instance's write transaction takes first: one batch at a time
/// across the deployment, so two batches can never lock shared rows (a tenant's seq, a queue's
/// counters and lengths) in opposite orders and deadlock. Each instance still commits many jobs
/// per batch, and batches grow while they wait.
const WRITE_LOCK: i64 = 0x5351_5752_4954; // "SQWRIT"

impl BatchConn for PgConn {
    fn step(&mut self, sql: &str) -> Result<(), String> {
        if let Some(e) = self.settle() {
            return Err(e.to_string());
        }
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
        let ok = job.run(&mut PgTx { conn: self, events });
        // A job is done when its sent statements are answered; one that failed fails the job.
        match self.settle() {
            Some(e) => {
                job.fail(e);
                false
            }
            None => ok,
        }
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
        client: Arc::new(client),
        statements: HashMap::new(),
        changes: 0,
        sent: FuturesUnordered::new(),
        failed: None,
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
