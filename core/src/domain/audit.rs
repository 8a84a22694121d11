//! The audit log.

use super::*;

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
