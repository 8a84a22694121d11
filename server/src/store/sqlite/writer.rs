//! The writer thread (group commit) and the checkpoint thread.

use super::tx::SqliteTx;
use super::*;
use crate::store::tx::TxJob;

/// A write waiting for the writer thread.
pub(super) type Job = Box<dyn TxJob>;

/// Transaction statements, run on the writer's connection.
pub(super) type Step<'a> = dyn Fn(&str) -> rusqlite::Result<()> + 'a;

pub(super) fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, bus: Arc<dyn EventBus>) {
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
        let mut events = Vec::new();
        let committed = run_batch(&conn, &step, &mut batch, &mut events)
            .inspect_err(|_| {
                // Whatever was left open of the batch goes (an error when nothing is open).
                let _ = step("ROLLBACK");
                reset_config_cache();
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
        for job in batch {
            job.answer(committed.clone());
        }
        if committed.is_ok() {
            bus.publish(events);
        }
    }
}

/// Runs `batch` inside one open transaction (left open for the caller to commit), collecting
/// the events of the jobs that succeeded in `events`; `Err` if no transaction could be opened
/// (nothing ran) or a failed job's writes could not be undone alone (nothing may commit).
///
/// Jobs run back to back without savepoints: a savepoint per job made SQLite copy every page a
/// job touched into its sub-journal, ~10 % of the writer's time, while almost every failing job
/// fails before it writes (validation, not found, conflict) and so needs no undo at all. A job
/// that fails *after* changing rows is the rare case: the whole transaction is rolled back and
/// the batch replayed with a savepoint around each job, so the failed one is undone alone and
/// the others still commit.
pub(super) fn run_batch(
    conn: &Connection,
    step: &Step<'_>,
    batch: &mut [Job],
    events: &mut Vec<StoredEvent>,
) -> Result<(), String> {
    step("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    let mut clean = true;
    for job in batch.iter_mut() {
        let (changes, mark) = (conn.total_changes(), events.len());
        if !job.run(&mut SqliteTx { conn, events }) {
            // Nothing it emitted may go out; rows it changed force the replay below.
            events.truncate(mark);
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
    events.clear();
    step("ROLLBACK").map_err(|e| e.to_string())?;
    step("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    let replayed = replay(conn, step, batch, events);
    if replayed.is_err() {
        // Without its savepoint a failed job's writes cannot be undone alone: nothing of the
        // batch may commit.
        reset_config_cache();
        events.clear();
        let _ = step("ROLLBACK");
    }
    replayed
}

/// The replay of [`run_batch`]: each job inside its own savepoint, a failed one rolled back to
/// it. `Err` when a savepoint statement itself fails; the transaction must then be rolled back.
fn replay(
    conn: &Connection,
    step: &Step<'_>,
    batch: &mut [Job],
    events: &mut Vec<StoredEvent>,
) -> Result<(), String> {
    let failed = |what: &str, e: rusqlite::Error| format!("{what} failed: {e}");
    for job in batch.iter_mut() {
        step("SAVEPOINT job").map_err(|e| failed("SAVEPOINT", e))?;
        let mark = events.len();
        if !job.run(&mut SqliteTx { conn, events }) {
            reset_config_cache();
            events.truncate(mark);
            step("ROLLBACK TO job").map_err(|e| failed("ROLLBACK TO", e))?;
        }
        step("RELEASE job").map_err(|e| failed("RELEASE", e))?;
    }
    Ok(())
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
pub(super) fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>) {
    let mut pause = CHECKPOINT_EVERY;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(pause) {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(frames) if frames >= CHASE_FRAMES => pause = CHASE_PAUSE,
            Ok(_) => pause = CHECKPOINT_EVERY,
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}
