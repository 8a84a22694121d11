//! What the writer remembers of the rows it read and wrote, so that a job need not wait for
//! the database to tell it what it already knows: configuration documents, tickets, a queue's
//! day counter and line length, a tenant's last event seq.
//!
//! **Valid only while no one else wrote.** Every write transaction of every instance takes the
//! deployment's write lock and then bumps the one-row `write_epoch` table in the same round trip
//! as `BEGIN` (see the writer). When the epoch a transaction reads is the one this writer's
//! last commit left plus one, no other transaction committed in between — everything remembered
//! is still exactly what the database holds. Otherwise it is all forgotten before the first job
//! runs. With one instance the cache always holds; with several it holds across the batches an
//! instance runs back to back.
//!
//! **Transactional**: a value changes only together with the write that makes it true, and the
//! batch runner calls [`WriterCache::forget`] whenever a transaction or a job's writes are
//! rolled back. The writes themselves stay relative (`n = n + 1`) or keyed (the events' and
//! tickets' unique indexes), so a value that was wrong anyway would fail the job — and the
//! batch's replay, with the cache forgotten, runs it again on what the database says.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::NaiveDate;
use smartqueue_core::{Id, Ticket};

use super::deferred::Deferred;
use crate::store::Kind;

/// Entries kept per map at most; past that the map starts again empty (the working set — the
/// configuration and the tickets being served — comes back within a batch).
const CAPACITY: usize = 8192;

/// See the module documentation.
#[derive(Default)]
pub(super) struct WriterCache {
    /// The write epoch this writer's last commit left.
    committed: Option<i64>,
    /// The epoch of the open transaction.
    open: Option<i64>,
    /// Entity documents (JSON) by tenant, kind and id.
    pub docs: Bounded<(Id, Kind, Id), String>,
    /// Tickets by tenant and id.
    pub tickets: Bounded<(Id, Id), Ticket>,
    /// A queue's last number of a business day.
    pub numbers: Bounded<(Id, Id, NaiveDate), u32>,
    /// The blocks of numbers leased to kiosks for a queue's business day: (first, last).
    pub leases: Bounded<(Id, Id, NaiveDate), Vec<(u32, u32)>>,
    /// A queue's waiting count.
    pub waiting: Bounded<(Id, Id), i64>,
    /// A tenant's last event seq and slug.
    pub seqs: Bounded<Id, (i64, String)>,
    /// A queue's greatest waiting-order key (lane, deadline, queued at, sequence), `None` for
    /// an empty line — or greater than it: it only ever rises (a ticket written waiting) and a
    /// ticket leaving the line leaves it behind, which is safe. A new ticket at or above it has
    /// nobody behind it: its position is the line's length.
    pub greatest: Bounded<(Id, Id), Option<[i64; 4]>>,
    /// The open transaction's writes not yet sent.
    pub deferred: Deferred,
}

impl WriterCache {
    /// A transaction opened at `epoch`: keeps what is remembered only if the previous
    /// transaction was this writer's own last commit.
    pub fn begin(&mut self, epoch: i64) {
        if self.committed.map(|c| c + 1) != Some(epoch) {
            self.forget();
        }
        self.open = Some(epoch);
    }

    /// The open transaction committed.
    pub fn committed(&mut self) {
        self.committed = self.open.take();
    }

    /// Everything remembered may be wrong (a rollback undid writes it followed).
    pub fn forget(&mut self) {
        self.docs.clear();
        self.tickets.clear();
        self.numbers.clear();
        self.leases.clear();
        self.waiting.clear();
        self.seqs.clear();
        self.greatest.clear();
        self.deferred.clear();
    }

    /// A ticket of `queue` was written waiting with order key `key`.
    pub fn waiting_key(&mut self, queue: (Id, Id), key: [i64; 4]) {
        if let Some(g) = self.greatest.get_mut(&queue) {
            *g = Some(g.map_or(key, |g| g.max(key)));
        }
    }
}

/// A map that never grows past [`CAPACITY`].
pub(super) struct Bounded<K, V>(HashMap<K, V>);

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Bounded(HashMap::new())
    }
}

impl<K: Hash + Eq, V> Bounded<K, V> {
    pub fn get(&self, k: &K) -> Option<&V> {
        self.0.get(k)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.0.get_mut(k)
    }

    pub fn put(&mut self, k: K, v: V) {
        if self.0.len() >= CAPACITY && !self.0.contains_key(&k) {
            self.0.clear();
        }
        self.0.insert(k, v);
    }

    pub fn remove(&mut self, k: &K) {
        self.0.remove(k);
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_only_across_this_writers_own_consecutive_commits() {
        let mut c = WriterCache::default();
        let t = Id::new_v4();
        c.begin(5);
        c.seqs.put(t, (1, "a".into()));
        c.committed();
        c.begin(6);
        assert!(c.seqs.get(&t).is_some(), "nobody wrote in between");
        c.committed();
        // Another instance committed epoch 7.
        c.begin(8);
        assert!(c.seqs.get(&t).is_none());
        c.seqs.put(t, (9, "a".into()));
        // Rolled back: the next transaction opens at the same epoch again.
        c.forget();
        c.begin(8);
        assert!(c.seqs.get(&t).is_none());
    }

    #[test]
    fn bounded() {
        let mut m: Bounded<u32, u32> = Bounded::default();
        for i in 0..(CAPACITY as u32 + 10) {
            m.put(i, i);
        }
        assert!(m.0.len() <= CAPACITY);
        assert_eq!(m.get(&(CAPACITY as u32 + 9)), Some(&(CAPACITY as u32 + 9)));
    }
}
