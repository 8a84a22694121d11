//! [`PgTx`], the writer's open transaction as the repository sees it, and what its methods
//! share: documents through the writer's memory, counts, the tickets it remembers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use smartqueue_core::selection::QueuePolicy;
use smartqueue_core::{Id, Ticket};

use super::writer::PgConn;
use super::*;
use crate::store::shared::{lane_num, ts};

/// The writer's connection inside its open transaction, and the events emitted in it.
pub(super) struct PgTx<'c> {
    pub(super) conn: &'c mut PgConn,
    pub(super) events: &'c mut Vec<StoredEvent>,
}

impl PgTx<'_> {
    pub(super) fn doc<T: DeserializeOwned>(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> StoreResult<Option<T>> {
        match self.conn.query_opt(sql, params)? {
            Some(row) => Ok(Some(from_json(&row.get::<_, String>(0))?)),
            None => Ok(None),
        }
    }

    /// An entity document; `lock` takes its row until the commit (a document about to change).
    pub(super) fn entity_doc<T: DeserializeOwned>(
        &mut self,
        tenant: Id,
        kind: Kind,
        id: Id,
        lock: bool,
    ) -> StoreResult<Option<T>> {
        let key = (tenant, kind, id);
        if let Some(json) = self.conn.cache.docs.get(&key) {
            // No lock needed: no other transaction wrote since this writer's last commit, and
            // none can before this one ends (the deployment's write lock).
            return Ok(Some(from_json(json)?));
        }
        let sql = if lock {
            "SELECT doc FROM entities WHERE tenant_id = $1 AND kind = $2 AND id = $3 FOR UPDATE"
        } else {
            "SELECT doc FROM entities WHERE tenant_id = $1 AND kind = $2 AND id = $3"
        };
        let row = self
            .conn
            .query_opt(sql, &[&tenant.to_string(), &kind.as_str(), &id.to_string()])?;
        match row {
            Some(row) => {
                let json: String = row.get(0);
                let doc = from_json(&json)?;
                self.conn.cache.docs.put(key, json);
                Ok(Some(doc))
            }
            None => Ok(None),
        }
    }

    pub(super) fn put_doc<T: Serialize>(
        &mut self,
        tenant: Id,
        kind: Kind,
        id: Id,
        doc: &T,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let json = serde_json::to_string(doc)?;
        self.conn.cache.docs.put((tenant, kind, id), json.clone());
        self.conn.defer(|d| {
            let held = d
                .docs
                .entry((tenant, kind, id))
                .or_insert((ts(now), String::new()));
            held.1 = json;
        });
        Ok(())
    }

    /// Remembers a ticket just written (and, waiting, its place in its line's order).
    pub(super) fn remember(&mut self, t: &Ticket, policy: &QueuePolicy) {
        let waiting = (t.status == smartqueue_core::TicketStatus::Waiting).then(|| {
            let key = policy.key(t);
            let order = [
                lane_num(t.lane),
                key.deadline_us,
                key.queued_at_us,
                i64::from(t.sequence),
            ];
            (t.queue_id, order)
        });
        self.conn.cache.ticket_written(t.tenant_id, t.id, waiting);
        self.conn.cache.tickets.put((t.tenant_id, t.id), t.clone());
    }

    pub(super) fn count(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<i64> {
        Ok(self
            .conn
            .query_opt(sql, params)?
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0))
    }

    pub(super) fn bump_waiting(&mut self, tenant: Id, queue: Id, delta: i64) -> StoreResult<i64> {
        if let Some(&was) = self.conn.cache.waiting.get(&(tenant, queue)) {
            let now = was + delta;
            self.conn.cache.waiting.put((tenant, queue), now);
            self.conn.defer(|d| {
                d.waiting.entry((tenant, queue)).or_insert((was, now)).1 = now;
            });
            return Ok(now);
        }
        let row = self.conn.query_opt(
            "INSERT INTO queue_waiting (tenant_id, queue_id, waiting) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, queue_id) DO UPDATE SET waiting = queue_waiting.waiting + excluded.waiting
             RETURNING waiting",
            &[&tenant.to_string(), &queue.to_string(), &delta],
        )?;
        let now = row.map(|r| r.get(0)).unwrap_or(0);
        self.conn.cache.waiting.put((tenant, queue), now);
        Ok(now)
    }
}

pub(super) fn num(n: u32) -> i64 {
    i64::from(n)
}

pub(super) fn to_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}
