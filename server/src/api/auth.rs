//! `/api/v1/auth/jwt/{token,refresh,me}/`.

use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::ComponentsBuilder;
use uuid::Uuid;

use super::doc::{ApiRouter, op};
use super::extract::ApiJson;
use crate::auth::{self, REFRESH_TTL};
use crate::caller::{AuthUser, ClientIp};
use crate::error::{ApiError, ApiResult};
use crate::service;
use crate::state::AppState;
use crate::store::{MembershipInfo, RefreshOutcome, RefreshRecord};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenIn {
    email: String,
    password: String,
    /// Slug of the tenant to work in (default: the first membership).
    #[serde(default)]
    tenant: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshIn {
    refresh: String,
    /// Switch the current tenant while refreshing.
    #[serde(default)]
    tenant: Option<String>,
}

fn pick_tenant<'a>(
    memberships: &'a [MembershipInfo],
    wanted: Option<&str>,
) -> ApiResult<Option<&'a MembershipInfo>> {
    match wanted {
        None => Ok(memberships.first()),
        Some(slug) => memberships
            .iter()
            .find(|m| m.tenant_slug == slug)
            .map(Some)
            .ok_or_else(|| ApiError::not_found("tenant")),
    }
}

/// An access token for `user` working in `tenant` (default: first membership), as the answer body
/// together with `refresh`.
async fn answer(
    state: &AppState,
    user: &smartqueue_core::User,
    tenant: Option<&str>,
    tenant_id: Option<Uuid>,
    refresh: &str,
) -> ApiResult<Value> {
    let memberships = state.store.memberships(user.id).await?;
    let current = match (tenant, tenant_id) {
        (Some(_), _) | (None, None) => pick_tenant(&memberships, tenant)?,
        (None, Some(id)) => memberships
            .iter()
            .find(|m| m.tenant_id == id)
            .or(memberships.first()),
    };
    let access = state
        .keys
        .issue(user, memberships.clone(), current, Utc::now())?;
    Ok(json!({
        "access": access,
        "refresh": refresh,
        "user": user,
        "memberships": memberships,
        "tenant": current.map(|m| &m.tenant_slug),
    }))
}

fn refresh_record(refresh: &str, user_id: Uuid) -> RefreshRecord {
    RefreshRecord {
        token_hash: auth::token_hash(refresh),
        family_id: Uuid::new_v4(),
        user_id,
        tenant_id: None,
        expires_at: Utc::now() + REFRESH_TTL,
    }
}

async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(input): ApiJson<TokenIn>,
) -> ApiResult<ApiJson<Value>> {
    super::resources::at_most("email", &input.email, 254)?;
    super::resources::at_most("password", &input.password, 256)?;
    if let Some(wait) = state.throttle.blocked(&input.email, ip) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "too many failed sign-ins; try again in {} min",
                wait.div_ceil(60)
            ),
        ));
    }
    let creds = state.store.user_credentials(&input.email).await?;
    let (user, hash) = match creds {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = auth::verify_password_async(input.password.clone(), hash).await?
        && user.as_ref().is_some_and(|u| u.is_active);
    let Some(user) = user.filter(|_| ok) else {
        state.throttle.failed(&input.email, ip);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "e-mail or password is incorrect",
        ));
    };
    state.throttle.succeeded(&input.email);
    let body = answer(&state, &user, input.tenant.as_deref(), None, "").await?;
    let refresh = auth::random_token();
    let mut record = refresh_record(&refresh, user.id);
    record.tenant_id = body["tenant"].as_str().and_then(|slug| {
        body["memberships"]
            .as_array()?
            .iter()
            .find(|m| m["tenant_slug"] == slug)?["tenant_id"]
            .as_str()?
            .parse()
            .ok()
    });
    service::sessions::start(&*state.store, record).await?;
    Ok(ApiJson(with_refresh(body, refresh)))
}

fn with_refresh(mut body: Value, refresh: String) -> Value {
    body["refresh"] = Value::String(refresh);
    body
}

async fn refresh(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RefreshIn>,
) -> ApiResult<ApiJson<Value>> {
    let presented = auth::token_hash(input.refresh.trim());
    let next = auth::random_token();
    // Marks the presented token used and stores `next` in the same family, atomically; the
    // store fills in the family, user and tenant from the presented token.
    let outcome = service::sessions::rotate(
        &*state.store,
        &presented,
        refresh_record(&next, Uuid::nil()),
        Utc::now(),
    )
    .await?;
    let (user_id, tenant_id) = match outcome {
        RefreshOutcome::Rotated { user_id, tenant_id } => (user_id, tenant_id),
        RefreshOutcome::Reused => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_reused",
                "this refresh token was already used; the session has been signed out for safety",
            ));
        }
        RefreshOutcome::Invalid => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_invalid",
                "the refresh token is not valid or has expired",
            ));
        }
    };
    let user = state
        .store
        .user(user_id)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_invalid",
                "the account is disabled",
            )
        })?;
    let body = answer(&state, &user, input.tenant.as_deref(), tenant_id, "").await?;
    Ok(ApiJson(with_refresh(body, next)))
}

async fn me(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> ApiResult<ApiJson<Value>> {
    let user = state
        .store
        .user(claims.sub)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the account no longer exists"))?;
    let memberships = state.store.memberships(user.id).await?;
    Ok(ApiJson(json!({
        "user": user,
        "tenant": claims.tenant,
        "role": claims.role,
        "scopes": claims.scopes,
        "memberships": memberships,
    })))
}

/// Auth routes.
pub fn routes() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/api/v1/auth/jwt/token/",
            post(token),
            vec![
                op(Method::POST, "Sign in: access (15 min) and refresh tokens")
                    .public()
                    .body("TokenIn")
                    .returns(200, "TokenOut"),
            ],
        )
        .route(
            "/api/v1/auth/jwt/refresh/",
            post(refresh),
            vec![
                op(
                    Method::POST,
                    "Rotate the refresh token; reusing a rotated one signs the session out",
                )
                .public()
                .body("RefreshIn")
                .returns(200, "TokenOut"),
            ],
        )
        .route(
            "/api/v1/auth/jwt/me/",
            get(me),
            vec![
                op(
                    Method::GET,
                    "The signed-in user, current tenant, role and scopes",
                )
                .returns(200, "MeOut"),
            ],
        )
}

/// Sign-in answer (documentation schema of what [`token`] and [`refresh`] return).
#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub access: String,
    pub refresh: String,
    pub user: smartqueue_core::User,
    pub memberships: Vec<MembershipInfo>,
    /// Slug of the current tenant.
    pub tenant: Option<String>,
}

/// `me/` answer.
#[derive(Serialize, ToSchema)]
pub struct MeOut {
    pub user: smartqueue_core::User,
    pub tenant: Option<String>,
    pub role: Option<smartqueue_core::Role>,
    pub scopes: Vec<smartqueue_core::Scope>,
    pub memberships: Vec<MembershipInfo>,
}

/// Component schemas of this module.
pub fn schemas(c: ComponentsBuilder) -> ComponentsBuilder {
    c.schema_from::<TokenIn>()
        .schema_from::<RefreshIn>()
        .schema_from::<TokenOut>()
        .schema_from::<MeOut>()
        .schema_from::<MembershipInfo>()
}
