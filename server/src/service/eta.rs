//! The inputs of the one wait estimate, [`EtaInputs::wait_at`] (core), per queue.
//!
//! Ticket answers, the kiosk menu, the display board, `queue.eta` events and the console's
//! figures all take their inputs from [`queue_inputs`], so for the same state they all show the
//! same wait.

use chrono::{DateTime, Utc};
use smartqueue_core::eta::{EtaInputs, ServiceTimeModel};
use smartqueue_core::event::Event;
use smartqueue_core::{Id, Service};

use crate::state::{AppState, EtaLookup};
use crate::store::tx::transact;
use crate::store::{Kind, Store, StoreResult};

/// Service durations a queue's model is built from (the most recent ones).
pub const HISTORY: u32 = 200;

/// Service time assumed for a queue whose service names none and that has no history.
pub const FALLBACK_SERVICE_SECONDS: f64 = 300.0;

/// A queue's ETA inputs, from the per-queue cache when fresh (see [`crate::state::EtaCache`]).
pub async fn queue_inputs(state: &AppState, tenant: Id, queue: Id) -> StoreResult<EtaInputs> {
    match state.eta.lookup(tenant, queue) {
        EtaLookup::Use(i) => Ok(i),
        // Another request's failure to refresh is no reason to fail this one.
        EtaLookup::Refresh(old) => Ok(refresh(state, tenant, queue).await.unwrap_or(old)),
        EtaLookup::Missing => refresh(state, tenant, queue).await,
    }
}

/// Recomputes a queue's ETA inputs (recent service times, serving agents) and caches them.
///
/// Every close expires them, so on a busy queue this runs continuously (one request at a time):
/// it reads only what the estimate needs, in time independent of the line's length and the
/// day's tickets.
async fn refresh(state: &AppState, tenant: Id, queue: Id) -> StoreResult<EtaInputs> {
    let history = state
        .store
        .recent_service_times(tenant, queue, HISTORY)
        .await?;
    let default = default_service_seconds(state, tenant, queue).await?;
    let inputs = EtaInputs {
        model: ServiceTimeModel::from_history(&history, default),
        serving_agents: state.store.serving_agents(tenant, queue).await?,
    };
    Ok(state.eta.put(tenant, queue, inputs))
}

/// The default service time of the queue's service, used until it has a history.
async fn default_service_seconds(state: &AppState, tenant: Id, queue: Id) -> StoreResult<f64> {
    let Some(q) = state.store.get_entity(tenant, Kind::Queue, queue).await? else {
        return Ok(FALLBACK_SERVICE_SECONDS);
    };
    let service_id = q["service_id"].as_str().and_then(|s| s.parse().ok());
    let service: Option<Service> = match service_id {
        Some(id) => state
            .store
            .get_entity(tenant, Kind::Service, id)
            .await?
            .and_then(|v| serde_json::from_value(v).ok()),
        None => None,
    };
    Ok(service
        .map(|s| f64::from(s.default_service_seconds))
        .unwrap_or(FALLBACK_SERVICE_SECONDS))
}

/// Appends a derived event (`queue.eta`) to the tenant's log; published after its commit like
/// every other.
pub async fn publish(
    store: &dyn Store,
    tenant: Id,
    event: Event,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    transact(store, move |tx| {
        tx.emit(tenant, event.clone(), now).map(|(seq, _)| seq)
    })
    .await
}
