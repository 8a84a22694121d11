//! Tenants, users, roles and scopes, memberships, agent profiles.

use super::*;

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
