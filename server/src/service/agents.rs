//! Decisions about agents that are not pure core rules.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use smartqueue_core::event::Event;
use smartqueue_core::{AgentProfile, AgentStatus, Counter, Id, Queue};

use crate::state::AppState;
use crate::store::tx::{Tx, transact};
use crate::store::{Actor, Kind, Store, StoreError, StoreResult};

/// Counters a tenant may have (one page of the configuration list).
const MAX_COUNTERS: u32 = 1000;

/// The counter numbered `number` at the agent's site: the site of the counter the agent sits at,
/// or else the sites of the queues it serves (`queue_ids`, as they will be after the change).
/// Unknown there → `NotFound`; the same number at several of its sites → `ambiguous_counter`.
pub async fn counter_by_number(
    state: &AppState,
    tenant: Id,
    agent: &AgentProfile,
    queue_ids: &[Id],
    number: u32,
) -> StoreResult<Id> {
    let store = &state.store;
    let counters: Vec<Counter> = store
        .list_entities(tenant, Kind::Counter, MAX_COUNTERS, 0)
        .await?
        .results
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()?;
    let mut sites: HashSet<Id> = agent
        .counter_id
        .and_then(|c| counters.iter().find(|x| x.id == c))
        .map(|c| c.site_id)
        .into_iter()
        .collect();
    if sites.is_empty() {
        for q in queue_ids {
            if let Some(doc) = store.get_entity(tenant, Kind::Queue, *q).await? {
                sites.insert(serde_json::from_value::<Queue>(doc)?.site_id);
            }
        }
    }
    let mut found = counters
        .iter()
        .filter(|c| c.number == Some(number) && sites.contains(&c.site_id));
    match (found.next(), found.next()) {
        (Some(c), None) => Ok(c.id),
        (None, _) => Err(StoreError::NotFound(
            "counter with this number at your site",
        )),
        (Some(_), Some(_)) => Err(StoreError::conflict(
            "ambiguous_counter",
            format!(
                "counter_number: several of your sites have a counter {number}; give counter_id"
            ),
        )),
    }
}

/// Sets an agent's status (available, break, offline): refused while it holds a ticket.
pub async fn set_status(
    store: &dyn Store,
    tenant: Id,
    agent: Id,
    status: AgentStatus,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<AgentProfile> {
    let actor = actor.clone();
    transact(store, move |tx| {
        set_status_in(tx, tenant, agent, status, &actor, now)
    })
    .await
}

fn set_status_in(
    tx: &mut dyn Tx,
    tenant: Id,
    agent_id: Id,
    status: AgentStatus,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<AgentProfile> {
    let before = tx
        .agent(tenant, agent_id)?
        .ok_or(StoreError::NotFound("agent"))?;
    if let Some(current) = before.current_ticket_id
        && let Some(t) = tx.ticket(tenant, current)?
        && t.status.is_active()
        && status != AgentStatus::Busy
    {
        return Err(StoreError::conflict(
            "agent_busy",
            format!("finish {} before changing your status", t.number),
        ));
    }
    let mut agent = before.clone();
    agent.status = status;
    agent.status_changed_at = now;
    tx.save_agent(&agent, now)?;
    let after = serde_json::to_value(&agent)?;
    tx.audit(
        tenant,
        actor,
        "agent.set_status",
        "agent",
        agent_id,
        Some(serde_json::to_value(&before)?),
        Some(&after),
        now,
    )?;
    tx.emit(tenant, Event::AgentStatus(agent.clone()), now)?;
    Ok(agent)
}
