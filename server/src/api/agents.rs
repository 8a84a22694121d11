//! `agents/`: profiles, `me/`, `call-next/`, `set-status/`.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use smartqueue_core::{AgentProfile, AgentStatus, Id, Scope};

use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, RequestId, idempotency_key};
use super::page;
use super::tickets::present;
use crate::auth::TenantCtx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::Kind;

fn my_agent_id(ctx: &TenantCtx) -> ApiResult<Id> {
    ctx.agent_id
        .ok_or_else(|| ApiError::forbidden("you have no agent profile in this tenant"))
}

async fn load(state: &AppState, ctx: &TenantCtx, id: Id) -> ApiResult<AgentProfile> {
    let v = state
        .store
        .get_entity(ctx.tenant_id, Kind::Agent, id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    serde_json::from_value(v).map_err(ApiError::internal)
}

async fn list(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(Scope::ReadAgent)?;
    let p = p.checked()?;
    Ok(ApiJson(page(
        state
            .store
            .list_entities(ctx.tenant_id, Kind::Agent, p.limit, p.offset)
            .await?,
        p,
    )))
}

async fn retrieve(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath((_, id)): ApiPath<(String, Id)>,
) -> ApiResult<ApiJson<AgentProfile>> {
    ctx.require(Scope::ReadAgent)?;
    Ok(ApiJson(load(&state, &ctx, id).await?))
}

async fn me(State(state): State<AppState>, ctx: TenantCtx) -> ApiResult<ApiJson<AgentProfile>> {
    Ok(ApiJson(load(&state, &ctx, my_agent_id(&ctx)?).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MePatch {
    /// Counter the agent sits at (null to leave it).
    #[serde(default, with = "double_option")]
    counter_id: Option<Option<Id>>,
    /// Queues the agent serves.
    #[serde(default)]
    queue_ids: Option<Vec<Id>>,
}

/// Distinguishes an absent field (no change) from `null` (clear it).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn patch_me(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiJson(input): ApiJson<MePatch>,
) -> ApiResult<ApiJson<AgentProfile>> {
    let id = my_agent_id(&ctx)?;
    let before = load(&state, &ctx, id).await?;
    let mut agent = before.clone();
    if let Some(counter) = input.counter_id {
        if let Some(c) = counter
            && state
                .store
                .get_entity(ctx.tenant_id, Kind::Counter, c)
                .await?
                .is_none()
        {
            return Err(ApiError::not_found("counter"));
        }
        agent.counter_id = counter;
    }
    if let Some(queues) = input.queue_ids {
        if queues.len() > 50 {
            return Err(ApiError::validation("queue_ids: at most 50 queues"));
        }
        for q in &queues {
            if state
                .store
                .get_entity(ctx.tenant_id, Kind::Queue, *q)
                .await?
                .is_none()
            {
                return Err(ApiError::not_found("queue"));
            }
        }
        for q in agent.queue_ids.iter().chain(&queues) {
            state.eta.invalidate(ctx.tenant_id, *q);
        }
        agent.queue_ids = queues;
    }
    let before_v = serde_json::to_value(&before).map_err(ApiError::internal)?;
    let doc = serde_json::to_value(&agent).map_err(ApiError::internal)?;
    state
        .store
        .put_entity(
            ctx.tenant_id,
            Kind::Agent,
            id,
            doc,
            Some(before_v),
            &ctx.actor(rid),
            Utc::now(),
        )
        .await?;
    Ok(ApiJson(agent))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallNextIn {
    /// Call from this queue only (default: every queue the agent serves).
    #[serde(default)]
    queue_id: Option<Id>,
}

async fn call_next(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(Scope::WriteTicket)?;
    let agent_id = my_agent_id(&ctx)?;
    let input: CallNextIn = if body.iter().all(u8::is_ascii_whitespace) {
        CallNextIn { queue_id: None }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("call-next: {e}")))?
    };
    let path = format!("/tenants/{}/agents/call-next/", ctx.tenant_slug);
    let idem = idempotency_key(
        &headers,
        &format!("user:{}", ctx.user_id),
        "POST",
        &path,
        &input,
    )?;
    let called = state
        .store
        .call_next(
            ctx.tenant_id,
            agent_id,
            input.queue_id.map(|q| vec![q]),
            idem,
            &ctx.actor(rid),
            Utc::now(),
        )
        .await?;
    match called {
        Some(p) => Ok(ApiJson(
            json!({ "ticket": present(&state, p).await?, "detail": null }),
        )),
        None => Ok(ApiJson(
            json!({ "ticket": null, "detail": "no ticket is waiting in your queues" }),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusIn {
    status: AgentStatus,
}

async fn set_status(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiJson(input): ApiJson<StatusIn>,
) -> ApiResult<ApiJson<AgentProfile>> {
    let id = my_agent_id(&ctx)?;
    if input.status == AgentStatus::Busy {
        return Err(ApiError::validation(
            "status: busy is set by calling a ticket; choose available, break or offline",
        ));
    }
    let agent = state
        .store
        .set_agent_status(ctx.tenant_id, id, input.status, &ctx.actor(rid), Utc::now())
        .await?;
    for q in &agent.queue_ids {
        state.eta.invalidate(ctx.tenant_id, *q);
    }
    Ok(ApiJson(agent))
}

/// Agent routes.
pub fn routes() -> Router<AppState> {
    let base = "/api/v1/tenants/{tenant_slug}/agents";
    Router::new()
        .route(&format!("{base}/"), get(list))
        .route(&format!("{base}/me/"), get(me).patch(patch_me))
        .route(&format!("{base}/call-next/"), post(call_next))
        .route(&format!("{base}/set-status/"), post(set_status))
        .route(&format!("{base}/{{id}}/"), get(retrieve))
}
