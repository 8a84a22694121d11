//! The storage interface: [`Store`] (the reads, and [`Store::submit`] of a transaction job) and
//! the repository a job runs on ([`tx::Tx`]). Neither decides anything: the services do.
//!
//! [`sqlite::SqliteStore`] implements both on one embedded SQLite file; the PostgreSQL scale-out
//! adds a second implementation and runs the same conformance suite
//! (`tests/tests/store_conformance/`).
//!
//! Every write is one transaction that performs the change, its audit entry and its event, and —
//! for retryable writes — records the result under the caller's idempotency key, so a retry gets
//! the first result and never a second ticket.

pub mod batch;
pub mod copy;
pub mod postgres;
pub mod shared;
pub mod sqlite;
pub mod tx;

/// Opens the store a database URL names: `postgres://…` (or `postgresql://…`) on PostgreSQL,
/// otherwise an SQLite file (`sqlite://path`, or a bare path). Migrations run first.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if postgres::is_postgres_url(url) {
        Ok(std::sync::Arc::new(postgres::PgStore::open(url).await?))
    } else {
        let path = sqlite::path_from_url(url)?;
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(path)?))
    }
}

/// A database URL as it may be printed (without a password).
pub fn describe(url: &str) -> String {
    if postgres::is_postgres_url(url) {
        match url.parse::<tokio_postgres::Config>() {
            Ok(c) => format!(
                "PostgreSQL {}:{}/{}",
                c.get_hosts()
                    .first()
                    .map(|h| match h {
                        tokio_postgres::config::Host::Tcp(h) => h.clone(),
                        #[cfg(unix)]
                        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                    })
                    .unwrap_or_default(),
                c.get_ports().first().copied().unwrap_or(5432),
                c.get_dbname().unwrap_or_default()
            ),
            Err(_) => "PostgreSQL".to_owned(),
        }
    } else {
        sqlite::path_from_url(url)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| url.to_owned())
    }
}

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use smartqueue_core::event::{Envelope, Event};
use smartqueue_core::lifecycle::TransitionError;
use smartqueue_core::{
    AgentProfile, AuditLog, Channel, Id, Priority, Role, Tenant, TenantMembership, Ticket,
    TicketStatus, User,
};

/// Errors of the storage layer; [`crate::error::ApiError`] maps them to HTTP answers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The entity does not exist in this tenant (or at all).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The request is well-formed but its content is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The ticket state machine refused the action.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A row with the same unique key exists (the storage-level mapping of a unique
    /// violation; the caller decides what it means).
    #[error("duplicate key: {0}")]
    Unique(String),
    /// The database failed (I/O, a statement, a constraint other than a unique key). The
    /// message is the backend's own, for the log.
    #[error("database error: {0}")]
    Backend(String),
    /// Stored data does not parse: a fault of the server, never of the request.
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    /// Anything else that went wrong inside the server (a panic in a read or a write, a broken
    /// invariant).
    #[error("internal fault: {0}")]
    Internal(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("the transaction could not be committed: {0}")]
    Commit(String),
    #[error("the storage writer has stopped")]
    Closed,
}

impl StoreError {
    /// Shorthand for a conflict.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Conflict {
            code,
            detail: detail.into(),
        }
    }
}

/// Result alias of the storage layer.
pub type StoreResult<T> = Result<T, StoreError>;

/// A change of one entity document: the stored document in, the new one out (or the reason the
/// change is refused). It runs inside the write transaction, may run more than once, and decides
/// from its argument alone.
pub type Edit = std::sync::Arc<dyn Fn(Value) -> StoreResult<Value> + Send + Sync>;

/// Who performs a write (recorded in the audit log).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<uuid::Uuid>,
    /// `user`, `device`, `public` or `system`.
    pub kind: &'static str,
    pub request_id: Option<String>,
    /// For callers with the agent role: the agent they are. Ticket actions on a called, in
    /// service or paused ticket held by another agent are then refused (`not_your_ticket`),
    /// checked in the action's own transaction.
    pub agent_scope: Option<uuid::Uuid>,
}

impl Actor {
    /// The platform itself (CLI, scheduled jobs).
    pub fn system() -> Self {
        Actor {
            user_id: None,
            kind: "system",
            request_id: None,
            agent_scope: None,
        }
    }
}

/// A client-chosen key that makes a write safe to retry.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// Whose key it is (user id or device id): keys of different callers never collide.
    pub actor: String,
    pub key: String,
    /// Hash of method, path and body: the same key with a different request is refused.
    pub fingerprint: String,
}

/// A new user, with the password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub is_superuser: bool,
}

/// The result of adding a member to a tenant.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub user: User,
    pub membership: TenantMembership,
    pub agent: Option<AgentProfile>,
    /// Whether the user already existed (linked rather than created).
    pub existing_user: bool,
}

/// A user's membership in one tenant, as carried in JWT claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MembershipInfo {
    pub tenant_id: uuid::Uuid,
    pub tenant_slug: String,
    pub role: Role,
    pub agent_id: Option<uuid::Uuid>,
}

/// A stored refresh token (only its hash is kept).
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub family_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub tenant_id: Option<uuid::Uuid>,
    pub expires_at: DateTime<Utc>,
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub family_id: Id,
    pub user_id: Id,
    pub tenant_id: Option<Id>,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    pub revoked: bool,
}

/// What happened to a refresh token presented for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid: it is now used and the new token replaces it.
    Rotated { user_id: Id, tenant_id: Option<Id> },
    /// It had already been rotated: the whole session (family) is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// What a paired device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Display,
    Kiosk,
}

impl DeviceKind {
    /// The entity kind of the device's configuration.
    pub fn kind(self) -> Kind {
        match self {
            DeviceKind::Display => Kind::Display,
            DeviceKind::Kiosk => Kind::Kiosk,
        }
    }

    /// `display` or `kiosk`.
    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }

    /// Parses `display` / `kiosk`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "display" => Some(DeviceKind::Display),
            "kiosk" => Some(DeviceKind::Kiosk),
            _ => None,
        }
    }
}

/// A device authenticated by its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuth {
    pub tenant_id: Id,
    pub tenant_slug: String,
    pub kind: DeviceKind,
    pub device_id: Id,
}

/// A pairing code a device asked for.
#[derive(Debug, Clone)]
pub struct NewPairing {
    pub id: Id,
    /// Normalized code (upper case, no separator).
    pub code: String,
    pub secret_hash: String,
    pub mode: DeviceKind,
    pub expires_at: DateTime<Utc>,
}

/// A pairing code as stored: which device mode showed it and, once an admin entered it, for
/// which device of which tenant.
#[derive(Debug, Clone)]
pub struct Pairing {
    pub id: Id,
    pub secret_hash: String,
    pub mode: DeviceKind,
    pub bound: Option<(Id, Id)>,
}

/// A kiosk's numbers for one queue and business day.
#[derive(Debug, Clone, Copy)]
pub struct LeaseRef {
    pub kiosk: Id,
    pub queue: Id,
    pub day: NaiveDate,
}

/// What a device's poll of its pairing finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// No admin has entered the code yet.
    Pending,
    /// Paired: the token (whose hash was given) is now valid for this device.
    Paired(DeviceAuth),
}

/// A ticket to issue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewTicket {
    pub queue_id: uuid::Uuid,
    pub priority: Priority,
    pub channel: Channel,
    pub customer_id: Option<uuid::Uuid>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    /// A ticket a kiosk already issued while offline, with a number from its lease.
    #[serde(default)]
    pub offline: Option<OfflineIssue>,
    /// The kiosk issuing it (set by the kiosk's route, never read from a request).
    #[serde(skip)]
    pub issued_by: Option<uuid::Uuid>,
}

/// A ticket a kiosk issued (and printed) while the server was unreachable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfflineIssue {
    #[serde(default)]
    #[schema(ignore)]
    pub kiosk_id: uuid::Uuid,
    pub business_day: NaiveDate,
    /// From one of the kiosk's leases for this queue and day.
    pub sequence: u32,
    /// When the customer took it: the ticket joins its queue at that moment's place.
    pub issued_at: DateTime<Utc>,
    /// The token printed in the ticket's QR code.
    pub tracking_token: String,
    /// Idempotency key of an online attempt whose answer never came: if that attempt did
    /// create a ticket, it is cancelled, since the customer holds this one.
    #[serde(default)]
    pub supersedes: Option<String>,
}

/// Numbers leased to a kiosk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NumberLease {
    pub queue_id: uuid::Uuid,
    pub prefix: String,
    pub business_day: NaiveDate,
    pub first: u32,
    pub last: u32,
}

/// A ticket with its place in line (None when not waiting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedTicket {
    pub ticket: Ticket,
    /// 1-based position among the waiting tickets of its queue.
    pub position: Option<u32>,
}

/// Filters of the ticket list.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub queue_id: Option<uuid::Uuid>,
    pub status: Option<TicketStatus>,
    pub business_day: Option<NaiveDate>,
    pub limit: u32,
    pub offset: u32,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub count: u64,
    pub results: Vec<T>,
}

pub use crate::bus::StoredEvent;

/// Live figures of one queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueCounts {
    pub waiting: u32,
    pub active: u32,
    pub served_today: u32,
    pub no_show_today: u32,
    pub cancelled_today: u32,
    /// Seconds the oldest waiting ticket has waited.
    pub longest_wait_seconds: u32,
    /// Agents that serve this queue and are available or busy.
    pub active_agents: u32,
}

/// Kinds of generic tenant-owned configuration entities (stored as JSON documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Site,
    Service,
    Queue,
    Counter,
    Customer,
    Agent,
    Display,
    Kiosk,
}

impl Kind {
    /// Name stored in the `kind` column and used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Site => "site",
            Kind::Service => "service",
            Kind::Queue => "queue",
            Kind::Counter => "counter",
            Kind::Customer => "customer",
            Kind::Agent => "agent",
            Kind::Display => "display",
            Kind::Kiosk => "kiosk",
        }
    }
}

/// The storage interface of the server.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Runs a job in one write transaction on the backend's repository ([`tx::Tx`]); the job
    /// answers its caller after the commit. Services use [`tx::transact`].
    fn submit(&self, job: Box<dyn tx::TxJob>) -> StoreResult<()>;

    // --- tenants, users, memberships --------------------------------------------------------
    async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>>;
    /// The user and password hash for `email` (case-insensitive).
    async fn user_credentials(&self, email: &str) -> StoreResult<Option<(User, String)>>;
    async fn user(&self, id: Id) -> StoreResult<Option<User>>;
    async fn memberships(&self, user_id: Id) -> StoreResult<Vec<MembershipInfo>>;
    async fn list_members(&self, tenant_id: Id) -> StoreResult<Vec<Member>>;
    // --- configuration entities -------------------------------------------------------------
    async fn get_entity(&self, tenant_id: Id, kind: Kind, id: Id) -> StoreResult<Option<Value>>;
    async fn list_entities(
        &self,
        tenant_id: uuid::Uuid,
        kind: Kind,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<Value>>;

    // --- tickets ----------------------------------------------------------------------------
    async fn ticket(&self, tenant_id: Id, id: Id) -> StoreResult<Option<PlacedTicket>>;
    /// The tenant's ticket with this secret tracking token.
    async fn ticket_by_token(
        &self,
        tenant_id: Id,
        token: String,
    ) -> StoreResult<Option<PlacedTicket>>;
    async fn list_tickets(&self, tenant_id: Id, filter: TicketFilter) -> StoreResult<Page<Ticket>>;
    // --- events -----------------------------------------------------------------------------
    /// Committed events of every tenant, published after their transaction commits (never
    /// before), each exactly once, in commit order.
    fn subscribe(&self) -> crate::bus::Subscription;
    /// Whether this instance runs the scheduled jobs now (one instance of a deployment at a
    /// time; a single-instance backend always does).
    fn leadership(&self) -> tokio::sync::watch::Receiver<bool>;
    /// The tenant's events with `seq > since`, oldest first, at most `limit`.
    async fn events_since(
        &self,
        tenant_id: Id,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// The tenant's last event seq (0 before any event).
    async fn last_event_seq(&self, tenant_id: Id) -> StoreResult<i64>;

    // --- figures ----------------------------------------------------------------------------
    async fn queue_counts(
        &self,
        tenant_id: uuid::Uuid,
        queue_id: uuid::Uuid,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> StoreResult<QueueCounts>;
    /// Agents serving a queue now (status available or busy, the queue among theirs): the one
    /// figure of [`Store::queue_counts`] an ETA needs, without its counting over the line and
    /// the day's tickets.
    async fn serving_agents(&self, tenant_id: uuid::Uuid, queue_id: uuid::Uuid)
    -> StoreResult<u32>;
    /// Most recent service durations (seconds) of a queue, newest first.
    async fn recent_service_times(
        &self,
        tenant_id: uuid::Uuid,
        queue_id: uuid::Uuid,
        limit: u32,
    ) -> StoreResult<Vec<f64>>;
    async fn audit_logs(
        &self,
        tenant_id: uuid::Uuid,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<AuditLog>>;

    // --- devices (displays and kiosks) ------------------------------------------------------
    /// The device a (hashed) token belongs to, unless revoked.
    async fn device_by_token(&self, token_hash: String) -> StoreResult<Option<DeviceAuth>>;
    /// The tenant's most recent `ticket.called` / `ticket.recalled` events in `queue_ids`,
    /// newest first, at most `limit` (looking back over a bounded stretch of the log).
    async fn recent_calls(
        &self,
        tenant_id: Id,
        queue_ids: Vec<Id>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>>;
}
