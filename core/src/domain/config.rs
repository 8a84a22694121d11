//! Configuration: sites and their opening hours, services, queues, counters.

use super::*;

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
