//! The ticket lifecycle around core's rules: issuing (queue open, not full, numbering), the
//! actions (who may act, releasing the agent, service times), and call-next (who may call,
//! which ticket). Each operation is one transaction on the repository ([`Tx`]) with its audit
//! entry and its one event; retryable ones are idempotent.

use chrono::{DateTime, Utc};
use smartqueue_core::event::{Event, QueueLength, TicketEvent};
use smartqueue_core::lifecycle::{Action, TicketEventKind, apply};
use smartqueue_core::numbering::{business_day, format_number, parse_timezone};
use smartqueue_core::selection::{QueueCandidates, QueuePolicy, select_next};
use smartqueue_core::{AgentStatus, Id, Queue, Ticket, TicketStatus};

use crate::service::devices;
use crate::store::tx::{Tx, transact_idempotent};
use crate::store::{
    Actor, IdempotencyKey, Kind, NewTicket, PlacedTicket, Store, StoreError, StoreResult,
};

/// Issues a ticket (at a counter, a kiosk, online, or one a kiosk printed offline).
pub async fn create(
    store: &dyn Store,
    tenant: Id,
    new: NewTicket,
    idem: Option<IdempotencyKey>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<PlacedTicket> {
    let actor = actor.clone();
    transact_idempotent(store, tenant, idem, now, move |tx| {
        create_in(tx, tenant, &new, &actor, now)
    })
    .await
}

/// Applies a lifecycle action (not `call`: see [`call_next`]).
pub async fn act(
    store: &dyn Store,
    tenant: Id,
    ticket: Id,
    action: Action,
    idem: Option<IdempotencyKey>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<PlacedTicket> {
    let actor = actor.clone();
    transact_idempotent(store, tenant, idem, now, move |tx| {
        act_in(tx, tenant, ticket, action.clone(), &actor, now)
    })
    .await
}

/// Gives agent `agent` the next ticket of `queues` (or of all their queues): exactly one agent
/// gets each ticket. `None` when nothing is waiting.
pub async fn call_next(
    store: &dyn Store,
    tenant: Id,
    agent: Id,
    queues: Option<Vec<Id>>,
    idem: Option<IdempotencyKey>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Option<PlacedTicket>> {
    let actor = actor.clone();
    transact_idempotent(store, tenant, idem, now, move |tx| {
        call_next_in(tx, tenant, agent, queues.as_deref(), &actor, now)
    })
    .await
}

fn require_queue(tx: &mut dyn Tx, tenant: Id, id: Id) -> StoreResult<Queue> {
    tx.queue(tenant, id)?.ok_or(StoreError::NotFound("queue"))
}

fn create_in(
    tx: &mut dyn Tx,
    tenant: Id,
    new: &NewTicket,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<PlacedTicket> {
    let queue = require_queue(tx, tenant, new.queue_id)?;
    // A ticket printed offline is already in the customer's hand: it joins even a queue that
    // has since closed or filled up.
    let online = new.offline.is_none();
    if !queue.is_active && online {
        return Err(StoreError::conflict(
            "queue_closed",
            format!("queue {} is not taking tickets", queue.name),
        ));
    }
    let site = tx
        .site(tenant, queue.site_id)?
        .ok_or(StoreError::NotFound("site"))?;
    let tz = parse_timezone(&site.timezone)
        .map_err(|e| StoreError::Internal(format!("stored site time zone: {e}")))?;
    if let Some(max) = queue.max_length
        && online
        && tx.waiting_count(tenant, queue.id)? >= max
    {
        return Err(StoreError::conflict(
            "queue_full",
            format!("queue {} is full ({max} waiting)", queue.name),
        ));
    }
    if let Some(c) = new.customer_id
        && tx.entity(tenant, Kind::Customer, c)?.is_none()
    {
        return Err(StoreError::NotFound("customer"));
    }
    let mut t = match &new.offline {
        None => {
            let day = business_day(now, tz);
            let n = devices::next_number_in(tx, tenant, queue.id, day)?;
            let mut t = Ticket::waiting(
                tenant,
                queue.id,
                format_number(&queue.prefix, n),
                n,
                day,
                now,
            );
            t.tracking_token = new_token(now);
            t
        }
        Some(o) => {
            let (t, superseded) = devices::offline_ticket_in(tx, tenant, &queue, tz, o, now)?;
            // The customer holds the printed ticket: the online attempt whose answer never came
            // goes.
            if let Some(ghost) = superseded {
                act_in(tx, tenant, ghost, Action::Cancel, actor, now)?;
            }
            t
        }
    };
    t.priority = new.priority;
    t.channel = new.channel;
    t.customer_id = new.customer_id;
    t.customer_name = new.customer_name.clone();
    t.customer_phone = new.customer_phone.clone();
    t.issued_by = new.issued_by;
    let policy = QueuePolicy::from(&queue);
    // A backend may report the insert's unique violation (a number or token already taken) at
    // a later statement of the job (PostgreSQL sends it without waiting): caught over all three.
    let (changed, pos) = (|| {
        tx.insert_ticket(&t, &policy)?;
        let changed = tx.track_counts(None, &t)?;
        Ok((changed, tx.position(&t, &policy)?))
    })()
    .map_err(|e| match e {
        StoreError::Unique(_) => StoreError::conflict(
            "number_taken",
            format!("ticket {} already exists", t.number),
        ),
        other => other,
    })?;
    let data = ticket_event(&t, pos, &changed);
    let (_, data_json) = tx.emit(tenant, Event::TicketCreated(data), now)?;
    metrics::counter!("smartqueue_tickets_created_total").increment(1);
    // The event's payload, serialized once, is also the audit entry's "after".
    tx.audit_created(
        tenant,
        actor,
        "ticket.create",
        "ticket",
        t.id,
        &data_json,
        now,
    )?;
    Ok(PlacedTicket {
        ticket: t,
        position: pos,
    })
}

/// Applies a lifecycle action to a ticket inside the caller's transaction.
pub(crate) fn act_in(
    tx: &mut dyn Tx,
    tenant: Id,
    ticket: Id,
    action: Action,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<PlacedTicket> {
    let before = tx
        .ticket(tenant, ticket)?
        .ok_or(StoreError::NotFound("ticket"))?;
    if let Some(agent) = actor.agent_scope
        && before.status.is_active()
        && before.agent_id != Some(agent)
    {
        return Err(StoreError::conflict(
            "not_your_ticket",
            format!("{} is being served by another agent", before.number),
        ));
    }
    let target_queue = match &action {
        Action::Transfer(tr) => {
            let q = require_queue(tx, tenant, tr.to_queue_id)?;
            if !q.is_active {
                return Err(StoreError::conflict(
                    "queue_closed",
                    format!("queue {} is not taking tickets", q.name),
                ));
            }
            q
        }
        _ => require_queue(tx, tenant, before.queue_id)?,
    };
    let kind = action.kind();
    let tr = apply(&before, action, now)?;
    let t = tr.ticket;
    if let Some(agent) = before.agent_id
        && (t.status.is_terminal() || t.status == TicketStatus::Waiting)
    {
        release_agent(tx, tenant, agent, t.id, now)?;
    }
    if t.status == TicketStatus::Closed
        && let Some(secs) = t.service_seconds()
    {
        tx.record_service_time(tenant, t.queue_id, now, secs)?;
    }
    let policy = QueuePolicy::from(&target_queue);
    tx.update_ticket(&t, &policy)?;
    let changed = tx.track_counts(Some(&before), &t)?;
    let pos = tx.position(&t, &policy)?;
    let mut data = ticket_event(&t, pos, &changed);
    if tr.event == TicketEventKind::Recalled {
        with_display(tx, &mut data, &target_queue)?;
    }
    let after = serde_json::to_value(&data)?;
    metrics::counter!("smartqueue_ticket_transitions_total", "event" => tr.event.as_str())
        .increment(1);
    tx.audit(
        tenant,
        actor,
        &format!("ticket.{}", kind.as_str()),
        "ticket",
        t.id,
        Some(ticket_audit(&before)?),
        Some(&after),
        now,
    )?;
    tx.emit(tenant, Event::of_transition(tr.event, data), now)?;
    Ok(PlacedTicket {
        ticket: t,
        position: pos,
    })
}

fn call_next_in(
    tx: &mut dyn Tx,
    tenant: Id,
    agent_id: Id,
    queues: Option<&[Id]>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Option<PlacedTicket>> {
    let mut agent = tx
        .agent(tenant, agent_id)?
        .ok_or(StoreError::NotFound("agent"))?;
    if let Some(current) = agent.current_ticket_id
        && let Some(t) = tx.ticket(tenant, current)?
        && t.status.is_active()
    {
        return Err(StoreError::conflict(
            "agent_busy",
            format!(
                "you are already serving {}; close it or transfer it first",
                t.number
            ),
        ));
    }
    if matches!(agent.status, AgentStatus::Break | AgentStatus::Offline) {
        return Err(StoreError::conflict(
            "agent_unavailable",
            format!(
                "you are {}; set your status to available to call",
                agent.status
            ),
        ));
    }
    let ids = queues.map_or_else(|| agent.queue_ids.clone(), <[Id]>::to_vec);
    if ids.is_empty() {
        return Err(StoreError::Invalid(
            "no queue to call from: choose the queues you serve".into(),
        ));
    }
    // The heads of the agent's queues (each one index probe); core picks among them.
    let mut policies = Vec::with_capacity(ids.len());
    let mut heads: Vec<Vec<Ticket>> = Vec::with_capacity(ids.len());
    let mut loaded: Vec<Queue> = Vec::with_capacity(ids.len());
    for qid in &ids {
        let q = require_queue(tx, tenant, *qid)?;
        policies.push(QueuePolicy::from(&q));
        heads.push(tx.queue_head(tenant, *qid)?.into_iter().collect());
        loaded.push(q);
    }
    let candidates: Vec<QueueCandidates<'_>> = policies
        .iter()
        .zip(&heads)
        .map(|(p, h)| QueueCandidates {
            policy: *p,
            tickets: h,
        })
        .collect();
    let Some(chosen) = select_next(&candidates).cloned() else {
        return Ok(None);
    };
    let at = ids
        .iter()
        .position(|q| *q == chosen.queue_id)
        .ok_or(StoreError::NotFound("queue"))?;
    let tr = apply(
        &chosen,
        Action::Call {
            agent_id,
            counter_id: agent.counter_id,
        },
        now,
    )?;
    let t = tr.ticket;
    tx.update_ticket(&t, &policies[at])?;
    let changed = tx.track_counts(Some(&chosen), &t)?;
    agent.current_ticket_id = Some(t.id);
    agent.status = AgentStatus::Busy;
    agent.status_changed_at = now;
    tx.save_agent(&agent, now)?;
    let mut data = ticket_event(&t, None, &changed);
    with_display(tx, &mut data, &loaded[at])?;
    metrics::counter!("smartqueue_ticket_transitions_total", "event" => tr.event.as_str())
        .increment(1);
    let after = serde_json::to_value(&data)?;
    tx.audit(
        tenant,
        actor,
        "ticket.call",
        "ticket",
        t.id,
        Some(ticket_audit(&chosen)?),
        Some(&after),
        now,
    )?;
    tx.emit(tenant, Event::of_transition(tr.event, data), now)?;
    Ok(Some(PlacedTicket {
        ticket: t,
        position: None,
    }))
}

/// Frees the agent who held `ticket` (back to available if busy).
fn release_agent(
    tx: &mut dyn Tx,
    tenant: Id,
    agent_id: Id,
    ticket: Id,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if let Some(mut agent) = tx.agent(tenant, agent_id)?
        && agent.current_ticket_id == Some(ticket)
    {
        agent.current_ticket_id = None;
        if agent.status == AgentStatus::Busy {
            agent.status = AgentStatus::Available;
            agent.status_changed_at = now;
        }
        tx.save_agent(&agent, now)?;
    }
    Ok(())
}

/// A ticket event's payload, with the new lengths of the queues the change touched.
fn ticket_event(t: &Ticket, position: Option<u32>, changed: &[(Id, i64)]) -> TicketEvent {
    let mut e = TicketEvent::new(t.clone(), position);
    e.queues = changed
        .iter()
        .map(|&(queue_id, n)| QueueLength {
            queue_id,
            waiting: u32::try_from(n).unwrap_or(0),
        })
        .collect();
    e
}

/// A ticket as an audit entry records it (its event payload).
fn ticket_audit(t: &Ticket) -> StoreResult<serde_json::Value> {
    Ok(serde_json::to_value(TicketEvent::new(t.clone(), None))?)
}

/// Adds what a waiting-room screen shows and says to a call or recall: number, counter name,
/// queue name and the sentence to announce.
fn with_display(tx: &mut dyn Tx, data: &mut TicketEvent, queue: &Queue) -> StoreResult<()> {
    let t = &data.ticket;
    let counter = match t.counter_id {
        Some(c) => tx.counter(t.tenant_id, c)?,
        None => None,
    };
    data.display = Some(smartqueue_core::announce::call_display(
        &t.number,
        counter.as_ref().map(|c| c.name.as_str()),
        &queue.name,
    ));
    Ok(())
}

/// A secret tracking token: 12 hex digits of the current millisecond (so the unique index on
/// tokens grows at its end, not at a random page), then 144 random bits (unguessable).
fn new_token(now: DateTime<Utc>) -> String {
    use rand::Rng;
    let bytes: [u8; 18] = rand::rng().random();
    let ms = (now.timestamp_millis() as u64) & 0xffff_ffff_ffff;
    format!("{ms:012x}{}", hex::encode(bytes))
}
