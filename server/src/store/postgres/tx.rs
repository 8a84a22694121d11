//! [`Tx`] on the writer's open PostgreSQL transaction: the repository the services run on.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use smartqueue_core::event::{Envelope, Event};
use smartqueue_core::selection::QueuePolicy;
use smartqueue_core::{
    AgentProfile, Counter, Id, Queue, Site, Tenant, TenantMembership, Ticket, User,
};

use super::cache::Heads;
use super::deferred::TicketRow;
use super::pgtx::{PgTx, num, to_u32};
use super::*;
use crate::store::shared::{AuditEntry, ended_in, lane_num, ts, waiting_in};
use crate::store::tx::Tx;

/// Waiting tickets read at once from the front of a line (the next calls take them from the
/// writer's memory).
const HEADS_READ: i64 = 16;

impl Tx for PgTx<'_> {
    fn entity(&mut self, tenant: Id, kind: Kind, id: Id) -> StoreResult<Option<Value>> {
        self.entity_doc(tenant, kind, id, true)
    }

    fn queue(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Queue>> {
        self.entity_doc(tenant, Kind::Queue, id, false)
    }

    fn site(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Site>> {
        self.entity_doc(tenant, Kind::Site, id, false)
    }

    fn counter(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Counter>> {
        self.entity_doc(tenant, Kind::Counter, id, false)
    }

    fn agent(&mut self, tenant: Id, id: Id) -> StoreResult<Option<AgentProfile>> {
        // Locked: two instances calling for one agent must not both see it free.
        self.entity_doc(tenant, Kind::Agent, id, true)
    }

    fn save_agent(&mut self, agent: &AgentProfile, now: DateTime<Utc>) -> StoreResult<()> {
        self.put_doc(agent.tenant_id, Kind::Agent, agent.id, agent, now)
    }

    fn ticket(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Ticket>> {
        if let Some(t) = self.conn.cache.tickets.get(&(tenant, id)) {
            return Ok(Some(t.clone()));
        }
        let t: Option<Ticket> = self.doc(
            "SELECT doc FROM tickets WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            &[&tenant.to_string(), &id.to_string()],
        )?;
        if let Some(t) = &t {
            self.conn.cache.tickets.put((tenant, id), t.clone());
        }
        Ok(t)
    }

    fn queue_head(&mut self, tenant: Id, queue: Id) -> StoreResult<Option<Ticket>> {
        let line = (tenant, queue);
        if let Some(heads) = self.conn.cache.heads.get(&line) {
            match heads.entries.first() {
                Some(&(_, id)) => {
                    if let Some(t) = self.conn.cache.tickets.get(&(tenant, id)) {
                        return Ok(Some(t.clone()));
                    }
                }
                // Every waiting ticket was in the list: nobody waits.
                None if heads.bound.is_none() => return Ok(None),
                None => {}
            }
        }
        // The line's front, a few tickets at a time. A head another instance is calling right
        // now is skipped: each ticket to one agent.
        let rows = self.conn.query(
            "SELECT doc, lane, deadline_us, queued_at_us, sequence FROM tickets
             WHERE tenant_id = $1 AND queue_id = $2 AND status = 'waiting'
             ORDER BY lane, deadline_us, queued_at_us, sequence LIMIT $3 FOR UPDATE SKIP LOCKED",
            &[&tenant.to_string(), &queue.to_string(), &HEADS_READ],
        )?;
        let mut entries = Vec::with_capacity(rows.len());
        let mut first = None;
        for row in &rows {
            let t: Ticket = from_json(&row.get::<_, String>(0))?;
            entries.push(([row.get(1), row.get(2), row.get(3), row.get(4)], t.id));
            self.conn.cache.tickets.put((tenant, t.id), t.clone());
            first.get_or_insert(t);
        }
        let bound = (rows.len() as i64 == HEADS_READ)
            .then(|| entries.last().map(|e| e.0))
            .flatten();
        self.conn.cache.heads.put(line, Heads { entries, bound });
        Ok(first)
    }

    fn waiting_count(&mut self, tenant: Id, queue: Id) -> StoreResult<u32> {
        if let Some(&n) = self.conn.cache.waiting.get(&(tenant, queue)) {
            return Ok(to_u32(n));
        }
        let n = self.count(
            "SELECT waiting FROM queue_waiting WHERE tenant_id = $1 AND queue_id = $2",
            &[&tenant.to_string(), &queue.to_string()],
        )?;
        Ok(to_u32(n))
    }

    fn position(&mut self, t: &Ticket, policy: &QueuePolicy) -> StoreResult<Option<u32>> {
        if t.status != smartqueue_core::TicketStatus::Waiting {
            return Ok(None);
        }
        let key = policy.key(t);
        let (lane, seq) = (lane_num(t.lane), i64::from(t.sequence));
        let order = [lane, key.deadline_us, key.queued_at_us, seq];
        let line = (t.tenant_id, t.queue_id);
        if let (Some(&total), Some(Some(greatest))) = (
            self.conn.cache.waiting.get(&line),
            self.conn.cache.greatest.get(&line),
        ) && order >= *greatest
        {
            // Last in line (the usual new ticket): nobody behind it.
            return Ok(Some(to_u32(total.max(1))));
        }
        let (tenant, queue) = (t.tenant_id.to_string(), t.queue_id.to_string());
        if self.conn.cache.greatest.get(&line).is_none() {
            let last = self.conn.query_opt(
                "SELECT lane, deadline_us, queued_at_us, sequence FROM tickets WHERE tenant_id = $1 AND queue_id = $2 AND status = 'waiting'
                 ORDER BY lane DESC, deadline_us DESC, queued_at_us DESC, sequence DESC LIMIT 1",
                &[&tenant, &queue],
            )?;
            let last = last.map(|r| [r.get(0), r.get(1), r.get(2), r.get(3)]);
            self.conn.cache.greatest.put(line, last);
        }
        // The tickets behind (usually none: a new ticket is last) and the line's length, in one
        // round trip.
        let row = self.conn.query_opt(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE tenant_id = $1 AND queue_id = $2 AND status = 'waiting'
                       AND (lane, deadline_us, queued_at_us, sequence) > ($3, $4, $5, $6) LIMIT 256) s),
                    COALESCE((SELECT waiting FROM queue_waiting WHERE tenant_id = $1 AND queue_id = $2), 0)",
            &[&tenant, &queue, &lane, &key.deadline_us, &key.queued_at_us, &seq],
        )?;
        let (behind, total): (i64, i64) = row.map(|r| (r.get(0), r.get(1))).unwrap_or((0, 0));
        // Read after every deferred count was written: the line's true length.
        self.conn.cache.waiting.put(line, total);
        if behind < POSITION_SCAN {
            return Ok(Some(to_u32((total - behind).max(1))));
        }
        let ahead = self.count(
            "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND queue_id = $2 AND status = 'waiting'
               AND (lane, deadline_us, queued_at_us, sequence) < ($3, $4, $5, $6)",
            &[&tenant, &queue, &lane, &key.deadline_us, &key.queued_at_us, &seq],
        )?;
        Ok(Some(to_u32(ahead + 1)))
    }

    fn insert_ticket(&mut self, t: &Ticket, policy: &QueuePolicy) -> StoreResult<()> {
        let key = policy.key(t);
        // Sent: a taken number or token surfaces as a unique violation at the job's next wait
        // (the position of the new ticket) or its end.
        self.conn.send(
            "INSERT INTO tickets (tenant_id, id, queue_id, origin_queue_id, business_day, sequence, status, tracking_token,
                                  agent_id, lane, deadline_us, queued_at_us, created_at, doc)
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            vec![
                Box::new(t.tenant_id.to_string()),
                Box::new(t.id.to_string()),
                Box::new(t.queue_id.to_string()),
                Box::new(t.business_day.to_string()),
                Box::new(i64::from(t.sequence)),
                Box::new(t.status.as_str()),
                Box::new(t.tracking_token.clone()),
                Box::new(t.agent_id.map(|a| a.to_string())),
                Box::new(lane_num(t.lane)),
                Box::new(key.deadline_us),
                Box::new(key.queued_at_us),
                Box::new(ts(t.created_at)),
                Box::new(serde_json::to_string(t)?),
            ],
        )?;
        self.remember(t, policy);
        Ok(())
    }

    fn update_ticket(&mut self, t: &Ticket, policy: &QueuePolicy) -> StoreResult<()> {
        let key = policy.key(t);
        self.remember(t, policy);
        let row = TicketRow {
            queue: t.queue_id.to_string(),
            status: t.status.as_str(),
            agent: t.agent_id.map(|a| a.to_string()),
            lane: lane_num(t.lane),
            deadline_us: key.deadline_us,
            queued_at_us: key.queued_at_us,
            doc: serde_json::to_string(t)?,
        };
        self.conn.defer(|d| {
            d.tickets.insert((t.tenant_id, t.id), row);
        });
        Ok(())
    }

    fn track_counts(
        &mut self,
        before: Option<&Ticket>,
        after: &Ticket,
    ) -> StoreResult<Vec<(Id, i64)>> {
        let (was, is) = (before.and_then(waiting_in), waiting_in(after));
        let mut changed = Vec::new();
        if was != is {
            if let Some(q) = was {
                changed.push((q, self.bump_waiting(after.tenant_id, q, -1)?));
            }
            if let Some(q) = is {
                changed.push((q, self.bump_waiting(after.tenant_id, q, 1)?));
            }
        }
        let (was_ended, is_ended) = (before.and_then(ended_in), ended_in(after));
        if was_ended != is_ended {
            for (key, delta) in [(was_ended, -1i64), (is_ended, 1)] {
                if let Some((queue, day, status)) = key {
                    let tenant = after.tenant_id;
                    self.conn.defer(|d| {
                        *d.day_counts
                            .entry((tenant, queue, day, status.as_str()))
                            .or_default() += delta;
                    });
                }
            }
        }
        Ok(changed)
    }

    fn bump_number(&mut self, tenant: Id, queue: Id, day: NaiveDate) -> StoreResult<u32> {
        let key = (tenant, queue, day);
        if let Some(&was) = self.conn.cache.numbers.get(&key) {
            let n = was + 1;
            self.conn.cache.numbers.put(key, n);
            self.conn
                .defer(|d| d.numbers.entry(key).or_insert((was, n)).1 = n);
            return Ok(n);
        }
        let n = to_u32(self.count(
            "INSERT INTO queue_counters (tenant_id, queue_id, business_day, last) VALUES ($1, $2, $3, 1)
             ON CONFLICT (tenant_id, queue_id, business_day) DO UPDATE SET last = queue_counters.last + 1 RETURNING last",
            &[&tenant.to_string(), &queue.to_string(), &day.to_string()],
        )?);
        self.conn.cache.numbers.put(key, n);
        Ok(n)
    }

    fn set_number(&mut self, tenant: Id, queue: Id, day: NaiveDate, last: u32) -> StoreResult<()> {
        let key = (tenant, queue, day);
        if let Some(n) = self.conn.cache.numbers.get_mut(&key) {
            *n = (*n).max(last);
        }
        self.conn.execute(
            "UPDATE queue_counters SET last = GREATEST(last, $4) WHERE tenant_id = $1 AND queue_id = $2 AND business_day = $3",
            &[&tenant.to_string(), &queue.to_string(), &day.to_string(), &num(last)],
        )?;
        Ok(())
    }

    fn top_number(&mut self, tenant: Id, queue: Id, day: NaiveDate) -> StoreResult<u32> {
        let n = self.count(
            "SELECT GREATEST(COALESCE((SELECT MAX(last) FROM number_leases WHERE tenant_id = $1 AND queue_id = $2 AND business_day = $3), 0),
                             COALESCE((SELECT last FROM queue_counters WHERE tenant_id = $1 AND queue_id = $2 AND business_day = $3), 0))",
            &[&tenant.to_string(), &queue.to_string(), &day.to_string()],
        )?;
        Ok(to_u32(n))
    }

    fn lease_holding(
        &mut self,
        tenant: Id,
        queue: Id,
        day: NaiveDate,
        n: u32,
    ) -> StoreResult<Option<u32>> {
        // Asked for every online number past the offline range's start: the day's blocks are
        // read once and remembered.
        let key = (tenant, queue, day);
        if self.conn.cache.leases.get(&key).is_none() {
            let rows = self.conn.query(
                "SELECT first, last FROM number_leases WHERE tenant_id = $1 AND queue_id = $2 AND business_day = $3",
                &[&tenant.to_string(), &queue.to_string(), &day.to_string()],
            )?;
            let blocks = rows
                .iter()
                .map(|r| (to_u32(r.get(0)), to_u32(r.get(1))))
                .collect();
            self.conn.cache.leases.put(key, blocks);
        }
        let blocks = self
            .conn
            .cache
            .leases
            .get(&key)
            .map_or(&[][..], Vec::as_slice);
        Ok(blocks
            .iter()
            .find(|(first, last)| *first <= n && n <= *last)
            .map(|&(_, last)| last))
    }

    fn leased_at(
        &mut self,
        tenant: Id,
        lease: &LeaseRef,
        n: u32,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let row = self.conn.query_opt(
            "SELECT created_at FROM number_leases WHERE tenant_id = $1 AND queue_id = $2 AND business_day = $3
               AND kiosk_id = $4 AND first <= $5 AND $5 <= last",
            &[
                &tenant.to_string(),
                &lease.queue.to_string(),
                &lease.day.to_string(),
                &lease.kiosk.to_string(),
                &num(n),
            ],
        )?;
        row.map(|r| crate::store::shared::parse_ts(&r.get::<_, String>(0)))
            .transpose()
    }

    fn insert_lease(
        &mut self,
        tenant: Id,
        lease: &LeaseRef,
        first: u32,
        last: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        if let Some(blocks) = self
            .conn
            .cache
            .leases
            .get_mut(&(tenant, lease.queue, lease.day))
        {
            blocks.push((first, last));
        }
        self.conn.execute(
            "INSERT INTO number_leases (tenant_id, queue_id, business_day, kiosk_id, first, last, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &tenant.to_string(),
                &lease.queue.to_string(),
                &lease.day.to_string(),
                &lease.kiosk.to_string(),
                &num(first),
                &num(last),
                &ts(now),
            ],
        )?;
        Ok(())
    }

    fn record_service_time(
        &mut self,
        tenant: Id,
        queue: Id,
        at: DateTime<Utc>,
        seconds: u32,
    ) -> StoreResult<()> {
        self.conn.defer(|d| {
            d.service_times
                .push((tenant, queue, at.timestamp_micros(), num(seconds)));
        });
        Ok(())
    }

    fn emit(&mut self, tenant: Id, event: Event, now: DateTime<Utc>) -> StoreResult<(i64, String)> {
        // The event rows and the tenants' new last seqs are written once per batch, just before
        // the commit (see the writer's `before_commit`), from the batch's event list — which
        // holds exactly the events of the jobs that succeeded. So the seq before this one is the
        // batch's last event of the tenant, or else the one remembered from the last commit, or
        // else the database's (its row locked until the commit: seqs gap-free, in commit order).
        let json = event.data_json()?;
        let last = match self.events.iter().rev().find(|e| e.tenant_id == tenant) {
            Some(e) => Some((e.seq(), e.envelope.tenant.clone())),
            None => self.conn.cache.seqs.get(&tenant).cloned(),
        };
        let (last, slug) = match last {
            Some(known) => known,
            None => {
                let row = self
                    .conn
                    .query_opt(
                        "SELECT last_event_seq, slug FROM tenants WHERE id = $1 FOR UPDATE",
                        &[&tenant.to_string()],
                    )?
                    .ok_or(StoreError::NotFound("tenant"))?;
                (row.get(0), row.get(1))
            }
        };
        let seq = last + 1;
        self.events.push(StoredEvent {
            tenant_id: tenant,
            envelope: Envelope {
                seq,
                tenant: slug,
                at: now,
                event,
            },
        });
        Ok((seq, json))
    }

    fn put_entity(
        &mut self,
        tenant: Id,
        kind: Kind,
        id: Id,
        doc: &Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.put_doc(tenant, kind, id, doc, now)
    }

    fn delete_entity(&mut self, tenant: Id, kind: Kind, id: Id) -> StoreResult<()> {
        self.conn.cache.docs.remove(&(tenant, kind, id));
        self.conn.execute(
            "DELETE FROM entities WHERE tenant_id = $1 AND kind = $2 AND id = $3",
            &[&tenant.to_string(), &kind.as_str(), &id.to_string()],
        )?;
        Ok(())
    }

    fn count_referencing(
        &mut self,
        tenant: Id,
        kinds: &[Kind],
        field: &str,
        id: Id,
    ) -> StoreResult<u32> {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let n = self.count(
            "SELECT COUNT(*) FROM entities WHERE tenant_id = $1 AND kind = ANY($2) AND (doc::jsonb ->> $3) = $4",
            &[&tenant.to_string(), &kinds, &field, &id.to_string()],
        )?;
        Ok(to_u32(n))
    }

    fn live_tickets(&mut self, tenant: Id, queue: Id) -> StoreResult<u32> {
        let n = self.count(
            "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND queue_id = $2 AND status IN ('waiting','called','in_service','paused')",
            &[&tenant.to_string(), &queue.to_string()],
        )?;
        Ok(to_u32(n))
    }

    fn rekey_waiting(&mut self, tenant: Id, queue: &Queue) -> StoreResult<()> {
        let policy = QueuePolicy::from(queue);
        let rows = self.conn.query(
            "SELECT doc FROM tickets WHERE tenant_id = $1 AND queue_id = $2 AND status = 'waiting' FOR UPDATE",
            &[&tenant.to_string(), &queue.id.to_string()],
        )?;
        for row in rows {
            let t: Ticket = from_json(&row.get::<_, String>(0))?;
            self.update_ticket(&t, &policy)?;
        }
        Ok(())
    }

    fn tenant_by_slug(&mut self, slug: &str) -> StoreResult<Option<Tenant>> {
        self.doc("SELECT doc FROM tenants WHERE slug = $1", &[&slug])
    }

    fn tenant_slug(&mut self, tenant: Id) -> StoreResult<Option<String>> {
        let row = self.conn.query_opt(
            "SELECT slug FROM tenants WHERE id = $1",
            &[&tenant.to_string()],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO tenants (id, slug, doc) VALUES ($1, $2, $3)",
            &[
                &tenant.id.to_string(),
                &tenant.slug,
                &serde_json::to_string(tenant)?,
            ],
        )?;
        Ok(())
    }

    fn setting(&mut self, key: &str) -> StoreResult<Option<String>> {
        let row = self
            .conn
            .query_opt("SELECT value FROM settings WHERE key = $1", &[&key])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert_setting(&mut self, key: &str, value: &str) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn refresh_token(&mut self, hash: &str) -> StoreResult<Option<RefreshToken>> {
        let Some(row) = self.conn.query_opt(
            "SELECT family_id, user_id, tenant_id, expires_at, used_at, revoked FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            &[&hash],
        )?
        else {
            return Ok(None);
        };
        let expires: String = row.get(3);
        Ok(Some(RefreshToken {
            family_id: id(&row.get::<_, String>(0))?,
            user_id: id(&row.get::<_, String>(1))?,
            tenant_id: row
                .get::<_, Option<String>>(2)
                .map(|t| id(&t))
                .transpose()?,
            expires_at: DateTime::parse_from_rfc3339(&expires)
                .map_err(|_| StoreError::Internal("refresh token: bad expiry".into()))?
                .with_timezone(&Utc),
            used: row.get::<_, Option<String>>(4).is_some(),
            revoked: row.get(5),
        }))
    }

    fn insert_refresh(&mut self, r: &RefreshRecord) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, tenant_id, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&r.token_hash, &r.family_id.to_string(), &r.user_id.to_string(), &r.tenant_id.map(|t| t.to_string()), &ts(r.expires_at)],
        )?;
        Ok(())
    }

    fn mark_refresh_used(&mut self, hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
            &[&hash, &ts(now)],
        )?;
        Ok(())
    }

    fn revoke_refresh_family(&mut self, family: Id) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE refresh_tokens SET revoked = TRUE WHERE family_id = $1",
            &[&family.to_string()],
        )?;
        Ok(())
    }

    fn delete_expired_pairings(&mut self, now: DateTime<Utc>) -> StoreResult<()> {
        self.conn.execute(
            "DELETE FROM device_pairings WHERE expires_at < $1",
            &[&ts(now)],
        )?;
        Ok(())
    }

    fn insert_pairing(&mut self, p: &NewPairing, now: DateTime<Utc>) -> StoreResult<bool> {
        let n = self.conn.execute(
            "INSERT INTO device_pairings (id, code, secret_hash, mode, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO NOTHING",
            &[
                &p.id.to_string(),
                &p.code,
                &p.secret_hash,
                &p.mode.as_str(),
                &ts(now),
                &ts(p.expires_at),
            ],
        )?;
        Ok(n == 1)
    }

    fn pairing_by_code(&mut self, code: &str, now: DateTime<Utc>) -> StoreResult<Option<Pairing>> {
        let row = self.conn.query_opt(
            "SELECT id, secret_hash, mode, tenant_id, device_id FROM device_pairings WHERE code = $1 AND expires_at >= $2 FOR UPDATE",
            &[&code, &ts(now)],
        )?;
        row.map(|r| pairing(&r)).transpose()
    }

    fn pairing(&mut self, pid: Id, now: DateTime<Utc>) -> StoreResult<Option<Pairing>> {
        let row = self.conn.query_opt(
            "SELECT id, secret_hash, mode, tenant_id, device_id FROM device_pairings WHERE id = $1 AND expires_at >= $2 FOR UPDATE",
            &[&pid.to_string(), &ts(now)],
        )?;
        row.map(|r| pairing(&r)).transpose()
    }

    fn bind_pairing(&mut self, pid: Id, tenant: Id, device: Id) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE device_pairings SET tenant_id = $2, device_id = $3 WHERE id = $1",
            &[&pid.to_string(), &tenant.to_string(), &device.to_string()],
        )?;
        Ok(())
    }

    fn delete_pairing(&mut self, pid: Id) -> StoreResult<()> {
        self.conn.execute(
            "DELETE FROM device_pairings WHERE id = $1",
            &[&pid.to_string()],
        )?;
        Ok(())
    }

    fn revoke_device_tokens(
        &mut self,
        tenant: Id,
        kind: DeviceKind,
        device: Id,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE device_tokens SET revoked_at = $4 WHERE tenant_id = $1 AND kind = $2 AND device_id = $3 AND revoked_at IS NULL",
            &[&tenant.to_string(), &kind.as_str(), &device.to_string(), &ts(now)],
        )?;
        Ok(())
    }

    fn insert_device_token(
        &mut self,
        token_hash: &str,
        tenant: Id,
        kind: DeviceKind,
        device: Id,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO device_tokens (token_hash, tenant_id, kind, device_id, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&token_hash, &tenant.to_string(), &kind.as_str(), &device.to_string(), &ts(now)],
        )?;
        Ok(())
    }

    fn insert_audit(&mut self, e: &AuditEntry) -> StoreResult<()> {
        // Written with the batch's other entries in one statement before the commit.
        self.conn.defer_audit(e.clone());
        Ok(())
    }

    fn user_by_email(&mut self, email: &str) -> StoreResult<Option<User>> {
        self.doc(
            "SELECT doc FROM users WHERE lower(email) = lower($1)",
            &[&email],
        )
    }

    fn insert_user(&mut self, user: &User, password_hash: &str) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO users (id, email, password_hash, doc) VALUES ($1, $2, $3, $4)",
            &[
                &user.id.to_string(),
                &user.email,
                &password_hash,
                &serde_json::to_string(user)?,
            ],
        )?;
        Ok(())
    }

    fn member(&mut self, tenant: Id, user: Id) -> StoreResult<Option<Member>> {
        let Some(row) = self.conn.query_opt(
            "SELECT m.doc, u.doc FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND m.user_id = $2 FOR UPDATE OF m",
            &[&tenant.to_string(), &user.to_string()],
        )?
        else {
            return Ok(None);
        };
        let (m, u): (String, String) = (row.get(0), row.get(1));
        let agent = self.doc(
            "SELECT doc FROM entities WHERE tenant_id = $1 AND kind = 'agent' AND (doc::jsonb ->> 'user_id') = $2 FOR UPDATE",
            &[&tenant.to_string(), &user.to_string()],
        )?;
        Ok(Some(Member {
            user: from_json(&u)?,
            membership: from_json(&m)?,
            agent,
            existing_user: true,
        }))
    }

    fn admin_count(&mut self, tenant: Id) -> StoreResult<u32> {
        let n = self.count(
            "SELECT COUNT(*) FROM memberships WHERE tenant_id = $1 AND role = 'admin'",
            &[&tenant.to_string()],
        )?;
        Ok(to_u32(n))
    }

    fn save_membership(&mut self, m: &TenantMembership) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO memberships (tenant_id, id, user_id, role, doc) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role, doc = excluded.doc",
            &[&m.tenant_id.to_string(), &m.id.to_string(), &m.user_id.to_string(), &m.role.as_str(), &serde_json::to_string(m)?],
        )?;
        Ok(())
    }

    fn delete_membership(&mut self, tenant: Id, user: Id) -> StoreResult<()> {
        self.conn.execute(
            "DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2",
            &[&tenant.to_string(), &user.to_string()],
        )?;
        Ok(())
    }

    fn delete_agent(&mut self, tenant: Id, agent: Id) -> StoreResult<()> {
        self.delete_entity(tenant, Kind::Agent, agent)
    }

    fn idempotency_record(
        &mut self,
        tenant: Id,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<(String, String)>> {
        let row = self.conn.query_opt(
            "SELECT request, body FROM idempotency_keys WHERE tenant_id = $1 AND actor = $2 AND key = $3",
            &[&tenant.to_string(), &key.actor, &key.key],
        )?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    fn save_idempotency_record(
        &mut self,
        tenant: Id,
        key: &IdempotencyKey,
        result_json: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        // Another instance recording the same key first makes this a unique violation: the
        // request is answered as an error and its retry gets the first result.
        self.conn.execute(
            "INSERT INTO idempotency_keys (tenant_id, actor, key, request, status, body, created_at) VALUES ($1, $2, $3, $4, 200, $5, $6)",
            &[&tenant.to_string(), &key.actor, &key.key, &key.fingerprint, &result_json, &ts(now)],
        )?;
        Ok(())
    }
}

fn pairing(r: &tokio_postgres::Row) -> StoreResult<Pairing> {
    let mode: String = r.get(2);
    let bound = match (r.get::<_, Option<String>>(3), r.get::<_, Option<String>>(4)) {
        (Some(t), Some(d)) => Some((id(&t)?, id(&d)?)),
        _ => None,
    };
    Ok(Pairing {
        id: id(&r.get::<_, String>(0))?,
        secret_hash: r.get(1),
        mode: DeviceKind::parse(&mode)
            .ok_or_else(|| StoreError::Internal(format!("pairing: bad mode {mode}")))?,
        bound,
    })
}
