//! Group commit, whatever the backend: a writer takes every job waiting, runs them in one
//! transaction and commits once, so the expensive part of a commit (the log flush) is shared by
//! every request that arrived meanwhile.
//!
//! Jobs run back to back without savepoints: almost every failing job fails before it writes
//! (validation, not found, conflict) and needs no undo, and a savepoint per job costs (SQLite
//! copied every page a job touched into its sub-journal, ~10 % of the writer's time; PostgreSQL
//! pays a round trip each). A job that fails *after* changing rows — or whose statement failed,
//! which aborts a PostgreSQL transaction — is the rare case: the transaction is rolled back and
//! the batch replayed with a savepoint around each job, so the failed one is undone alone and
//! the others still commit.

use super::StoredEvent;
use super::tx::TxJob;

/// A write waiting for the writer.
pub type Job = Box<dyn TxJob>;

/// A backend's write connection, as the batch runner drives it.
pub trait BatchConn {
    /// Runs a transaction-control statement (`BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT job`, …).
    fn step(&mut self, sql: &str) -> Result<(), String>;
    /// Runs one job on the open transaction, collecting its events; `true` if it succeeded.
    fn run(&mut self, job: &mut Job, events: &mut Vec<StoredEvent>) -> bool;
    /// How many rows the connection has changed so far, plus one for every statement that
    /// failed (a failed statement may leave the transaction needing an undo).
    fn changes(&self) -> u64;
    /// What was done in the transaction is gone (rolled back): forget anything cached from it.
    fn forget(&mut self) {}
    /// The first pass ran every job without a failure that needs an undo: write anything held
    /// back; `false` if that failed (the batch is then replayed, job by job, to find whose
    /// write it was).
    fn finish(&mut self) -> bool {
        true
    }
    /// Runs just before `COMMIT`, with the events about to be committed (an error fails the
    /// batch).
    fn before_commit(&mut self, _events: &[StoredEvent]) -> Result<(), String> {
        Ok(())
    }
}

/// Runs `batch` in one transaction and commits it; answers every job, then returns the events
/// of the committed jobs (empty when nothing committed) for the caller to publish.
pub fn commit_batch(conn: &mut dyn BatchConn, batch: Vec<Job>) -> Vec<StoredEvent> {
    let mut batch = batch;
    let mut events = Vec::new();
    let committed = run_batch(conn, &mut batch, &mut events)
        .and_then(|()| conn.before_commit(&events))
        .and_then(|()| conn.step("COMMIT"))
        .inspect_err(|_| {
            // Whatever was left open of the batch goes (an error when nothing is open).
            conn.forget();
            let _ = conn.step("ROLLBACK");
        });
    // Callers are answered first: publishing wakes every subscribed session (ten thousand
    // screens, say), and an answer queued behind them reached the agent who called ~100 ms
    // late. Events go out only once their transaction is durable, in commit order.
    for job in batch {
        job.answer(committed.clone());
    }
    if committed.is_ok() {
        events
    } else {
        Vec::new()
    }
}

/// Runs `batch` inside one open transaction (left open for the caller to commit), collecting
/// the events of the jobs that succeeded; `Err` if no transaction could be opened (nothing ran)
/// or a failed job's writes could not be undone alone (nothing may commit).
pub fn run_batch(
    conn: &mut dyn BatchConn,
    batch: &mut [Job],
    events: &mut Vec<StoredEvent>,
) -> Result<(), String> {
    conn.step("BEGIN")?;
    let mut clean = true;
    for job in batch.iter_mut() {
        let (changes, mark) = (conn.changes(), events.len());
        if !conn.run(job, events) {
            // Nothing it emitted may go out; rows it changed force the replay below.
            events.truncate(mark);
            if conn.changes() != changes {
                clean = false;
                break;
            }
        }
    }
    if clean && conn.finish() {
        return Ok(());
    }
    conn.forget();
    events.clear();
    conn.step("ROLLBACK")?;
    conn.step("BEGIN")?;
    let replayed = replay(conn, batch, events);
    if replayed.is_err() {
        // Without its savepoint a failed job's writes cannot be undone alone: nothing of the
        // batch may commit.
        conn.forget();
        events.clear();
        let _ = conn.step("ROLLBACK");
    }
    replayed
}

/// The replay of [`run_batch`]: each job inside its own savepoint, a failed one rolled back to
/// it. `Err` when a savepoint statement itself fails; the transaction must then be rolled back.
fn replay(
    conn: &mut dyn BatchConn,
    batch: &mut [Job],
    events: &mut Vec<StoredEvent>,
) -> Result<(), String> {
    let failed = |what: &str, e: String| format!("{what} failed: {e}");
    for job in batch.iter_mut() {
        conn.step("SAVEPOINT job")
            .map_err(|e| failed("SAVEPOINT", e))?;
        let mark = events.len();
        if !conn.run(job, events) {
            conn.forget();
            events.truncate(mark);
            conn.step("ROLLBACK TO job")
                .map_err(|e| failed("ROLLBACK TO", e))?;
        }
        conn.step("RELEASE job").map_err(|e| failed("RELEASE", e))?;
    }
    Ok(())
}
