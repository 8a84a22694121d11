//! Domain entities of SmartQueue (design §2), one file per aggregate.
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

mod audit;
mod config;
mod devices;
mod notifications;
mod tenancy;
mod tickets;

pub use audit::*;
pub use config::*;
pub use devices::*;
pub use notifications::*;
pub use tenancy::*;
pub use tickets::*;
