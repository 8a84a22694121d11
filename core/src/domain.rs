//! Domain entities of SmartQueue (design §2).
//!
//! Field names are the REST API's: `snake_case`, foreign keys as `<name>_id`, timestamps as
//! RFC 3339 UTC strings (chrono's serde format). Every tenant-owned entity carries `tenant_id`.
//! Enum values serialize as `snake_case` strings.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Identifier of any entity: a UUID, never a sequence, so an id leaks nothing about another
/// tenant's volume. Configuration entities use random v4 ids; tickets and audit entries use v7
/// (a millisecond timestamp then 74 random bits), so the storage indexes receive them in order
/// (an insert appends to the last index page instead of dirtying a random one) while the id
/// still reveals nothing but its creation time.
pub type Id = Uuid;

/// Implements `Display` + `FromStr` for a `snake_case` serde enum via its serde name, so the same
/// spelling is used in JSON, in SQL columns and in error messages.
macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The API spelling of this value.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(UnknownValue { kind: stringify!($ty), value: s.to_owned() }),
                }
            }
        }
    };
}

/// A string that names no value of an enum (e.g. `"status": "sleeping"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value {value:?}")]
pub struct UnknownValue {
    /// The enum's type name.
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
}

// ---------------------------------------------------------------------------------------------
// Tenancy, users, roles
// ---------------------------------------------------------------------------------------------

/// An organisation sharing the deployment. Everything else belongs to exactly one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    /// URL-safe unique name used in every tenant-scoped path (`/tenants/{tenant_slug}/…`).
    pub slug: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// A person who can sign in. Users are global; their access to a tenant is a
/// [`TenantMembership`]. The password hash never leaves the server and is not part of this type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    /// Platform super-admin (runs tenants, plans and billing). Never grantable through the API.
    pub is_superuser: bool,
    pub created_at: DateTime<Utc>,
}

/// A tenant-level role. The platform super-admin is a flag on [`User`], not a tenant role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Agent,
}

string_enum!(Role { Admin => "admin", Manager => "manager", Agent => "agent" });

/// A permission checked by the server on every route. Serialized as `verb:object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Scope {
    #[serde(rename = "read:queue")]
    ReadQueue,
    #[serde(rename = "write:queue")]
    WriteQueue,
    #[serde(rename = "manage:queue")]
    ManageQueue,
    #[serde(rename = "read:ticket")]
    ReadTicket,
    #[serde(rename = "write:ticket")]
    WriteTicket,
    #[serde(rename = "manage:ticket")]
    ManageTicket,
    #[serde(rename = "read:agent")]
    ReadAgent,
    #[serde(rename = "manage:agent")]
    ManageAgent,
    #[serde(rename = "read:customer")]
    ReadCustomer,
    #[serde(rename = "write:customer")]
    WriteCustomer,
    #[serde(rename = "read:reports")]
    ReadReports,
    #[serde(rename = "manage:settings")]
    ManageSettings,
    #[serde(rename = "send:notification")]
    SendNotification,
    #[serde(rename = "read:feedback")]
    ReadFeedback,
}

string_enum!(Scope {
    ReadQueue => "read:queue",
    WriteQueue => "write:queue",
    ManageQueue => "manage:queue",
    ReadTicket => "read:ticket",
    WriteTicket => "write:ticket",
    ManageTicket => "manage:ticket",
    ReadAgent => "read:agent",
    ManageAgent => "manage:agent",
    ReadCustomer => "read:customer",
    WriteCustomer => "write:customer",
    ReadReports => "read:reports",
    ManageSettings => "manage:settings",
    SendNotification => "send:notification",
    ReadFeedback => "read:feedback",
});

impl Role {
    /// The scopes a role grants (design §2, as in the original SmartQueue): admin has all 14,
    /// manager everything but tenant settings, agent what a counter needs.
    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Role::Admin => Scope::ALL,
            Role::Manager => &[
                ReadQueue,
                WriteQueue,
                ManageQueue,
                ReadTicket,
                WriteTicket,
                ManageTicket,
                ReadAgent,
                ManageAgent,
                ReadCustomer,
                WriteCustomer,
                ReadReports,
                SendNotification,
                ReadFeedback,
            ],
            Role::Agent => &[
                ReadQueue,
                ReadTicket,
                WriteTicket,
                ReadAgent,
                ReadCustomer,
                WriteCustomer,
            ],
        }
    }

    /// Whether this role grants `scope`.
    pub fn has(self, scope: Scope) -> bool {
        self.scopes().contains(&scope)
    }
}

/// A user's access to one tenant, with the role that fixes their scopes there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantMembership {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// What an agent is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Ready to call the next ticket.
    Available,
    /// Holding a called / in-service / paused ticket (set by the server, not by the agent).
    Busy,
    /// On a break: not calling, still signed in.
    Break,
    Offline,
}

string_enum!(AgentStatus {
    Available => "available",
    Busy => "busy",
    Break => "break",
    Offline => "offline",
});

/// The agent side of a membership with role `agent`: where they sit and what they serve.
///
/// Serialized with `current_status` beside `status` (the same value: the name the SmartQueue
/// contract gives the agent's live status); reading ignores it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentProfile {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub counter_id: Option<Uuid>,
    pub status: AgentStatus,
    /// Queues this agent calls from (call-next without `queue_id` uses all of them).
    pub queue_ids: Vec<Uuid>,
    /// The ticket the agent holds (called, in service or paused), if any.
    pub current_ticket_id: Option<Uuid>,
    pub status_changed_at: DateTime<Utc>,
}

impl Serialize for AgentProfile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("AgentProfile", 9)?;
        out.serialize_field("id", &self.id)?;
        out.serialize_field("tenant_id", &self.tenant_id)?;
        out.serialize_field("user_id", &self.user_id)?;
        out.serialize_field("counter_id", &self.counter_id)?;
        out.serialize_field("status", &self.status)?;
        out.serialize_field("current_status", &self.status)?;
        out.serialize_field("queue_ids", &self.queue_ids)?;
        out.serialize_field("current_ticket_id", &self.current_ticket_id)?;
        out.serialize_field("status_changed_at", &self.status_changed_at)?;
        out.end()
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: sites, services, queues, counters
// ---------------------------------------------------------------------------------------------

/// Opening hours of a site for one weekday (0 = Monday … 6 = Sunday), local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpeningHours {
    pub weekday: u8,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
}

/// A physical branch. Its `timezone` (IANA name) fixes business days and displayed times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Site {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// IANA time zone, e.g. `Europe/Paris`; validated with [`crate::numbering::parse_timezone`].
    pub timezone: String,
    pub opening_hours: Vec<OpeningHours>,
    pub created_at: DateTime<Utc>,
}

/// Something a customer comes for (accounts, parcels, consultations…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Service {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    /// Service time assumed for ETA until enough history exists.
    pub default_service_seconds: u32,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// How a queue orders its waiting tickets (see [`crate::selection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueueAlgorithm {
    /// First come, first served.
    Fifo,
    /// Priority levels with aging: no ticket waits beyond `max_wait_seconds` behind later
    /// higher-priority arrivals.
    Priority,
    /// Earliest deadline first against the queue's SLA target.
    Sla,
}

string_enum!(QueueAlgorithm { Fifo => "fifo", Priority => "priority", Sla => "sla" });

/// A waiting line at a site for a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Queue {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub site_id: Uuid,
    pub service_id: Uuid,
    pub name: String,
    /// Ticket number prefix, e.g. `A` → `A042`.
    pub prefix: String,
    pub algorithm: QueueAlgorithm,
    /// Target waiting time: tickets waiting longer breach the SLA.
    pub sla_target_seconds: u32,
    /// Aging bound of the priority algorithm: the longest a normal ticket is overtaken by
    /// higher-priority arrivals.
    pub max_wait_seconds: u32,
    /// Refuse new tickets beyond this many waiting (None = unlimited).
    pub max_length: Option<u32>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// A desk or window where an agent serves customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counter {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub site_id: Uuid,
    /// Shown and announced on displays ("guichet 3").
    pub name: String,
    /// The counter's number at its site (what an agent gives as `counter_number`).
    #[serde(default)]
    pub number: Option<u32>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Customers and tickets
// ---------------------------------------------------------------------------------------------

/// How a customer wants to be told about their turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPreferences {
    pub sms: bool,
    pub email: bool,
    pub push: bool,
    pub whatsapp: bool,
}

/// A person who takes tickets and books appointments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Customer {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// BCP 47 language tag for messages, e.g. `fr` or `en`.
    pub language: String,
    pub notification_preferences: NotificationPreferences,
    pub created_at: DateTime<Utc>,
}

/// Lifecycle status of a ticket (design §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Waiting,
    Called,
    InService,
    Paused,
    Closed,
    NoShow,
    Cancelled,
}

string_enum!(TicketStatus {
    Waiting => "waiting",
    Called => "called",
    InService => "in_service",
    Paused => "paused",
    Closed => "closed",
    NoShow => "no_show",
    Cancelled => "cancelled",
});

impl TicketStatus {
    /// Closed, no-show and cancelled tickets accept no further action.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TicketStatus::Closed | TicketStatus::NoShow | TicketStatus::Cancelled
        )
    }

    /// Called, in service or paused: the ticket is held by an agent.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TicketStatus::Called | TicketStatus::InService | TicketStatus::Paused
        )
    }
}

/// Priority level of a ticket; higher levels are served earlier by the priority algorithm.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    #[default]
    Normal,
    Appointment,
    Elderly,
    Vip,
}

string_enum!(Priority {
    Normal => "normal",
    Appointment => "appointment",
    Elderly => "elderly",
    Vip => "vip",
});

impl Priority {
    /// The highest level.
    pub const MAX_LEVEL: u8 = 3;

    /// Numeric level, 0 (normal) ..= [`Priority::MAX_LEVEL`] (VIP).
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// Where a ticket was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Kiosk,
    Mobile,
    Web,
    Staff,
    Appointment,
}

string_enum!(Channel {
    Kiosk => "kiosk",
    Mobile => "mobile",
    Web => "web",
    Staff => "staff",
    Appointment => "appointment",
});

/// Where a transferred ticket is placed in its target queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Ahead of every normally queued ticket (e.g. sent on to a specialist mid-service).
    Front,
    /// Behind everyone waiting now, as if it had just arrived.
    #[default]
    End,
    /// Where its original arrival time puts it.
    ByArrival,
}

string_enum!(Placement { Front => "front", End => "end", ByArrival => "by_arrival" });

/// The ordering lane of a waiting ticket: tickets transferred with [`Placement::Front`] are in
/// the front lane and are served before the normal lane whatever the queue's algorithm.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    Front,
    #[default]
    Normal,
}

/// One hop of a transfer, kept on the ticket for its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferHop {
    pub from_queue_id: Uuid,
    pub to_queue_id: Uuid,
    pub from_status: TicketStatus,
    pub placement: Placement,
    pub reason: Option<String>,
    pub by_agent_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// A customer's place in a queue. A transfer keeps the same ticket (id, number, tracking token)
/// and moves it to another queue.
// repr(C) with the fields next-ticket selection reads first: a scan of a long line then touches
// one cache line per ticket instead of several (core/benches/rules.rs).
#[repr(C)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    pub id: Uuid,
    pub queue_id: Uuid,
    /// When the ticket entered its current queue's order (see [`Placement`]).
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub queued_at: DateTime<Utc>,
    /// The `n` of the number within its queue's business day.
    pub sequence: u32,
    pub status: TicketStatus,
    pub priority: Priority,
    pub lane: Lane,
    pub tenant_id: Uuid,
    /// Displayed number, e.g. `A042` (see [`crate::numbering`]).
    pub number: String,
    /// Local date (site time zone) the number belongs to.
    pub business_day: NaiveDate,
    pub channel: Channel,
    pub customer_id: Option<Uuid>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    /// Secret token of the public tracking link; unguessable and distinct from `id`. Empty (and
    /// then left out of the JSON) where the ticket travels without it, as in events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tracking_token: String,
    pub agent_id: Option<Uuid>,
    pub counter_id: Option<Uuid>,
    /// When the customer first took the ticket (never changes, even across transfers).
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub arrived_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timefmt::option::serialize")]
    pub called_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timefmt::option::serialize")]
    pub last_called_at: Option<DateTime<Utc>>,
    pub recall_count: u32,
    #[serde(serialize_with = "crate::timefmt::option::serialize")]
    pub service_started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timefmt::option::serialize")]
    pub paused_at: Option<DateTime<Utc>>,
    /// Total time spent paused, excluded from service time.
    pub paused_seconds: u32,
    #[serde(serialize_with = "crate::timefmt::option::serialize")]
    pub closed_at: Option<DateTime<Utc>>,
    pub transfers: Vec<TransferHop>,
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl Ticket {
    /// Seconds from arrival to the first call (`None` until called): the customer's wait.
    pub fn wait_time_seconds(&self) -> Option<u32> {
        self.called_at.map(|c| {
            (c - self.arrived_at)
                .num_seconds()
                .clamp(0, i64::from(u32::MAX)) as u32
        })
    }

    /// A freshly issued waiting ticket with normal priority, issued by staff, no customer, and an
    /// empty tracking token (the issuer sets the fields it knows).
    pub fn waiting(
        tenant_id: Id,
        queue_id: Id,
        number: String,
        sequence: u32,
        business_day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Ticket {
        Ticket {
            id: Uuid::now_v7(),
            tenant_id,
            queue_id,
            number,
            sequence,
            business_day,
            status: TicketStatus::Waiting,
            priority: Priority::Normal,
            channel: Channel::Staff,
            customer_id: None,
            customer_name: None,
            customer_phone: None,
            tracking_token: String::new(),
            agent_id: None,
            counter_id: None,
            arrived_at: now,
            queued_at: now,
            lane: Lane::Normal,
            called_at: None,
            last_called_at: None,
            recall_count: 0,
            service_started_at: None,
            paused_at: None,
            paused_seconds: 0,
            closed_at: None,
            transfers: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Seconds of actual service (start to close, pauses excluded), once closed.
    pub fn service_seconds(&self) -> Option<u32> {
        let (start, end) = (self.service_started_at?, self.closed_at?);
        let total = (end - start).num_seconds().max(0) as u64;
        Some(total.saturating_sub(u64::from(self.paused_seconds)) as u32)
    }

    /// Seconds waited in the current queue before the first call (or until `now` if waiting).
    pub fn waited_seconds(&self, now: DateTime<Utc>) -> u32 {
        let end = self.called_at.unwrap_or(now);
        (end - self.queued_at).num_seconds().max(0) as u32
    }
}

/// Status of a booked appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    CheckedIn,
    Completed,
    Cancelled,
    NoShow,
}

string_enum!(AppointmentStatus {
    Booked => "booked",
    CheckedIn => "checked_in",
    Completed => "completed",
    Cancelled => "cancelled",
    NoShow => "no_show",
});

/// A booked slot; checking in issues a ticket with [`Channel::Appointment`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Appointment {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub site_id: Uuid,
    pub service_id: Uuid,
    pub customer_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: AppointmentStatus,
    pub ticket_id: Option<Uuid>,
    pub notes: String,
    pub created_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Notifications and feedback
// ---------------------------------------------------------------------------------------------

/// Delivery channel of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationChannel {
    Sms,
    Whatsapp,
    Email,
    Push,
}

string_enum!(NotificationChannel {
    Sms => "sms",
    Whatsapp => "whatsapp",
    Email => "email",
    Push => "push",
});

/// What triggers a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationEvent {
    TicketCreated,
    TurnNear,
    TicketCalled,
    TicketTransferred,
    FeedbackRequest,
    AppointmentReminder,
}

string_enum!(NotificationEvent {
    TicketCreated => "ticket_created",
    TurnNear => "turn_near",
    TicketCalled => "ticket_called",
    TicketTransferred => "ticket_transferred",
    FeedbackRequest => "feedback_request",
    AppointmentReminder => "appointment_reminder",
});

/// A message template with `{{variable}}` placeholders (e.g. `{{ticket_number}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationTemplate {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event: NotificationEvent,
    pub channel: NotificationChannel,
    pub language: String,
    pub subject: Option<String>,
    pub body: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// Delivery status in the notification outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    Pending,
    Sent,
    Delivered,
    Failed,
}

string_enum!(NotificationStatus {
    Pending => "pending",
    Sent => "sent",
    Delivered => "delivered",
    Failed => "failed",
});

/// One message in the persistent notification outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub channel: NotificationChannel,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub status: NotificationStatus,
    pub attempts: u32,
    pub provider_message_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A customer's rating after service: CSAT 1–5 and/or NPS 0–10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Feedback {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub csat: Option<u8>,
    pub nps: Option<u8>,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

/// Why a feedback submission is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    #[error("csat must be between 1 and 5, got {0}")]
    CsatOutOfRange(u8),
    #[error("nps must be between 0 and 10, got {0}")]
    NpsOutOfRange(u8),
    #[error("give at least a csat or an nps score")]
    Empty,
}

impl Feedback {
    /// Checks the score ranges.
    pub fn validate(&self) -> Result<(), FeedbackError> {
        match (self.csat, self.nps) {
            (None, None) => Err(FeedbackError::Empty),
            (Some(c), _) if !(1..=5).contains(&c) => Err(FeedbackError::CsatOutOfRange(c)),
            (_, Some(n)) if n > 10 => Err(FeedbackError::NpsOutOfRange(n)),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------------------------

/// A waiting-room screen, paired with a code and then authenticated by a device token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Display {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub site_id: Uuid,
    pub name: String,
    pub queue_ids: Vec<Uuid>,
    pub language: String,
    /// `landscape` or `portrait`.
    pub layout: String,
    /// Scrolling message shown at the bottom of the screen.
    pub message: String,
    pub is_paired: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A ticket machine at the door.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Kiosk {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub site_id: Uuid,
    pub name: String,
    pub queue_ids: Vec<Uuid>,
    pub language: String,
    /// ESC/POS printer: `tcp://host:9100` or a device path.
    pub printer: Option<String>,
    pub is_paired: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Billing
// ---------------------------------------------------------------------------------------------

/// Billing period of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BillingInterval {
    Month,
    Year,
}

string_enum!(BillingInterval { Month => "month", Year => "year" });

/// A plan the platform sells; quotas are enforced by the server (None = unlimited).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubscriptionPlan {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
    pub interval: BillingInterval,
    pub trial_days: u32,
    pub max_sites: Option<u32>,
    pub max_queues: Option<u32>,
    pub max_agents: Option<u32>,
    pub max_tickets_per_month: Option<u32>,
    pub is_active: bool,
}

/// State of a tenant's subscription (dunning moves `past_due` to `suspended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Trialing,
    Active,
    PastDue,
    Suspended,
    Cancelled,
}

string_enum!(SubscriptionStatus {
    Trialing => "trialing",
    Active => "active",
    PastDue => "past_due",
    Suspended => "suspended",
    Cancelled => "cancelled",
});

/// A tenant's subscription to a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub plan_id: Uuid,
    pub status: SubscriptionStatus,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub created_at: DateTime<Utc>,
}

/// Status of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

string_enum!(InvoiceStatus {
    Draft => "draft",
    Open => "open",
    Paid => "paid",
    Void => "void",
    Uncollectible => "uncollectible",
});

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceLine {
    pub description: String,
    pub quantity: u32,
    pub unit_amount_cents: i64,
}

/// A bill for one subscription period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invoice {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subscription_id: Uuid,
    pub number: String,
    pub amount_cents: i64,
    pub currency: String,
    pub status: InvoiceStatus,
    pub lines: Vec<InvoiceLine>,
    pub issued_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// Status of a payment attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
    Refunded,
}

string_enum!(PaymentStatus {
    Pending => "pending",
    Succeeded => "succeeded",
    Failed => "failed",
    Refunded => "refunded",
});

/// One attempt to collect an invoice through the payment provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub invoice_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    pub status: PaymentStatus,
    pub provider_ref: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

/// Who, what, when, before/after of one state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditLog {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The signed-in user, or None for devices, public requests and scheduled jobs.
    pub actor_user_id: Option<Uuid>,
    /// `user`, `device`, `public` or `system`.
    pub actor_kind: String,
    /// e.g. `ticket.call`, `queue.update`.
    pub action: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}
