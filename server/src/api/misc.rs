//! Health, audit log and queue statistics.

use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};
use smartqueue_core::{Id, Queue, Scope};

use super::doc::{ApiRouter, op};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging};
use super::page;
use crate::caller::TenantCtx;
use crate::error::ApiResult;
use crate::service::queues::{self, QueueFigures};
use crate::state::AppState;

/// Liveness, version, and whether this instance runs the scheduled jobs (`jobs`: `leader` or
/// `standby`, for a load balancer's or an operator's eyes).
async fn health(State(state): State<AppState>) -> ApiJson<Value> {
    let jobs = if *state.store.leadership().borrow() {
        "leader"
    } else {
        "standby"
    };
    ApiJson(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "jobs": jobs }))
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

async fn queue_stats(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath((_, id)): ApiPath<(String, Id)>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(Scope::ReadQueue)?;
    let q = queues::load(&state, ctx.tenant_id, id).await?;
    let figures = queues::figures(&state, ctx.tenant_id, &q).await?;
    Ok(ApiJson(stats_body(&q, &figures, Utc::now())))
}

/// The answer of `GET queues/{id}/stats/` for `q` with its `figures` at `now` (also one entry
/// of the floor, [`super::floor`]): today's counts, the longest wait against the SLA, the wait
/// estimate and its inputs, and staffing advice.
pub fn stats_body(q: &Queue, figures: &QueueFigures, now: chrono::DateTime<Utc>) -> Value {
    let QueueFigures {
        day,
        counts,
        inputs,
        next_eta,
        ..
    } = figures;
    let model = inputs.model;
    let staffing = queues::staffing(q, figures, now);
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
                op(
                    Method::GET,
                    "Liveness, version and this instance's part in the scheduled jobs",
                )
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
