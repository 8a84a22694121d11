//! The HTTP API: routes, middleware and the handlers' shared helpers.

pub mod agents;
pub mod auth;
pub mod device_use;
pub mod devices;
pub mod doc;
pub mod extract;
pub mod floor;
pub mod headers;
pub mod members;
pub mod misc;
pub mod public;
pub mod resources;
pub mod tickets;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Page;
use extract::Paging;

/// A list answer: `{count, next, previous, results}` with offsets for the neighbouring pages.
pub fn page<T: Serialize>(p: Page<T>, paging: Paging) -> Value {
    let end = u64::from(paging.offset) + p.results.len() as u64;
    let next = (end < p.count).then_some(end);
    let previous = (paging.offset > 0).then(|| paging.offset.saturating_sub(paging.limit));
    json!({ "count": p.count, "next_offset": next, "previous_offset": previous, "results": p.results })
}

/// Rate-limits public and sign-in routes per client address.
async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let limited = path.starts_with("/api/v1/public/")
        || path.starts_with("/api/v1/auth/")
        || path.starts_with("/t/");
    if limited {
        let (parts, body) = req.into_parts();
        if let Some(ip) = crate::caller::client_ip(&parts, &state.config.trusted_proxies)
            && let Err(wait) = state.rate.check(ip)
        {
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from your address; retry in {wait} s"),
            )
            .into_response();
            if let Ok(v) = wait.to_string().parse() {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            return resp;
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Gives every error answer the API's `{code, detail}` JSON shape, including the plain-text
/// rejections produced inside axum and tower-http (405, 413, 415, …).
async fn json_errors(req: Request, next: Next) -> Response {
    let request_id = req.headers().get("x-request-id").cloned();
    let resp = next.run(req).await;
    let status = resp.status();
    if status.is_server_error() {
        return server_error(resp, request_id).await;
    }
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_error",
        StatusCode::BAD_REQUEST => "bad_request",
        _ => "error",
    };
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let mut out = ApiError::new(status, code, detail).into_response();
    if let Some(v) = headers.get(axum::http::header::RETRY_AFTER) {
        out.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v.clone());
    }
    out
}

/// A 5xx answer as `{code, detail, request_id}`: `internal` for a fault of the server (the cause
/// is in the log under that request id, never in the answer), the handler's own code otherwise
/// (e.g. 503 `unavailable`).
async fn server_error(resp: Response, request_id: Option<axum::http::HeaderValue>) -> Response {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .unwrap_or_default();
    let given: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let (code, detail) = match (status, given["code"].as_str(), given["detail"].as_str()) {
        (StatusCode::INTERNAL_SERVER_ERROR, _, _) | (_, None, _) => (
            "internal".to_owned(),
            status.canonical_reason().unwrap_or("error").to_lowercase(),
        ),
        (_, Some(code), detail) => (code.to_owned(), detail.unwrap_or_default().to_owned()),
    };
    let body = serde_json::json!({
        "code": code,
        "detail": detail,
        "request_id": request_id.as_ref().and_then(|v| v.to_str().ok()),
    });
    let mut out = (status, axum::Json(body)).into_response();
    if let Some(v) = headers.get(axum::http::header::RETRY_AFTER) {
        out.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v.clone());
    }
    out
}

/// Everything the API serves, with its documentation.
pub fn api_routes() -> doc::ApiRouter {
    doc::ApiRouter::new()
        .merge(misc::routes())
        .merge(auth::routes())
        .merge(resources::all())
        .merge(members::routes())
        .merge(agents::routes())
        .merge(tickets::routes())
        .merge(public::routes())
        .merge(floor::routes())
}

/// The `{code, detail}` error body (documentation schema of [`ApiError`]).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `not_found`, `agent_busy`, `invalid_transition`.
    pub code: String,
    /// A sentence for people.
    pub detail: String,
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use smartqueue_core as c;
    let (_, docs) = api_routes().into_parts();
    use doc::free;
    let mut comps = utoipa::openapi::ComponentsBuilder::new()
        .schema_from::<ErrorBody>()
        .schema_from::<c::Ticket>()
        .schema_from::<c::TicketStatus>()
        .schema_from::<c::Priority>()
        .schema_from::<c::Channel>()
        .schema_from::<c::Lane>()
        .schema_from::<c::Placement>()
        .schema_from::<c::TransferHop>()
        .schema_from::<c::QueueAlgorithm>()
        .schema_from::<c::AgentProfile>()
        .schema_from::<c::AgentStatus>()
        .schema_from::<c::User>()
        .schema_from::<c::TenantMembership>()
        .schema_from::<c::Role>()
        .schema_from::<c::Scope>()
        .schema_from::<c::OpeningHours>()
        .schema_from::<c::NotificationPreferences>()
        .schema_from::<c::AuditLog>()
        .schema("Page", free("A page of results: {count, next_offset, previous_offset, results: [...]}"))
        .schema("Patch", free("The fields to change (any subset of the resource's fields except id, tenant_id, created_at)"))
        .schema("QueueStats", free("waiting, active, served_today, no_show_today, cancelled_today, longest_wait_seconds, sla_target_seconds, sla_breached, active_agents, average_service_seconds, eta_next_seconds, eta_next_p90_seconds, staffing"))
        .schema("Health", free("{status: \"ok\", version, jobs: \"leader\" | \"standby\"}"))
        .schema("PublicTicket", free("{tenant, number, status, queue, position, eta_seconds, eta_p90_seconds, counter, arrived_at, called_at}"))
        .schema("Html", free("An HTML page"));
    comps = resources::schemas(comps);
    comps = auth::schemas(comps);
    comps = members::schemas(comps);
    comps = agents::schemas(comps);
    comps = tickets::schemas(comps);
    comps = devices::schemas(comps);
    comps = floor::schemas(comps);
    doc::openapi(&docs, comps)
}

/// The OpenAPI document, built once on first request.
async fn schema_json() -> Response {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let json = JSON.get_or_init(|| openapi().to_pretty_json().unwrap_or_default());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json.clone(),
    )
        .into_response()
}

async fn docs_page() -> impl IntoResponse {
    static POLICY: std::sync::OnceLock<axum::http::HeaderValue> = std::sync::OnceLock::new();
    let policy = POLICY
        .get_or_init(|| headers::policy_for(doc::DOCS_HTML))
        .clone();
    (
        [(axum::http::header::CONTENT_SECURITY_POLICY, policy)],
        axum::response::Html(doc::DOCS_HTML),
    )
}

/// The whole router over `state`.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.config.max_body_bytes;
    let (api, _) = api_routes().into_parts();
    api.route("/metrics", axum::routing::get(crate::telemetry::render))
        .route("/api/schema/", axum::routing::get(schema_json))
        .route("/api/docs/", axum::routing::get(docs_page))
        .route("/", axum::routing::get(|| async { axum::response::Redirect::temporary("/api/docs/") }))
        .merge(crate::realtime::routes())
        .fallback(not_found)
        .route_layer(middleware::from_fn(crate::telemetry::track))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        // A panicking handler answers 500 (then `internal`, below) instead of a cut connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(headers::security_headers))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let rid = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %rid)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
