//! The floor at a glance, in one request: every queue's live figures (what
//! `queues/{id}/stats/` answers for it) and every agent with the ticket they hold. A manager's
//! console refreshes its floor view with this instead of one request per queue.

use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};
use smartqueue_core::numbering::start_of_day;
use smartqueue_core::{Queue, Scope};

use super::doc::{ApiRouter, op};
use super::extract::ApiJson;
use super::misc::stats_body;
use crate::caller::TenantCtx;
use crate::error::{ApiError, ApiResult};
use crate::service::queues;
use crate::state::AppState;
use crate::store::Kind;

/// Queues are listed in pages of this many.
const PAGE: u32 = 200;

async fn floor(State(state): State<AppState>, ctx: TenantCtx) -> ApiResult<ApiJson<Value>> {
    ctx.require(Scope::ReadQueue)?;
    let tenant = ctx.tenant_id;
    let now = Utc::now();
    let mut queues = Vec::new();
    let mut offset = 0;
    loop {
        let page = state
            .store
            .list_entities(tenant, Kind::Queue, PAGE, offset)
            .await?;
        let got = page.results.len() as u32;
        for doc in page.results {
            let q: Queue = serde_json::from_value(doc).map_err(ApiError::internal)?;
            let figures = queues::figures(&state, tenant, &q).await?;
            let mut entry = stats_body(&q, &figures, now);
            entry["name"] = json!(q.name);
            entry["site_id"] = json!(q.site_id);
            entry["algorithm"] = json!(q.algorithm);
            entry["timezone"] = json!(figures.tz.name());
            entry["day_started_at"] = json!(start_of_day(figures.day, figures.tz));
            queues.push(entry);
        }
        offset += got;
        if got < PAGE || u64::from(offset) >= page.count {
            break;
        }
    }
    // Who works the floor is agent information: only for callers who may read agents.
    let members = match ctx.require(Scope::ReadAgent) {
        Ok(()) => state.store.list_members(tenant).await?,
        Err(_) => Vec::new(),
    };
    let mut agents = Vec::new();
    for m in members {
        let Some(a) = m.agent else { continue };
        let name = format!("{} {}", m.user.first_name, m.user.last_name)
            .trim()
            .to_owned();
        // The ticket they hold: called, in service or paused.
        let held = match a.current_ticket_id {
            Some(id) => state
                .store
                .ticket(tenant, id)
                .await?
                .map(|p| p.ticket)
                .filter(|t| t.status.is_active()),
            None => None,
        };
        agents.push(json!({
            "id": a.id,
            "user_id": a.user_id,
            "name": if name.is_empty() { m.user.email.clone() } else { name },
            "status": a.status,
            "counter_id": a.counter_id,
            "queue_ids": a.queue_ids,
            "current_ticket": held.map(|t| json!({
                "id": t.id,
                "number": t.number,
                "status": t.status,
                "queue_id": t.queue_id,
            })),
        }));
    }
    Ok(ApiJson(json!({ "queues": queues, "agents": agents })))
}

/// Schemas of the floor's answer.
pub fn schemas(c: utoipa::openapi::ComponentsBuilder) -> utoipa::openapi::ComponentsBuilder {
    c.schema(
        "Floor",
        super::doc::free(
            "{queues: [QueueStats + name, site_id, algorithm, timezone, day_started_at], \
             agents (with read:agent): [{id, user_id, name, status, counter_id, queue_ids, \
             current_ticket: {id, number, status, queue_id} | null}]}",
        ),
    )
}

/// The floor route.
pub fn routes() -> ApiRouter {
    ApiRouter::new().route(
        "/api/v1/tenants/{tenant_slug}/floor/",
        get(floor),
        vec![
            op(
                Method::GET,
                "The floor in one answer: every queue's live figures and every agent with the ticket they hold",
            )
            .returns(200, "Floor"),
        ],
    )
}
