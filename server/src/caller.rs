//! Who is calling: the extractors that turn a request into an authenticated caller — a user
//! (any valid access token), a member acting inside a tenant, a paired device — and the
//! client's address behind trusted proxies.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Path};
use axum::http::request::Parts;
use smartqueue_core::{Id, Role, Scope};

use crate::auth::{Claims, DEVICE_TOKEN_PREFIX, token_hash};
use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller (any valid access token).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Claims);

impl<S> FromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "sign in first: send Authorization: Bearer <access token>",
                )
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "the Authorization header must be 'Bearer <access token>'",
                )
            })?;
        Ok(AuthUser(state.keys.verify(token.trim())?))
    }
}

/// A caller acting inside the tenant named by the path's `tenant_slug`.
#[derive(Debug, Clone)]
pub struct TenantCtx {
    pub user_id: Id,
    pub tenant_id: Id,
    pub tenant_slug: String,
    pub role: Role,
    /// The caller's agent profile in this tenant, if any.
    pub agent_id: Option<Id>,
}

impl TenantCtx {
    /// Refuses with 403 unless the caller's role grants `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.role.has(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "your role ({}) does not allow {scope}",
                self.role
            )))
        }
    }

    /// The audit actor of this caller.
    pub fn actor(&self, request_id: Option<String>) -> crate::store::Actor {
        crate::store::Actor {
            user_id: Some(self.user_id),
            kind: "user",
            request_id,
            // An agent acts only on the ticket they hold; managers and admins on any.
            agent_scope: if self.role == Role::Agent {
                Some(self.agent_id.unwrap_or_default())
            } else {
                None
            },
        }
    }
}

impl<S> FromRequestParts<S> for TenantCtx
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthUser(claims) = AuthUser::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("tenant"))?;
        let slug = params
            .get("tenant_slug")
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        if let Some(m) = claims.memberships.iter().find(|m| &m.tenant_slug == slug) {
            return Ok(TenantCtx {
                user_id: claims.sub,
                tenant_id: m.tenant_id,
                tenant_slug: m.tenant_slug.clone(),
                role: m.role,
                agent_id: m.agent_id,
            });
        }
        if claims.su {
            // The platform super-admin administers any tenant.
            let state = AppState::from_ref(state);
            if let Some(t) = state.store.tenant_by_slug(slug).await? {
                return Ok(TenantCtx {
                    user_id: claims.sub,
                    tenant_id: t.id,
                    tenant_slug: t.slug,
                    role: Role::Admin,
                    agent_id: None,
                });
            }
        }
        // Same answer whether the tenant exists or not: its existence is not the caller's business.
        Err(ApiError::not_found("tenant"))
    }
}

/// The client's address: the TCP peer, or — only when the peer is a configured trusted proxy —
/// the last address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(parts: &Parts, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|h| h.to_str().ok());
    let chain: Vec<IpAddr> = forwarded
        .map(|f| f.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_default();
    chain
        .into_iter()
        .rev()
        .find(|ip| !trusted_proxies.contains(ip))
        .or(Some(peer))
}

/// The client's address (see [`client_ip`]); `None` when the connection info is unavailable.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        Ok(ClientIp(client_ip(parts, &state.config.trusted_proxies)))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
}

/// Resolves a device token (revoked or unknown → `None`).
pub async fn device_of(
    state: &AppState,
    token: &str,
) -> Result<Option<crate::store::DeviceAuth>, ApiError> {
    if !token.starts_with(DEVICE_TOKEN_PREFIX) {
        return Ok(None);
    }
    Ok(state.store.device_by_token(token_hash(token)).await?)
}

/// A paired display or kiosk, authenticated by its device token (`Authorization: Bearer sqd_…`).
#[derive(Debug, Clone)]
pub struct DeviceCtx(pub crate::store::DeviceAuth);

impl<S> FromRequestParts<S> for DeviceCtx
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer(parts).unwrap_or_default();
        match device_of(&state, token).await? {
            Some(d) => Ok(DeviceCtx(d)),
            None => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "device_not_paired",
                "this device is not paired (or was revoked): show a pairing code again",
            )),
        }
    }
}

/// The caller of a device's own routes: the paired device itself, or staff of its tenant.
#[derive(Debug, Clone)]
pub enum DeviceOrStaff {
    Device(crate::store::DeviceAuth),
    Staff(TenantCtx),
}

impl DeviceOrStaff {
    /// The tenant acted in.
    pub fn tenant_id(&self) -> Id {
        match self {
            DeviceOrStaff::Device(d) => d.tenant_id,
            DeviceOrStaff::Staff(c) => c.tenant_id,
        }
    }

    /// Lets the device itself, or staff allowed `scope`, at device `id` of `kind`. Another
    /// device (even of the same tenant) gets the same 404 as a missing one.
    pub fn require_device(
        &self,
        kind: crate::store::DeviceKind,
        id: Id,
        scope: Scope,
    ) -> Result<(), ApiError> {
        match self {
            DeviceOrStaff::Device(d) if d.kind == kind && d.device_id == id => Ok(()),
            DeviceOrStaff::Device(_) => Err(ApiError::not_found(kind.as_str())),
            DeviceOrStaff::Staff(c) => c.require(scope),
        }
    }

    /// The audit actor.
    pub fn actor(&self, request_id: Option<String>) -> crate::store::Actor {
        match self {
            DeviceOrStaff::Device(_) => crate::store::Actor {
                user_id: None,
                kind: "device",
                request_id,
                agent_scope: None,
            },
            DeviceOrStaff::Staff(c) => c.actor(request_id),
        }
    }
}

impl<S> FromRequestParts<S> for DeviceOrStaff
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if !bearer(parts).is_some_and(|t| t.starts_with(DEVICE_TOKEN_PREFIX)) {
            return Ok(DeviceOrStaff::Staff(
                TenantCtx::from_request_parts(parts, state).await?,
            ));
        }
        let DeviceCtx(device) = DeviceCtx::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("tenant"))?;
        if params.get("tenant_slug") != Some(&device.tenant_slug) {
            return Err(ApiError::not_found("tenant"));
        }
        Ok(DeviceOrStaff::Device(device))
    }
}
