//! The reads of [`SqliteStore`]: pooled read-only connections on blocking threads.

use super::*;

// ---------------------------------------------------------------------------------------------
// The Store implementation
// ---------------------------------------------------------------------------------------------

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn submit(&self, job: Box<dyn crate::store::tx::TxJob>) -> StoreResult<()> {
        let guard = self.writer.lock().map_err(|_| StoreError::Closed)?;
        let sender = guard.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        let slug = slug.to_owned();
        self.read(move |conn| {
            let raw: Option<String> = conn
                .prepare_cached("SELECT doc FROM tenants WHERE slug = ?1")?
                .query_row([slug], |r| r.get(0))
                .optional()?;
            raw.map(|s| from_json(&s)).transpose()
        })
        .await
    }

    async fn user_credentials(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let email = email.trim().to_owned();
        self.read(move |conn| {
            let row: Option<(String, String)> = conn
                .prepare_cached("SELECT doc, password_hash FROM users WHERE email = ?1")?
                .query_row([email], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(d, h)| Ok((from_json(&d)?, h))).transpose()
        })
        .await
    }

    async fn user(&self, id: Id) -> StoreResult<Option<User>> {
        self.read(move |conn| {
            let raw: Option<String> = conn
                .prepare_cached("SELECT doc FROM users WHERE id = ?1")?
                .query_row([id.to_string()], |r| r.get(0))
                .optional()?;
            raw.map(|s| from_json(&s)).transpose()
        })
        .await
    }

    async fn memberships(&self, user_id: Id) -> StoreResult<Vec<MembershipInfo>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT t.id, t.slug, m.role,
                        (SELECT e.id FROM entities e WHERE e.tenant_id = m.tenant_id AND e.kind = 'agent'
                           AND json_extract(e.doc, '$.user_id') = m.user_id)
                 FROM memberships m JOIN tenants t ON t.id = m.tenant_id
                 WHERE m.user_id = ?1 ORDER BY t.slug",
            )?;
            let rows = stmt.query_map([user_id.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (tid, slug, role, agent) = row?;
                out.push(MembershipInfo {
                    tenant_id: tid.parse().map_err(|_| StoreError::Internal("bad tenant id".into()))?,
                    tenant_slug: slug,
                    role: role.parse().map_err(|_| StoreError::Internal(format!("bad role {role}")))?,
                    agent_id: agent.and_then(|a| a.parse().ok()),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn list_members(&self, tenant_id: Id) -> StoreResult<Vec<Member>> {
        self.read(move |conn| {
            let ids: Vec<String> = conn
                .prepare_cached(
                    "SELECT user_id FROM memberships WHERE tenant_id = ?1 ORDER BY rowid",
                )?
                .query_map([tenant_id.to_string()], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let uid: Uuid = id
                    .parse()
                    .map_err(|_| StoreError::Internal("bad user id".into()))?;
                if let Some(m) = member_of_row(conn, tenant_id, uid)? {
                    out.push(m);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn get_entity(&self, tenant_id: Id, kind: Kind, id: Id) -> StoreResult<Option<Value>> {
        self.read(move |conn| get_doc(conn, tenant_id, kind, id))
            .await
    }

    async fn list_entities(
        &self,
        tenant_id: Id,
        kind: Kind,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<Value>> {
        self.read(move |conn| {
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM entities WHERE tenant_id = ?1 AND kind = ?2")?
                .query_row(params![tenant_id.to_string(), kind.as_str()], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(
                "SELECT doc FROM entities WHERE tenant_id = ?1 AND kind = ?2 ORDER BY created_at, id LIMIT ?3 OFFSET ?4",
            )?;
            let results = stmt
                .query_map(params![tenant_id.to_string(), kind.as_str(), limit, offset], |r| r.get::<_, String>(0))?
                .map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s)))
                .collect::<StoreResult<Vec<Value>>>()?;
            Ok(Page { count: count as u64, results })
        })
        .await
    }

    async fn ticket(&self, tenant_id: Id, id: Id) -> StoreResult<Option<PlacedTicket>> {
        self.read(move |conn| {
            load_ticket(conn, tenant_id, id)?
                .map(|t| placed(conn, t))
                .transpose()
        })
        .await
    }

    async fn ticket_by_token(
        &self,
        tenant_id: Id,
        token: String,
    ) -> StoreResult<Option<PlacedTicket>> {
        self.read(move |conn| {
            let raw: Option<String> = conn
                .prepare_cached(
                    "SELECT doc FROM tickets WHERE tracking_token = ?1 AND tenant_id = ?2",
                )?
                .query_row(params![token, tenant_id.to_string()], |r| r.get(0))
                .optional()?;
            raw.map(|d| from_json::<Ticket>(&d))
                .transpose()?
                .map(|t| placed(conn, t))
                .transpose()
        })
        .await
    }

    async fn list_tickets(&self, tenant_id: Id, f: TicketFilter) -> StoreResult<Page<Ticket>> {
        self.read(move |conn| {
            let (count_sql, sql, args) = crate::store::shared::ticket_list_sql(tenant_id, &f);
            let count: i64 = conn
                .prepare(&count_sql)?
                .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
            let mut stmt = conn.prepare(&sql)?;
            let results = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    r.get::<_, String>(0)
                })?
                .map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s)))
                .collect::<StoreResult<Vec<Ticket>>>()?;
            Ok(Page {
                count: count as u64,
                results,
            })
        })
        .await
    }

    async fn queue_counts(
        &self,
        tenant_id: Id,
        queue_id: Id,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> StoreResult<QueueCounts> {
        self.read(move |conn| {
            let (t, q, d) = (tenant_id.to_string(), queue_id.to_string(), day.to_string());
            let count = |sql: &str| -> StoreResult<u32> {
                let n: i64 = conn.prepare_cached(sql)?.query_row(params![t, q], |r| r.get(0))?;
                Ok(n as u32)
            };
            let waiting = count("SELECT COALESCE((SELECT waiting FROM queue_waiting WHERE tenant_id = ?1 AND queue_id = ?2), 0)")?;
            let active = count("SELECT COUNT(*) FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status IN ('called','in_service','paused')")?;
            // The day's ended tickets, one row per status that has any.
            let (mut served_today, mut no_show_today, mut cancelled_today) = (0, 0, 0);
            let mut stmt = conn.prepare_cached(
                "SELECT status, n FROM queue_day_counts WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3",
            )?;
            let mut rows = stmt.query(params![t, q, d])?;
            while let Some(row) = rows.next()? {
                let n = row.get::<_, i64>(1)?.max(0) as u32;
                match row.get_ref(0)?.as_str().unwrap_or_default() {
                    "closed" => served_today = n,
                    "no_show" => no_show_today = n,
                    "cancelled" => cancelled_today = n,
                    _ => {}
                }
            }
            drop(rows);
            drop(stmt);
            let oldest: Option<i64> = conn
                .prepare_cached("SELECT MIN(queued_at_us) FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status = 'waiting'")?
                .query_row(params![t, q], |r| r.get(0))?;
            let longest_wait_seconds = oldest.map(|us| ((now.timestamp_micros() - us).max(0) / 1_000_000) as u32).unwrap_or(0);
            let active_agents = count(SERVING_AGENTS)?;
            Ok(QueueCounts { waiting, active, served_today, no_show_today, cancelled_today, longest_wait_seconds, active_agents })
        })
        .await
    }

    async fn serving_agents(&self, tenant_id: Id, queue_id: Id) -> StoreResult<u32> {
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached(SERVING_AGENTS)?
                .query_row(params![tenant_id.to_string(), queue_id.to_string()], |r| {
                    r.get(0)
                })?;
            Ok(n as u32)
        })
        .await
    }

    async fn recent_service_times(
        &self,
        tenant_id: Id,
        queue_id: Id,
        limit: u32,
    ) -> StoreResult<Vec<f64>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seconds FROM service_times WHERE tenant_id = ?1 AND queue_id = ?2 ORDER BY closed_at_us DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![tenant_id.to_string(), queue_id.to_string(), limit], |r| r.get::<_, i64>(0))?;
            Ok(rows.map(|r| r.map(|s| s as f64)).collect::<Result<_, _>>()?)
        })
        .await
    }

    fn subscribe(&self) -> Subscription {
        self.bus.subscribe()
    }

    fn leadership(&self) -> tokio::sync::watch::Receiver<bool> {
        // One instance on one file: always the leader.
        tokio::sync::watch::channel(true).1
    }

    async fn events_since(
        &self,
        tenant_id: Id,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| {
            let Some(slug) = tenant_slug(conn, tenant_id)? else { return Ok(Vec::new()) };
            let mut stmt = conn.prepare_cached(
                "SELECT seq, type, at, data FROM events WHERE tenant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![tenant_id.to_string(), since, limit], event_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(stored_event(tenant_id, &slug, row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn last_event_seq(&self, tenant_id: Id) -> StoreResult<i64> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT last_event_seq FROM tenants WHERE id = ?1")?
                .query_row([tenant_id.to_string()], |r| r.get(0))
                .optional()?
                .unwrap_or(0))
        })
        .await
    }

    async fn audit_logs(
        &self,
        tenant_id: Id,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<AuditLog>> {
        self.read(move |conn| {
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM audit_logs WHERE tenant_id = ?1")?
                .query_row([tenant_id.to_string()], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(
                "SELECT doc FROM audit_logs WHERE tenant_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3",
            )?;
            let results = stmt
                .query_map(params![tenant_id.to_string(), limit, offset], |r| r.get::<_, String>(0))?
                .map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s)))
                .collect::<StoreResult<Vec<AuditLog>>>()?;
            Ok(Page { count: count as u64, results })
        })
        .await
    }

    async fn device_by_token(&self, token_hash: String) -> StoreResult<Option<DeviceAuth>> {
        self.read(move |conn| devices::device_by_token(conn, &token_hash))
            .await
    }

    async fn recent_calls(
        &self,
        tenant_id: Id,
        queue_ids: Vec<Id>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| match tenant_slug(conn, tenant_id)? {
            Some(slug) => devices::recent_calls(conn, tenant_id, &slug, &queue_ids, limit),
            None => Ok(Vec::new()),
        })
        .await
    }
}
