//! Writes the writer holds back and then sends as a few multi-row statements: counters, line
//! lengths, ticket updates, configuration documents, service times, the day's counts.
//!
//! A PostgreSQL backend spends most of a small statement's cost on the statement itself
//! (protocol, planning, executor start-up), not on its row; a batch of jobs that each update a
//! ticket, a counter and an agent profile costs a fraction as one statement per table. The held
//! writes are sent — [`super::writer::PgConn::flush`] — before any statement that reads (so a
//! query never sees a stale row, and `FOR UPDATE SKIP LOCKED` never hands out a ticket already
//! called in this batch), at the end of each job of a replayed batch, and before the commit.
//! Only writes that cannot fail on their own are held (no unique key of theirs can collide):
//! the inserts that can — a ticket's number, a token — are sent at once, so that their failure
//! stays the failing job's.
//!
//! Each held write counts as a changed row for the batch runner, so a job that fails after one
//! has the batch replayed without it; a rollback drops everything held
//! ([`super::cache::WriterCache::forget`]).

use std::collections::HashMap;

use chrono::NaiveDate;
use smartqueue_core::Id;
use tokio_postgres::types::ToSql;

use crate::bus::StoredEvent;
use crate::store::shared::{AuditEntry, ts};
use crate::store::{Kind, StoreResult};

/// A sent statement's parameter.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// A statement that writes held rows: its SQL, its parameters (arrays, one element per row) and
/// how many rows it must change (`None`: any number).
pub(super) type Write = (&'static str, Vec<Param>, Option<u64>);

/// A ticket's row as `UPDATE tickets` writes it.
pub(super) struct TicketRow {
    pub queue: String,
    pub status: &'static str,
    pub agent: Option<String>,
    pub lane: i64,
    pub deadline_us: i64,
    pub queued_at_us: i64,
    pub doc: String,
}

/// See the module documentation.
#[derive(Default)]
pub(super) struct Deferred {
    /// Day counters: (was, is); written only if still at `was`.
    pub numbers: HashMap<(Id, Id, NaiveDate), (u32, u32)>,
    /// Waiting counts: (was, is); written only if still at `was`.
    pub waiting: HashMap<(Id, Id), (i64, i64)>,
    /// The latest version of each ticket updated.
    pub tickets: HashMap<(Id, Id), TicketRow>,
    /// The latest version of each entity document put: (created_at, json).
    pub docs: HashMap<(Id, Kind, Id), (String, String)>,
    /// Service times: tenant, queue, closed at (µs), seconds.
    pub service_times: Vec<(Id, Id, i64, i64)>,
    /// Changes to the day's counts per queue, day and end status.
    pub day_counts: HashMap<(Id, Id, NaiveDate, &'static str), i64>,
}

impl Deferred {
    /// Nothing is held.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
            && self.waiting.is_empty()
            && self.tickets.is_empty()
            && self.docs.is_empty()
            && self.service_times.is_empty()
            && self.day_counts.is_empty()
    }

    /// The statements that write everything held, which is then no longer held.
    pub fn take(&mut self) -> Vec<Write> {
        let mut out: Vec<Write> = Vec::new();
        let numbers = std::mem::take(&mut self.numbers);
        if !numbers.is_empty() {
            let n = numbers.len() as u64;
            let mut c = Columns::default();
            for ((tenant, queue, day), (was, is)) in numbers {
                c.text(0, tenant).text(1, queue).text(2, day);
                c.int(0, i64::from(was)).int(1, i64::from(is));
            }
            out.push((
                "UPDATE queue_counters c SET last = v.now_n
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS v(t, q, d, was_n, now_n)
                 WHERE c.tenant_id = v.t AND c.queue_id = v.q AND c.business_day = v.d AND c.last = v.was_n",
                c.params(3, 2),
                Some(n),
            ));
        }
        let waiting = std::mem::take(&mut self.waiting);
        if !waiting.is_empty() {
            let n = waiting.len() as u64;
            let mut c = Columns::default();
            for ((tenant, queue), (was, is)) in waiting {
                c.text(0, tenant).text(1, queue).int(0, was).int(1, is);
            }
            out.push((
                "UPDATE queue_waiting c SET waiting = v.now_n
                 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS v(t, q, was_n, now_n)
                 WHERE c.tenant_id = v.t AND c.queue_id = v.q AND c.waiting = v.was_n",
                c.params(2, 2),
                Some(n),
            ));
        }
        let tickets = std::mem::take(&mut self.tickets);
        if !tickets.is_empty() {
            let n = tickets.len() as u64;
            let mut c = Columns::default();
            let mut agents: Vec<Option<String>> = Vec::with_capacity(tickets.len());
            for ((tenant, id), row) in tickets {
                c.text(0, tenant)
                    .text(1, id)
                    .text(2, row.queue)
                    .text(3, row.status);
                agents.push(row.agent);
                c.text(4, row.doc);
                c.int(0, row.lane)
                    .int(1, row.deadline_us)
                    .int(2, row.queued_at_us);
            }
            let [t, i, q, s, d, ..] = c.texts;
            let [l, dl, qa, ..] = c.ints;
            out.push((
                "UPDATE tickets t SET queue_id = v.q, status = v.s, agent_id = v.a, lane = v.l, deadline_us = v.dl, queued_at_us = v.qa, doc = v.doc
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[])
                      AS v(t, i, q, s, a, l, dl, qa, doc)
                 WHERE t.tenant_id = v.t AND t.id = v.i",
                vec![
                    Box::new(t),
                    Box::new(i),
                    Box::new(q),
                    Box::new(s),
                    Box::new(agents),
                    Box::new(l),
                    Box::new(dl),
                    Box::new(qa),
                    Box::new(d),
                ],
                Some(n),
            ));
        }
        let docs = std::mem::take(&mut self.docs);
        if !docs.is_empty() {
            let mut c = Columns::default();
            for ((tenant, kind, id), (created, json)) in docs {
                c.text(0, tenant).text(1, kind.as_str()).text(2, id);
                c.text(3, created).text(4, json);
            }
            out.push((
                "INSERT INTO entities (tenant_id, kind, id, created_at, doc)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 ON CONFLICT (tenant_id, kind, id) DO UPDATE SET doc = excluded.doc",
                c.params(5, 0),
                None,
            ));
        }
        let times = std::mem::take(&mut self.service_times);
        if !times.is_empty() {
            let mut c = Columns::default();
            for (tenant, queue, at, seconds) in times {
                c.text(0, tenant).text(1, queue).int(0, at).int(1, seconds);
            }
            out.push((
                "INSERT INTO service_times (tenant_id, queue_id, closed_at_us, seconds)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[])",
                c.params(2, 2),
                None,
            ));
        }
        let counts = std::mem::take(&mut self.day_counts);
        let counts: Vec<_> = counts.into_iter().filter(|(_, d)| *d != 0).collect();
        if !counts.is_empty() {
            let mut c = Columns::default();
            for ((tenant, queue, day, status), delta) in counts {
                c.text(0, tenant)
                    .text(1, queue)
                    .text(2, day)
                    .text(3, status);
                c.int(0, delta);
            }
            out.push((
                "INSERT INTO queue_day_counts (tenant_id, queue_id, business_day, status, n)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                 ON CONFLICT (tenant_id, queue_id, business_day, status) DO UPDATE SET n = queue_day_counts.n + excluded.n",
                c.params(4, 1),
                None,
            ));
        }
        out
    }

    /// Drops everything held (its transaction or job was rolled back).
    pub fn clear(&mut self) {
        *self = Deferred::default();
    }
}

/// A tenant and its last event's (seq, slug).
pub(super) type LastSeq = (Id, (i64, String));

/// The statements that write a batch's events and move each tenant's last seq on (each
/// tenant's seq must still be where the batch's first event of it followed), and each
/// tenant's last (seq, slug) after them.
pub(super) fn event_writes(events: &[StoredEvent]) -> StoreResult<(Vec<Write>, Vec<LastSeq>)> {
    if events.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // Per tenant, in order of first appearance: first seq, last seq, slug.
    let mut tenants: Vec<(Id, i64, i64, String)> = Vec::new();
    let mut c = Columns::default();
    for e in events {
        match tenants.iter_mut().find(|t| t.0 == e.tenant_id) {
            Some(t) => t.2 = e.seq(),
            None => tenants.push((e.tenant_id, e.seq(), e.seq(), e.envelope.tenant.clone())),
        }
        c.text(0, e.tenant_id).text(1, e.event().kind());
        c.text(2, ts(e.envelope.at)).text(3, e.event().data_json()?);
        c.int(0, e.seq());
    }
    let [t, kind, at, data, ..] = c.texts;
    let [seq, ..] = c.ints;
    let mut s = Columns::default();
    for (tenant, first, last, _) in &tenants {
        s.text(0, tenant).int(0, *first).int(1, *last);
    }
    let writes: Vec<Write> = vec![
        (
            "INSERT INTO events (tenant_id, seq, type, at, data)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[])",
            vec![
                Box::new(t),
                Box::new(seq),
                Box::new(kind),
                Box::new(at),
                Box::new(data),
            ],
            None,
        ),
        (
            "UPDATE tenants SET last_event_seq = v.last
             FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) AS v(id, first, last)
             WHERE tenants.id = v.id AND tenants.last_event_seq = v.first - 1",
            s.params(1, 2),
            Some(tenants.len() as u64),
        ),
    ];
    let last = tenants
        .into_iter()
        .map(|(tenant, _, last, slug)| (tenant, (last, slug)))
        .collect();
    Ok((writes, last))
}

/// The statement that writes a batch's audit entries, if it has any.
pub(super) fn audit_write(audits: &[AuditEntry]) -> Option<Write> {
    if audits.is_empty() {
        return None;
    }
    let mut c = Columns::default();
    for e in audits {
        c.text(0, e.tenant_id)
            .text(1, e.id)
            .text(2, ts(e.created_at));
        c.text(3, &e.entity_type)
            .text(4, e.entity_id)
            .text(5, &e.doc);
    }
    Some((
        "INSERT INTO audit_logs (tenant_id, id, created_at, entity_type, entity_id, doc)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])",
        c.params(6, 0),
        None,
    ))
}

/// Column arrays being filled row by row: text columns and integer columns, each numbered
/// from 0 in its own kind.
#[derive(Default)]
struct Columns {
    texts: [Vec<String>; 6],
    ints: [Vec<i64>; 6],
}

impl Columns {
    fn text(&mut self, col: usize, v: impl ToString) -> &mut Self {
        self.texts[col].push(v.to_string());
        self
    }

    fn int(&mut self, col: usize, v: i64) -> &mut Self {
        self.ints[col].push(v);
        self
    }

    /// The first `texts` text columns, then the first `ints` integer columns, as parameters
    /// in that order.
    fn params(self, texts: usize, ints: usize) -> Vec<Param> {
        let mut out: Vec<Param> = Vec::new();
        for t in self.texts.into_iter().take(texts) {
            out.push(Box::new(t));
        }
        for i in self.ints.into_iter().take(ints) {
            out.push(Box::new(i));
        }
        out
    }
}
