//! Displays and kiosks on SQLite: the reads (a device by its token, recent calls).

use super::*;

/// How far back (in events) the recent-calls query looks.
const RECENT_CALLS_SCAN: i64 = 5_000;

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
