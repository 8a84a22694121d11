//! [`Tx`] on the writer's open SQLite transaction: the repository the services run on.

use super::*;
use crate::store::tx::{Tx, TxJob};

/// The writer's connection inside its open transaction.
pub(super) struct SqliteTx<'c> {
    pub(super) conn: &'c Connection,
}

impl Tx for SqliteTx<'_> {
    fn entity(&mut self, tenant: Id, kind: Kind, id: Id) -> StoreResult<Option<Value>> {
        get_doc(self.conn, tenant, kind, id)
    }

    fn queue(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Queue>> {
        get_doc(self.conn, tenant, Kind::Queue, id)
    }

    fn site(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Site>> {
        get_doc(self.conn, tenant, Kind::Site, id)
    }

    fn counter(&mut self, tenant: Id, id: Id) -> StoreResult<Option<smartqueue_core::Counter>> {
        get_doc(self.conn, tenant, Kind::Counter, id)
    }

    fn agent(&mut self, tenant: Id, id: Id) -> StoreResult<Option<AgentProfile>> {
        get_doc(self.conn, tenant, Kind::Agent, id)
    }

    fn save_agent(&mut self, agent: &AgentProfile, now: DateTime<Utc>) -> StoreResult<()> {
        put_doc(
            self.conn,
            agent.tenant_id,
            Kind::Agent,
            agent.id,
            agent,
            now,
        )
    }

    fn ticket(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Ticket>> {
        load_ticket(self.conn, tenant, id)
    }

    fn queue_head(&mut self, tenant: Id, queue: Id) -> StoreResult<Option<Ticket>> {
        let head: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT doc FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status = 'waiting'
                 ORDER BY lane, deadline_us, queued_at_us, sequence LIMIT 1",
            )?
            .query_row(params![tenant.to_string(), queue.to_string()], |r| r.get(0))
            .optional()?;
        head.map(|s| from_json(&s)).transpose()
    }

    fn waiting_count(&mut self, tenant: Id, queue: Id) -> StoreResult<u32> {
        Ok(u32::try_from(waiting_count(self.conn, tenant, queue)?).unwrap_or(0))
    }

    fn position(&mut self, t: &Ticket, policy: &QueuePolicy) -> StoreResult<Option<u32>> {
        position(self.conn, t, policy)
    }

    fn insert_ticket(&mut self, t: &Ticket, policy: &QueuePolicy) -> StoreResult<()> {
        insert_ticket(self.conn, t, policy)
    }

    fn update_ticket(&mut self, t: &Ticket, policy: &QueuePolicy) -> StoreResult<()> {
        update_ticket(self.conn, t, policy)
    }

    fn track_counts(
        &mut self,
        before: Option<&Ticket>,
        after: &Ticket,
    ) -> StoreResult<Vec<(Id, i64)>> {
        track_counts(self.conn, before, after)
    }

    fn next_number(&mut self, tenant: Id, queue: Id, day: NaiveDate) -> StoreResult<u32> {
        let n: u32 = self
            .conn
            .prepare_cached(
                "INSERT INTO queue_counters (tenant_id, queue_id, business_day, last) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (tenant_id, queue_id, business_day) DO UPDATE SET last = last + 1 RETURNING last",
            )?
            .query_row(params![tenant.to_string(), queue.to_string(), day.to_string()], |r| r.get(0))?;
        devices::skip_leased(self.conn, tenant, queue, day, n)
    }

    fn offline_ticket(
        &mut self,
        tenant: Id,
        queue: &Queue,
        offline: &OfflineIssue,
        now: DateTime<Utc>,
    ) -> StoreResult<(Ticket, Option<Id>)> {
        devices::offline_ticket(self.conn, tenant, queue, offline, now)
    }

    fn record_service_time(
        &mut self,
        tenant: Id,
        queue: Id,
        at: DateTime<Utc>,
        seconds: u32,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO service_times (tenant_id, queue_id, closed_at_us, seconds) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![tenant.to_string(), queue.to_string(), at.timestamp_micros(), seconds])?;
        Ok(())
    }

    fn emit(&mut self, tenant: Id, event: Event, now: DateTime<Utc>) -> StoreResult<(i64, String)> {
        emit(self.conn, tenant, event, now)
    }

    fn audit(
        &mut self,
        tenant: Id,
        actor: &Actor,
        action: &str,
        entity_type: &str,
        entity_id: Id,
        before: Option<Value>,
        after: Option<&Value>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        audit(
            self.conn,
            tenant,
            actor,
            action,
            entity_type,
            entity_id,
            before,
            after,
            now,
        )
    }

    fn audit_created(
        &mut self,
        tenant: Id,
        actor: &Actor,
        action: &str,
        entity_type: &str,
        entity_id: Id,
        after_json: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        audit_created(
            self.conn,
            tenant,
            actor,
            action,
            entity_type,
            entity_id,
            after_json,
            now,
        )
    }

    fn user_by_email(&mut self, email: &str) -> StoreResult<Option<User>> {
        let doc: Option<String> = self
            .conn
            .prepare_cached("SELECT doc FROM users WHERE email = ?1")?
            .query_row([email], |r| r.get(0))
            .optional()?;
        doc.map(|d| from_json(&d)).transpose()
    }

    fn insert_user(&mut self, user: &User, password_hash: &str) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO users (id, email, password_hash, doc) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                user.id.to_string(),
                user.email,
                password_hash,
                serde_json::to_string(user)?
            ])?;
        Ok(())
    }

    fn member(&mut self, tenant: Id, user: Id) -> StoreResult<Option<Member>> {
        member_of_row(self.conn, tenant, user)
    }

    fn admin_count(&mut self, tenant: Id) -> StoreResult<u32> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM memberships WHERE tenant_id = ?1 AND role = 'admin'",
            )?
            .query_row([tenant.to_string()], |r| r.get(0))?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    fn save_membership(&mut self, m: &TenantMembership) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO memberships (tenant_id, id, user_id, role, doc) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role, doc = excluded.doc",
            )?
            .execute(params![
                m.tenant_id.to_string(),
                m.id.to_string(),
                m.user_id.to_string(),
                m.role.as_str(),
                serde_json::to_string(m)?
            ])?;
        Ok(())
    }

    fn delete_membership(&mut self, tenant: Id, user: Id) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM memberships WHERE tenant_id = ?1 AND user_id = ?2")?
            .execute(params![tenant.to_string(), user.to_string()])?;
        Ok(())
    }

    fn delete_agent(&mut self, tenant: Id, agent: Id) -> StoreResult<()> {
        uncache(tenant, Kind::Agent, agent);
        self.conn
            .prepare_cached(
                "DELETE FROM entities WHERE tenant_id = ?1 AND kind = 'agent' AND id = ?2",
            )?
            .execute(params![tenant.to_string(), agent.to_string()])?;
        Ok(())
    }

    fn idempotency_record(
        &mut self,
        tenant: Id,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<(String, String)>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT request, body FROM idempotency_keys WHERE tenant_id = ?1 AND actor = ?2 AND key = ?3",
            )?
            .query_row(params![tenant.to_string(), key.actor, key.key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    fn save_idempotency_record(
        &mut self,
        tenant: Id,
        key: &IdempotencyKey,
        result_json: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO idempotency_keys (tenant_id, actor, key, request, status, body, created_at) VALUES (?1, ?2, ?3, ?4, 200, ?5, ?6)",
            )?
            .execute(params![tenant.to_string(), key.actor, key.key, key.fingerprint, result_json, ts(now)])?;
        Ok(())
    }
}

/// A backend-neutral job run as one of the writer's jobs.
pub(super) struct Neutral(pub(super) Box<dyn TxJob>);

impl WriteJob for Neutral {
    fn run(&mut self, conn: &Connection) -> bool {
        self.0.run(&mut SqliteTx { conn })
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        self.0.answer(committed)
    }
}
