//! What every backend stores the same way: instants as text, audit entries, the calling-order
//! lane, and which ticket changes move the per-queue figures.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use smartqueue_core::{Id, Lane, Ticket, TicketStatus};
use uuid::Uuid;

use smartqueue_core::event::{Envelope, Event};

use super::{Actor, StoreError, StoreResult, StoredEvent, TicketFilter};

/// An instant as stored (RFC 3339, microseconds, `Z`).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// An instant as stored, parsed (a malformed one is a fault of the server).
pub fn parse_ts(s: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Internal(format!("stored instant {s:?}: {e}")))
}

/// The stored number of a calling-order lane (lower is called first).
pub fn lane_num(l: Lane) -> i64 {
    match l {
        Lane::Front => 0,
        Lane::Normal => 1,
    }
}

/// The queue whose waiting line a ticket stands in, if it waits.
pub fn waiting_in(t: &Ticket) -> Option<Id> {
    (t.status == TicketStatus::Waiting).then_some(t.queue_id)
}

/// The (queue, day, status) a ticket counts in among the day's ended tickets, if it ended.
pub fn ended_in(t: &Ticket) -> Option<(Id, NaiveDate, TicketStatus)> {
    matches!(
        t.status,
        TicketStatus::Closed | TicketStatus::NoShow | TicketStatus::Cancelled
    )
    .then_some((t.queue_id, t.business_day, t.status))
}

/// The statements of a ticket list (`$n` parameters, which both backends read): the count, the
/// page in its order (a waiting list in calling order, anything else newest first), and their
/// arguments.
pub fn ticket_list_sql(tenant: Id, f: &TicketFilter) -> (String, String, Vec<String>) {
    let mut cond = String::from("tenant_id = $1");
    let mut args: Vec<String> = vec![tenant.to_string()];
    let mut and = |column: &str, value: String| {
        args.push(value);
        cond.push_str(&format!(" AND {column} = ${}", args.len()));
    };
    if let Some(q) = f.queue_id {
        and("queue_id", q.to_string());
    }
    if let Some(st) = f.status {
        and("status", st.as_str().to_owned());
    }
    if let Some(d) = f.business_day {
        and("business_day", d.to_string());
    }
    let order = if f.status == Some(TicketStatus::Waiting) {
        "lane, deadline_us, queued_at_us, sequence"
    } else {
        "created_at DESC, sequence DESC"
    };
    (
        format!("SELECT COUNT(*) FROM tickets WHERE {cond}"),
        format!(
            "SELECT doc FROM tickets WHERE {cond} ORDER BY {order} LIMIT {} OFFSET {}",
            f.limit, f.offset
        ),
        args,
    )
}

/// An `events` row (`seq, type, at, data`) as the envelope it is published as.
pub fn stored_event(
    tenant: Id,
    slug: &str,
    (seq, kind, at, data): (i64, String, String, String),
) -> StoreResult<StoredEvent> {
    let at = DateTime::parse_from_rfc3339(&at)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Internal(format!("stored event: {e}")))?;
    let event = Event::from_parts(&kind, &data)
        .map_err(|e| StoreError::Internal(format!("stored event {seq}: {e}")))?;
    Ok(StoredEvent {
        tenant_id: tenant,
        envelope: Envelope {
            seq,
            tenant: slug.to_owned(),
            at,
            event,
        },
    })
}

/// An audit entry ready to insert: its id, time, and `doc` (an [`smartqueue_core::AuditLog`]).
#[derive(Clone)]
pub struct AuditEntry {
    pub id: Uuid,
    pub tenant_id: Id,
    pub entity_type: String,
    pub entity_id: Id,
    pub created_at: DateTime<Utc>,
    pub doc: String,
}

/// The audit entry of a change (only the changed fields of an update are kept).
#[allow(clippy::too_many_arguments)]
pub fn audit_entry(
    tenant: Id,
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: Id,
    before: Option<Value>,
    after: Option<&Value>,
    now: DateTime<Utc>,
) -> StoreResult<AuditEntry> {
    let (before, after) = changed_fields(before, after);
    row(
        tenant,
        actor,
        action,
        entity_type,
        entity_id,
        before.as_ref(),
        after.as_ref(),
        now,
    )
}

/// The audit entry of a creation whose document is already serialized: the same entry as
/// [`audit_entry`], without serializing the document again.
#[allow(clippy::too_many_arguments)]
pub fn audit_created_entry(
    tenant: Id,
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: Id,
    after_json: &str,
    now: DateTime<Utc>,
) -> StoreResult<AuditEntry> {
    let after: &serde_json::value::RawValue = serde_json::from_str(after_json)?;
    row(
        tenant,
        actor,
        action,
        entity_type,
        entity_id,
        None::<&Value>,
        Some(after),
        now,
    )
}

#[allow(clippy::too_many_arguments)]
fn row<B: Serialize + ?Sized, A: Serialize + ?Sized>(
    tenant: Id,
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: Id,
    before: Option<&B>,
    after: Option<&A>,
    now: DateTime<Utc>,
) -> StoreResult<AuditEntry> {
    let entry = AuditRow {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        actor_user_id: actor.user_id,
        actor_kind: actor.kind,
        action,
        entity_type,
        entity_id,
        before,
        after,
        request_id: actor.request_id.as_deref(),
        created_at: now,
    };
    Ok(AuditEntry {
        id: entry.id,
        tenant_id: tenant,
        entity_type: entity_type.to_owned(),
        entity_id,
        created_at: now,
        doc: serde_json::to_string(&entry)?,
    })
}

/// One audit entry as written: [`smartqueue_core::AuditLog`]'s fields in its order (reads
/// deserialize the row's `doc` as an `AuditLog`), borrowed, with `before`/`after` as a JSON tree
/// or as JSON text embedded as is.
#[derive(Serialize)]
struct AuditRow<'a, B: Serialize + ?Sized, A: Serialize + ?Sized> {
    // v7: appended in index order (see smartqueue_core::Id).
    id: Uuid,
    tenant_id: Id,
    actor_user_id: Option<Id>,
    actor_kind: &'a str,
    action: &'a str,
    entity_type: &'a str,
    entity_id: Id,
    before: Option<&'a B>,
    after: Option<&'a A>,
    request_id: Option<&'a str>,
    created_at: DateTime<Utc>,
}

/// For an update (both sides are objects), keeps only the fields that changed, so an audit entry
/// says exactly what a change did and stays small; creations and deletions keep the whole object.
pub fn changed_fields(
    before: Option<Value>,
    after: Option<&Value>,
) -> (Option<Value>, Option<Value>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut old = serde_json::Map::new();
            let mut new = serde_json::Map::new();
            for (k, v) in a {
                if b.get(k) != Some(v) {
                    old.insert(k.clone(), b.get(k).cloned().unwrap_or(Value::Null));
                    new.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in &b {
                if !a.contains_key(k) {
                    old.insert(k.clone(), v.clone());
                    new.insert(k.clone(), Value::Null);
                }
            }
            (Some(Value::Object(old)), Some(Value::Object(new)))
        }
        (before, after) => (before, after.cloned()),
    }
}
