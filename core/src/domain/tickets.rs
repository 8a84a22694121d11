//! Customers, tickets (with their transfers) and appointments.

use super::*;

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
    /// The latest hops, at most [`crate::lifecycle::HOP_HISTORY`] (older ones are dropped).
    pub transfers: Vec<TransferHop>,
    /// How many times the ticket was transferred in all (the hops kept are the latest).
    #[serde(default)]
    pub transfer_count: u32,
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub updated_at: DateTime<Utc>,
    /// The kiosk that issued it, if a kiosk did: only that kiosk may take it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<Uuid>,
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
            transfer_count: 0,
            created_at: now,
            updated_at: now,
            issued_by: None,
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
