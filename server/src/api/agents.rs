//! `agents/`: profiles, `me/`, `call-next/`, `set-status/`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::routing::{get, post};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use smartqueue_core::{AgentProfile, AgentStatus, Id, Scope};
use utoipa::ToSchema;
use utoipa::openapi::ComponentsBuilder;

use super::doc::{ApiRouter, op};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, RequestId, idempotency_key};
use super::page;
use super::tickets::{TicketOut, present};
use crate::caller::TenantCtx;

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
use crate::error::{ApiError, ApiResult};
use crate::service;
use crate::state::AppState;
use crate::store::{Edit, Kind};
use std::sync::Arc;

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

#[derive(Debug, Deserialize, ToSchema)]
struct MePatch {
    /// Counter the agent sits at (null to leave it).
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<uuid::Uuid>)]
    counter_id: Option<Option<uuid::Uuid>>,
    /// The counter by its number at the agent's site, instead of `counter_id`.
    #[serde(default)]
    counter_number: Option<u32>,
    /// Queues the agent serves.
    #[serde(default)]
    queue_ids: Option<Vec<uuid::Uuid>>,
}

/// Fields of an agent profile the server maintains: a PATCH that sends them back (as clients
/// do with what they were given) is accepted and they are ignored.
const SERVER_FIELDS: [&str; 7] = [
    "id",
    "tenant_id",
    "user_id",
    "status",
    "current_status",
    "current_ticket_id",
    "status_changed_at",
];

impl MePatch {
    /// Reads a PATCH body: the fields an agent may change, server fields ignored, anything else
    /// refused by name.
    fn parse(body: Value) -> ApiResult<MePatch> {
        let Value::Object(mut fields) = body else {
            return Err(ApiError::validation(
                "the body must be a JSON object of the fields to change",
            ));
        };
        fields.retain(|k, _| !SERVER_FIELDS.contains(&k.as_str()));
        if let Some(k) = fields
            .keys()
            .find(|k| !["counter_id", "counter_number", "queue_ids"].contains(&k.as_str()))
        {
            return Err(ApiError::validation(format!("{k}: unknown field")));
        }
        serde_json::from_value(Value::Object(fields))
            .map_err(|e| ApiError::validation(e.to_string()))
    }
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
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<ApiJson<AgentProfile>> {
    let mut input = MePatch::parse(body)?;
    let id = my_agent_id(&ctx)?;
    let before = load(&state, &ctx, id).await?;
    if let Some(n) = input.counter_number {
        if input.counter_id.is_some() {
            return Err(ApiError::validation(
                "counter_number: give counter_id or counter_number, not both",
            ));
        }
        let queues = input.queue_ids.as_deref().unwrap_or(&before.queue_ids);
        let c =
            service::agents::counter_by_number(&state, ctx.tenant_id, &before, queues, n).await?;
        input.counter_id = Some(Some(c));
    }
    if let Some(Some(c)) = input.counter_id
        && state
            .store
            .get_entity(ctx.tenant_id, Kind::Counter, c)
            .await?
            .is_none()
    {
        return Err(ApiError::not_found("counter"));
    }
    if let Some(queues) = &input.queue_ids {
        if queues.len() > 50 {
            return Err(ApiError::validation("queue_ids: at most 50 queues"));
        }
        for q in queues {
            if state
                .store
                .get_entity(ctx.tenant_id, Kind::Queue, *q)
                .await?
                .is_none()
            {
                return Err(ApiError::not_found("queue"));
            }
        }
    }
    // Applied inside the write to the profile as it is then: a call-next or a status change
    // that lands meanwhile keeps its `current_ticket_id` and `status`.
    let (counter, queues) = (input.counter_id, input.queue_ids.clone());
    let edit: Edit = Arc::new(move |stored| {
        let mut agent: AgentProfile = serde_json::from_value(stored)?;
        if let Some(c) = counter {
            agent.counter_id = c;
        }
        if let Some(q) = &queues {
            agent.queue_ids = q.clone();
        }
        Ok(serde_json::to_value(&agent)?)
    });
    let doc = service::entities::update(
        &*state.store,
        ctx.tenant_id,
        Kind::Agent,
        id,
        edit,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    let agent: AgentProfile = serde_json::from_value(doc).map_err(ApiError::internal)?;
    if input.queue_ids.is_some() {
        for q in before.queue_ids.iter().chain(&agent.queue_ids) {
            state.eta.invalidate(ctx.tenant_id, *q);
        }
    }
    Ok(ApiJson(agent))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CallNextIn {
    /// Call from this queue only (default: every queue the agent serves).
    #[serde(default)]
    queue_id: Option<uuid::Uuid>,
}

/// Answer of call-next: the called ticket, or null with a sentence when the line is empty.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallNextOut {
    pub ticket: Option<TicketOut>,
    pub detail: Option<String>,
}

async fn call_next(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<ApiJson<CallNextOut>> {
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
    let called = crate::service::tickets::call_next(
        &*state.store,
        ctx.tenant_id,
        agent_id,
        input.queue_id.map(|q| vec![q]),
        idem,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    match called {
        Some(p) => Ok(ApiJson(CallNextOut {
            ticket: Some(present(&state, p).await?),
            detail: None,
        })),
        None => Ok(ApiJson(CallNextOut {
            ticket: None,
            detail: Some("no ticket is waiting in your queues".into()),
        })),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
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
    let agent = crate::service::agents::set_status(
        &*state.store,
        ctx.tenant_id,
        id,
        input.status,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    for q in &agent.queue_ids {
        state.eta.invalidate(ctx.tenant_id, *q);
    }
    Ok(ApiJson(agent))
}

/// Agent routes.
pub fn routes() -> ApiRouter {
    let base = "/api/v1/tenants/{tenant_slug}/agents";
    ApiRouter::new()
        .route(
            &format!("{base}/"),
            get(list),
            vec![op(GET, "List agents").returns(200, "Page")],
        )
        .route(
            &format!("{base}/me/"),
            get(me).patch(patch_me),
            vec![
                op(GET, "My agent profile").returns(200, "AgentProfile"),
                op(PATCH, "Choose my counter and the queues I serve")
                    .body("MePatch")
                    .returns(200, "AgentProfile"),
            ],
        )
        .route(
            &format!("{base}/call-next/"),
            post(call_next),
            vec![
                op(
                    POST,
                    "Call the next ticket of my queues (Idempotency-Key accepted)",
                )
                .body("CallNextIn")
                .returns(200, "CallNextOut"),
            ],
        )
        .route(
            &format!("{base}/set-status/"),
            post(set_status),
            vec![
                op(POST, "Set my status: available, break or offline")
                    .body("StatusIn")
                    .returns(200, "AgentProfile"),
            ],
        )
        .route(
            &format!("{base}/{{id}}/"),
            get(retrieve),
            vec![op(GET, "An agent").returns(200, "AgentProfile")],
        )
}

/// Component schemas of this module.
pub fn schemas(c: ComponentsBuilder) -> ComponentsBuilder {
    c.schema_from::<MePatch>()
        .schema_from::<CallNextIn>()
        .schema_from::<CallNextOut>()
        .schema_from::<StatusIn>()
}
