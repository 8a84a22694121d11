//! `members/`: who belongs to the tenant, with which role.

use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::Utc;
use serde::Deserialize;
use smartqueue_core::{Id, Role, Scope};
use utoipa::ToSchema;
use utoipa::openapi::ComponentsBuilder;

use super::doc::{ApiRouter, op};
use super::extract::{ApiJson, ApiPath, RequestId};
use crate::auth::{self};
use crate::caller::TenantCtx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Member, NewUser};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberIn {
    email: String,
    /// Required for a new user; ignored when the e-mail already has an account (it is linked,
    /// and its password is never changed by another tenant's admin).
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    role: Role,
}

async fn list(State(state): State<AppState>, ctx: TenantCtx) -> ApiResult<ApiJson<Vec<Member>>> {
    ctx.require(Scope::ReadAgent)?;
    Ok(ApiJson(state.store.list_members(ctx.tenant_id).await?))
}

async fn create(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiJson(input): ApiJson<MemberIn>,
) -> ApiResult<(StatusCode, ApiJson<Member>)> {
    ctx.require(Scope::ManageAgent)?;
    // Only admins may appoint admins; a manager can add managers and agents.
    if input.role == Role::Admin && ctx.role != Role::Admin {
        return Err(ApiError::forbidden("only an admin can add an admin"));
    }
    super::resources::at_most("first_name", &input.first_name, 100)?;
    super::resources::at_most("last_name", &input.last_name, 100)?;
    let email = input.email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 || email.contains(char::is_whitespace) {
        return Err(ApiError::validation("email: not a valid e-mail address"));
    }
    let exists = state.store.user_credentials(&email).await?.is_some();
    let password_hash = if exists {
        String::new()
    } else {
        let password = input.password.unwrap_or_default();
        if password.chars().count() < 8 {
            return Err(ApiError::validation("password: at least 8 characters"));
        }
        // Hashing is deliberately costly; a megabyte "password" must not make it more so.
        super::resources::at_most("password", &password, 256)?;
        auth::hash_password_async(password).await?
    };
    let member = crate::service::members::add(
        &*state.store,
        ctx.tenant_id,
        NewUser {
            email,
            password_hash,
            first_name: input.first_name,
            last_name: input.last_name,
            is_superuser: false,
        },
        input.role,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(member)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberPatch {
    role: Role,
}

/// Nobody changes their own role or removes themselves; only an admin touches an admin.
async fn may_change(
    state: &AppState,
    ctx: &TenantCtx,
    user_id: Id,
    new_role: Option<Role>,
) -> ApiResult<()> {
    ctx.require(Scope::ManageAgent)?;
    if user_id == ctx.user_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "own_membership",
            "you cannot change or remove your own membership: ask another admin",
        ));
    }
    let current = state
        .store
        .list_members(ctx.tenant_id)
        .await?
        .into_iter()
        .find(|m| m.user.id == user_id)
        .ok_or_else(|| ApiError::not_found("member"))?;
    let touches_admin = current.membership.role == Role::Admin || new_role == Some(Role::Admin);
    if touches_admin && ctx.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only an admin can appoint or change an admin",
        ));
    }
    Ok(())
}

async fn update(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiPath((_, user_id)): ApiPath<(String, Id)>,
    ApiJson(input): ApiJson<MemberPatch>,
) -> ApiResult<ApiJson<Member>> {
    may_change(&state, &ctx, user_id, Some(input.role)).await?;
    let m = crate::service::members::change_role(
        &*state.store,
        ctx.tenant_id,
        user_id,
        input.role,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    Ok(ApiJson(m))
}

async fn remove(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiPath((_, user_id)): ApiPath<(String, Id)>,
) -> ApiResult<StatusCode> {
    may_change(&state, &ctx, user_id, None).await?;
    crate::service::members::remove(
        &*state.store,
        ctx.tenant_id,
        user_id,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Member routes.
pub fn routes() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/api/v1/tenants/{tenant_slug}/members/{id}/",
            axum::routing::patch(update).delete(remove),
            vec![
                op(
                    Method::PATCH,
                    "Change a member's role (not your own; the last admin stays)",
                )
                .body("MemberPatch")
                .returns(200, "Member"),
                op(
                    Method::DELETE,
                    "Remove a member from the organisation (the account remains)",
                )
                .status(204),
            ],
        )
        .route(
            "/api/v1/tenants/{tenant_slug}/members/",
            get(list).post(create),
            vec![
                op(Method::GET, "List members with their roles").returns(200, "MemberList"),
                op(
                    Method::POST,
                    "Add a member (creates the user, or links an existing e-mail)",
                )
                .body("MemberIn")
                .returns(201, "Member"),
            ],
        )
}

/// Component schemas of this module.
pub fn schemas(c: ComponentsBuilder) -> ComponentsBuilder {
    c.schema_from::<MemberIn>()
        .schema_from::<MemberPatch>()
        .schema_from::<Member>()
        .schema(
            "MemberList",
            utoipa::openapi::schema::ArrayBuilder::new()
                .items(utoipa::openapi::Ref::from_schema_name("Member"))
                .build(),
        )
}
