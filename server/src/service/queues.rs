//! What is known of a queue right now — today's counts, its wait estimate, staffing advice —
//! for the queue's figures, the floor, the kiosk menu, the display board and `queue.eta`.

use chrono::{DateTime, Utc};
use smartqueue_core::eta::{Eta, EtaInputs};
use smartqueue_core::numbering::{business_day, parse_timezone, start_of_day};
use smartqueue_core::staffing::{StaffingAdvice, agents_needed};
use smartqueue_core::{Id, Queue, Site};

use super::eta;
use crate::state::AppState;
use crate::store::{Kind, QueueCounts, StoreError, StoreResult};

/// Today's figures of a queue.
pub struct QueueFigures {
    /// The site's time zone and the business day in it.
    pub tz: chrono_tz::Tz,
    pub day: chrono::NaiveDate,
    pub counts: QueueCounts,
    pub inputs: EtaInputs,
    /// Estimated wait of a ticket taken now (the one estimate, [`EtaInputs::wait_if_joined`]).
    pub next_eta: Eta,
}

/// Loads a queue of the tenant (`NotFound` when it has none with this id).
pub async fn load(state: &AppState, tenant: Id, id: Id) -> StoreResult<Queue> {
    let doc = state
        .store
        .get_entity(tenant, Kind::Queue, id)
        .await?
        .ok_or(StoreError::NotFound("queue"))?;
    Ok(serde_json::from_value(doc)?)
}

/// Today's figures of `q` (business day in its site's time zone).
pub async fn figures(state: &AppState, tenant: Id, q: &Queue) -> StoreResult<QueueFigures> {
    let site: Option<Site> = state
        .store
        .get_entity(tenant, Kind::Site, q.site_id)
        .await?
        .and_then(|v| serde_json::from_value(v).ok());
    let tz = site
        .and_then(|s| parse_timezone(&s.timezone).ok())
        .unwrap_or(chrono_tz::UTC);
    let now = Utc::now();
    let day = business_day(now, tz);
    let counts = state.store.queue_counts(tenant, q.id, day, now).await?;
    let inputs = eta::queue_inputs(state, tenant, q.id).await?;
    Ok(QueueFigures {
        tz,
        day,
        next_eta: inputs.wait_if_joined(counts.waiting),
        counts,
        inputs,
    })
}

/// Counters needed to answer 80 % of today's arrivals within the queue's SLA target, from the
/// arrival rate over the day so far (at least an hour) and the measured service time (None
/// before anything arrived).
pub fn staffing(q: &Queue, f: &QueueFigures, now: DateTime<Utc>) -> Option<StaffingAdvice> {
    let hours = (now - start_of_day(f.day, f.tz)).num_seconds().max(3600) as f64 / 3600.0;
    let c = &f.counts;
    let arrivals =
        f64::from(c.waiting + c.active + c.served_today + c.no_show_today + c.cancelled_today);
    agents_needed(
        arrivals / hours,
        f.inputs.model.mean_seconds,
        0.8,
        f64::from(q.sla_target_seconds),
    )
}
