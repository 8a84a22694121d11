//! Authentication: argon2id password hashes, short-lived HS256 access tokens carrying the user's
//! memberships, rotating opaque refresh tokens, device tokens and sign-in throttling. The
//! extractors that turn a request into a caller are in [`crate::caller`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use smartqueue_core::{Id, Role, Scope};
use uuid::Uuid;

use crate::error::ApiError;
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
