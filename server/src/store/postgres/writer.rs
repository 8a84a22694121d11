//! The writer thread: one connection, driven on a runtime of its own, running batches of jobs
//! through [`crate::store::batch`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio_postgres::{Client, Row, Statement};

use super::cache::WriterCache;
use super::deferred::{self, Deferred, Param};
use super::pgtx::PgTx;
use super::*;
use crate::store::batch::BatchConn;
use crate::store::shared::AuditEntry;

/// A statement sent without waiting for its answer.
type Sent = Pin<Box<dyn Future<Output = StoreResult<u64>>>>;

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
    failed: Option<StoreError>,
    /// What the writer knows without asking (see [`WriterCache`]).
    pub(super) cache: WriterCache,
    /// The `pg_notify` calls that go out with the open transaction's `COMMIT`.
    notify: String,
    /// Audit entries of the open transaction, written together just before its commit.
    audits: Vec<AuditEntry>,
    /// How many of them were there when the running job's savepoint was taken.
    audit_mark: usize,
    /// The batch is being replayed, each job in its own savepoint.
    replaying: bool,
}

/// Counts a sent statement's answer: the rows it changed, or its failure (the first one kept;
/// a failure aborts the transaction, so it counts as a change that forces the replay).
fn record(changes: &mut u64, failed: &mut Option<StoreError>, done: StoreResult<u64>) {
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
            self.failed.take().unwrap_or_else(|| e.into())
        })
    }

    /// Collects every sent statement's answer; the first failure, if any.
    fn settle(&mut self) -> Option<StoreError> {
        while let Some(done) = self.rt.block_on(self.sent.next()) {
            record(&mut self.changes, &mut self.failed, done);
        }
        self.failed.take()
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

    /// Holds a write back (see [`super::deferred`]); it counts as a change.
    pub(super) fn defer(&mut self, hold: impl FnOnce(&mut Deferred)) {
        hold(&mut self.cache.deferred);
        self.changes += 1;
    }

    /// Sends every write held back, a few multi-row statements. Runs before any statement that
    /// reads, at a replayed job's end and before the commit.
    pub(super) fn flush(&mut self) -> StoreResult<()> {
        if self.cache.deferred.is_empty() {
            return Ok(());
        }
        for (sql, params, rows) in self.cache.deferred.take() {
            self.send_params(sql, params, rows)?;
        }
        Ok(())
    }

    /// Runs a query and returns its rows.
    pub(super) fn query(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
        self.flush()?;
        let s = self.statement(sql)?;
        self.wait(|c| async move { c.query(&s, params).await })
    }

    /// Runs a query returning at most one row.
    pub(super) fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
        self.flush()?;
        let s = self.statement(sql)?;
        self.wait(|c| async move { c.query_opt(&s, params).await })
    }

    /// Runs a statement and returns how many rows it changed.
    pub(super) fn execute(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
        self.flush()?;
        let s = self.statement(sql)?;
        let n = self.wait(|c| async move { c.execute(&s, params).await })?;
        self.changes += n;
        Ok(n)
    }

    /// Commits the open transaction with the batch's wake-up calls for the other instances
    /// (delivered by PostgreSQL on commit), in the round trip that collects the answers of the
    /// writes still in flight. PostgreSQL turns the `COMMIT` of a transaction a failed statement
    /// aborted into a rollback without an error: any such failure means nothing committed.
    fn commit(&mut self) -> Result<(), String> {
        let sql = format!("{}COMMIT", std::mem::take(&mut self.notify));
        let done = self.wait(|c| async move { c.batch_execute(&sql).await });
        let failed = self.settle();
        match (done, failed) {
            (Ok(()), None) => {
                self.cache.committed();
                Ok(())
            }
            (Err(e), _) | (Ok(()), Some(e)) => Err(e.to_string()),
        }
    }

    /// Keeps an audit entry for the batch's one audit insert (before the commit). It counts as
    /// a change: a job that fails after it needs the batch replayed without it.
    pub(super) fn defer_audit(&mut self, e: AuditEntry) {
        self.audits.push(e);
        self.changes += 1;
    }

    /// Writes the batch's events (and each tenant's new last seq) and audit entries, one
    /// statement each, sent: answered while the COMMIT is (see `step`).
    fn write_deferred(&mut self, events: &[StoredEvent]) -> StoreResult<()> {
        self.flush()?;
        let (writes, last) = deferred::event_writes(events)?;
        let audits = std::mem::take(&mut self.audits);
        for (sql, params, rows) in writes.into_iter().chain(deferred::audit_write(&audits)) {
            self.send_params(sql, params, rows)?;
        }
        // Remembered for the next batch (forgotten if this commit fails).
        for (tenant, seq) in last {
            self.cache.seqs.put(tenant, seq);
        }
        Ok(())
    }

    /// Sends a write whose result nobody reads, without waiting for it (see [`PgConn`]).
    pub(super) fn send(&mut self, sql: &str, params: Vec<Param>) -> StoreResult<()> {
        self.send_params(sql, params, None)
    }

    /// Sends a write that must change exactly `rows` rows when given: one that changes another
    /// number fails the job (a write conditioned on what the writer remembered, see
    /// [`super::cache`], found the database elsewhere).
    fn send_params(&mut self, sql: &str, params: Vec<Param>, rows: Option<u64>) -> StoreResult<()> {
        let s = self.statement(sql)?;
        let client = self.client.clone();
        let mut fut: Sent = Box::pin(async move {
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let n = client.execute(&s, &refs).await?;
            match rows {
                Some(want) if n != want => Err(StoreError::Internal(format!(
                    "a remembered value was stale: {n} rows changed, {want} expected"
                ))),
                _ => Ok(n),
            }
        });
        // Polled once here: that queues the statement on the connection now, before any later
        // one, which is what keeps the transaction's order.
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(done) => {
                let failed = done.is_err();
                record(&mut self.changes, &mut self.failed, done);
                if failed {
                    return Err(self.failed.take().expect("just recorded"));
                }
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
        if sql == "COMMIT" {
            return self.commit();
        }
        if let Some(e) = self.settle() {
            return Err(e.to_string());
        }
        let fail = |e: tokio_postgres::Error| StoreError::from(e).to_string();
        match sql {
            "BEGIN" => {
                // One round trip: the transaction, the deployment's write lock, and the epoch
                // that tells whether anyone else wrote since this writer's last commit.
                let sql = format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK}); UPDATE write_epoch SET n = n + 1 RETURNING n"
                );
                let answer = self
                    .rt
                    .block_on(self.client.simple_query(&sql))
                    .map_err(fail)?;
                let epoch = answer
                    .iter()
                    .rev()
                    .find_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0),
                        _ => None,
                    })
                    .and_then(|n| n.parse::<i64>().ok())
                    .ok_or("the write epoch row is missing")?;
                self.cache.begin(epoch);
                self.audits.clear();
                self.replaying = false;
                Ok(())
            }
            _ => {
                match sql {
                    "SAVEPOINT job" => {
                        self.audit_mark = self.audits.len();
                        self.replaying = true;
                    }
                    "ROLLBACK TO job" => self.audits.truncate(self.audit_mark),
                    "ROLLBACK" => {
                        self.audits.clear();
                        self.notify.clear();
                    }
                    _ => {}
                }
                self.rt
                    .block_on(self.client.batch_execute(sql))
                    .map_err(fail)
            }
        }
    }

    fn run(&mut self, job: &mut Job, events: &mut Vec<StoredEvent>) -> bool {
        let mut ok = job.run(&mut PgTx { conn: self, events });
        if ok && self.replaying {
            // Replayed job by job: its held writes go now, so that their failure is its own.
            ok = self.flush().map_err(|e| job.fail(e)).is_ok();
        }
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

    fn forget(&mut self) {
        self.cache.forget();
    }

    fn finish(&mut self) -> bool {
        let flushed = self.flush();
        let settled = self.settle();
        flushed.is_ok() && settled.is_none()
    }

    fn before_commit(&mut self, events: &[StoredEvent]) -> Result<(), String> {
        // Each tenant's last seq of the batch, for the other instances; sent with the COMMIT.
        let mut last: HashMap<Id, i64> = HashMap::new();
        for e in events {
            last.insert(e.tenant_id, e.seq());
        }
        self.write_deferred(events).map_err(|e| e.to_string())?;
        self.notify.clear();
        for (tenant, seq) in last {
            // Both are plain ASCII (a uuid, a number): nothing to quote.
            self.notify.push_str(&format!(
                "SELECT pg_notify('{CHANNEL}', '{tenant}:{seq}'); "
            ));
        }
        Ok(())
    }
}

/// The writer connection's `application_name`.
pub const WRITER_NAME: &str = "smartqueue-writer";

/// Opens the writer's connection on a runtime of its own.
fn connect(config: &tokio_postgres::Config) -> StoreResult<PgConn> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Migration(format!("writer runtime: {e}")))?;
    // Named, so that an operator (or a test) can find the writer's backend in pg_stat_activity.
    let mut config = config.clone();
    config.application_name(WRITER_NAME);
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
        cache: WriterCache::default(),
        notify: String::new(),
        audits: Vec::new(),
        audit_mark: 0,
        replaying: false,
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
