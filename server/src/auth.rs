//! Authentication: argon2id password hashes, short-lived HS256 access tokens carrying the user's
//! memberships, rotating opaque refresh tokens, sign-in throttling, and the extractors that turn
//! a request into an authenticated, tenant-scoped caller.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Path};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use smartqueue_core::{Id, Role, Scope};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::MembershipInfo;

/// Lifetime of an access token.
pub const ACCESS_TTL: chrono::Duration = chrono::Duration::minutes(15);
/// Lifetime of a refresh token.
pub const REFRESH_TTL: chrono::Duration = chrono::Duration::days(14);

/// Hashes a password with argon2id (random salt, PHC string). CPU-heavy: call off the runtime.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Checks a password against a PHC hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Password work (argon2id: ~19 MiB and tens of milliseconds each) runs on two dedicated
/// threads. This bounds both the CPU a sign-in flood can take from request handling and the
/// memory held at once (two hashes, ~40 MiB; the allocator returns it when they finish, see
/// `crate::alloc`).
struct PasswordWorkers {
    tx: Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

fn password_workers() -> &'static PasswordWorkers {
    static POOL: std::sync::OnceLock<PasswordWorkers> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..2 {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
        }
        PasswordWorkers { tx: Mutex::new(tx) }
    })
}

async fn on_password_worker<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    password_workers()
        .tx
        .lock()
        .map_err(|_| ApiError::internal("password workers unavailable"))?
        .send(Box::new(move || {
            let _ = tx.send(f());
        }))
        .map_err(|_| ApiError::internal("password workers stopped"))?;
    rx.await
        .map_err(|_| ApiError::internal("password worker failed"))
}

/// [`hash_password`] on the password workers.
pub async fn hash_password_async(password: String) -> Result<String, ApiError> {
    on_password_worker(move || hash_password(&password)).await?
}

/// Verifies `password` against `hash` (or against a dummy hash when the account is unknown, so
/// timing reveals nothing) on the password workers.
pub async fn verify_password_async(
    password: String,
    hash: Option<String>,
) -> Result<bool, ApiError> {
    on_password_worker(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            let _ = verify_password(&password, dummy_hash());
            false
        }
    })
    .await
}

/// A hash to verify against when the e-mail is unknown, so timing does not reveal which
/// e-mails have accounts.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

/// SHA-256 of a refresh token (only the hash is stored).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random opaque token.
pub fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: Id,
    pub email: String,
    /// Platform super-admin.
    pub su: bool,
    /// Slug of the current tenant.
    pub tenant: Option<String>,
    pub tenant_id: Option<Id>,
    /// Role in the current tenant.
    pub role: Option<Role>,
    /// Scopes in the current tenant.
    pub scopes: Vec<Scope>,
    /// Every tenant the user belongs to.
    pub memberships: Vec<MembershipInfo>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// Always `access`.
    pub typ: String,
}

/// Signing keys (HS256).
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Tokens already verified, with their claims. Every request presents its token, and
    /// decoding it (base64, HMAC, JSON) was a sixth of request handling under load; a token's
    /// claims never change, so a hit only re-checks the expiry.
    verified: Mutex<HashMap<String, Claims>>,
}

/// Verified tokens remembered at most (the map is emptied when full; a miss just verifies).
const VERIFIED_CACHE: usize = 4096;
/// Seconds of clock skew allowed on `exp`.
const LEEWAY: i64 = 5;

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    /// Keys from a shared secret.
    pub fn new(secret: &[u8]) -> Self {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Issues an access token for `user` with `memberships`, current tenant `current`.
    pub fn issue(
        &self,
        user: &smartqueue_core::User,
        memberships: Vec<MembershipInfo>,
        current: Option<&MembershipInfo>,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user.id,
            email: user.email.clone(),
            su: user.is_superuser,
            tenant: current.map(|m| m.tenant_slug.clone()),
            tenant_id: current.map(|m| m.tenant_id),
            role: current.map(|m| m.role),
            scopes: current
                .map(|m| m.role.scopes().to_vec())
                .unwrap_or_default(),
            memberships,
            iat: now.timestamp(),
            exp: (now + ACCESS_TTL).timestamp(),
            jti: Uuid::new_v4().to_string(),
            typ: "access".into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// Verifies signature, expiry and type.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let now = Utc::now().timestamp();
        if let Ok(cache) = self.verified.lock()
            && let Some(claims) = cache.get(token)
            && now <= claims.exp + LEEWAY
        {
            return Ok(claims.clone());
        }
        let claims = self.decode(token)?;
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_CACHE {
                cache.clear();
            }
            cache.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }

    fn decode(&self, token: &str) -> Result<Claims, ApiError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = LEEWAY as u64;
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => ApiError::new(
                        axum::http::StatusCode::UNAUTHORIZED,
                        "token_expired",
                        "the access token has expired; refresh it",
                    ),
                    _ => ApiError::new(
                        axum::http::StatusCode::UNAUTHORIZED,
                        "token_invalid",
                        "the access token is not valid",
                    ),
                }
            })?;
        if data.claims.typ != "access" {
            return Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "token_invalid",
                "not an access token",
            ));
        }
        Ok(data.claims)
    }
}

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

/// Counts failed sign-ins per account and per client address in a sliding window.
///
/// Only failures count, so a branch's staff signing in together from one address are never
/// blocked; an address is blocked after many failures across accounts (spraying), an account
/// after a few (guessing).
#[derive(Debug)]
pub struct LoginThrottle {
    window: Duration,
    max_per_account: usize,
    max_per_ip: usize,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginThrottle {
    /// A throttle allowing `max_per_account` / `max_per_ip` failures per `window`.
    pub fn new(window: Duration, max_per_account: usize, max_per_ip: usize) -> Self {
        LoginThrottle {
            window,
            max_per_account,
            max_per_ip,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(email: &str, ip: Option<IpAddr>) -> (String, Option<String>) {
        (
            format!("acct:{}", email.trim().to_lowercase()),
            ip.map(|i| format!("ip:{i}")),
        )
    }

    /// Seconds to wait if this account or address is currently blocked.
    pub fn blocked(&self, email: &str, ip: Option<IpAddr>) -> Option<u64> {
        let (acct, ip) = Self::keys(email, ip);
        let now = Instant::now();
        let mut map = self.failures.lock().ok()?;
        let mut wait = None;
        for (key, max) in [(Some(acct), self.max_per_account), (ip, self.max_per_ip)] {
            let Some(key) = key else { continue };
            if let Some(v) = map.get_mut(&key) {
                v.retain(|t| now.duration_since(*t) < self.window);
                if v.len() >= max {
                    let oldest = v[v.len() - max];
                    let secs = self
                        .window
                        .saturating_sub(now.duration_since(oldest))
                        .as_secs()
                        .max(1);
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait
    }

    /// Records a failed attempt.
    pub fn failed(&self, email: &str, ip: Option<IpAddr>) {
        let (acct, ip) = Self::keys(email, ip);
        if let Ok(mut map) = self.failures.lock() {
            let now = Instant::now();
            if map.len() > 100_000 {
                // Bound memory under a spraying attack: forget windows that have passed.
                map.retain(|_, v| {
                    v.last()
                        .is_some_and(|t| now.duration_since(*t) < self.window)
                });
            }
            map.entry(acct).or_default().push(now);
            if let Some(ip) = ip {
                map.entry(ip).or_default().push(now);
            }
        }
    }

    /// Clears the account's failures after a successful sign-in.
    pub fn succeeded(&self, email: &str) {
        let (acct, _) = Self::keys(email, None);
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&acct);
        }
    }
}

/// Device tokens start with this, so they are told apart from JWTs without a lookup.
pub const DEVICE_TOKEN_PREFIX: &str = "sqd_";

/// A fresh device token.
pub fn new_device_token() -> String {
    format!("{DEVICE_TOKEN_PREFIX}{}", random_token())
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
