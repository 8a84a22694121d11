//! Typed real-time events (design §5): one [`Event`] variant per event type, with a typed
//! payload. The server emits them, routes them to channels and stores them; the sync engine and
//! the apps consume them. Nobody builds or reads an event as loose JSON.
//!
//! On the wire (WebSocket frames, the `events` log) an event travels in its [`Envelope`]
//! `{seq, type, tenant, at, data}`: `type` is [`Event::kind`], `data` the payload's JSON. The
//! tests in `core/tests/event_wire.rs` pin that format byte for byte.

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::announce::CallDisplay;
use crate::{AgentProfile, Display, Kiosk, Ticket};

/// A ticket event's payload: the ticket as it is after the change (never its tracking token),
/// its place in line, the new lengths of the queues the change touched and, for a call or a
/// recall, what a waiting-room screen shows and says.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TicketEvent {
    #[serde(flatten)]
    pub ticket: Ticket,
    /// 1-based place in its queue's calling order while waiting.
    pub position: Option<u32>,
    /// The new number waiting in each queue the change touched.
    #[serde(default)]
    pub queues: Vec<QueueLength>,
    /// What a screen shows and announces for a call or recall.
    #[serde(default)]
    pub display: Option<CallDisplay>,
    /// Made for a public place ([`Event::public`]): the customer fields are left out of the JSON
    /// altogether, not sent as null.
    #[serde(skip)]
    pub redacted: bool,
}

/// Ticket fields a public place or a customer never receives: who the customer is, and which
/// agent holds the ticket (a screen shows the counter, from the call's `display`).
const PRIVATE_FIELDS: [&str; 4] = ["customer_name", "customer_phone", "customer_id", "agent_id"];

impl Serialize for TicketEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Full<'a> {
            #[serde(flatten)]
            ticket: &'a Ticket,
            position: Option<u32>,
            #[serde(skip_serializing_if = "<[QueueLength]>::is_empty")]
            queues: &'a [QueueLength],
            #[serde(skip_serializing_if = "Option::is_none")]
            display: &'a Option<CallDisplay>,
        }
        let full = Full {
            ticket: &self.ticket,
            position: self.position,
            queues: &self.queues,
            display: &self.display,
        };
        if !self.redacted {
            return full.serialize(s);
        }
        // Rare (once per event, for all the screens that share it): through a JSON value.
        let mut v = serde_json::to_value(&full).map_err(serde::ser::Error::custom)?;
        if let Some(m) = v.as_object_mut() {
            for f in PRIVATE_FIELDS {
                m.remove(f);
            }
        }
        v.serialize(s)
    }
}

impl TicketEvent {
    /// The payload for `ticket` (its tracking token left out) at `position`.
    pub fn new(mut ticket: Ticket, position: Option<u32>) -> Self {
        ticket.tracking_token = String::new();
        TicketEvent {
            ticket,
            position,
            queues: Vec::new(),
            display: None,
            redacted: false,
        }
    }
}

/// How many tickets wait in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueLength {
    pub queue_id: Uuid,
    pub waiting: u32,
}

/// A queue's estimated wait moved noticeably (or its agents changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEta {
    pub queue_id: Uuid,
    pub waiting: u32,
    /// Median wait of a ticket taken now.
    pub eta_next_seconds: Option<u32>,
    pub eta_next_p90_seconds: Option<u32>,
    pub active_agents: u32,
}

/// A display or kiosk whose tokens were revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRef {
    pub id: Uuid,
}

/// Why an event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unknown event type {0}")]
    UnknownType(String),
    #[error("event {kind}: {source}")]
    Payload {
        kind: &'static str,
        source: serde_json::Error,
    },
}

/// Declares [`Event`] with its type strings and payload (de)serialization, from one table.
macro_rules! events {
    ($( $(#[$doc:meta])* $variant:ident($payload:ty) = $kind:literal, )*) => {
        /// Something that happened in a tenant, as every part of the system sees it.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $( $(#[$doc])* $variant($payload), )*
        }

        impl Event {
            /// Every event type, as on the wire.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];

            /// The event's type on the wire, e.g. `ticket.called`.
            pub fn kind(&self) -> &'static str {
                match self { $( Event::$variant(_) => $kind, )* }
            }

            /// Reads an event from its type and payload JSON.
            pub fn from_parts(kind: &str, data: &str) -> Result<Event, EventError> {
                match kind {
                    $( $kind => serde_json::from_str(data)
                        .map(Event::$variant)
                        .map_err(|source| EventError::Payload { kind: $kind, source }), )*
                    other => Err(EventError::UnknownType(other.to_owned())),
                }
            }

            /// Reads an event from its type and payload as a JSON value.
            pub fn from_value(kind: &str, data: serde_json::Value) -> Result<Event, EventError> {
                match kind {
                    $( $kind => serde_json::from_value(data)
                        .map(Event::$variant)
                        .map_err(|source| EventError::Payload { kind: $kind, source }), )*
                    other => Err(EventError::UnknownType(other.to_owned())),
                }
            }

            fn serialize_data<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $( Event::$variant(d) => d.serialize(s), )* }
            }
        }
    };
}

events! {
    /// A ticket was issued (at a counter, a kiosk, online, or offline by a kiosk).
    TicketCreated(TicketEvent) = "ticket.created",
    TicketCalled(TicketEvent) = "ticket.called",
    TicketRecalled(TicketEvent) = "ticket.recalled",
    TicketStarted(TicketEvent) = "ticket.started",
    TicketClosed(TicketEvent) = "ticket.closed",
    TicketPaused(TicketEvent) = "ticket.paused",
    TicketResumed(TicketEvent) = "ticket.resumed",
    TicketTransferred(TicketEvent) = "ticket.transferred",
    TicketNoShow(TicketEvent) = "ticket.no_show",
    TicketCancelled(TicketEvent) = "ticket.cancelled",
    /// An agent's status, counter or queues changed through a status change.
    AgentStatus(AgentProfile) = "agent.status",
    QueueEta(QueueEta) = "queue.eta",
    DisplayPaired(Display) = "display.paired",
    /// A display's configuration changed: it follows it live.
    DisplayUpdated(Display) = "display.updated",
    /// A display's tokens were revoked: its session closes.
    DisplayRevoked(DeviceRef) = "display.revoked",
    KioskPaired(Kiosk) = "kiosk.paired",
    KioskUpdated(Kiosk) = "kiosk.updated",
    KioskRevoked(DeviceRef) = "kiosk.revoked",
}

/// The payload of whichever ticket variant `$e` is (by reference or mutable reference).
macro_rules! ticket_variants {
    ($e:expr) => {
        match $e {
            Event::TicketCreated(t)
            | Event::TicketCalled(t)
            | Event::TicketRecalled(t)
            | Event::TicketStarted(t)
            | Event::TicketClosed(t)
            | Event::TicketPaused(t)
            | Event::TicketResumed(t)
            | Event::TicketTransferred(t)
            | Event::TicketNoShow(t)
            | Event::TicketCancelled(t) => Some(t),
            _ => None,
        }
    };
}

impl Event {
    /// The ticket event for a lifecycle transition (see [`crate::lifecycle::TicketEventKind`]).
    pub fn of_transition(kind: crate::lifecycle::TicketEventKind, data: TicketEvent) -> Event {
        use crate::lifecycle::TicketEventKind as K;
        match kind {
            K::Called => Event::TicketCalled(data),
            K::Recalled => Event::TicketRecalled(data),
            K::Started => Event::TicketStarted(data),
            K::Closed => Event::TicketClosed(data),
            K::Paused => Event::TicketPaused(data),
            K::Resumed => Event::TicketResumed(data),
            K::Transferred => Event::TicketTransferred(data),
            K::NoShow => Event::TicketNoShow(data),
            K::Cancelled => Event::TicketCancelled(data),
        }
    }

    /// The ticket payload of a ticket event.
    pub fn ticket(&self) -> Option<&TicketEvent> {
        ticket_variants!(self)
    }

    fn ticket_mut(&mut self) -> Option<&mut TicketEvent> {
        ticket_variants!(self)
    }

    /// Every queue the event concerns: a ticket's queue (and the queue a transfer left), the
    /// queues whose lengths it carries, a device's queues, an estimate's queue.
    pub fn queue_ids(&self) -> Vec<Uuid> {
        let mut out = Vec::new();
        if let Some(t) = self.ticket() {
            out.push(t.ticket.queue_id);
            if let (Event::TicketTransferred(_), Some(hop)) = (self, t.ticket.transfers.last()) {
                out.push(hop.from_queue_id);
            }
            out.extend(t.queues.iter().map(|q| q.queue_id));
        }
        match self {
            Event::QueueEta(e) => out.push(e.queue_id),
            Event::AgentStatus(a) => out.extend(&a.queue_ids),
            Event::DisplayPaired(d) | Event::DisplayUpdated(d) => out.extend(&d.queue_ids),
            Event::KioskPaired(k) | Event::KioskUpdated(k) => out.extend(&k.queue_ids),
            _ => {}
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The event as a screen in a public place or a customer may see it: no customer's name,
    /// phone or id, no agent's id, no staff notes (transfer reasons, which agent moved a ticket).
    /// Other events are unchanged.
    pub fn public(&self) -> Event {
        let mut e = self.clone();
        if let Some(t) = e.ticket_mut() {
            t.redacted = true;
            t.ticket.customer_name = None;
            t.ticket.customer_phone = None;
            t.ticket.customer_id = None;
            t.ticket.agent_id = None;
            for hop in &mut t.ticket.transfers {
                hop.reason = None;
                hop.by_agent_id = None;
            }
        }
        e
    }

    /// The payload's JSON (what the `events` log stores beside the type).
    pub fn data_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&Data(self))
    }
}

/// Serializes the payload of an event alone.
struct Data<'a>(&'a Event);

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_data(s)
    }
}

/// A committed event with its place in the tenant's log: the real-time envelope
/// `{seq, type, tenant, at, data}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Strictly increasing per tenant.
    pub seq: i64,
    /// Tenant slug.
    pub tenant: String,
    pub at: DateTime<Utc>,
    pub event: Event,
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("Envelope", 5)?;
        out.serialize_field("seq", &self.seq)?;
        out.serialize_field("type", self.event.kind())?;
        out.serialize_field("tenant", &self.tenant)?;
        out.serialize_field("at", &self.at)?;
        out.serialize_field("data", &Data(&self.event))?;
        out.end()
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            seq: i64,
            #[serde(rename = "type")]
            kind: String,
            tenant: String,
            at: DateTime<Utc>,
            data: Box<serde_json::value::RawValue>,
        }
        let raw = Raw::deserialize(d)?;
        let event = Event::from_parts(&raw.kind, raw.data.get()).map_err(D::Error::custom)?;
        Ok(Envelope {
            seq: raw.seq,
            tenant: raw.tenant,
            at: raw.at,
            event,
        })
    }
}
