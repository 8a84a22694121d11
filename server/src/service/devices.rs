//! Displays and kiosks: pairing by code, revocation, numbers leased for offline issuing and the
//! checks of a ticket a kiosk issued offline.
//!
//! Pairing: a device shows a code ([`start_pairing`]), an admin enters it for one of the tenant's
//! devices ([`pair`]), the device polls until it gets its token ([`claim`]). A device has one live
//! token at a time; revoking or deleting it kills its tokens and closes its sockets (the
//! `{kind}.revoked` event).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use smartqueue_core::event::{DeviceRef, Event};
use smartqueue_core::numbering::{LEASE_SIZE, OFFLINE_FIRST, format_number, start_of_day};
use smartqueue_core::{Id, Kiosk, Queue, Ticket, TicketStatus};

use crate::store::tx::{Tx, transact};
use crate::store::{
    Actor, ClaimOutcome, DeviceAuth, DeviceKind, IdempotencyKey, Kind, LeaseRef, NewPairing,
    NumberLease, OfflineIssue, Store, StoreError, StoreResult,
};

/// How far a kiosk's clock may be off the server's.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(10);

/// Stores a code a device shows; `false` when the code is taken (the caller draws another).
pub async fn start_pairing(
    store: &dyn Store,
    p: NewPairing,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    transact(store, move |tx| {
        // Expired codes go first, so a code frees up once it has lapsed.
        tx.delete_expired_pairings(now)?;
        tx.insert_pairing(&p, now)
    })
    .await
}

/// An admin enters a device's code for one of the tenant's devices of the same kind: the
/// device's earlier token dies, it is marked paired, and its next poll gets a token.
pub async fn pair(
    store: &dyn Store,
    tenant: Id,
    kind: DeviceKind,
    device: Id,
    code: String,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Value> {
    let actor = actor.clone();
    transact(store, move |tx| {
        // The device must exist in this tenant before anything else is looked at.
        require_device(tx, tenant, kind, device)?;
        let pairing = tx
            .pairing_by_code(&code, now)?
            // A code already entered (here or in another tenant) answers like an unknown one,
            // so nothing is learnt about other tenants.
            .filter(|p| p.bound.is_none())
            .ok_or(StoreError::NotFound("pairing code"))?;
        if pairing.mode != kind {
            let mode = pairing.mode.as_str();
            return Err(StoreError::conflict(
                "wrong_device_mode",
                format!(
                    "this code was shown by a device set up as a {mode}; pair it with a {mode}, or choose {} on the device",
                    kind.as_str()
                ),
            ));
        }
        tx.revoke_device_tokens(tenant, kind, device, now)?;
        tx.bind_pairing(pairing.id, tenant, device)?;
        let (before, after) = set_paired(tx, tenant, kind, device, true, now)?;
        let action = format!("{}.pair", kind.as_str());
        tx.audit(tenant, &actor, &action, kind.as_str(), device, Some(before), Some(&after), now)?;
        let event = match kind {
            DeviceKind::Display => Event::DisplayPaired(serde_json::from_value(after.clone())?),
            DeviceKind::Kiosk => Event::KioskPaired(serde_json::from_value(after.clone())?),
        };
        tx.emit(tenant, event, now)?;
        Ok(after)
    })
    .await
}

/// A device polls its pairing with its secret: pending until an admin entered the code, then
/// the token whose hash is given becomes the device's (once: the pairing is gone after).
pub async fn claim(
    store: &dyn Store,
    id: Id,
    secret_hash: String,
    token_hash: String,
    now: DateTime<Utc>,
) -> StoreResult<ClaimOutcome> {
    transact(store, move |tx| {
        let pairing = tx
            .pairing(id, now)?
            .filter(|p| p.secret_hash == secret_hash)
            .ok_or(StoreError::NotFound("pairing"))?;
        let Some((tenant, device)) = pairing.bound else {
            return Ok(ClaimOutcome::Pending);
        };
        let slug = tx
            .tenant_slug(tenant)?
            .ok_or(StoreError::NotFound("pairing"))?;
        tx.insert_device_token(&token_hash, tenant, pairing.mode, device, now)?;
        tx.delete_pairing(id)?;
        Ok(ClaimOutcome::Paired(DeviceAuth {
            tenant_id: tenant,
            tenant_slug: slug,
            kind: pairing.mode,
            device_id: device,
        }))
    })
    .await
}

/// Revokes a device: its tokens die, it is marked unpaired and its open sockets close.
pub async fn revoke(
    store: &dyn Store,
    tenant: Id,
    kind: DeviceKind,
    device: Id,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Value> {
    let actor = actor.clone();
    transact(store, move |tx| {
        require_device(tx, tenant, kind, device)?;
        let (before, after) = set_paired(tx, tenant, kind, device, false, now)?;
        revoke_in(tx, tenant, kind, device, now)?;
        let action = format!("{}.revoke", kind.as_str());
        tx.audit(
            tenant,
            &actor,
            &action,
            kind.as_str(),
            device,
            Some(before),
            Some(&after),
            now,
        )?;
        Ok(after)
    })
    .await
}

/// Kills a device's tokens and tells its open sockets (`{kind}.revoked`).
pub fn revoke_in(
    tx: &mut dyn Tx,
    tenant: Id,
    kind: DeviceKind,
    device: Id,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.revoke_device_tokens(tenant, kind, device, now)?;
    let gone = DeviceRef { id: device };
    let event = match kind {
        DeviceKind::Display => Event::DisplayRevoked(gone),
        DeviceKind::Kiosk => Event::KioskRevoked(gone),
    };
    tx.emit(tenant, event, now)?;
    Ok(())
}

/// Leases the next block of numbers of a queue's day to a kiosk offering it, for tickets it
/// issues while offline: above every earlier lease and above what the server itself issued.
pub async fn lease_numbers(
    store: &dyn Store,
    tenant: Id,
    kiosk_id: Id,
    queue_id: Id,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> StoreResult<NumberLease> {
    transact(store, move |tx| {
        let kiosk: Kiosk = doc(tx, tenant, Kind::Kiosk, kiosk_id)?;
        if !kiosk.queue_ids.contains(&queue_id) {
            return Err(StoreError::Invalid(
                "queue_id: this kiosk does not offer this queue".into(),
            ));
        }
        let queue = tx
            .queue(tenant, queue_id)?
            .ok_or(StoreError::NotFound("queue"))?;
        // Leases start at OFFLINE_FIRST, far above a normal day's own numbers; a very busy
        // queue may have gone past it.
        let top = tx.top_number(tenant, queue_id, day)?.max(OFFLINE_FIRST - 1);
        let (first, last) = (top + 1, top + LEASE_SIZE);
        let lease = LeaseRef {
            kiosk: kiosk_id,
            queue: queue_id,
            day,
        };
        tx.insert_lease(tenant, &lease, first, last, now)?;
        Ok(NumberLease {
            queue_id,
            prefix: queue.prefix,
            business_day: day,
            first,
            last,
        })
    })
    .await
}

/// The server's own next number of a queue's day, past any block leased to a kiosk (only a
/// queue that issues more than `OFFLINE_FIRST` tickets in a day ever meets one).
pub fn next_number_in(tx: &mut dyn Tx, tenant: Id, queue: Id, day: NaiveDate) -> StoreResult<u32> {
    let first = tx.bump_number(tenant, queue, day)?;
    if first < OFFLINE_FIRST {
        return Ok(first);
    }
    let mut n = first;
    while let Some(last) = tx.lease_holding(tenant, queue, day, n)? {
        n = last + 1;
    }
    if n != first {
        tx.set_number(tenant, queue, day, n)?;
    }
    Ok(n)
}

/// The ticket of an offline issue: its number must come from one of the kiosk's leases, and it
/// joins the queue where it stood when the customer took it. Also returns the waiting ticket of
/// the online attempt it supersedes, if that attempt created one (the caller cancels it).
pub fn offline_ticket_in(
    tx: &mut dyn Tx,
    tenant: Id,
    queue: &Queue,
    tz: chrono_tz::Tz,
    o: &OfflineIssue,
    now: DateTime<Utc>,
) -> StoreResult<(Ticket, Option<Id>)> {
    let lease = LeaseRef {
        kiosk: o.kiosk_id,
        queue: queue.id,
        day: o.business_day,
    };
    let Some(leased_at) = tx.leased_at(tenant, &lease, o.sequence)? else {
        return Err(StoreError::Invalid(format!(
            "offline.sequence: {} of {} was not leased to this kiosk",
            o.sequence, o.business_day
        )));
    };
    // A ticket cannot have been issued before its number was leased, nor before its business
    // day began, nor in the future: a kiosk cannot jump the line by claiming an early time.
    let earliest = leased_at.max(start_of_day(o.business_day, tz)) - CLOCK_SKEW;
    if o.issued_at < earliest || o.issued_at > now + CLOCK_SKEW {
        return Err(StoreError::Invalid(format!(
            "offline.issued_at: must lie between {} (its number's lease, or the start of {}) and now",
            earliest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            o.business_day
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
        let key = IdempotencyKey {
            actor: format!("device:{}", o.kiosk_id),
            key: key.clone(),
            fingerprint: String::new(),
        };
        let ghost = tx
            .idempotency_record(tenant, &key)?
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| {
                v["ticket"]["id"]
                    .as_str()
                    .and_then(|id| id.parse::<Id>().ok())
            });
        if let Some(id) = ghost
            && tx
                .ticket(tenant, id)?
                .is_some_and(|t| t.status == TicketStatus::Waiting)
        {
            superseded = Some(id);
        }
    }
    // Issued in the past (offline): placed at that moment, but never in the future.
    let mut t = Ticket::waiting(
        tenant,
        queue.id,
        format_number(&queue.prefix, o.sequence),
        o.sequence,
        o.business_day,
        o.issued_at.min(now),
    );
    t.tracking_token = o.tracking_token.clone();
    t.created_at = now;
    t.updated_at = now;
    Ok((t, superseded))
}

fn require_device(tx: &mut dyn Tx, tenant: Id, kind: DeviceKind, device: Id) -> StoreResult<Value> {
    tx.entity(tenant, kind.kind(), device)?
        .ok_or(StoreError::NotFound(kind.as_str()))
}

fn doc<T: serde::de::DeserializeOwned>(
    tx: &mut dyn Tx,
    tenant: Id,
    kind: Kind,
    id: Id,
) -> StoreResult<T> {
    let v = tx
        .entity(tenant, kind, id)?
        .ok_or(StoreError::NotFound(kind.as_str()))?;
    Ok(serde_json::from_value(v)?)
}

/// Sets the device document's `is_paired` flag (pairing also records when it was last seen);
/// returns the document before and after.
fn set_paired(
    tx: &mut dyn Tx,
    tenant: Id,
    kind: DeviceKind,
    device: Id,
    paired: bool,
    now: DateTime<Utc>,
) -> StoreResult<(Value, Value)> {
    let before = require_device(tx, tenant, kind, device)?;
    let mut after = before.clone();
    after["is_paired"] = Value::Bool(paired);
    if paired {
        after["last_seen_at"] =
            Value::String(now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    }
    tx.put_entity(tenant, kind.kind(), device, &after, now)?;
    Ok((before, after))
}
