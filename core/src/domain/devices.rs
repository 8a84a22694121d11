//! Devices in public places: displays and kiosks.

use super::*;

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
