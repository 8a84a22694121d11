//! Rows and documents: the statements every transaction and read of the store shares.

use super::*;
use crate::store::shared::{AuditEntry, ended_in, lane_num, ts, waiting_in};

// ---------------------------------------------------------------------------------------------
// Synchronous helpers used inside jobs
// ---------------------------------------------------------------------------------------------

pub(super) fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    Ok(serde_json::from_str(s)?)
}

/// The tenant's slug (events carry it); None for an unknown tenant.
pub(super) fn tenant_slug(conn: &Connection, tenant: Id) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT slug FROM tenants WHERE id = ?1")?
        .query_row([tenant.to_string()], |r| r.get(0))
        .optional()?)
}

/// The columns `seq, type, at, data` of an `events` row.
pub(super) type EventRow = (i64, String, String, String);

pub(super) fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

pub(super) use crate::store::shared::stored_event;

/// Parsed documents by (tenant, kind, id); see `CONFIG_CACHE`.
type ConfigCache = HashMap<(Id, Kind, Id), Box<dyn std::any::Any>>;

thread_local! {
    /// Parsed configuration documents (sites, services, queues, counters) read by the writer:
    /// every ticket write needs its queue and site, and parsing them each time was a few percent
    /// of the writer's time. Only the writer thread uses it, and it is the only writer: each
    /// change of a document removes its entry, and a rolled-back job clears the whole cache (it
    /// may have cached something that was never committed). Readers never cache.
    static CONFIG_CACHE: std::cell::RefCell<Option<ConfigCache>> =
        const { std::cell::RefCell::new(None) };
}

pub(super) fn cacheable(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Site | Kind::Service | Kind::Queue | Kind::Counter
    )
}

/// Turns the cache on for this thread (the writer), empty; also how a rollback forgets it all.
pub(super) fn reset_config_cache() {
    CONFIG_CACHE.with(|c| *c.borrow_mut() = Some(HashMap::new()));
}

/// Forgets a cached document (it changed or was deleted).
pub(super) fn uncache(tenant: Id, kind: Kind, id: Id) {
    CONFIG_CACHE.with(|c| {
        if let Some(map) = c.borrow_mut().as_mut() {
            map.remove(&(tenant, kind, id));
        }
    });
}

pub(super) fn get_doc<T: DeserializeOwned + Clone + 'static>(
    conn: &Connection,
    tenant: Id,
    kind: Kind,
    id: Id,
) -> StoreResult<Option<T>> {
    if !cacheable(kind) {
        return load_doc(conn, tenant, kind, id);
    }
    let key = (tenant, kind, id);
    let hit = CONFIG_CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|m| m.get(&key))
            .and_then(|d| d.downcast_ref::<T>())
            .cloned()
    });
    if hit.is_some() {
        return Ok(hit);
    }
    let doc = load_doc::<T>(conn, tenant, kind, id)?;
    if let Some(d) = &doc {
        CONFIG_CACHE.with(|c| {
            if let Some(map) = c.borrow_mut().as_mut() {
                map.insert(key, Box::new(d.clone()));
            }
        });
    }
    Ok(doc)
}

pub(super) fn load_doc<T: DeserializeOwned>(
    conn: &Connection,
    tenant: Id,
    kind: Kind,
    id: Id,
) -> StoreResult<Option<T>> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT doc FROM entities WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3")?
        .query_row(
            params![tenant.to_string(), kind.as_str(), id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    raw.map(|s| from_json(&s)).transpose()
}

pub(super) fn put_doc<T: Serialize>(
    conn: &Connection,
    tenant: Id,
    kind: Kind,
    id: Id,
    doc: &T,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    uncache(tenant, kind, id);
    conn.prepare_cached(
        "INSERT INTO entities (tenant_id, kind, id, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant_id, kind, id) DO UPDATE SET doc = excluded.doc",
    )?
    .execute(params![
        tenant.to_string(),
        kind.as_str(),
        id.to_string(),
        ts(now),
        serde_json::to_string(doc)?
    ])?;
    Ok(())
}

/// Inserts an audit entry.
pub(super) fn insert_audit(conn: &Connection, e: &AuditEntry) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO audit_logs (tenant_id, id, created_at, entity_type, entity_id, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        e.tenant_id.to_string(),
        e.id.to_string(),
        ts(e.created_at),
        e.entity_type,
        e.entity_id.to_string(),
        e.doc
    ])?;
    Ok(())
}

/// Appends an event to the tenant's log with the next `seq` (committed with the change);
/// returns the seq and the payload as it was serialized into the log (for an audit entry).
pub(super) fn emit(
    conn: &Connection,
    events: &mut Vec<StoredEvent>,
    tenant: Id,
    event: Event,
    now: DateTime<Utc>,
) -> StoreResult<(i64, String)> {
    let (seq, slug): (i64, String) = conn
        .prepare_cached("UPDATE tenants SET last_event_seq = last_event_seq + 1 WHERE id = ?1 RETURNING last_event_seq, slug")?
        .query_row([tenant.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let json = event.data_json()?;
    conn.prepare_cached(
        "INSERT INTO events (tenant_id, seq, type, at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        tenant.to_string(),
        seq,
        event.kind(),
        ts(now),
        json
    ])?;
    // Held on the transaction until it commits; the writer publishes or discards it.
    events.push(StoredEvent {
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

pub(super) fn queue_policy(queue: &Queue) -> QueuePolicy {
    QueuePolicy::from(queue)
}

pub(super) fn load_ticket(conn: &Connection, tenant: Id, id: Id) -> StoreResult<Option<Ticket>> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT doc FROM tickets WHERE tenant_id = ?1 AND id = ?2")?
        .query_row(params![tenant.to_string(), id.to_string()], |r| r.get(0))
        .optional()?;
    raw.map(|s| from_json(&s)).transpose()
}

pub(super) fn insert_ticket(
    conn: &Connection,
    t: &Ticket,
    policy: &QueuePolicy,
) -> StoreResult<()> {
    let key = policy.key(t);
    conn.prepare_cached(
        "INSERT INTO tickets (tenant_id, id, queue_id, origin_queue_id, business_day, sequence, status, tracking_token,
                              agent_id, lane, deadline_us, queued_at_us, created_at, doc)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        t.tenant_id.to_string(),
        t.id.to_string(),
        t.queue_id.to_string(),
        t.business_day.to_string(),
        t.sequence,
        t.status.as_str(),
        t.tracking_token,
        t.agent_id.map(|a| a.to_string()),
        lane_num(t.lane),
        key.deadline_us,
        key.queued_at_us,
        ts(t.created_at),
        serde_json::to_string(t)?
    ])?;
    Ok(())
}

pub(super) fn update_ticket(
    conn: &Connection,
    t: &Ticket,
    policy: &QueuePolicy,
) -> StoreResult<()> {
    let key = policy.key(t);
    conn.prepare_cached(
        "UPDATE tickets SET queue_id = ?3, status = ?4, agent_id = ?5, lane = ?6, deadline_us = ?7, queued_at_us = ?8, doc = ?9
         WHERE tenant_id = ?1 AND id = ?2",
    )?
    .execute(params![
        t.tenant_id.to_string(),
        t.id.to_string(),
        t.queue_id.to_string(),
        t.status.as_str(),
        t.agent_id.map(|a| a.to_string()),
        lane_num(t.lane),
        key.deadline_us,
        key.queued_at_us,
        serde_json::to_string(t)?
    ])?;
    Ok(())
}

/// Adds `delta` to a queue's waiting count and returns the new count.
pub(super) fn bump_waiting(
    conn: &Connection,
    tenant: Id,
    queue: Id,
    delta: i64,
) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO queue_waiting (tenant_id, queue_id, waiting) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id, queue_id) DO UPDATE SET waiting = waiting + excluded.waiting
             RETURNING waiting",
        )?
        .query_row(params![tenant.to_string(), queue.to_string(), delta], |r| {
            r.get(0)
        })?)
}

/// Number of waiting tickets in a queue (O(1)).
pub(super) fn waiting_count(conn: &Connection, tenant: Id, queue: Id) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT waiting FROM queue_waiting WHERE tenant_id = ?1 AND queue_id = ?2")?
        .query_row(params![tenant.to_string(), queue.to_string()], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Keeps the waiting counts and the day's ended counts (`queue_day_counts`) right across a
/// ticket's change from `before` to `after`, and returns the new length of each queue whose line
/// changed.
pub(super) fn track_counts(
    conn: &Connection,
    before: Option<&Ticket>,
    after: &Ticket,
) -> StoreResult<Vec<(Id, i64)>> {
    let (was, is) = (before.and_then(waiting_in), waiting_in(after));
    let mut changed = Vec::new();
    if was != is {
        if let Some(q) = was {
            changed.push((q, bump_waiting(conn, after.tenant_id, q, -1)?));
        }
        if let Some(q) = is {
            changed.push((q, bump_waiting(conn, after.tenant_id, q, 1)?));
        }
    }
    // Ended tickets per queue and day (the lifecycle never leaves these statuses, but a count
    // is kept right for any change).
    let (was_ended, is_ended) = (before.and_then(ended_in), ended_in(after));
    if was_ended != is_ended {
        for (key, delta) in [(was_ended, -1), (is_ended, 1)] {
            if let Some((queue, day, status)) = key {
                conn.prepare_cached(
                    "INSERT INTO queue_day_counts (tenant_id, queue_id, business_day, status, n) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tenant_id, queue_id, business_day, status) DO UPDATE SET n = n + excluded.n",
                )?
                .execute(params![after.tenant_id.to_string(), queue.to_string(), day.to_string(), status.as_str(), delta])?;
            }
        }
    }
    Ok(changed)
}

/// Puts the new queue lengths into the ticket event that changed them (`"queues": [{queue_id,
/// waiting}]`): one event per transition (design §3), and screens still learn every length
/// change without polling.
/// Positions are counted on whichever side of the ticket is short: the tickets behind it
/// (a new ticket is usually last, so this is usually zero), else the ones ahead. At most this
/// many index entries are scanned on the first side.
macro_rules! position_scan {
    () => {
        256
    };
}
pub(super) const POSITION_SCAN: i64 = position_scan!();

/// 1-based position of a waiting ticket in its queue's calling order.
pub(super) fn position(
    conn: &Connection,
    t: &Ticket,
    policy: &QueuePolicy,
) -> StoreResult<Option<u32>> {
    if t.status != TicketStatus::Waiting {
        return Ok(None);
    }
    let key = policy.key(t);
    let (tenant, queue) = (t.tenant_id.to_string(), t.queue_id.to_string());
    let behind: i64 = conn
        .prepare_cached(
            // The limit is a literal: SQLite plans around a bound LIMIT's value, so a `LIMIT ?`
            // made it re-prepare the statement on every run (17 % of the writer's time).
            concat!("SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status = 'waiting'
               AND (lane, deadline_us, queued_at_us, sequence) > (?3, ?4, ?5, ?6) LIMIT ", position_scan!(), ")"),
        )?
        .query_row(params![tenant, queue, lane_num(t.lane), key.deadline_us, key.queued_at_us, t.sequence], |r| r.get(0))?;
    if behind < POSITION_SCAN {
        let total = waiting_count(conn, t.tenant_id, t.queue_id)?;
        return Ok(Some((total - behind).max(1) as u32));
    }
    let ahead: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM tickets WHERE tenant_id = ?1 AND queue_id = ?2 AND status = 'waiting'
               AND (lane, deadline_us, queued_at_us, sequence) < (?3, ?4, ?5, ?6)",
        )?
        .query_row(params![tenant, queue, lane_num(t.lane), key.deadline_us, key.queued_at_us, t.sequence], |r| r.get(0))?;
    Ok(Some(ahead as u32 + 1))
}

pub(super) fn placed(conn: &Connection, t: Ticket) -> StoreResult<PlacedTicket> {
    let queue: Option<Queue> = get_doc(conn, t.tenant_id, Kind::Queue, t.queue_id)?;
    let position = match queue {
        Some(q) => position(conn, &t, &queue_policy(&q))?,
        None => None,
    };
    Ok(PlacedTicket {
        ticket: t,
        position,
    })
}

pub(super) fn member_of_row(
    conn: &Connection,
    tenant: Id,
    user_id: Id,
) -> StoreResult<Option<Member>> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT m.doc, u.doc FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ?1 AND m.user_id = ?2",
        )?
        .query_row(params![tenant.to_string(), user_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((m, u)) = row else { return Ok(None) };
    let agent_id: Option<String> = conn
        .prepare_cached("SELECT id FROM entities WHERE tenant_id = ?1 AND kind = 'agent' AND json_extract(doc, '$.user_id') = ?2")?
        .query_row(params![tenant.to_string(), user_id.to_string()], |r| r.get(0))
        .optional()?;
    let agent = match agent_id.and_then(|a| a.parse::<Uuid>().ok()) {
        Some(a) => get_doc(conn, tenant, Kind::Agent, a)?,
        None => None,
    };
    Ok(Some(Member {
        user: from_json(&u)?,
        membership: from_json(&m)?,
        agent,
        existing_user: true,
    }))
}
