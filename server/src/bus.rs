//! The live event bus: committed events, published after their transaction commits, to every
//! subscriber of this process (WebSocket sessions, the `queue.eta` task).
//!
//! A backend publishes through [`EventBus`]; [`InProcessBus`] is the one bus of a single server.
//! A deployment of several instances (PostgreSQL) adds a bus that also carries events across
//! instances; subscribers do not change.

use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use serde::Serialize;
use smartqueue_core::Id;
use smartqueue_core::event::{Envelope, Event};

/// One entry of a tenant's event log: the typed event in its envelope `{seq, type, tenant, at,
/// data}` (which is how it serializes), and the tenant's id for routing.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub tenant_id: Id,
    pub envelope: Envelope,
}

impl StoredEvent {
    /// Strictly increasing per tenant, persisted.
    pub fn seq(&self) -> i64 {
        self.envelope.seq
    }

    /// The event itself.
    pub fn event(&self) -> &Event {
        &self.envelope.event
    }

    /// The event as a screen in a public place or a customer sees it ([`Event::public`]).
    pub fn public(&self) -> StoredEvent {
        StoredEvent {
            tenant_id: self.tenant_id,
            envelope: Envelope {
                event: self.envelope.event.public(),
                ..self.envelope.clone()
            },
        }
    }
}

impl Serialize for StoredEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.envelope.serialize(s)
    }
}

/// Events a subscriber may fall behind by before it is told to resync.
pub const BUFFER: usize = 4096;

/// What subscribers receive.
pub type Subscription = broadcast::Receiver<Arc<LiveEvent>>;

/// Where a backend hands its committed events.
pub trait EventBus: Send + Sync + 'static {
    /// Publishes events of one commit, in commit order. Called only after the commit succeeded.
    fn publish(&self, events: Vec<StoredEvent>);
    /// Every event published from now on.
    fn subscribe(&self) -> Subscription;
}

/// A committed event as published to subscribers. Its envelope JSON is made once, by the first
/// WebSocket session that forwards it, and shared by all the others (not by the writer, which
/// would pay for it even with nobody listening).
#[derive(Debug)]
pub struct LiveEvent {
    pub event: StoredEvent,
    // Shared bytes: each session hands the same buffer to its socket, nothing is copied.
    json: OnceLock<Utf8Bytes>,
    /// The public envelope (no customer details), made on first use by a device's session.
    public: OnceLock<Utf8Bytes>,
}

impl LiveEvent {
    /// A committed event.
    pub fn new(event: StoredEvent) -> Self {
        LiveEvent {
            event,
            json: OnceLock::new(),
            public: OnceLock::new(),
        }
    }

    /// The envelope `{seq, type, tenant, at, data}`, serialized once for every subscriber.
    pub fn json(&self) -> &Utf8Bytes {
        self.json.get_or_init(|| {
            serde_json::to_string(&self.event)
                .unwrap_or_default()
                .into()
        })
    }

    /// [`StoredEvent::public`] serialized, once for all the screens and customers that forward
    /// it.
    pub fn public_json(&self) -> &Utf8Bytes {
        self.public.get_or_init(|| {
            serde_json::to_string(&self.event.public())
                .unwrap_or_default()
                .into()
        })
    }
}

/// The bus of one process: a bounded broadcast channel.
#[derive(Debug)]
pub struct InProcessBus(broadcast::Sender<Arc<LiveEvent>>);

impl InProcessBus {
    /// A bus whose subscribers may lag by [`BUFFER`] events.
    pub fn new() -> Self {
        InProcessBus(broadcast::channel(BUFFER).0)
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, events: Vec<StoredEvent>) {
        for e in events {
            // No subscriber is not an error: nobody is listening yet.
            let _ = self.0.send(Arc::new(LiveEvent::new(e)));
        }
    }

    fn subscribe(&self) -> Subscription {
        self.0.subscribe()
    }
}
