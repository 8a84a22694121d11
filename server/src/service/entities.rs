//! Configuration entities (sites, services, queues, counters, displays, kiosks, customers,
//! agent profiles): create, update merged inside the write, delete — with what follows each
//! change: the audit entry, a queue's calling order re-keyed, a device told of its new
//! configuration or revoked with it, and nothing deleted that is still in use.

use chrono::{DateTime, Utc};
use serde_json::Value;
use smartqueue_core::event::Event;
use smartqueue_core::{Id, Queue};

use crate::service::devices;
use crate::store::tx::{Tx, transact};
use crate::store::{Actor, DeviceKind, Edit, Kind, Store, StoreError, StoreResult};

/// Stores a new entity document (`already_exists` if its id is taken).
pub async fn create(
    store: &dyn Store,
    tenant: Id,
    kind: Kind,
    id: Id,
    doc: Value,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let actor = actor.clone();
    transact(store, move |tx| {
        if tx.entity(tenant, kind, id)?.is_some() {
            return Err(StoreError::conflict(
                "already_exists",
                format!("{} already exists", kind.as_str()),
            ));
        }
        save(tx, tenant, kind, id, &doc, None, &actor, now)
    })
    .await
}

/// Applies `edit` to the stored document inside the write transaction (so a change landing
/// meanwhile is never reverted) and returns the document as stored.
pub async fn update(
    store: &dyn Store,
    tenant: Id,
    kind: Kind,
    id: Id,
    edit: Edit,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Value> {
    let actor = actor.clone();
    transact(store, move |tx| {
        let before = tx
            .entity(tenant, kind, id)?
            .ok_or(StoreError::NotFound(kind.as_str()))?;
        let doc = edit(before.clone())?;
        if doc != before {
            save(tx, tenant, kind, id, &doc, Some(before), &actor, now)?;
        }
        Ok(doc)
    })
    .await
}

/// Deletes an entity nothing depends on any more (`in_use` otherwise): a site with queues,
/// counters or devices, a service with queues, a queue with live tickets. A deleted display or
/// kiosk loses its tokens and its open sockets are closed.
pub async fn delete(
    store: &dyn Store,
    tenant: Id,
    kind: Kind,
    id: Id,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let actor = actor.clone();
    transact(store, move |tx| {
        let before = tx
            .entity(tenant, kind, id)?
            .ok_or(StoreError::NotFound(kind.as_str()))?;
        let in_use = match kind {
            Kind::Site => tx.count_referencing(
                tenant,
                &[Kind::Queue, Kind::Counter, Kind::Display, Kind::Kiosk],
                "site_id",
                id,
            )?,
            Kind::Service => tx.count_referencing(tenant, &[Kind::Queue], "service_id", id)?,
            Kind::Queue => tx.live_tickets(tenant, id)?,
            _ => 0,
        };
        if in_use > 0 {
            return Err(StoreError::conflict(
                "in_use",
                format!(
                    "this {} is still in use ({in_use} dependent items)",
                    kind.as_str()
                ),
            ));
        }
        if let Some(device) = device_kind(kind) {
            devices::revoke_in(tx, tenant, device, id, now)?;
        }
        tx.delete_entity(tenant, kind, id)?;
        let action = format!("{}.delete", kind.as_str());
        tx.audit(
            tenant,
            &actor,
            &action,
            kind.as_str(),
            id,
            Some(before),
            None,
            now,
        )
    })
    .await
}

fn device_kind(kind: Kind) -> Option<DeviceKind> {
    match kind {
        Kind::Display => Some(DeviceKind::Display),
        Kind::Kiosk => Some(DeviceKind::Kiosk),
        _ => None,
    }
}

/// Writes a document (new when `before` is None) with what follows a change of its kind, and its
/// audit entry.
#[allow(clippy::too_many_arguments)]
fn save(
    tx: &mut dyn Tx,
    tenant: Id,
    kind: Kind,
    id: Id,
    doc: &Value,
    before: Option<Value>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.put_entity(tenant, kind, id, doc, now)?;
    let updated = before.is_some();
    if updated {
        match kind {
            // The algorithm or targets may have changed: the stored calling order follows.
            Kind::Queue => {
                let queue: Queue = serde_json::from_value(doc.clone())?;
                tx.rekey_waiting(tenant, &queue)?;
            }
            // A paired screen or kiosk follows its configuration live.
            Kind::Display => {
                let e = Event::DisplayUpdated(serde_json::from_value(doc.clone())?);
                tx.emit(tenant, e, now)?;
            }
            Kind::Kiosk => {
                let e = Event::KioskUpdated(serde_json::from_value(doc.clone())?);
                tx.emit(tenant, e, now)?;
            }
            _ => {}
        }
    }
    let verb = if updated { "update" } else { "create" };
    let action = format!("{}.{verb}", kind.as_str());
    tx.audit(
        tenant,
        actor,
        &action,
        kind.as_str(),
        id,
        before,
        Some(doc),
        now,
    )
}
