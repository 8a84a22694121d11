//! `tickets/`: issue, list, retrieve, and the lifecycle actions.

use axum::extract::State;
use axum::http::Method;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use smartqueue_core::lifecycle::{Action, ActionKind, Transfer};
use smartqueue_core::{Channel, Id, Placement, Priority, Scope, Ticket, TicketStatus};
use utoipa::ToSchema;
use utoipa::openapi::ComponentsBuilder;

use super::doc::{ApiRouter, op};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, RequestId, idempotency_key};
use super::page;
use super::resources::check_phone;
use crate::caller::TenantCtx;
use crate::error::{ApiError, ApiResult};
use crate::service::eta;
use crate::state::AppState;
use crate::store::{NewTicket, PlacedTicket, TicketFilter};

/// A ticket as the API shows it: the ticket, its place in line and its estimated wait.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketOut {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub position: Option<u32>,
    /// Seconds from arrival to the first call (null until called).
    pub wait_time_seconds: Option<u32>,
    /// Median estimated wait (seconds) while waiting.
    pub eta_seconds: Option<u32>,
    /// 90th-percentile estimated wait (seconds) while waiting.
    pub eta_p90_seconds: Option<u32>,
}

/// Adds the ETA to a placed ticket (the one estimate, inputs cached per queue).
pub async fn present(state: &AppState, p: PlacedTicket) -> ApiResult<TicketOut> {
    let (mut eta_seconds, mut eta_p90_seconds) = (None, None);
    if let (TicketStatus::Waiting, Some(pos)) = (p.ticket.status, p.position) {
        let inputs = eta::queue_inputs(state, p.ticket.tenant_id, p.ticket.queue_id).await?;
        let e = inputs.wait_at(pos);
        eta_seconds = Some(e.p50_seconds);
        eta_p90_seconds = Some(e.p90_seconds);
    }
    Ok(TicketOut {
        wait_time_seconds: p.ticket.wait_time_seconds(),
        ticket: p.ticket,
        position: p.position,
        eta_seconds,
        eta_p90_seconds,
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TicketIn {
    queue_id: uuid::Uuid,
    #[serde(default)]
    customer_id: Option<uuid::Uuid>,
    #[serde(default)]
    customer_name: Option<String>,
    #[serde(default)]
    customer_phone: Option<String>,
    #[serde(default)]
    priority: Priority,
    #[serde(default = "default_channel")]
    channel: Channel,
}

fn default_channel() -> Channel {
    Channel::Staff
}

fn actor_key(ctx: &TenantCtx) -> String {
    format!("user:{}", ctx.user_id)
}

async fn create(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiJson(input): ApiJson<TicketIn>,
) -> ApiResult<(StatusCode, ApiJson<TicketOut>)> {
    ctx.require(Scope::WriteTicket)?;
    if let Some(name) = &input.customer_name
        && name.chars().count() > 200
    {
        return Err(ApiError::validation(
            "customer_name: at most 200 characters",
        ));
    }
    if let Some(phone) = &input.customer_phone {
        check_phone("customer_phone", phone)?;
    }
    let path = format!("/tenants/{}/tickets/", ctx.tenant_slug);
    let idem = idempotency_key(&headers, &actor_key(&ctx), "POST", &path, &input)?;
    let new = NewTicket {
        queue_id: input.queue_id,
        priority: input.priority,
        channel: input.channel,
        customer_id: input.customer_id,
        customer_name: input.customer_name,
        customer_phone: input.customer_phone,
        offline: None,
        issued_by: None,
    };
    let placed = crate::service::tickets::create(
        &*state.store,
        ctx.tenant_id,
        new,
        idem,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(present(&state, placed).await?)))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    queue_id: Option<uuid::Uuid>,
    status: Option<TicketStatus>,
    /// Business day, `YYYY-MM-DD`.
    date: Option<NaiveDate>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(Scope::ReadTicket)?;
    let paging = Paging {
        limit: q.limit.unwrap_or(50),
        offset: q.offset.unwrap_or(0),
    }
    .checked()?;
    let filter = TicketFilter {
        queue_id: q.queue_id,
        status: q.status,
        business_day: q.date,
        limit: paging.limit,
        offset: paging.offset,
    };
    let got = state.store.list_tickets(ctx.tenant_id, filter).await?;
    let results = got
        .results
        .into_iter()
        .map(|ticket| ListedTicket {
            wait_time_seconds: ticket.wait_time_seconds(),
            ticket,
        })
        .collect();
    Ok(ApiJson(page(
        crate::store::Page {
            count: got.count,
            results,
        },
        paging,
    )))
}

/// A ticket of a list: the ticket and its wait so far (no per-ticket place or estimate, which
/// would cost a read each).
#[derive(Serialize)]
struct ListedTicket {
    #[serde(flatten)]
    ticket: Ticket,
    wait_time_seconds: Option<u32>,
}

async fn retrieve(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath((_, id)): ApiPath<(String, Id)>,
) -> ApiResult<ApiJson<TicketOut>> {
    ctx.require(Scope::ReadTicket)?;
    let placed = state
        .store
        .ticket(ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("ticket"))?;
    Ok(ApiJson(present(&state, placed).await?))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TransferIn {
    #[serde(alias = "queue_id")]
    to_queue_id: uuid::Uuid,
    #[serde(default)]
    placement: Placement,
    #[serde(default)]
    reason: Option<String>,
}

async fn act(
    state: AppState,
    ctx: TenantCtx,
    rid: Option<String>,
    headers: HeaderMap,
    id: uuid::Uuid,
    kind: ActionKind,
    body: Option<Value>,
) -> ApiResult<ApiJson<TicketOut>> {
    ctx.require(Scope::WriteTicket)?;
    let action = match kind {
        ActionKind::Recall => Action::Recall,
        ActionKind::StartService => Action::StartService,
        ActionKind::Close => Action::Close,
        ActionKind::Pause => Action::Pause,
        ActionKind::Resume => Action::Resume,
        ActionKind::MarkNoShow => Action::MarkNoShow,
        ActionKind::Cancel => Action::Cancel,
        ActionKind::Transfer => {
            let input: TransferIn = serde_json::from_value(body.clone().unwrap_or(Value::Null))
                .map_err(|e| ApiError::validation(format!("transfer: {e}")))?;
            if input
                .reason
                .as_ref()
                .is_some_and(|r| r.chars().count() > 500)
            {
                return Err(ApiError::validation("reason: at most 500 characters"));
            }
            Action::Transfer(Transfer {
                to_queue_id: input.to_queue_id,
                limit: state.config.max_transfers_per_ticket,
                placement: input.placement,
                reason: input.reason,
                by_agent_id: ctx.agent_id,
            })
        }
        ActionKind::Call => {
            return Err(ApiError::validation(
                "use agents/call-next/ to call a ticket",
            ));
        }
    };
    let path = format!(
        "/tenants/{}/tickets/{id}/{}/",
        ctx.tenant_slug,
        kind.as_str()
    );
    let idem = idempotency_key(&headers, &actor_key(&ctx), "POST", &path, &body)?;
    let placed = crate::service::tickets::act(
        &*state.store,
        ctx.tenant_id,
        id,
        action,
        idem,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    if placed.ticket.status == TicketStatus::Closed {
        state.eta.invalidate(ctx.tenant_id, placed.ticket.queue_id);
    }
    Ok(ApiJson(present(&state, placed).await?))
}

/// An optional JSON body: empty means none; anything else must be valid JSON.
fn optional_json(body: &[u8]) -> ApiResult<Option<Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "parse_error",
            format!("the body is not valid JSON: {e}"),
        )
    })
}

macro_rules! action_handler {
    ($name:ident, $kind:expr) => {
        async fn $name(
            State(state): State<AppState>,
            ctx: TenantCtx,
            RequestId(rid): RequestId,
            headers: HeaderMap,
            ApiPath((_, id)): ApiPath<(String, Id)>,
            body: axum::body::Bytes,
        ) -> ApiResult<ApiJson<TicketOut>> {
            act(state, ctx, rid, headers, id, $kind, optional_json(&body)?).await
        }
    };
}

action_handler!(recall, ActionKind::Recall);
action_handler!(start_service, ActionKind::StartService);
action_handler!(close, ActionKind::Close);
action_handler!(pause, ActionKind::Pause);
action_handler!(resume, ActionKind::Resume);
action_handler!(transfer, ActionKind::Transfer);
action_handler!(mark_no_show, ActionKind::MarkNoShow);
action_handler!(cancel, ActionKind::Cancel);

/// Ticket routes.
pub fn routes() -> ApiRouter {
    let base = "/api/v1/tenants/{tenant_slug}/tickets";
    let action = |name: &str, summary: &str, body: Option<&'static str>| {
        let mut o = op(Method::POST, summary.to_owned()).returns(200, "TicketOut");
        if let Some(b) = body {
            o = o.body(b);
        }
        (format!("{base}/{{id}}/{name}/"), vec![o])
    };
    let mut r = ApiRouter::new()
        .route(
            &format!("{base}/"),
            get(list).post(create),
            vec![
                op(
                    Method::GET,
                    "List tickets (filters: queue_id, status, date; limit/offset)",
                )
                .returns(200, "Page"),
                op(Method::POST, "Issue a ticket (Idempotency-Key accepted)")
                    .body("TicketIn")
                    .returns(201, "TicketOut"),
            ],
        )
        .route(
            &format!("{base}/{{id}}/"),
            get(retrieve),
            vec![op(Method::GET, "A ticket with its position and ETA").returns(200, "TicketOut")],
        );
    let actions: [(
        &str,
        axum::routing::MethodRouter<AppState>,
        &str,
        Option<&'static str>,
    ); 8] = [
        ("recall", post(recall), "Call the ticket again", None),
        (
            "start_service",
            post(start_service),
            "Start serving the called customer",
            None,
        ),
        ("close", post(close), "Close the ticket after service", None),
        ("pause", post(pause), "Pause the service", None),
        ("resume", post(resume), "Resume a paused service", None),
        (
            "transfer",
            post(transfer),
            "Move the same ticket to another queue (front, end or by arrival)",
            Some("TransferIn"),
        ),
        (
            "mark_no_show",
            post(mark_no_show),
            "The called customer did not come",
            None,
        ),
        ("cancel", post(cancel), "Cancel a waiting ticket", None),
    ];
    for (name, handler, summary, body) in actions {
        let (path, ops) = action(name, summary, body);
        r = r.route(&path, handler, ops);
    }
    r
}

/// Component schemas of this module.
pub fn schemas(c: ComponentsBuilder) -> ComponentsBuilder {
    c.schema_from::<TicketIn>()
        .schema_from::<TicketOut>()
        .schema_from::<TransferIn>()
}
