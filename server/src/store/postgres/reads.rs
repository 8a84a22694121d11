//! The reads of [`PgStore`] (pooled connections on the server's runtime), and `submit`.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use smartqueue_core::selection::QueuePolicy;
use smartqueue_core::{AuditLog, Queue, Tenant, Ticket, TicketStatus, User};
use tokio_postgres::Row;

use super::*;
use crate::store::shared::lane_num;

/// How far back (in events) the recent-calls query looks.
const RECENT_CALLS_SCAN: i64 = 5_000;

impl PgStore {
    async fn rows(&self, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }

    async fn row(&self, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }

    async fn doc<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> StoreResult<Option<T>> {
        match self.row(sql, params).await? {
            Some(r) => Ok(Some(from_json(&r.get::<_, String>(0))?)),
            None => Ok(None),
        }
    }

    async fn docs<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> StoreResult<Vec<T>> {
        self.rows(sql, params)
            .await?
            .iter()
            .map(|r| from_json(&r.get::<_, String>(0)))
            .collect()
    }

    async fn count(&self, sql: &str, params: &Params<'_>) -> StoreResult<i64> {
        Ok(self
            .row(sql, params)
            .await?
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0))
    }

    async fn slug(&self, tenant: Id) -> StoreResult<Option<String>> {
        Ok(self
            .row(
                "SELECT slug FROM tenants WHERE id = $1",
                &[&tenant.to_string()],
            )
            .await?
            .map(|r| r.get(0)))
    }

    /// A ticket with its place in line.
    async fn placed(&self, t: Ticket) -> StoreResult<PlacedTicket> {
        let queue: Option<Queue> = self
            .get_entity(t.tenant_id, Kind::Queue, t.queue_id)
            .await?
            .map(serde_json::from_value)
            .transpose()?;
        let position = match queue {
            Some(q) if t.status == TicketStatus::Waiting => {
                let key = QueuePolicy::from(&q).key(&t);
                let ahead = self
                    .count(
                        "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND queue_id = $2 AND status = 'waiting'
                           AND (lane, deadline_us, queued_at_us, sequence) < ($3, $4, $5, $6)",
                        &[
                            &t.tenant_id.to_string(),
                            &t.queue_id.to_string(),
                            &lane_num(t.lane),
                            &key.deadline_us,
                            &key.queued_at_us,
                            &i64::from(t.sequence),
                        ],
                    )
                    .await?;
                Some(u32::try_from(ahead + 1).unwrap_or(u32::MAX))
            }
            _ => None,
        };
        Ok(PlacedTicket {
            ticket: t,
            position,
        })
    }

    async fn member(&self, tenant: Id, user: Id) -> StoreResult<Option<Member>> {
        let Some(row) = self
            .row(
                "SELECT m.doc, u.doc FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND m.user_id = $2",
                &[&tenant.to_string(), &user.to_string()],
            )
            .await?
        else {
            return Ok(None);
        };
        let (m, u): (String, String) = (row.get(0), row.get(1));
        let agent = self
            .doc(
                "SELECT doc FROM entities WHERE tenant_id = $1 AND kind = 'agent' AND (doc::jsonb ->> 'user_id') = $2",
                &[&tenant.to_string(), &user.to_string()],
            )
            .await?;
        Ok(Some(Member {
            user: from_json(&u)?,
            membership: from_json(&m)?,
            agent,
            existing_user: true,
        }))
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn submit(&self, job: Box<dyn crate::store::tx::TxJob>) -> StoreResult<()> {
        let guard = self.writer.lock().map_err(|_| StoreError::Closed)?;
        let sender = guard.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        self.doc("SELECT doc FROM tenants WHERE slug = $1", &[&slug])
            .await
    }

    async fn user_credentials(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let email = email.trim();
        match self
            .row(
                "SELECT doc, password_hash FROM users WHERE lower(email) = lower($1)",
                &[&email],
            )
            .await?
        {
            Some(r) => Ok(Some((from_json(&r.get::<_, String>(0))?, r.get(1)))),
            None => Ok(None),
        }
    }

    async fn user(&self, uid: Id) -> StoreResult<Option<User>> {
        self.doc("SELECT doc FROM users WHERE id = $1", &[&uid.to_string()])
            .await
    }

    async fn memberships(&self, user_id: Id) -> StoreResult<Vec<MembershipInfo>> {
        let rows = self
            .rows(
                "SELECT t.id, t.slug, m.role,
                        (SELECT e.id FROM entities e WHERE e.tenant_id = m.tenant_id AND e.kind = 'agent'
                           AND (e.doc::jsonb ->> 'user_id') = m.user_id)
                 FROM memberships m JOIN tenants t ON t.id = m.tenant_id
                 WHERE m.user_id = $1 ORDER BY t.slug",
                &[&user_id.to_string()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.get(2);
                Ok(MembershipInfo {
                    tenant_id: id(&r.get::<_, String>(0))?,
                    tenant_slug: r.get(1),
                    role: role
                        .parse()
                        .map_err(|_| StoreError::Internal(format!("bad role {role}")))?,
                    agent_id: r.get::<_, Option<String>>(3).and_then(|a| a.parse().ok()),
                })
            })
            .collect()
    }

    async fn list_members(&self, tenant_id: Id) -> StoreResult<Vec<Member>> {
        let rows = self
            .rows(
                // In the order they joined.
                "SELECT user_id FROM memberships WHERE tenant_id = $1 ORDER BY (doc::jsonb ->> 'created_at'), id",
                &[&tenant_id.to_string()],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if let Some(m) = self.member(tenant_id, id(&r.get::<_, String>(0))?).await? {
                out.push(m);
            }
        }
        Ok(out)
    }

    async fn get_entity(&self, tenant_id: Id, kind: Kind, eid: Id) -> StoreResult<Option<Value>> {
        self.doc(
            "SELECT doc FROM entities WHERE tenant_id = $1 AND kind = $2 AND id = $3",
            &[&tenant_id.to_string(), &kind.as_str(), &eid.to_string()],
        )
        .await
    }

    async fn list_entities(
        &self,
        tenant_id: Id,
        kind: Kind,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<Value>> {
        let (t, k) = (tenant_id.to_string(), kind.as_str());
        let count = self
            .count(
                "SELECT COUNT(*) FROM entities WHERE tenant_id = $1 AND kind = $2",
                &[&t, &k],
            )
            .await?;
        let results = self
            .docs(
                "SELECT doc FROM entities WHERE tenant_id = $1 AND kind = $2 ORDER BY created_at, id LIMIT $3 OFFSET $4",
                &[&t, &k, &i64::from(limit), &i64::from(offset)],
            )
            .await?;
        Ok(Page {
            count: count as u64,
            results,
        })
    }

    async fn ticket(&self, tenant_id: Id, tid: Id) -> StoreResult<Option<PlacedTicket>> {
        let t: Option<Ticket> = self
            .doc(
                "SELECT doc FROM tickets WHERE tenant_id = $1 AND id = $2",
                &[&tenant_id.to_string(), &tid.to_string()],
            )
            .await?;
        match t {
            Some(t) => Ok(Some(self.placed(t).await?)),
            None => Ok(None),
        }
    }

    async fn ticket_by_token(
        &self,
        tenant_id: Id,
        token: String,
    ) -> StoreResult<Option<PlacedTicket>> {
        let t: Option<Ticket> = self
            .doc(
                "SELECT doc FROM tickets WHERE tracking_token = $1 AND tenant_id = $2",
                &[&token, &tenant_id.to_string()],
            )
            .await?;
        match t {
            Some(t) => Ok(Some(self.placed(t).await?)),
            None => Ok(None),
        }
    }

    async fn list_tickets(&self, tenant_id: Id, f: TicketFilter) -> StoreResult<Page<Ticket>> {
        let (count_sql, sql, args) = crate::store::shared::ticket_list_sql(tenant_id, &f);
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let count = self.count(&count_sql, &params).await?;
        let results = self.docs(&sql, &params).await?;
        Ok(Page {
            count: count as u64,
            results,
        })
    }

    fn subscribe(&self) -> Subscription {
        self.bus.subscribe()
    }

    fn leadership(&self) -> tokio::sync::watch::Receiver<bool> {
        self.leader.clone()
    }

    async fn events_since(
        &self,
        tenant_id: Id,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let Some(slug) = self.slug(tenant_id).await? else {
            return Ok(Vec::new());
        };
        let rows = self
            .rows(
                "SELECT seq, type, at, data FROM events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&tenant_id.to_string(), &since, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| stored_event(tenant_id, &slug, r))
            .collect()
    }

    async fn last_event_seq(&self, tenant_id: Id) -> StoreResult<i64> {
        self.count(
            "SELECT last_event_seq FROM tenants WHERE id = $1",
            &[&tenant_id.to_string()],
        )
        .await
    }

    async fn queue_counts(
        &self,
        tenant_id: Id,
        queue_id: Id,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> StoreResult<QueueCounts> {
        let (t, q, d) = (tenant_id.to_string(), queue_id.to_string(), day.to_string());
        let n = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        let waiting = self
            .count("SELECT COALESCE((SELECT waiting FROM queue_waiting WHERE tenant_id = $1 AND queue_id = $2), 0)", &[&t, &q])
            .await?;
        let active = self
            .count("SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND queue_id = $2 AND status IN ('called','in_service','paused')", &[&t, &q])
            .await?;
        let (mut served_today, mut no_show_today, mut cancelled_today) = (0, 0, 0);
        for r in self
            .rows(
                "SELECT status, n FROM queue_day_counts WHERE tenant_id = $1 AND queue_id = $2 AND business_day = $3",
                &[&t, &q, &d],
            )
            .await?
        {
            let count = n(r.get(1));
            match r.get::<_, String>(0).as_str() {
                "closed" => served_today = count,
                "no_show" => no_show_today = count,
                "cancelled" => cancelled_today = count,
                _ => {}
            }
        }
        let oldest: Option<i64> = self
            .row("SELECT MIN(queued_at_us) FROM tickets WHERE tenant_id = $1 AND queue_id = $2 AND status = 'waiting'", &[&t, &q])
            .await?
            .and_then(|r| r.get(0));
        let longest_wait_seconds = oldest
            .map(|us| n((now.timestamp_micros() - us).max(0) / 1_000_000))
            .unwrap_or(0);
        let active_agents = n(self.count(SERVING_AGENTS, &[&t, &q]).await?);
        Ok(QueueCounts {
            waiting: n(waiting),
            active: n(active),
            served_today,
            no_show_today,
            cancelled_today,
            longest_wait_seconds,
            active_agents,
        })
    }

    async fn serving_agents(&self, tenant_id: Id, queue_id: Id) -> StoreResult<u32> {
        let n = self
            .count(
                SERVING_AGENTS,
                &[&tenant_id.to_string(), &queue_id.to_string()],
            )
            .await?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    async fn recent_service_times(
        &self,
        tenant_id: Id,
        queue_id: Id,
        limit: u32,
    ) -> StoreResult<Vec<f64>> {
        let rows = self
            .rows(
                "SELECT seconds FROM service_times WHERE tenant_id = $1 AND queue_id = $2 ORDER BY closed_at_us DESC LIMIT $3",
                &[&tenant_id.to_string(), &queue_id.to_string(), &i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as f64).collect())
    }

    async fn audit_logs(
        &self,
        tenant_id: Id,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<AuditLog>> {
        let t = tenant_id.to_string();
        let count = self
            .count(
                "SELECT COUNT(*) FROM audit_logs WHERE tenant_id = $1",
                &[&t],
            )
            .await?;
        let results = self
            .docs(
                // Ids are UUIDv7: their order is their creation order (SQLite: rowid).
                "SELECT doc FROM audit_logs WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
                &[&t, &i64::from(limit), &i64::from(offset)],
            )
            .await?;
        Ok(Page {
            count: count as u64,
            results,
        })
    }

    async fn device_by_token(&self, token_hash: String) -> StoreResult<Option<DeviceAuth>> {
        let Some(r) = self
            .row(
                "SELECT d.tenant_id, t.slug, d.kind, d.device_id FROM device_tokens d
                 JOIN tenants t ON t.id = d.tenant_id
                 WHERE d.token_hash = $1 AND d.revoked_at IS NULL",
                &[&token_hash],
            )
            .await?
        else {
            return Ok(None);
        };
        let (tenant, slug, kind, device): (String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let (Ok(tenant_id), Some(kind), Ok(device_id)) =
            (tenant.parse(), DeviceKind::parse(&kind), device.parse())
        else {
            return Ok(None);
        };
        Ok(Some(DeviceAuth {
            tenant_id,
            tenant_slug: slug,
            kind,
            device_id,
        }))
    }

    async fn recent_calls(
        &self,
        tenant_id: Id,
        queue_ids: Vec<Id>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let Some(slug) = self.slug(tenant_id).await? else {
            return Ok(Vec::new());
        };
        let rows = self
            .rows(
                "SELECT seq, type, at, data FROM events
                 WHERE tenant_id = $1 AND seq > (SELECT last_event_seq FROM tenants WHERE id = $1) - $2
                   AND type IN ('ticket.called', 'ticket.recalled')
                 ORDER BY seq DESC",
                &[&tenant_id.to_string(), &RECENT_CALLS_SCAN],
            )
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            let e = stored_event(tenant_id, &slug, r)?;
            if e.event()
                .ticket()
                .is_some_and(|t| queue_ids.contains(&t.ticket.queue_id))
            {
                out.push(e);
                if out.len() >= limit as usize {
                    break;
                }
            }
        }
        Ok(out)
    }
}
