//! Next-ticket selection for an agent serving one or several queues (design §3).
//!
//! Every algorithm maps a waiting ticket to a **virtual deadline** — an instant by which it
//! should be called — and the agent gets the ticket with the earliest one:
//!
//! | algorithm  | virtual deadline                                           |
//! |------------|------------------------------------------------------------|
//! | `fifo`     | `queued_at` (oldest first)                                 |
//! | `sla`      | `queued_at + sla_target` (earliest deadline first)         |
//! | `priority` | `queued_at + max_wait × (MAX_LEVEL − level) / MAX_LEVEL`  |
//!
//! Because all three are instants, one rule orders tickets within a queue *and* across the
//! queues an agent serves. For `priority` this is aging: a VIP is due at once, a normal ticket
//! `max_wait` after it arrived, so a higher-priority arrival only overtakes a normal ticket if it
//! arrives less than `max_wait` after it; once a ticket's deadline has passed, nothing that
//! arrives later can overtake it. (Equivalently, a ticket's effective priority rises linearly
//! with its waiting time.) See `tests/selection_props.rs` for the bound this gives.
//!
//! Tickets transferred with `placement = front` are in [`Lane::Front`] and come before all others.
//! Ties break by `queued_at`, then `sequence`, then id, so the choice is deterministic.
//!
//! Selection needs no clock: the order of virtual deadlines does not change with time.

use chrono::{DateTime, Utc};

use crate::domain::{Id, Lane, Priority, Queue, QueueAlgorithm, Ticket, TicketStatus};

/// What selection needs to know about a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    pub queue_id: Id,
    pub algorithm: QueueAlgorithm,
    pub sla_target_seconds: u32,
    /// Aging bound of the priority algorithm.
    pub max_wait_seconds: u32,
}

impl From<&Queue> for QueuePolicy {
    fn from(q: &Queue) -> Self {
        QueuePolicy {
            queue_id: q.id,
            algorithm: q.algorithm,
            sla_target_seconds: q.sla_target_seconds,
            max_wait_seconds: q.max_wait_seconds,
        }
    }
}

/// Total order of waiting tickets: smaller is served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SelectionKey {
    pub lane: Lane,
    /// Virtual deadline, microseconds since the Unix epoch.
    pub deadline_us: i64,
    pub queued_at_us: i64,
    pub sequence: u32,
    pub id: Id,
}

impl QueuePolicy {
    /// Seconds added to `queued_at` to get a ticket's virtual deadline.
    pub fn allowance_seconds(&self, priority: Priority) -> i64 {
        match self.algorithm {
            QueueAlgorithm::Fifo => 0,
            QueueAlgorithm::Sla => i64::from(self.sla_target_seconds),
            QueueAlgorithm::Priority => {
                let max = i64::from(Priority::MAX_LEVEL);
                i64::from(self.max_wait_seconds) * (max - i64::from(priority.level())) / max
            }
        }
    }

    /// The instant by which `ticket` should be called under this policy.
    pub fn deadline(&self, ticket: &Ticket) -> DateTime<Utc> {
        ticket.queued_at + chrono::Duration::seconds(self.allowance_seconds(ticket.priority))
    }

    /// The selection key of `ticket` under this policy.
    pub fn key(&self, ticket: &Ticket) -> SelectionKey {
        self.key_of(
            ticket.id,
            ticket.lane,
            ticket.priority,
            ticket.queued_at,
            ticket.sequence,
        )
    }

    /// The selection key of a waiting ticket given by its ordering fields.
    pub fn key_of(
        &self,
        id: Id,
        lane: Lane,
        priority: Priority,
        queued_at: DateTime<Utc>,
        sequence: u32,
    ) -> SelectionKey {
        let queued_at_us = queued_at.timestamp_micros();
        SelectionKey {
            lane,
            deadline_us: queued_at_us + self.allowance_seconds(priority) * 1_000_000,
            queued_at_us,
            sequence,
            id,
        }
    }
}

/// The waiting tickets of one queue, with that queue's policy.
#[derive(Debug, Clone, Copy)]
pub struct QueueCandidates<'a> {
    pub policy: QueuePolicy,
    pub tickets: &'a [Ticket],
}

/// The ticket an agent serving `queues` should be given next, or `None` if nothing is waiting.
///
/// Only tickets with status `waiting` that belong to the given queue are considered, whatever
/// else the slices contain.
///
/// Hot path (a call at every counter): within one queue, lane and priority level the allowance
/// is constant, so the order there is simply `(queued_at, sequence, id)`. One pass keeps the
/// earliest ticket of each of those ≤ 8 groups using plain comparisons, and full keys are built
/// only for the group winners.
pub fn select_next<'a>(queues: &[QueueCandidates<'a>]) -> Option<&'a Ticket> {
    const LEVELS: usize = Priority::MAX_LEVEL as usize + 1;
    let mut best: Option<(SelectionKey, &'a Ticket)> = None;
    for q in queues {
        let mut groups: [Option<&'a Ticket>; 2 * LEVELS] = [None; 2 * LEVELS];
        for t in q.tickets {
            if t.status != TicketStatus::Waiting || t.queue_id != q.policy.queue_id {
                continue;
            }
            let g = t.lane as usize * LEVELS + usize::from(t.priority.level());
            let slot = &mut groups[g];
            let earlier = match slot {
                None => true,
                Some(b) => (t.queued_at, t.sequence, t.id) < (b.queued_at, b.sequence, b.id),
            };
            if earlier {
                *slot = Some(t);
            }
        }
        for t in groups.into_iter().flatten() {
            let key = q.policy.key(t);
            if best.as_ref().is_none_or(|(b, _)| key < *b) {
                best = Some((key, t));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// All waiting tickets of `queues` in the order they would be called (for positions and ETA).
pub fn waiting_order<'a>(queues: &[QueueCandidates<'a>]) -> Vec<&'a Ticket> {
    let mut keyed: Vec<(SelectionKey, &'a Ticket)> = queues
        .iter()
        .flat_map(|q| {
            q.tickets
                .iter()
                .filter(move |t| {
                    t.status == TicketStatus::Waiting && t.queue_id == q.policy.queue_id
                })
                .map(move |t| (q.policy.key(t), t))
        })
        .collect();
    keyed.sort_unstable_by_key(|k| k.0);
    keyed.into_iter().map(|(_, t)| t).collect()
}

/// What the index keeps of a waiting ticket to (re)compute its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    queue_id: Id,
    lane: Lane,
    priority: Priority,
    queued_at: DateTime<Utc>,
    sequence: u32,
}

/// An incrementally maintained calling order of many queues' waiting tickets, for clients that
/// hold the whole line in memory (the server's SQL index on the same key plays this role).
///
/// Each queue keeps its waiting tickets in a `BTreeSet` ordered by [`SelectionKey`], so the next
/// ticket for an agent serving `k` queues costs `k` lookups instead of a scan of every ticket.
/// It always agrees with [`select_next`] over the same tickets.
#[derive(Debug, Default, Clone)]
pub struct WaitingIndex {
    queues: std::collections::HashMap<Id, (QueuePolicy, std::collections::BTreeSet<SelectionKey>)>,
    tickets: std::collections::HashMap<Id, Entry>,
}

impl WaitingIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn key(policy: &QueuePolicy, id: Id, e: &Entry) -> SelectionKey {
        policy.key_of(id, e.lane, e.priority, e.queued_at, e.sequence)
    }

    /// Adds or replaces a queue's policy, re-keying its waiting tickets.
    pub fn set_policy(&mut self, policy: QueuePolicy) {
        let ids: Vec<Id> = self
            .tickets
            .iter()
            .filter(|(_, e)| e.queue_id == policy.queue_id)
            .map(|(id, _)| *id)
            .collect();
        let set = ids
            .iter()
            .map(|id| Self::key(&policy, *id, &self.tickets[id]))
            .collect();
        self.queues.insert(policy.queue_id, (policy, set));
    }

    /// Records the current state of a ticket: waiting tickets of known queues are indexed, any
    /// other status (or a move to another queue) updates or removes it.
    pub fn upsert(&mut self, t: &Ticket) {
        self.remove(t.id);
        if t.status != TicketStatus::Waiting {
            return;
        }
        let Some((policy, set)) = self.queues.get_mut(&t.queue_id) else {
            return;
        };
        let e = Entry {
            queue_id: t.queue_id,
            lane: t.lane,
            priority: t.priority,
            queued_at: t.queued_at,
            sequence: t.sequence,
        };
        set.insert(Self::key(policy, t.id, &e));
        self.tickets.insert(t.id, e);
    }

    /// Forgets a ticket.
    pub fn remove(&mut self, id: Id) {
        if let Some(e) = self.tickets.remove(&id)
            && let Some((policy, set)) = self.queues.get_mut(&e.queue_id)
        {
            set.remove(&Self::key(policy, id, &e));
        }
    }

    /// The next ticket for an agent serving `queue_ids`.
    pub fn next(&self, queue_ids: &[Id]) -> Option<Id> {
        queue_ids
            .iter()
            .filter_map(|q| self.queues.get(q).and_then(|(_, set)| set.first()))
            .min()
            .map(|k| k.id)
    }

    /// Number of waiting tickets indexed.
    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }
}
