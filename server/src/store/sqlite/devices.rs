//! Displays and kiosks on SQLite: pairing codes, device tokens, revocation, recent calls.
//!
//! Runs inside the writer's or a reader's transaction like the rest of [`super`].

use smartqueue_core::numbering::{LEASE_SIZE, OFFLINE_FIRST};

use super::*;

/// How far back (in events) the recent-calls query looks.
const RECENT_CALLS_SCAN: i64 = 5_000;

/// Sets the device document's `is_paired` flag (and returns the new document).
fn set_paired(
    conn: &Connection,
    tenant: Id,
    kind: DeviceKind,
    device_id: Id,
    paired: bool,
    now: DateTime<Utc>,
) -> StoreResult<(Value, Value)> {
    let before: Value = require_doc(conn, tenant, kind.kind(), device_id)?;
    let mut after = before.clone();
    after["is_paired"] = Value::Bool(paired);
    if paired {
        after["last_seen_at"] = Value::String(ts(now));
    }
    put_doc(conn, tenant, kind.kind(), device_id, &after, now)?;
    Ok((before, after))
}

pub(super) fn start_pairing(
    conn: &Connection,
    p: NewPairing,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    // Forget expired codes first, so a code frees up once it has lapsed.
    conn.prepare_cached("DELETE FROM device_pairings WHERE expires_at < ?1")?
        .execute([ts(now)])?;
    let inserted = conn
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

pub(super) fn pair_device(
    conn: &Connection,
    tenant: Id,
    kind: DeviceKind,
    device_id: Id,
    code: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Value> {
    // The device must exist in this tenant before anything else is looked at.
    require_doc::<Value>(conn, tenant, kind.kind(), device_id)?;
    let row: Option<(String, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT id, mode, tenant_id FROM device_pairings WHERE code = ?1 AND expires_at >= ?2",
        )?
        .query_row(params![code, ts(now)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((pairing_id, mode, bound)) = row else {
        return Err(StoreError::NotFound("pairing code"));
    };
    if bound.is_some() {
        // Already entered (here or in another tenant): the same answer as an unknown code, so
        // nothing is learnt about other tenants.
        return Err(StoreError::NotFound("pairing code"));
    }
    if mode != kind.as_str() {
        return Err(StoreError::conflict(
            "wrong_device_mode",
            format!(
                "this code was shown by a device set up as a {mode}; pair it with a {mode}, or choose {} on the device",
                kind.as_str()
            ),
        ));
    }
    // A device has one live token at a time: pairing again replaces the old one.
    conn.prepare_cached(
        "UPDATE device_tokens SET revoked_at = ?4 WHERE tenant_id = ?1 AND kind = ?2 AND device_id = ?3 AND revoked_at IS NULL",
    )?
    .execute(params![tenant.to_string(), kind.as_str(), device_id.to_string(), ts(now)])?;
    conn.prepare_cached("UPDATE device_pairings SET tenant_id = ?2, device_id = ?3 WHERE id = ?1")?
        .execute(params![
            pairing_id,
            tenant.to_string(),
            device_id.to_string()
        ])?;
    let (before, after) = set_paired(conn, tenant, kind, device_id, true, now)?;
    let action = format!("{}.pair", kind.as_str());
    audit(
        conn,
        tenant,
        actor,
        &action,
        kind.as_str(),
        device_id,
        Some(before),
        Some(&after),
        now,
    )?;
    let event = match kind {
        DeviceKind::Display => Event::DisplayPaired(serde_json::from_value(after.clone())?),
        DeviceKind::Kiosk => Event::KioskPaired(serde_json::from_value(after.clone())?),
    };
    emit(conn, tenant, event, now)?;
    Ok(after)
}

pub(super) fn claim_pairing(
    conn: &Connection,
    id: Id,
    secret_hash: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<ClaimOutcome> {
    let row: Option<(String, String, Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT secret_hash, mode, tenant_id, device_id FROM device_pairings WHERE id = ?1 AND expires_at >= ?2",
        )?
        .query_row(params![id.to_string(), ts(now)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((_, mode, tenant, device)) = row.filter(|r| r.0 == secret_hash) else {
        return Err(StoreError::NotFound("pairing"));
    };
    let (Some(tenant), Some(device)) = (tenant, device) else {
        return Ok(ClaimOutcome::Pending);
    };
    let kind = DeviceKind::parse(&mode).ok_or(StoreError::NotFound("pairing"))?;
    let tenant_id: Id = tenant
        .parse()
        .map_err(|_| StoreError::NotFound("pairing"))?;
    let device_id: Id = device
        .parse()
        .map_err(|_| StoreError::NotFound("pairing"))?;
    let slug = tenant_slug(conn, tenant_id)?.ok_or(StoreError::NotFound("pairing"))?;
    conn.prepare_cached(
        "INSERT INTO device_tokens (token_hash, tenant_id, kind, device_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![token_hash, tenant, mode, device, ts(now)])?;
    conn.prepare_cached("DELETE FROM device_pairings WHERE id = ?1")?
        .execute([id.to_string()])?;
    Ok(ClaimOutcome::Paired(DeviceAuth {
        tenant_id,
        tenant_slug: slug,
        kind,
        device_id,
    }))
}

pub(super) fn device_by_token(
    conn: &Connection,
    token_hash: &str,
) -> StoreResult<Option<DeviceAuth>> {
    let row: Option<(String, String, String, String)> = conn
        .prepare_cached(
            "SELECT d.tenant_id, t.slug, d.kind, d.device_id FROM device_tokens d
             JOIN tenants t ON t.id = d.tenant_id
             WHERE d.token_hash = ?1 AND d.revoked_at IS NULL",
        )?
        .query_row([token_hash], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((tenant, slug, kind, device)) = row else {
        return Ok(None);
    };
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

/// Revokes the device's tokens; with `keep` the device stays (marked unpaired), otherwise the
/// caller is deleting it. Emits `{kind}.revoked` either way, so its open sockets close.
pub(super) fn revoke(
    conn: &Connection,
    tenant: Id,
    kind: DeviceKind,
    device_id: Id,
    keep: bool,
    now: DateTime<Utc>,
) -> StoreResult<Option<(Value, Value)>> {
    conn.prepare_cached(
        "UPDATE device_tokens SET revoked_at = ?4 WHERE tenant_id = ?1 AND kind = ?2 AND device_id = ?3 AND revoked_at IS NULL",
    )?
    .execute(params![tenant.to_string(), kind.as_str(), device_id.to_string(), ts(now)])?;
    let changed = if keep {
        Some(set_paired(conn, tenant, kind, device_id, false, now)?)
    } else {
        None
    };
    let gone = DeviceRef { id: device_id };
    let event = match kind {
        DeviceKind::Display => Event::DisplayRevoked(gone),
        DeviceKind::Kiosk => Event::KioskRevoked(gone),
    };
    emit(conn, tenant, event, now)?;
    Ok(changed)
}

pub(super) fn recent_calls(
    conn: &Connection,
    tenant: Id,
    slug: &str,
    queue_ids: &[Id],
    limit: u32,
) -> StoreResult<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, type, at, data FROM events
         WHERE tenant_id = ?1 AND seq > (SELECT last_event_seq FROM tenants WHERE id = ?1) - ?2
           AND type IN ('ticket.called', 'ticket.recalled')
         ORDER BY seq DESC",
    )?;
    let rows = stmt.query_map(params![tenant.to_string(), RECENT_CALLS_SCAN], event_row)?;
    let mut out = Vec::new();
    for row in rows {
        let e = stored_event(tenant, slug, row?)?;
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

pub(super) fn lease_numbers(
    conn: &Connection,
    tenant: Id,
    kiosk_id: Id,
    queue_id: Id,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> StoreResult<NumberLease> {
    let kiosk: smartqueue_core::Kiosk = require_doc(conn, tenant, Kind::Kiosk, kiosk_id)?;
    if !kiosk.queue_ids.contains(&queue_id) {
        return Err(StoreError::Invalid(
            "queue_id: this kiosk does not offer this queue".into(),
        ));
    }
    let queue: Queue = require_doc(conn, tenant, Kind::Queue, queue_id)?;
    // Above every earlier lease, and above what the server itself has issued (a very busy
    // queue may have gone past OFFLINE_FIRST).
    let top: u32 = conn
        .prepare_cached(
            "SELECT MAX(COALESCE((SELECT MAX(last) FROM number_leases WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3), 0),
                        COALESCE((SELECT last FROM queue_counters WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3), 0),
                        ?4)",
        )?
        .query_row(
            params![tenant.to_string(), queue_id.to_string(), day.to_string(), OFFLINE_FIRST - 1],
            |r| r.get(0),
        )?;
    let (first, last) = (top + 1, top + LEASE_SIZE);
    conn.prepare_cached(
        "INSERT INTO number_leases (tenant_id, queue_id, business_day, kiosk_id, first, last, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![tenant.to_string(), queue_id.to_string(), day.to_string(), kiosk_id.to_string(), first, last, ts(now)])?;
    Ok(NumberLease {
        queue_id,
        prefix: queue.prefix,
        business_day: day,
        first,
        last,
    })
}

/// The ticket of an offline issue: its number must come from one of the kiosk's leases; it
/// joins the queue where it stood when the customer took it. Also returns the waiting ticket of
/// the online attempt it supersedes, if that attempt created one (the caller cancels it).
pub(super) fn offline_ticket(
    conn: &Connection,
    tenant: Id,
    queue: &Queue,
    o: &OfflineIssue,
    now: DateTime<Utc>,
) -> StoreResult<(Ticket, Option<Id>)> {
    let leased: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM number_leases WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3
               AND kiosk_id = ?4 AND first <= ?5 AND ?5 <= last)",
        )?
        .query_row(
            params![tenant.to_string(), queue.id.to_string(), o.business_day.to_string(), o.kiosk_id.to_string(), o.sequence],
            |r| r.get(0),
        )?;
    if !leased {
        return Err(StoreError::Invalid(format!(
            "offline.sequence: {} of {} was not leased to this kiosk",
            o.sequence, o.business_day
        )));
    }
    let token_ok = (32..=96).contains(&o.tracking_token.len())
        && o.tracking_token.bytes().all(|b| b.is_ascii_hexdigit());
    if !token_ok {
        return Err(StoreError::Invalid(
            "offline.tracking_token: 32 to 96 hexadecimal digits".into(),
        ));
    }
    let mut superseded = None;
    if let Some(key) = &o.supersedes {
        let first: Option<String> = conn
            .prepare_cached("SELECT body FROM idempotency_keys WHERE tenant_id = ?1 AND actor = ?2 AND key = ?3")?
            .query_row(params![tenant.to_string(), format!("device:{}", o.kiosk_id), key], |r| r.get(0))
            .optional()?;
        let ghost = first
            .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            .and_then(|v| {
                v["ticket"]["id"]
                    .as_str()
                    .and_then(|id| id.parse::<Id>().ok())
            });
        if let Some(id) = ghost
            && load_ticket(conn, tenant, id)?.is_some_and(|t| t.status == TicketStatus::Waiting)
        {
            superseded = Some(id);
        }
    }
    // Issued in the past (offline): place it at that moment, but never in the future.
    let at = o.issued_at.min(now);
    let mut t = Ticket::waiting(
        tenant,
        queue.id,
        format_number(&queue.prefix, o.sequence),
        o.sequence,
        o.business_day,
        at,
    );
    t.tracking_token = o.tracking_token.clone();
    t.created_at = now;
    t.updated_at = now;
    Ok((t, superseded))
}

/// The server's own next number `n`, moved past any block leased to a kiosk (only a queue that
/// issues more than `OFFLINE_FIRST` tickets in a day ever gets there).
pub(super) fn skip_leased(
    conn: &Connection,
    tenant: Id,
    queue_id: Id,
    day: NaiveDate,
    mut n: u32,
) -> StoreResult<u32> {
    if n < OFFLINE_FIRST {
        return Ok(n);
    }
    let start = n;
    while let Some(last) = conn
        .prepare_cached(
            "SELECT last FROM number_leases WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3 AND first <= ?4 AND ?4 <= last",
        )?
        .query_row(params![tenant.to_string(), queue_id.to_string(), day.to_string(), n], |r| r.get::<_, u32>(0))
        .optional()?
    {
        n = last + 1;
    }
    if n != start {
        conn.prepare_cached(
            "UPDATE queue_counters SET last = ?4 WHERE tenant_id = ?1 AND queue_id = ?2 AND business_day = ?3",
        )?
        .execute(params![tenant.to_string(), queue_id.to_string(), day.to_string(), n])?;
    }
    Ok(n)
}
