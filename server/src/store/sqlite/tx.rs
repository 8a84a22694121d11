//! [`Tx`] on the writer's open SQLite transaction: the repository the services run on.

use super::*;
use crate::store::shared::{AuditEntry, ts};
use crate::store::tx::Tx;

/// The writer's connection inside its open transaction, and the events emitted in it (published
/// by the writer once the transaction commits, dropped if the job fails).
pub(super) struct SqliteTx<'c> {
    pub(super) conn: &'c Connection,
    pub(super) events: &'c mut Vec<StoredEvent>,
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
        emit(self.conn, self.events, tenant, event, now)
    }

    fn insert_audit(&mut self, e: &AuditEntry) -> StoreResult<()> {
        insert_audit(self.conn, e)
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

    fn bump_number(&mut self, tenant: Id, queue: Id, day: NaiveDate) -> StoreResult<u32> {
        Ok(self
            .conn
            .prepare_cached(
                "INSERT INTO queue_counters (tenant_id, queue_id, business_day, last) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (tenant_id, queue_id, business_day) DO UPDATE SET last = last + 1 RETURNING last",
            )?
            .query_row(params![tenant.to_string(), queue.to_string(), day.to_string()], |r| r.get(0))?)
    }

    fn set_number(&mut self, tenant: Id, queue: Id, day: NaiveDate, last: u32) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE queue_counters SET last = MAX(last, ?4) WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3",
            )?
            .execute(params![tenant.to_string(), queue.to_string(), day.to_string(), last])?;
        Ok(())
    }

    fn top_number(&mut self, tenant: Id, queue: Id, day: NaiveDate) -> StoreResult<u32> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT MAX(COALESCE((SELECT MAX(last) FROM number_leases WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3), 0),
                            COALESCE((SELECT last FROM queue_counters WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3), 0))",
            )?
            .query_row(params![tenant.to_string(), queue.to_string(), day.to_string()], |r| r.get(0))?)
    }

    fn lease_holding(
        &mut self,
        tenant: Id,
        queue: Id,
        day: NaiveDate,
        n: u32,
    ) -> StoreResult<Option<u32>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT last FROM number_leases WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3 AND first <= ?4 AND ?4 <= last",
            )?
            .query_row(params![tenant.to_string(), queue.to_string(), day.to_string(), n], |r| r.get(0))
            .optional()?)
    }

    fn leased_at(
        &mut self,
        tenant: Id,
        lease: &LeaseRef,
        n: u32,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let at: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT created_at FROM number_leases WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3
                   AND kiosk_id = ?4 AND first <= ?5 AND ?5 <= last",
            )?
            .query_row(
                params![tenant.to_string(), lease.queue.to_string(), lease.day.to_string(), lease.kiosk.to_string(), n],
                |r| r.get(0),
            )
            .optional()?;
        at.map(|a| crate::store::shared::parse_ts(&a)).transpose()
    }

    fn insert_lease(
        &mut self,
        tenant: Id,
        lease: &LeaseRef,
        first: u32,
        last: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO number_leases (tenant_id, queue_id, business_day, kiosk_id, first, last, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                tenant.to_string(),
                lease.queue.to_string(),
                lease.day.to_string(),
                lease.kiosk.to_string(),
                first,
                last,
                ts(now)
            ])?;
        Ok(())
    }

    fn put_entity(
        &mut self,
        tenant: Id,
        kind: Kind,
        id: Id,
        doc: &Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        put_doc(self.conn, tenant, kind, id, doc, now)
    }

    fn delete_entity(&mut self, tenant: Id, kind: Kind, id: Id) -> StoreResult<()> {
        uncache(tenant, kind, id);
        self.conn
            .prepare_cached("DELETE FROM entities WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3")?
            .execute(params![tenant.to_string(), kind.as_str(), id.to_string()])?;
        Ok(())
    }

    fn count_referencing(
        &mut self,
        tenant: Id,
        kinds: &[Kind],
        field: &str,
        id: Id,
    ) -> StoreResult<u32> {
        let path = format!("$.{field}");
        let mut total = 0;
        for kind in kinds {
            let n: i64 = self
                .conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM entities WHERE tenant_id = ?1 AND kind = ?2 AND json_extract(doc, ?3) = ?4",
                )?
                .query_row(params![tenant.to_string(), kind.as_str(), path, id.to_string()], |r| r.get(0))?;
            total += u32::try_from(n).unwrap_or(u32::MAX);
        }
        Ok(total)
    }

    fn live_tickets(&mut self, tenant: Id, queue: Id) -> StoreResult<u32> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status IN ('waiting','called','in_service','paused')",
            )?
            .query_row(params![tenant.to_string(), queue.to_string()], |r| r.get(0))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn rekey_waiting(&mut self, tenant: Id, queue: &Queue) -> StoreResult<()> {
        let policy = queue_policy(queue);
        let docs: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT doc FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status = 'waiting'",
            )?
            .query_map(params![tenant.to_string(), queue.id.to_string()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for d in docs {
            update_ticket(self.conn, &from_json::<Ticket>(&d)?, &policy)?;
        }
        Ok(())
    }

    fn tenant_by_slug(&mut self, slug: &str) -> StoreResult<Option<Tenant>> {
        let doc: Option<String> = self
            .conn
            .prepare_cached("SELECT doc FROM tenants WHERE slug = ?1")?
            .query_row([slug], |r| r.get(0))
            .optional()?;
        doc.map(|d| from_json(&d)).transpose()
    }

    fn tenant_slug(&mut self, tenant: Id) -> StoreResult<Option<String>> {
        tenant_slug(self.conn, tenant)
    }

    fn insert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
        self.conn
            .prepare_cached("INSERT INTO tenants (id, slug, doc) VALUES (?1, ?2, ?3)")?
            .execute(params![
                tenant.id.to_string(),
                tenant.slug,
                serde_json::to_string(tenant)?
            ])?;
        Ok(())
    }

    fn setting(&mut self, key: &str) -> StoreResult<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    fn insert_setting(&mut self, key: &str, value: &str) -> StoreResult<()> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)")?
            .execute([key, value])?;
        Ok(())
    }

    fn refresh_token(&mut self, hash: &str) -> StoreResult<Option<RefreshToken>> {
        type Row = (String, String, Option<String>, String, Option<String>, bool);
        let row: Option<Row> = self
            .conn
            .prepare_cached(
                "SELECT family_id, user_id, tenant_id, expires_at, used_at, revoked FROM refresh_tokens WHERE token_hash = ?1",
            )?
            .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .optional()?;
        let Some((family, user, tenant, expires, used, revoked)) = row else {
            return Ok(None);
        };
        let bad = |what: &str| StoreError::Internal(format!("refresh token: bad {what}"));
        Ok(Some(RefreshToken {
            family_id: family.parse().map_err(|_| bad("family"))?,
            user_id: user.parse().map_err(|_| bad("user id"))?,
            tenant_id: tenant
                .map(|t| t.parse().map_err(|_| bad("tenant id")))
                .transpose()?,
            expires_at: DateTime::parse_from_rfc3339(&expires)
                .map_err(|_| bad("expiry"))?
                .with_timezone(&Utc),
            used: used.is_some(),
            revoked,
        }))
    }

    fn insert_refresh(&mut self, r: &RefreshRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, tenant_id, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                r.token_hash,
                r.family_id.to_string(),
                r.user_id.to_string(),
                r.tenant_id.map(|t| t.to_string()),
                ts(r.expires_at)
            ])?;
        Ok(())
    }

    fn mark_refresh_used(&mut self, hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1")?
            .execute(params![hash, ts(now)])?;
        Ok(())
    }

    fn revoke_refresh_family(&mut self, family: Id) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?1")?
            .execute([family.to_string()])?;
        Ok(())
    }

    fn delete_expired_pairings(&mut self, now: DateTime<Utc>) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM device_pairings WHERE expires_at < ?1")?
            .execute([ts(now)])?;
        Ok(())
    }

    fn insert_pairing(&mut self, p: &NewPairing, now: DateTime<Utc>) -> StoreResult<bool> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO device_pairings (id, code, secret_hash, mode, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (code) DO NOTHING",
            )?
            .execute(params![
                p.id.to_string(),
                p.code,
                p.secret_hash,
                p.mode.as_str(),
                ts(now),
                ts(p.expires_at)
            ])?;
        Ok(inserted == 1)
    }

    fn pairing_by_code(&mut self, code: &str, now: DateTime<Utc>) -> StoreResult<Option<Pairing>> {
        pairing_where(self.conn, "code = ?1", code, now)
    }

    fn pairing(&mut self, id: Id, now: DateTime<Utc>) -> StoreResult<Option<Pairing>> {
        pairing_where(self.conn, "id = ?1", &id.to_string(), now)
    }

    fn bind_pairing(&mut self, id: Id, tenant: Id, device: Id) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE device_pairings SET tenant_id = ?2, device_id = ?3 WHERE id = ?1",
            )?
            .execute([id.to_string(), tenant.to_string(), device.to_string()])?;
        Ok(())
    }

    fn delete_pairing(&mut self, id: Id) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM device_pairings WHERE id = ?1")?
            .execute([id.to_string()])?;
        Ok(())
    }

    fn revoke_device_tokens(
        &mut self,
        tenant: Id,
        kind: DeviceKind,
        device: Id,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE device_tokens SET revoked_at = ?4 WHERE tenant_id = ?1 AND kind = ?2 AND device_id = ?3 AND revoked_at IS NULL",
            )?
            .execute(params![tenant.to_string(), kind.as_str(), device.to_string(), ts(now)])?;
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
        self.conn
            .prepare_cached(
                "INSERT INTO device_tokens (token_hash, tenant_id, kind, device_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![token_hash, tenant.to_string(), kind.as_str(), device.to_string(), ts(now)])?;
        Ok(())
    }
}

/// The unexpired pairing matching `cond` (on `?1`).
fn pairing_where(
    conn: &Connection,
    cond: &str,
    value: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<Pairing>> {
    type Row = (String, String, String, Option<String>, Option<String>);
    let row: Option<Row> = conn
        .prepare_cached(&format!(
            "SELECT id, secret_hash, mode, tenant_id, device_id FROM device_pairings WHERE {cond} AND expires_at >= ?2"
        ))?
        .query_row(params![value, ts(now)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((id, secret_hash, mode, tenant, device)) = row else {
        return Ok(None);
    };
    let bad = |what: &str| StoreError::Internal(format!("pairing: bad {what}"));
    let bound = match (tenant, device) {
        (Some(t), Some(d)) => Some((
            t.parse().map_err(|_| bad("tenant id"))?,
            d.parse().map_err(|_| bad("device id"))?,
        )),
        _ => None,
    };
    Ok(Some(Pairing {
        id: id.parse().map_err(|_| bad("id"))?,
        secret_hash,
        mode: DeviceKind::parse(&mode).ok_or_else(|| bad("mode"))?,
        bound,
    }))
}
