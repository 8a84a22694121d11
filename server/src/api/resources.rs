//! Tenant configuration resources (sites, services, queues, counters, customers): one generic
//! set of list / create / retrieve / update / delete handlers over the [`Resource`] trait.

use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, NaiveTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use smartqueue_core::numbering::parse_timezone;
use smartqueue_core::{
    Counter, Customer, Id, NotificationPreferences, OpeningHours, Queue, QueueAlgorithm, Scope,
    Service, Site,
};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa::openapi::ComponentsBuilder;
use uuid::Uuid;

use super::doc::{ApiRouter, op};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, RequestId};
use super::page;
use crate::caller::TenantCtx;
use crate::error::{ApiError, ApiResult};
use crate::service;
use crate::state::AppState;
use crate::store::{Edit, Kind, StoreError};

/// A tenant-owned configuration entity served by the generic handlers.
pub trait Resource: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: Kind;
    /// OpenAPI component names of the entity and of its create body.
    const SCHEMA: &'static str;
    const INPUT_SCHEMA: &'static str;
    const READ: Scope;
    const WRITE: Scope;
    /// Body of a create request.
    type Create: DeserializeOwned + Send + 'static;
    /// Fields the server maintains (besides id, tenant_id, created_at): an update may not set
    /// them.
    const READ_ONLY: &'static [&'static str] = &[];
    /// The new entity from a create body.
    fn build(input: Self::Create, id: Id, tenant_id: Id, now: DateTime<Utc>) -> Self;
    /// Field checks, with the field named in the message.
    fn validate(&self) -> ApiResult<()>;
    /// Other entities of the tenant this one points to: (kind, id, field name).
    fn refs(&self) -> Vec<(Kind, Id, &'static str)> {
        Vec::new()
    }
}

pub(super) fn field(name: &str, problem: &str) -> ApiError {
    ApiError::validation(format!("{name}: {problem}"))
}

pub(super) fn non_empty(name: &str, v: &str, max: usize) -> ApiResult<()> {
    let n = v.trim().chars().count();
    if n == 0 {
        return Err(field(name, "this field may not be blank"));
    }
    if n > max {
        return Err(field(name, &format!("at most {max} characters")));
    }
    Ok(())
}

/// A free-text field that may be empty, refused above `max` characters.
pub(super) fn at_most(name: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.chars().count() > max {
        return Err(field(name, &format!("at most {max} characters")));
    }
    Ok(())
}

fn default_true() -> bool {
    true
}

fn default_language() -> String {
    "fr".into()
}

// --- Site ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteIn {
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default = "default_tz")]
    timezone: String,
    #[serde(default)]
    opening_hours: Vec<OpeningHours>,
}

fn default_tz() -> String {
    "Europe/Paris".into()
}

impl Resource for Site {
    const KIND: Kind = Kind::Site;
    const SCHEMA: &'static str = "Site";
    const INPUT_SCHEMA: &'static str = "SiteIn";
    const READ: Scope = Scope::ReadQueue;
    const WRITE: Scope = Scope::ManageSettings;
    type Create = SiteIn;

    fn build(i: SiteIn, id: Id, tenant_id: Id, now: DateTime<Utc>) -> Self {
        Site {
            id,
            tenant_id,
            name: i.name,
            address: i.address,
            latitude: i.latitude,
            longitude: i.longitude,
            timezone: i.timezone,
            opening_hours: i.opening_hours,
            created_at: now,
        }
    }

    fn validate(&self) -> ApiResult<()> {
        non_empty("name", &self.name, 200)?;
        at_most("address", &self.address, 500)?;
        parse_timezone(&self.timezone).map_err(|e| field("timezone", &e.to_string()))?;
        if self.latitude.is_some_and(|l| !(-90.0..=90.0).contains(&l)) {
            return Err(field("latitude", "must be between -90 and 90"));
        }
        if self
            .longitude
            .is_some_and(|l| !(-180.0..=180.0).contains(&l))
        {
            return Err(field("longitude", "must be between -180 and 180"));
        }
        for h in &self.opening_hours {
            if h.weekday > 6 {
                return Err(field(
                    "opening_hours",
                    "weekday must be 0 (Monday) to 6 (Sunday)",
                ));
            }
            if h.opens >= h.closes && h.closes != NaiveTime::MIN {
                return Err(field("opening_hours", "opens must be before closes"));
            }
        }
        Ok(())
    }
}

// --- Service -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceIn {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_service_seconds")]
    default_service_seconds: u32,
    #[serde(default = "default_true")]
    is_active: bool,
}

fn default_service_seconds() -> u32 {
    300
}

impl Resource for Service {
    const KIND: Kind = Kind::Service;
    const SCHEMA: &'static str = "Service";
    const INPUT_SCHEMA: &'static str = "ServiceIn";
    const READ: Scope = Scope::ReadQueue;
    const WRITE: Scope = Scope::ManageQueue;
    type Create = ServiceIn;

    fn build(i: ServiceIn, id: Id, tenant_id: Id, now: DateTime<Utc>) -> Self {
        Service {
            id,
            tenant_id,
            name: i.name,
            description: i.description,
            default_service_seconds: i.default_service_seconds,
            is_active: i.is_active,
            created_at: now,
        }
    }

    fn validate(&self) -> ApiResult<()> {
        non_empty("name", &self.name, 200)?;
        at_most("description", &self.description, 2000)?;
        if !(1..=86_400).contains(&self.default_service_seconds) {
            return Err(field(
                "default_service_seconds",
                "must be between 1 and 86400",
            ));
        }
        Ok(())
    }
}

// --- Queue ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueIn {
    site_id: uuid::Uuid,
    service_id: uuid::Uuid,
    name: String,
    prefix: String,
    #[serde(default = "default_algorithm")]
    algorithm: QueueAlgorithm,
    #[serde(default = "default_sla")]
    sla_target_seconds: u32,
    #[serde(default = "default_max_wait")]
    max_wait_seconds: u32,
    #[serde(default)]
    max_length: Option<u32>,
    #[serde(default = "default_true")]
    is_active: bool,
}

fn default_algorithm() -> QueueAlgorithm {
    QueueAlgorithm::Fifo
}
fn default_sla() -> u32 {
    900
}
fn default_max_wait() -> u32 {
    1800
}

impl Resource for Queue {
    const KIND: Kind = Kind::Queue;
    const SCHEMA: &'static str = "Queue";
    const INPUT_SCHEMA: &'static str = "QueueIn";
    const READ: Scope = Scope::ReadQueue;
    const WRITE: Scope = Scope::ManageQueue;
    type Create = QueueIn;

    fn build(i: QueueIn, id: Id, tenant_id: Id, now: DateTime<Utc>) -> Self {
        Queue {
            id,
            tenant_id,
            site_id: i.site_id,
            service_id: i.service_id,
            name: i.name,
            prefix: i.prefix.trim().to_uppercase(),
            algorithm: i.algorithm,
            sla_target_seconds: i.sla_target_seconds,
            max_wait_seconds: i.max_wait_seconds,
            max_length: i.max_length,
            is_active: i.is_active,
            created_at: now,
        }
    }

    fn validate(&self) -> ApiResult<()> {
        non_empty("name", &self.name, 200)?;
        if self.prefix.is_empty()
            || self.prefix.len() > 4
            || !self.prefix.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(field("prefix", "1 to 4 letters or digits"));
        }
        if !(1..=86_400).contains(&self.sla_target_seconds) {
            return Err(field("sla_target_seconds", "must be between 1 and 86400"));
        }
        if !(1..=86_400).contains(&self.max_wait_seconds) {
            return Err(field("max_wait_seconds", "must be between 1 and 86400"));
        }
        if self.max_length == Some(0) {
            return Err(field(
                "max_length",
                "must be at least 1, or null for no limit",
            ));
        }
        Ok(())
    }

    fn refs(&self) -> Vec<(Kind, Id, &'static str)> {
        vec![
            (Kind::Site, self.site_id, "site_id"),
            (Kind::Service, self.service_id, "service_id"),
        ]
    }
}

// --- Counter -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterIn {
    site_id: uuid::Uuid,
    name: String,
    /// The counter's number at its site (agents may sit down by number).
    #[serde(default)]
    number: Option<u32>,
    #[serde(default = "default_true")]
    is_active: bool,
}

impl Resource for Counter {
    const KIND: Kind = Kind::Counter;
    const SCHEMA: &'static str = "Counter";
    const INPUT_SCHEMA: &'static str = "CounterIn";
    const READ: Scope = Scope::ReadQueue;
    const WRITE: Scope = Scope::ManageSettings;
    type Create = CounterIn;

    fn build(i: CounterIn, id: Id, tenant_id: Id, now: DateTime<Utc>) -> Self {
        Counter {
            id,
            tenant_id,
            site_id: i.site_id,
            name: i.name,
            number: i.number,
            is_active: i.is_active,
            created_at: now,
        }
    }

    fn validate(&self) -> ApiResult<()> {
        non_empty("name", &self.name, 100)?;
        if self.number.is_some_and(|n| !(1..=9999).contains(&n)) {
            return Err(field("number", "a number from 1 to 9999"));
        }
        Ok(())
    }

    fn refs(&self) -> Vec<(Kind, Id, &'static str)> {
        vec![(Kind::Site, self.site_id, "site_id")]
    }
}

// --- Customer ------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    name: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default = "default_language")]
    language: String,
    #[serde(default)]
    notification_preferences: NotificationPreferences,
}

/// Loose phone check: digits with optional `+`, spaces, dots and dashes, 6–20 digits.
pub fn check_phone(name: &str, phone: &str) -> ApiResult<()> {
    let digits = phone.chars().filter(|c| c.is_ascii_digit()).count();
    let ok_chars = phone
        .chars()
        .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    if !ok_chars || !(6..=20).contains(&digits) || phone.len() > 32 {
        return Err(field(name, "not a valid phone number"));
    }
    Ok(())
}

impl Resource for Customer {
    const KIND: Kind = Kind::Customer;
    const SCHEMA: &'static str = "Customer";
    const INPUT_SCHEMA: &'static str = "CustomerIn";
    const READ: Scope = Scope::ReadCustomer;
    const WRITE: Scope = Scope::WriteCustomer;
    type Create = CustomerIn;

    fn build(i: CustomerIn, id: Id, tenant_id: Id, now: DateTime<Utc>) -> Self {
        Customer {
            id,
            tenant_id,
            name: i.name,
            phone: i.phone,
            email: i.email.map(|e| e.trim().to_lowercase()),
            language: i.language,
            notification_preferences: i.notification_preferences,
            created_at: now,
        }
    }

    fn validate(&self) -> ApiResult<()> {
        non_empty("name", &self.name, 200)?;
        if let Some(p) = &self.phone {
            check_phone("phone", p)?;
        }
        if let Some(e) = &self.email
            && (!e.contains('@') || e.len() > 254 || e.contains(char::is_whitespace))
        {
            return Err(field("email", "not a valid e-mail address"));
        }
        if !(2..=10).contains(&self.language.len()) {
            return Err(field("language", "a language code such as fr or en"));
        }
        Ok(())
    }
}

// --- Generic handlers ----------------------------------------------------------------------

async fn check_refs<R: Resource>(state: &AppState, ctx: &TenantCtx, r: &R) -> ApiResult<()> {
    for (kind, id, name) in r.refs() {
        if state
            .store
            .get_entity(ctx.tenant_id, kind, id)
            .await?
            .is_none()
        {
            // 404 like any other reference to something the tenant does not have.
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{name}: no {} with this id", kind.as_str()),
            ));
        }
    }
    Ok(())
}

async fn list<R: Resource>(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(R::READ)?;
    let p = p.checked()?;
    let got = state
        .store
        .list_entities(ctx.tenant_id, R::KIND, p.limit, p.offset)
        .await?;
    Ok(ApiJson(page(got, p)))
}

async fn create<R: Resource>(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiJson(input): ApiJson<R::Create>,
) -> ApiResult<(StatusCode, ApiJson<R>)> {
    ctx.require(R::WRITE)?;
    let now = Utc::now();
    let r = R::build(input, Uuid::new_v4(), ctx.tenant_id, now);
    r.validate()?;
    check_refs(&state, &ctx, &r).await?;
    let doc = serde_json::to_value(&r).map_err(ApiError::internal)?;
    let id = doc["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::internal("entity without id"))?;
    service::entities::create(
        &*state.store,
        ctx.tenant_id,
        R::KIND,
        id,
        doc,
        &ctx.actor(rid),
        now,
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(r)))
}

async fn retrieve<R: Resource>(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath((_, id)): ApiPath<(String, Id)>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(R::READ)?;
    let doc = state
        .store
        .get_entity(ctx.tenant_id, R::KIND, id)
        .await?
        .ok_or_else(|| ApiError::not_found(R::KIND.as_str()))?;
    Ok(ApiJson(doc))
}

/// Fields no update may change.
const IMMUTABLE: [&str; 3] = ["id", "tenant_id", "created_at"];

/// Applies a PATCH body to a stored document: the fields it names replace theirs; fields the
/// server maintains (`id`, `tenant_id`, `created_at`, the resource's read-only ones) are ignored,
/// since clients send back what they were given; a field the resource does not have is refused
/// by name. The result is validated.
fn merge<R: Resource>(stored: Value, changes: &Map<String, Value>) -> ApiResult<R> {
    let mut merged = stored;
    let Value::Object(target) = &mut merged else {
        return Err(ApiError::internal("stored entity is not an object"));
    };
    for (k, v) in changes {
        if IMMUTABLE.contains(&k.as_str()) || R::READ_ONLY.contains(&k.as_str()) {
            continue;
        }
        if !target.contains_key(k) {
            return Err(field(k, "unknown field"));
        }
        target.insert(k.clone(), v.clone());
    }
    let r: R = serde_json::from_value(merged).map_err(|e| ApiError::validation(e.to_string()))?;
    r.validate()?;
    Ok(r)
}

async fn update<R: Resource>(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiPath((_, id)): ApiPath<(String, Id)>,
    ApiJson(patch): ApiJson<Value>,
) -> ApiResult<ApiJson<Value>> {
    ctx.require(R::WRITE)?;
    let Value::Object(changes) = patch else {
        return Err(ApiError::validation(
            "the body must be a JSON object of the fields to change",
        ));
    };
    let stored = state
        .store
        .get_entity(ctx.tenant_id, R::KIND, id)
        .await?
        .ok_or_else(|| ApiError::not_found(R::KIND.as_str()))?;
    // Checked here against what is stored now (references need reads the write cannot make)…
    check_refs(&state, &ctx, &merge::<R>(stored, &changes)?).await?;
    // …and merged again inside the write, into the document as it is then: a change that landed
    // in between (another PATCH, a call-next, a revocation) is kept.
    let edit: Edit = Arc::new(move |current| {
        let r = merge::<R>(current, &changes).map_err(refusal)?;
        Ok(serde_json::to_value(&r)?)
    });
    let doc = service::entities::update(
        &*state.store,
        ctx.tenant_id,
        R::KIND,
        id,
        edit,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    Ok(ApiJson(doc))
}

/// An API error raised inside a store write (an [`Edit`]), carried out of it as a store error
/// that maps back to the same answer.
pub(crate) fn refusal(e: ApiError) -> StoreError {
    match e.status {
        StatusCode::CONFLICT => StoreError::Conflict {
            code: e.code,
            detail: e.detail,
        },
        StatusCode::BAD_REQUEST => StoreError::Invalid(e.detail),
        _ => StoreError::Internal(e.detail),
    }
}

async fn destroy<R: Resource>(
    State(state): State<AppState>,
    ctx: TenantCtx,
    RequestId(rid): RequestId,
    ApiPath((_, id)): ApiPath<(String, Id)>,
) -> ApiResult<StatusCode> {
    ctx.require(R::WRITE)?;
    service::entities::delete(
        &*state.store,
        ctx.tenant_id,
        R::KIND,
        id,
        &ctx.actor(rid),
        Utc::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Routes `/{plural}/` and `/{plural}/{id}/` for resource `R`.
pub fn routes<R: Resource>(plural: &str) -> ApiRouter {
    let one = R::KIND.as_str();
    ApiRouter::new()
        .route(
            &format!("/api/v1/tenants/{{tenant_slug}}/{plural}/"),
            get(list::<R>).post(create::<R>),
            vec![
                op(Method::GET, format!("List {plural}")).returns(200, "Page"),
                op(Method::POST, format!("Create a {one}"))
                    .body(R::INPUT_SCHEMA)
                    .returns(201, R::SCHEMA),
            ],
        )
        .route(
            &format!("/api/v1/tenants/{{tenant_slug}}/{plural}/{{id}}/"),
            get(retrieve::<R>)
                .patch(update::<R>)
                .put(update::<R>)
                .delete(destroy::<R>),
            vec![
                op(Method::GET, format!("A {one}")).returns(200, R::SCHEMA),
                op(Method::PATCH, format!("Change fields of a {one}"))
                    .body("Patch")
                    .returns(200, R::SCHEMA),
                op(Method::PUT, format!("Change fields of a {one}"))
                    .body("Patch")
                    .returns(200, R::SCHEMA),
                op(
                    Method::DELETE,
                    format!("Delete a {one} (refused while in use)"),
                )
                .status(204),
            ],
        )
}

/// Every configuration resource.
pub fn all() -> ApiRouter {
    ApiRouter::new()
        .merge(routes::<Site>("sites"))
        .merge(routes::<Service>("services"))
        .merge(routes::<Queue>("queues"))
        .merge(routes::<Counter>("counters"))
        .merge(routes::<Customer>("customers"))
        .merge(super::devices::routes())
}

/// Component schemas of the resources and their create bodies.
pub fn schemas(c: ComponentsBuilder) -> ComponentsBuilder {
    c.schema_from::<Site>()
        .schema_from::<SiteIn>()
        .schema_from::<Service>()
        .schema_from::<ServiceIn>()
        .schema_from::<Queue>()
        .schema_from::<QueueIn>()
        .schema_from::<Counter>()
        .schema_from::<CounterIn>()
        .schema_from::<Customer>()
        .schema_from::<CustomerIn>()
        .schema_from::<smartqueue_core::Display>()
        .schema_from::<smartqueue_core::Kiosk>()
        .schema_from::<super::devices::DisplayIn>()
        .schema_from::<super::devices::KioskIn>()
}
