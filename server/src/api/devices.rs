//! Displays and kiosks: their configuration (generic resources), pairing by code, device
//! tokens, revocation, and what a paired device reads — a display's board, a kiosk's menu — and
//! does (a kiosk issues tickets).
//!
//! Pairing: a fresh device calls `POST /api/v1/public/devices/pairings/` with its mode and shows
//! the returned code; an admin enters it at `POST …/displays/{id}/pair/` (or `kiosks/`); the
//! device, polling `POST /api/v1/public/devices/pairings/{id}/claim/` with its secret, then
//! receives a device token (`sqd_…`), once. Revoking (or deleting) the device kills its token,
//! and its open sockets are told (`display.revoked` / `kiosk.revoked`) and closed.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use smartqueue_core::{Display, Id, Kiosk, Scope};
use utoipa::ToSchema;
use uuid::Uuid;

use super::device_use::{
    KioskCancelIn, KioskTicketIn, LeaseIn, board, kiosk_cancel, kiosk_ticket, lease, me, menu,
};
use super::doc::{ApiRouter, op};
use super::extract::{ApiJson, ApiPath, RequestId};
use super::resources::{Resource, field, non_empty};
use crate::auth::{new_device_token, random_token, token_hash};
use crate::caller::TenantCtx;
use crate::error::{ApiError, ApiResult};
use crate::service;
use crate::state::AppState;
use crate::store::{ClaimOutcome, DeviceKind, Kind, NewPairing, NumberLease, OfflineIssue};

/// How long a pairing code stays valid.
const PAIRING_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 6;

fn default_language() -> String {
    "fr".into()
}

fn default_layout() -> String {
    "landscape".into()
}

fn check_common(language: &str, queue_ids: &[Id]) -> ApiResult<()> {
    if !["fr", "en"].contains(&language) {
        return Err(field("language", "fr or en"));
    }
    if queue_ids.is_empty() || queue_ids.len() > 20 {
        return Err(field("queue_ids", "between 1 and 20 queues"));
    }
    Ok(())
}

fn device_refs(site_id: Id, queue_ids: &[Id]) -> Vec<(Kind, Id, &'static str)> {
    std::iter::once((Kind::Site, site_id, "site_id"))
        .chain(queue_ids.iter().map(|q| (Kind::Queue, *q, "queue_ids")))
        .collect()
}

/// Body of `POST displays/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisplayIn {
    site_id: Uuid,
    name: String,
    queue_ids: Vec<Uuid>,
    #[serde(default = "default_language")]
    language: String,
    /// `landscape` (1920×1080) or `portrait`.
    #[serde(default = "default_layout")]
    layout: String,
    #[serde(default)]
    message: String,
}

impl Resource for Display {
    const KIND: Kind = Kind::Display;
    const SCHEMA: &'static str = "Display";
    const INPUT_SCHEMA: &'static str = "DisplayIn";
    const READ: Scope = Scope::ReadQueue;
    const WRITE: Scope = Scope::ManageSettings;
    const READ_ONLY: &'static [&'static str] = &["is_paired", "last_seen_at"];
    type Create = DisplayIn;

    fn build(i: DisplayIn, id: Id, tenant_id: Id, now: DateTime<Utc>) -> Self {
        Display {
            id,
            tenant_id,
            site_id: i.site_id,
            name: i.name,
            queue_ids: i.queue_ids,
            language: i.language,
            layout: i.layout,
            message: i.message,
            is_paired: false,
            last_seen_at: None,
            created_at: now,
        }
    }

    fn validate(&self) -> ApiResult<()> {
        non_empty("name", &self.name, 100)?;
        check_common(&self.language, &self.queue_ids)?;
        if !["landscape", "portrait"].contains(&self.layout.as_str()) {
            return Err(field("layout", "landscape or portrait"));
        }
        if self.message.chars().count() > 500 {
            return Err(field("message", "at most 500 characters"));
        }
        Ok(())
    }

    fn refs(&self) -> Vec<(Kind, Id, &'static str)> {
        device_refs(self.site_id, &self.queue_ids)
    }
}

/// Body of `POST kiosks/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KioskIn {
    site_id: Uuid,
    name: String,
    queue_ids: Vec<Uuid>,
    #[serde(default = "default_language")]
    language: String,
    /// ESC/POS printer: `tcp://host:9100` or a device path such as `/dev/usb/lp0`.
    #[serde(default)]
    printer: Option<String>,
}

impl Resource for Kiosk {
    const KIND: Kind = Kind::Kiosk;
    const SCHEMA: &'static str = "Kiosk";
    const INPUT_SCHEMA: &'static str = "KioskIn";
    const READ: Scope = Scope::ReadQueue;
    const WRITE: Scope = Scope::ManageSettings;
    const READ_ONLY: &'static [&'static str] = &["is_paired", "last_seen_at"];
    type Create = KioskIn;

    fn build(i: KioskIn, id: Id, tenant_id: Id, now: DateTime<Utc>) -> Self {
        Kiosk {
            id,
            tenant_id,
            site_id: i.site_id,
            name: i.name,
            queue_ids: i.queue_ids,
            language: i.language,
            printer: i.printer,
            is_paired: false,
            last_seen_at: None,
            created_at: now,
        }
    }

    fn validate(&self) -> ApiResult<()> {
        non_empty("name", &self.name, 100)?;
        check_common(&self.language, &self.queue_ids)?;
        if let Some(p) = &self.printer {
            super::resources::at_most("printer", p, 200)?;
            let tcp = p.strip_prefix("tcp://").is_some_and(|a| {
                a.rsplit_once(':')
                    .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok())
            });
            if !tcp && !p.starts_with('/') {
                return Err(field(
                    "printer",
                    "tcp://host:port (e.g. tcp://192.168.1.50:9100) or a device path such as /dev/usb/lp0",
                ));
            }
        }
        Ok(())
    }

    fn refs(&self) -> Vec<(Kind, Id, &'static str)> {
        device_refs(self.site_id, &self.queue_ids)
    }
}

/// A display or a kiosk.
pub trait DeviceResource: Resource {
    const DEVICE: DeviceKind;
}

impl DeviceResource for Display {
    const DEVICE: DeviceKind = DeviceKind::Display;
}

impl DeviceResource for Kiosk {
    const DEVICE: DeviceKind = DeviceKind::Kiosk;
}

// --- pairing --------------------------------------------------------------------------------

/// Body of `POST public/devices/pairings/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairingIn {
    /// What the device will be: `display` or `kiosk`.
    mode: DeviceKind,
}

/// A pairing code for a device to show.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PairingOut {
    /// Poll `pairings/{id}/claim/` with it.
    pub id: Uuid,
    /// What the device shows, e.g. `K7Q-4MZ` (case and dash do not matter when entered).
    pub code: String,
    /// Proves the poller is the device that asked; keep it on the device.
    pub secret: String,
    pub mode: DeviceKind,
    pub expires_at: DateTime<Utc>,
    /// How often to poll.
    pub poll_seconds: u32,
}

fn new_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// `K7Q4MZ` → `K7Q-4MZ`.
fn show_code(code: &str) -> String {
    let (a, b) = code.split_at(CODE_LEN / 2);
    format!("{a}-{b}")
}

/// What a person typed → the stored form (upper case, letters and digits only).
fn normalize_code(typed: &str) -> String {
    typed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

async fn start_pairing(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<PairingIn>,
) -> ApiResult<(StatusCode, ApiJson<PairingOut>)> {
    let now = Utc::now();
    let secret = random_token();
    for _ in 0..8 {
        let p = NewPairing {
            id: Uuid::now_v7(),
            code: new_code(),
            secret_hash: token_hash(&secret),
            mode: input.mode,
            expires_at: now + PAIRING_TTL,
        };
        let out = PairingOut {
            id: p.id,
            code: show_code(&p.code),
            secret: secret.clone(),
            mode: p.mode,
            expires_at: p.expires_at,
            poll_seconds: 2,
        };
        if service::devices::start_pairing(&*state.store, p, now).await? {
            return Ok((StatusCode::CREATED, ApiJson(out)));
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "try_again",
        "no free pairing code right now; try again",
    ))
}

/// Body of `pairings/{id}/claim/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimIn {
    secret: String,
}

async fn claim_pairing(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Id>,
    ApiJson(input): ApiJson<ClaimIn>,
) -> ApiResult<ApiJson<Value>> {
    let token = new_device_token();
    let outcome = service::devices::claim(
        &*state.store,
        id,
        token_hash(&input.secret),
        token_hash(&token),
        Utc::now(),
    )
    .await
    .map_err(|e| match e {
        crate::store::StoreError::NotFound(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            "pairing_expired",
            "this pairing code is unknown or has expired: ask for a new one",
        ),
        other => other.into(),
    })?;
    Ok(ApiJson(match outcome {
        ClaimOutcome::Pending => json!({ "status": "pending" }),
        ClaimOutcome::Paired(d) => {
            let device = state
                .store
                .get_entity(d.tenant_id, d.kind.kind(), d.device_id)
                .await?;
            json!({
                "status": "paired",
                "token": token,
                "tenant_slug": d.tenant_slug,
                "kind": d.kind,
                "device_id": d.device_id,
                "device": device,
            })
        }
    }))
}

/// Body of `displays/{id}/pair/` and `kiosks/{id}/pair/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairIn {
    /// The code the device shows.
    code: String,
}

async fn pair<R: DeviceResource>(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiPath((_, id)): ApiPath<(String, Id)>,
    ApiJson(input): ApiJson<PairIn>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(Scope::ManageSettings)?;
    let code = normalize_code(&input.code);
    if code.len() != CODE_LEN {
        return Err(field(
            "code",
            "the code the device shows has 6 letters and digits, e.g. K7Q-4MZ",
        ));
    }
    let doc = service::devices::pair(
        &*state.store,
        ctx.tenant_id,
        R::DEVICE,
        id,
        code,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await
    .map_err(|e| match e {
        crate::store::StoreError::NotFound("pairing code") => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_pairing_code",
            "code: no device is showing this code (it may have expired): check it on the screen",
        ),
        other => other.into(),
    })?;
    Ok(ApiJson(doc))
}

async fn revoke<R: DeviceResource>(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiPath((_, id)): ApiPath<(String, Id)>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(Scope::ManageSettings)?;
    let doc = service::devices::revoke(
        &*state.store,
        ctx.tenant_id,
        R::DEVICE,
        id,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    Ok(ApiJson(doc))
}

fn device_routes<R: DeviceResource>(plural: &str) -> ApiRouter {
    let one = R::KIND.as_str();
    ApiRouter::new()
        .merge(super::resources::routes::<R>(plural))
        .route(
            &format!("/api/v1/tenants/{{tenant_slug}}/{plural}/{{id}}/pair/"),
            post(pair::<R>),
            vec![
                op(
                    Method::POST,
                    format!("Pair a {one} with the code it shows; the device then gets its token"),
                )
                .body("PairIn")
                .returns(200, R::SCHEMA),
            ],
        )
        .route(
            &format!("/api/v1/tenants/{{tenant_slug}}/{plural}/{{id}}/revoke/"),
            post(revoke::<R>),
            vec![
                op(
                    Method::POST,
                    format!("Revoke a {one}'s token: it returns to its pairing screen"),
                )
                .returns(200, R::SCHEMA),
            ],
        )
}

/// Device routes.
pub fn routes() -> ApiRouter {
    ApiRouter::new()
        .merge(device_routes::<Display>("displays"))
        .merge(device_routes::<Kiosk>("kiosks"))
        .route(
            "/api/v1/public/devices/pairings/",
            post(start_pairing),
            vec![
                op(Method::POST, "A fresh device asks for a pairing code to show")
                    .public()
                    .body("PairingIn")
                    .returns(201, "PairingOut"),
            ],
        )
        .route(
            "/api/v1/public/devices/pairings/{id}/claim/",
            post(claim_pairing),
            vec![
                op(
                    Method::POST,
                    "The device polls: pending, or paired with its device token (given once)",
                )
                .public()
                .body("ClaimIn")
                .returns(200, "PairingClaim"),
            ],
        )
        .route(
            "/api/v1/devices/me/",
            get(me),
            vec![
                op(
                    Method::GET,
                    "The calling device (device token): its kind, tenant and configuration",
                )
                .returns(200, "DeviceMe"),
            ],
        )
        .route(
            "/api/v1/tenants/{tenant_slug}/displays/{id}/board/",
            get(board),
            vec![
                op(
                    Method::GET,
                    "What a display shows: recent calls (results), its queues with waiting count and typical wait, its configuration",
                )
                .returns(200, "DisplayBoard"),
            ],
        )
        .route(
            "/api/v1/tenants/{tenant_slug}/kiosks/{id}/menu/",
            get(menu),
            vec![
                op(
                    Method::GET,
                    "What a kiosk offers: its queues with service, waiting count and typical wait",
                )
                .returns(200, "KioskMenu"),
            ],
        )
        .route(
            "/api/v1/tenants/{tenant_slug}/kiosks/{id}/leases/",
            post(lease),
            vec![
                op(
                    Method::POST,
                    "Lease a block of offline numbers (from 5001 up) of a queue and day to a kiosk",
                )
                .body("LeaseIn")
                .returns(201, "NumberLease"),
            ],
        )
        .route(
            "/api/v1/tenants/{tenant_slug}/kiosks/{id}/tickets/cancel/",
            post(kiosk_cancel),
            vec![
                op(
                    Method::POST,
                    "A kiosk cancels a ticket it issued but could not print (by its tracking token)",
                )
                .body("KioskCancelIn")
                .returns(200, "TicketOut"),
            ],
        )
        .route(
            "/api/v1/tenants/{tenant_slug}/kiosks/{id}/tickets/",
            post(kiosk_ticket),
            vec![
                op(
                    Method::POST,
                    "A kiosk issues a ticket (Idempotency-Key makes a retry safe)",
                )
                .body("KioskTicketIn")
                .returns(201, "TicketOut"),
            ],
        )
}

/// Component schemas of this module.
pub fn schemas(c: utoipa::openapi::ComponentsBuilder) -> utoipa::openapi::ComponentsBuilder {
    use super::doc::free;
    c.schema_from::<PairingIn>()
        .schema_from::<PairingOut>()
        .schema_from::<DeviceKind>()
        .schema_from::<ClaimIn>()
        .schema_from::<PairIn>()
        .schema_from::<KioskTicketIn>()
        .schema_from::<OfflineIssue>()
        .schema_from::<LeaseIn>()
        .schema_from::<NumberLease>()
        .schema_from::<KioskCancelIn>()
        .schema("PairingClaim", free("{status: \"pending\"} or {status: \"paired\", token, tenant_slug, kind, device_id, device}"))
        .schema("DeviceMe", free("{kind, tenant_slug, device_id, device}"))
        .schema("DisplayBoard", free("{count, results: [recent call events' ticket data with its display block], display, queues: [{id, name, prefix, waiting, eta_next_seconds}], timezone (of the display's site)}"))
        .schema("KioskMenu", free("{kiosk, queues: [{id, name, prefix, service_name, service_description, waiting, eta_next_seconds}], timezone (of the kiosk's site)}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_typed_loosely() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)));
            let shown = show_code(&c);
            assert_eq!(shown.len(), CODE_LEN + 1);
            assert_eq!(normalize_code(&shown.to_lowercase()), c);
            assert_eq!(normalize_code(&format!(" {} ", shown.replace('-', " "))), c);
        }
    }
}
