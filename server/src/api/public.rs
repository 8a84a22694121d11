//! Public ticket tracking (no login): what the QR code on a printed ticket opens. The secret
//! tracking token is the only key; an unknown token and an unknown tenant answer the same 404.

use axum::extract::State;
use axum::http::Method;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde_json::{Value, json};
use smartqueue_core::TicketStatus;

use super::doc::{ApiRouter, op};
use super::extract::{ApiJson, ApiPath};
use super::tickets::present;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::Kind;

/// The public view of a ticket: no customer details.
async fn status(state: &AppState, slug: &str, token: &str) -> ApiResult<Value> {
    let not_found = || ApiError::not_found("ticket");
    // Tokens are 48+ hex digits: anything else cannot be one (and costs no lookup).
    if token.len() < 32 || token.len() > 96 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let tenant = state
        .store
        .tenant_by_slug(slug)
        .await?
        .ok_or_else(not_found)?;
    let placed = state
        .store
        .ticket_by_token(tenant.id, token.to_owned())
        .await?
        .ok_or_else(not_found)?;
    let queue = state
        .store
        .get_entity(tenant.id, Kind::Queue, placed.ticket.queue_id)
        .await?;
    let counter = match placed.ticket.counter_id {
        Some(c) => state.store.get_entity(tenant.id, Kind::Counter, c).await?,
        None => None,
    };
    let out = present(state, placed).await?;
    Ok(json!({
        "tenant": tenant.name,
        "number": out.ticket.number,
        "status": out.ticket.status,
        "queue": queue.as_ref().map(|q| q["name"].clone()),
        "position": out.position,
        "eta_seconds": out.eta_seconds,
        "eta_p90_seconds": out.eta_p90_seconds,
        "counter": counter.as_ref().map(|c| c["name"].clone()),
        "arrived_at": out.ticket.arrived_at,
        "called_at": out.ticket.last_called_at,
    }))
}

async fn ticket_json(
    State(state): State<AppState>,
    ApiPath((slug, token)): ApiPath<(String, String)>,
) -> ApiResult<ApiJson<Value>> {
    Ok(ApiJson(status(&state, &slug, &token).await?))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The tracking page's style (its only inline block; the policy allows exactly this).
const PAGE_STYLE: &str =
    "body{font-family:sans-serif;margin:0;background:#0b2538;color:#fff;text-align:center}
main{padding:10vh 5vw}h1{font-size:22vw;margin:0}p{font-size:6vw;margin:2vh 0}small{opacity:.7}";

/// The page the QR code opens: number, state, place in line and wait; refreshes itself.
async fn ticket_page(
    State(state): State<AppState>,
    ApiPath((slug, token)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    static POLICY: std::sync::OnceLock<axum::http::HeaderValue> = std::sync::OnceLock::new();
    let policy = POLICY
        .get_or_init(|| super::headers::policy_for(&format!("<style>{PAGE_STYLE}</style>")))
        .clone();
    let v = status(&state, &slug, &token).await?;
    let text = |k: &str| escape(v[k].as_str().unwrap_or_default());
    let status: Option<TicketStatus> = serde_json::from_value(v["status"].clone()).ok();
    let line = match status {
        Some(TicketStatus::Waiting) => {
            let pos = v["position"].as_u64().unwrap_or(0);
            let wait = v["eta_seconds"]
                .as_u64()
                .map(|s| {
                    format!(
                        " · attente ≈ {} min / wait ≈ {} min",
                        s.div_ceil(60),
                        s.div_ceil(60)
                    )
                })
                .unwrap_or_default();
            format!("Position {pos}{wait}")
        }
        Some(TicketStatus::Called) => format!(
            "C'est votre tour ! / It's your turn! → {}",
            escape(v["counter"].as_str().unwrap_or("—"))
        ),
        Some(TicketStatus::InService) | Some(TicketStatus::Paused) => {
            "En cours de service / Being served".into()
        }
        Some(TicketStatus::Closed) => "Terminé — merci ! / Done — thank you!".into(),
        Some(TicketStatus::NoShow) => "Absent lors de l'appel / Missed your call".into(),
        Some(TicketStatus::Cancelled) | None => "Annulé / Cancelled".into(),
    };
    let page = Html(format!(
        r#"<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="15">
<title>{number} — {tenant}</title>
<style>{PAGE_STYLE}</style></head>
<body><main><small>{tenant} · {queue}</small><h1 id="number">{number}</h1><p id="state">{line}</p>
<small>Cette page se met à jour toute seule. / This page updates by itself.</small></main></body></html>"#,
        number = text("number"),
        tenant = text("tenant"),
        queue = text("queue"),
    ));
    Ok((
        [(axum::http::header::CONTENT_SECURITY_POLICY, policy)],
        page,
    ))
}

/// Public tracking routes.
pub fn routes() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/api/v1/public/tenants/{tenant_slug}/tickets/{token}/",
            get(ticket_json),
            vec![
                op(
                    Method::GET,
                    "A ticket's status by its secret tracking token (no login)",
                )
                .public()
                .returns(200, "PublicTicket"),
            ],
        )
        .route(
            "/t/{tenant_slug}/{token}",
            get(ticket_page),
            vec![
                op(
                    Method::GET,
                    "The ticket's tracking page (HTML; what the printed QR code opens)",
                )
                .public()
                .returns(200, "Html"),
            ],
        )
}
