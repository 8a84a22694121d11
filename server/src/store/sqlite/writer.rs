//! The writer thread (group commit) and the checkpoint thread.

use super::tx::SqliteTx;
use super::*;
use crate::store::batch::{BatchConn, commit_batch};

/// A write waiting for the writer thread.
pub(super) use crate::store::batch::Job;

/// The writer's connection as the batch runner drives it.
pub(super) struct SqliteBatch<'c> {
    pub(super) conn: &'c Connection,
}

impl BatchConn for SqliteBatch<'_> {
    fn step(&mut self, sql: &str) -> Result<(), String> {
        // The write lock at once: the writer is the only writer, and a deferred transaction
        // would only take it at its first write.
        let sql = if sql == "BEGIN" {
            "BEGIN IMMEDIATE"
        } else {
            sql
        };
        // Prepared once: parsing them on every job showed in the profile.
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]).map(drop))
            .map_err(|e| e.to_string())
    }

    fn run(&mut self, job: &mut Job, events: &mut Vec<StoredEvent>) -> bool {
        job.run(&mut SqliteTx {
            conn: self.conn,
            events,
        })
    }

    fn changes(&self) -> u64 {
        self.conn.total_changes()
    }

    fn forget(&mut self) {
        reset_config_cache();
    }
}

pub(super) fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, bus: Arc<dyn EventBus>) {
    reset_config_cache();
    let mut writer = SqliteBatch { conn: &conn };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let events = commit_batch(&mut writer, batch);
        if !events.is_empty() {
            bus.publish(events);
        }
    }
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
