//! The service layer: every business decision that is not a pure core rule (design §8).
//!
//! Handlers parse, authorize, call a service and present its result; WebSocket sessions and
//! background tasks call the same services. Services use core's rules and the store, and
//! nothing here knows HTTP.

pub mod agents;
pub mod devices;
pub mod entities;
pub mod eta;
pub mod members;
pub mod queues;
pub mod sessions;
pub mod tenants;
pub mod tickets;
