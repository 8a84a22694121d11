//! # smartqueue-core
//!
//! The shared heart of SmartQueue: the domain model and the rules of a queue.
//!
//! The modules at the top of this list are **I/O-free and clock-free**: every function that
//! depends on time takes `now` as an argument. That keeps them exhaustively testable and lets the
//! server, the desktop/mobile/display apps and the FFI bindings share exactly one implementation.
//!
//! * [`domain`] — the entities (tenants, queues, tickets, …) with the API's JSON field names.
//! * [`lifecycle`] — the ticket state machine: the single place that decides which action is
//!   allowed from which status and what it results in.
//! * [`selection`] — which waiting ticket an agent gets next (FIFO, priority with aging, SLA).
//! * [`numbering`] — ticket numbers (`A042`) and business days in the site's time zone.
//! * [`eta`] — P50/P90 waiting-time estimates from measured service times.
//! * [`staffing`] — Erlang C staffing maths.
//! * [`announce`] — what a display shows and says for a call ("Ticket A 0 4 2, guichet 3").
//! * [`timefmt`] — timestamps serialized as chrono does, faster (the server's hot paths).
//!
//! Behind features, for the apps only:
//! * `client` — [`client::ApiClient`], the HTTP client of the SmartQueue REST API, and
//!   [`device`], pairing for displays and kiosks.
//! * `store` — [`store::LocalStore`], the versioned rusqlite store for offline state.
//! * `sync` — [`sync::SyncEngine`], events + snapshot + local state + outbox for the apps, and
//!   [`kiosk::KioskIssuer`], ticket issuing that survives network drops.

pub mod announce;
pub mod domain;
pub mod eta;
pub mod event;
pub mod lifecycle;
pub mod numbering;
pub mod selection;
pub mod staffing;
pub mod timefmt;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod device;
#[cfg(feature = "sync")]
pub mod kiosk;
#[cfg(feature = "store")]
pub mod store;
#[cfg(feature = "sync")]
pub mod sync;

pub use domain::*;
