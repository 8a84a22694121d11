//! Health, audit log and queue statistics.

use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};
use smartqueue_core::eta::{Eta, EtaInputs};
use smartqueue_core::numbering::{business_day, parse_timezone};
use smartqueue_core::staffing::agents_needed;
use smartqueue_core::{Id, Queue, Scope, Site};

use super::doc::{ApiRouter, op};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging};
use super::page;
use crate::auth::TenantCtx;
use crate::error::{ApiError, ApiResult};
use crate::service::eta;
use crate::state::AppState;
use crate::store::Kind;

async fn health() -> ApiJson<Value> {
    ApiJson(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn audit_logs(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(Scope::ReadReports)?;
    let p = p.checked()?;
    Ok(ApiJson(page(
        state
            .store
            .audit_logs(ctx.tenant_id, p.limit, p.offset)
            .await?,
        p,
    )))
}

/// What is known of a queue right now: today's counts and the inputs of its wait estimate.
pub struct QueueFigures {
    /// The site's time zone and the business day in it.
    pub tz: chrono_tz::Tz,
    pub day: chrono::NaiveDate,
    pub counts: crate::store::QueueCounts,
    pub inputs: EtaInputs,
    /// Estimated wait of a ticket taken now (the one estimate, [`EtaInputs::wait_if_joined`]).
    pub next_eta: Eta,
}

/// Today's figures of `q` (business day in its site's time zone).
pub async fn queue_figures(state: &AppState, tenant: Id, q: &Queue) -> ApiResult<QueueFigures> {
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

/// Loads a queue of the tenant (404 when it has none with this id).
pub async fn load_queue(state: &AppState, tenant: Id, id: Id) -> ApiResult<Queue> {
    serde_json::from_value(
        state
            .store
            .get_entity(tenant, Kind::Queue, id)
            .await?
            .ok_or_else(|| ApiError::not_found("queue"))?,
    )
    .map_err(ApiError::internal)
}

async fn queue_stats(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath((_, id)): ApiPath<(String, Id)>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(Scope::ReadQueue)?;
    let q = load_queue(&state, ctx.tenant_id, id).await?;
    let figures = queue_figures(&state, ctx.tenant_id, &q).await?;
    Ok(ApiJson(stats_body(&q, &figures, Utc::now())))
}

/// The answer of `GET queues/{id}/stats/` for `q` with its `figures` at `now` (also one entry
/// of the floor, [`super::floor`]): today's counts, the longest wait against the SLA, the wait
/// estimate and its inputs, and staffing advice.
pub fn stats_body(q: &Queue, figures: &QueueFigures, now: chrono::DateTime<Utc>) -> Value {
    let QueueFigures {
        tz: site_tz,
        day,
        counts,
        inputs,
        next_eta,
    } = figures;
    let model = inputs.model;
    // Staffing advice from today's arrival rate over the opening hours so far.
    let hours = (now - smartqueue_core::numbering::start_of_day(*day, *site_tz))
        .num_seconds()
        .max(3600) as f64
        / 3600.0;
    let arrivals = f64::from(
        counts.waiting
            + counts.active
            + counts.served_today
            + counts.no_show_today
            + counts.cancelled_today,
    );
    let staffing = agents_needed(
        arrivals / hours,
        model.mean_seconds,
        0.8,
        f64::from(q.sla_target_seconds),
    );
    json!({
        "queue_id": q.id,
        "business_day": day,
        "waiting": counts.waiting,
        "active": counts.active,
        "served_today": counts.served_today,
        "no_show_today": counts.no_show_today,
        "cancelled_today": counts.cancelled_today,
        "longest_wait_seconds": counts.longest_wait_seconds,
        "sla_target_seconds": q.sla_target_seconds,
        "sla_breached": counts.longest_wait_seconds > q.sla_target_seconds,
        "active_agents": counts.active_agents,
        "average_service_seconds": model.mean_seconds.round(),
        "service_time_samples": model.samples,
        "eta_next_seconds": next_eta.p50_seconds,
        "eta_next_p90_seconds": next_eta.p90_seconds,
        "eta_inputs": inputs,
        "staffing": staffing,
    })
}

/// Health, audit and stats routes.
pub fn routes() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/api/v1/health/",
            get(health),
            vec![
                op(Method::GET, "Liveness and version")
                    .public()
                    .returns(200, "Health"),
            ],
        )
        .route(
            "/api/v1/tenants/{tenant_slug}/audit-logs/",
            get(audit_logs),
            vec![
                op(
                    Method::GET,
                    "Audit log, newest first: who, what, when, before/after",
                )
                .returns(200, "Page"),
            ],
        )
        .route(
            "/api/v1/tenants/{tenant_slug}/queues/{id}/stats/",
            get(queue_stats),
            vec![
                op(
                    Method::GET,
                    "Live figures of a queue: waiting, longest wait vs SLA, ETA, staffing advice",
                )
                .returns(200, "QueueStats"),
            ],
        )
}
