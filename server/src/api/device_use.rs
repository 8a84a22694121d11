//! What a paired display or kiosk reads and does: its own configuration, a display's board,
//! a kiosk's menu, tickets it issues (online or printed offline), numbers leased for offline
//! issuing, and taking back a ticket it could not print.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use smartqueue_core::{Channel, Display, Id, Kiosk, Priority, Scope};
use utoipa::ToSchema;
use uuid::Uuid;

use super::devices::DeviceResource;
use super::extract::{ApiJson, ApiPath, RequestId, idempotency_key};
use super::resources::field;
use super::tickets::{TicketOut, present};
use crate::caller::{DeviceCtx, DeviceOrStaff};
use crate::error::{ApiError, ApiResult};
use crate::service;
use crate::service::queues::{self, QueueFigures};
use crate::state::AppState;
use crate::store::{DeviceKind, Kind, NewTicket, NumberLease, OfflineIssue};

/// Calls a display board shows.
const BOARD_CALLS: u32 = 8;

pub(super) async fn me(
    State(state): State<AppState>,
    DeviceCtx(d): DeviceCtx,
) -> ApiResult<ApiJson<Value>> {
    let device = state
        .store
        .get_entity(d.tenant_id, d.kind.kind(), d.device_id)
        .await?
        .ok_or_else(|| ApiError::not_found(d.kind.as_str()))?;
    Ok(ApiJson(json!({
        "kind": d.kind,
        "tenant_slug": d.tenant_slug,
        "device_id": d.device_id,
        "device": device,
    })))
}

pub(super) async fn load<R: DeviceResource>(state: &AppState, tenant: Id, id: Id) -> ApiResult<R> {
    let doc = state
        .store
        .get_entity(tenant, R::KIND, id)
        .await?
        .ok_or_else(|| ApiError::not_found(R::KIND.as_str()))?;
    serde_json::from_value(doc).map_err(ApiError::internal)
}

/// The IANA time zone of a site (its clock and business day), `UTC` if it has none.
pub(super) async fn site_timezone(state: &AppState, tenant: Id, site: Id) -> ApiResult<String> {
    Ok(state
        .store
        .get_entity(tenant, Kind::Site, site)
        .await?
        .and_then(|s| s["timezone"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "UTC".into()))
}

/// Per queue: name, prefix, how many wait and how long a ticket taken now would wait.
pub(super) async fn queue_lines(state: &AppState, tenant: Id, ids: &[Id]) -> ApiResult<Vec<Value>> {
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        // A queue deleted since the device was configured is simply left out.
        let Ok(q) = queues::load(state, tenant, id).await else {
            continue;
        };
        let QueueFigures {
            counts, next_eta, ..
        } = queues::figures(state, tenant, &q).await?;
        out.push(json!({
            "id": q.id,
            "name": q.name,
            "prefix": q.prefix,
            "service_id": q.service_id,
            "is_active": q.is_active,
            "waiting": counts.waiting,
            "eta_next_seconds": next_eta.p50_seconds,
            "eta_next_p90_seconds": next_eta.p90_seconds,
        }));
    }
    Ok(out)
}

pub(super) async fn board(
    State(state): State<AppState>,
    caller: DeviceOrStaff,
    ApiPath((_, id)): ApiPath<(String, Id)>,
) -> ApiResult<ApiJson<Value>> {
    caller.require_device(DeviceKind::Display, id, Scope::ReadQueue)?;
    let tenant = caller.tenant_id();
    let display: Display = load(&state, tenant, id).await?;
    let queues = queue_lines(&state, tenant, &display.queue_ids).await?;
    let calls = state
        .store
        .recent_calls(tenant, display.queue_ids.clone(), BOARD_CALLS)
        .await?;
    // A waiting room is public: no customer names or phone numbers on the screen.
    let results = calls
        .iter()
        .map(|e| serde_json::to_value(e.public()).map(|mut v| v["data"].take()))
        .collect::<Result<Vec<Value>, _>>()
        .map_err(ApiError::internal)?;
    let timezone = site_timezone(&state, tenant, display.site_id).await?;
    Ok(ApiJson(json!({
        "count": results.len(),
        "results": results,
        "display": display,
        "queues": queues,
        "timezone": timezone,
    })))
}

pub(super) async fn menu(
    State(state): State<AppState>,
    caller: DeviceOrStaff,
    ApiPath((_, id)): ApiPath<(String, Id)>,
) -> ApiResult<ApiJson<Value>> {
    caller.require_device(DeviceKind::Kiosk, id, Scope::ReadQueue)?;
    let tenant = caller.tenant_id();
    let kiosk: Kiosk = load(&state, tenant, id).await?;
    let mut queues = queue_lines(&state, tenant, &kiosk.queue_ids).await?;
    for q in &mut queues {
        let service = match q["service_id"].as_str().and_then(|s| s.parse().ok()) {
            Some(sid) => state.store.get_entity(tenant, Kind::Service, sid).await?,
            None => None,
        };
        if let Some(s) = service {
            q["service_name"] = s["name"].clone();
            q["service_description"] = s["description"].clone();
        }
    }
    let timezone = site_timezone(&state, tenant, kiosk.site_id).await?;
    Ok(ApiJson(json!({
        "count": 0,
        "results": [],
        "kiosk": kiosk,
        "queues": queues,
        "timezone": timezone,
    })))
}

/// Body of `kiosks/{id}/tickets/`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KioskTicketIn {
    queue_id: Uuid,
    /// For an SMS when the turn nears.
    #[serde(default)]
    customer_phone: Option<String>,
    /// Set when the kiosk issued (and printed) the ticket while offline, from its lease.
    #[serde(default)]
    offline: Option<OfflineIssue>,
}

pub(super) async fn kiosk_ticket(
    State(state): State<AppState>,
    caller: DeviceOrStaff,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath((slug, id)): ApiPath<(String, Id)>,
    ApiJson(input): ApiJson<KioskTicketIn>,
) -> ApiResult<(StatusCode, ApiJson<TicketOut>)> {
    caller.require_device(DeviceKind::Kiosk, id, Scope::WriteTicket)?;
    let tenant = caller.tenant_id();
    let kiosk: Kiosk = load(&state, tenant, id).await?;
    if !kiosk.queue_ids.contains(&input.queue_id) {
        return Err(field("queue_id", "this kiosk does not offer this queue"));
    }
    if let Some(phone) = &input.customer_phone {
        super::resources::check_phone("customer_phone", phone)?;
    }
    let path = format!("/tenants/{slug}/kiosks/{id}/tickets/");
    let idem = idempotency_key(&headers, &format!("device:{id}"), "POST", &path, &input)?;
    let new = NewTicket {
        queue_id: input.queue_id,
        priority: Priority::Normal,
        channel: Channel::Kiosk,
        customer_id: None,
        customer_name: None,
        customer_phone: input.customer_phone,
        offline: input.offline.map(|o| OfflineIssue { kiosk_id: id, ..o }),
        issued_by: Some(id),
    };
    let placed = crate::service::tickets::create(
        &*state.store,
        tenant,
        new,
        idem,
        &caller.actor(rid),
        Utc::now(),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(present(&state, placed).await?)))
}

/// Body of `kiosks/{id}/leases/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseIn {
    queue_id: Uuid,
    /// Today or tomorrow in the site's time zone (default today).
    #[serde(default)]
    business_day: Option<chrono::NaiveDate>,
}

pub(super) async fn lease(
    State(state): State<AppState>,
    caller: DeviceOrStaff,
    ApiPath((_, id)): ApiPath<(String, Id)>,
    ApiJson(input): ApiJson<LeaseIn>,
) -> ApiResult<(StatusCode, ApiJson<NumberLease>)> {
    caller.require_device(DeviceKind::Kiosk, id, Scope::ManageSettings)?;
    let tenant = caller.tenant_id();
    let kiosk: Kiosk = load(&state, tenant, id).await?;
    if !kiosk.queue_ids.contains(&input.queue_id) {
        return Err(field("queue_id", "this kiosk does not offer this queue"));
    }
    let q = queues::load(&state, tenant, input.queue_id).await?;
    let today = queues::figures(&state, tenant, &q).await?.day;
    let day = input.business_day.unwrap_or(today);
    if day != today && day != today.succ_opt().unwrap_or(today) {
        return Err(field(
            "business_day",
            "today or tomorrow in the site's time zone",
        ));
    }
    let lease =
        service::devices::lease_numbers(&*state.store, tenant, id, input.queue_id, day, Utc::now())
            .await?;
    Ok((StatusCode::CREATED, ApiJson(lease)))
}

/// Body of `kiosks/{id}/tickets/cancel/`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KioskCancelIn {
    /// The token of the ticket the kiosk issued (known even for one issued offline).
    tracking_token: String,
}

/// A kiosk takes back a ticket it could not print (it is still waiting, never called).
pub(super) async fn kiosk_cancel(
    State(state): State<AppState>,
    caller: DeviceOrStaff,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath((slug, id)): ApiPath<(String, Id)>,
    ApiJson(input): ApiJson<KioskCancelIn>,
) -> ApiResult<ApiJson<TicketOut>> {
    caller.require_device(DeviceKind::Kiosk, id, Scope::WriteTicket)?;
    let tenant = caller.tenant_id();
    let placed = state
        .store
        .ticket_by_token(tenant, input.tracking_token.clone())
        .await?
        // Only the kiosk that issued it (another kiosk of the tenant answers as for a ticket
        // that does not exist).
        .filter(|p| p.ticket.channel == Channel::Kiosk && p.ticket.issued_by == Some(id))
        .ok_or_else(|| ApiError::not_found("ticket"))?;
    let path = format!("/tenants/{slug}/kiosks/{id}/tickets/cancel/");
    let idem = idempotency_key(&headers, &format!("device:{id}"), "POST", &path, &input)?;
    let done = crate::service::tickets::act(
        &*state.store,
        tenant,
        placed.ticket.id,
        smartqueue_core::lifecycle::Action::Cancel,
        idem,
        &caller.actor(rid),
        Utc::now(),
    )
    .await?;
    Ok(ApiJson(present(&state, done).await?))
}
