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

/// Tickets kept of a line's front at least, once it has been cut back.
const FRONT: usize = 16;

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
    /// The front of each queue's line, read a few tickets at a time (see [`Heads`]).
    pub heads: Bounded<(Id, Id), Heads>,
    /// The open transaction's writes not yet sent.
    pub deferred: Deferred,
}

/// The first waiting tickets of a queue in waiting order (key, ticket id): exactly every
/// waiting ticket whose key is at most `bound` (`None`: every waiting ticket of the queue).
/// Kept so by [`WriterCache::ticket_written`], which sees every ticket the writer writes.
pub(super) struct Heads {
    pub entries: Vec<([i64; 4], Id)>,
    pub bound: Option<[i64; 4]>,
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
        self.heads.clear();
        self.deferred.clear();
    }

    /// A ticket was written: `waiting` holds its queue and order key if it now waits.
    pub fn ticket_written(&mut self, tenant: Id, id: Id, waiting: Option<(Id, [i64; 4])>) {
        // Wherever it stood in a line's front, it stands there no more (a ticket that left a
        // front below its bound was the only one of its kind: the invariant holds).
        for heads in self.heads.values_mut() {
            heads.entries.retain(|(_, t)| *t != id);
        }
        let Some((queue, key)) = waiting else {
            return;
        };
        if let Some(g) = self.greatest.get_mut(&(tenant, queue)) {
            *g = Some(g.map_or(key, |g| g.max(key)));
        }
        if let Some(heads) = self.heads.get_mut(&(tenant, queue))
            && heads.bound.is_none_or(|b| key <= b)
        {
            let at = heads.entries.partition_point(|(k, _)| *k < key);
            heads.entries.insert(at, (key, id));
            // A front that keeps growing (a short line that became long) is cut back: what is
            // kept is still every waiting ticket up to its new bound.
            if heads.entries.len() > 2 * FRONT {
                heads.entries.truncate(FRONT);
                heads.bound = heads.entries.last().map(|e| e.0);
            }
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

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.values_mut()
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
    fn a_lines_front_holds_every_waiting_ticket_up_to_its_bound() {
        let mut c = WriterCache::default();
        let (tenant, queue) = (Id::new_v4(), Id::new_v4());
        let ids: Vec<Id> = (0..100).map(|_| Id::new_v4()).collect();
        c.heads.put(
            (tenant, queue),
            Heads {
                entries: vec![],
                bound: None,
            },
        );
        // A short line that grows long: the front is cut back, never wrong.
        for (i, id) in ids.iter().enumerate() {
            c.ticket_written(tenant, *id, Some((queue, [1, 0, i as i64, i as i64])));
        }
        let heads = c.heads.get(&(tenant, queue)).unwrap();
        assert!(heads.entries.len() <= 2 * FRONT);
        let bound = heads.bound.unwrap();
        let kept: Vec<Id> = heads.entries.iter().map(|e| e.1).collect();
        let want: Vec<Id> = (0..100)
            .filter(|i| [1, 0, *i as i64, *i as i64] <= bound)
            .map(|i| ids[i])
            .collect();
        assert_eq!(kept, want);
        // A priority ticket goes in front; a called ticket leaves.
        let vip = Id::new_v4();
        c.ticket_written(tenant, vip, Some((queue, [0, 0, 500, 500])));
        c.ticket_written(tenant, ids[0], None);
        let heads = c.heads.get(&(tenant, queue)).unwrap();
        assert_eq!(heads.entries[0].1, vip);
        assert_eq!(heads.entries[1].1, ids[1]);
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
