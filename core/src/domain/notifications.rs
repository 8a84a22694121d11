//! Notification templates and messages, and customer feedback.

use super::*;

/// Delivery channel of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationChannel {
    Sms,
    Whatsapp,
    Email,
    Push,
}

string_enum!(NotificationChannel {
    Sms => "sms",
    Whatsapp => "whatsapp",
    Email => "email",
    Push => "push",
});

/// What triggers a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationEvent {
    TicketCreated,
    TurnNear,
    TicketCalled,
    TicketTransferred,
    FeedbackRequest,
    AppointmentReminder,
}

string_enum!(NotificationEvent {
    TicketCreated => "ticket_created",
    TurnNear => "turn_near",
    TicketCalled => "ticket_called",
    TicketTransferred => "ticket_transferred",
    FeedbackRequest => "feedback_request",
    AppointmentReminder => "appointment_reminder",
});

/// A message template with `{{variable}}` placeholders (e.g. `{{ticket_number}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationTemplate {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event: NotificationEvent,
    pub channel: NotificationChannel,
    pub language: String,
    pub subject: Option<String>,
    pub body: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// Delivery status in the notification outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    Pending,
    Sent,
    Delivered,
    Failed,
}

string_enum!(NotificationStatus {
    Pending => "pending",
    Sent => "sent",
    Delivered => "delivered",
    Failed => "failed",
});

/// One message in the persistent notification outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub channel: NotificationChannel,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub status: NotificationStatus,
    pub attempts: u32,
    pub provider_message_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A customer's rating after service: CSAT 1–5 and/or NPS 0–10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Feedback {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub csat: Option<u8>,
    pub nps: Option<u8>,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

/// Why a feedback submission is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    #[error("csat must be between 1 and 5, got {0}")]
    CsatOutOfRange(u8),
    #[error("nps must be between 0 and 10, got {0}")]
    NpsOutOfRange(u8),
    #[error("give at least a csat or an nps score")]
    Empty,
}

impl Feedback {
    /// Checks the score ranges.
    pub fn validate(&self) -> Result<(), FeedbackError> {
        match (self.csat, self.nps) {
            (None, None) => Err(FeedbackError::Empty),
            (Some(c), _) if !(1..=5).contains(&c) => Err(FeedbackError::CsatOutOfRange(c)),
            (_, Some(n)) if n > 10 => Err(FeedbackError::NpsOutOfRange(n)),
            _ => Ok(()),
        }
    }
}
