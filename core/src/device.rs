//! Device pairing for displays and kiosks (feature `client`).
//!
//! A fresh device asks the server for a short code ([`ApiClient::start_pairing`]) and shows it;
//! an admin enters the code in the console; the device's poll
//! ([`ApiClient::poll_pairing`]) then returns its [`DeviceCredentials`] — once. The app keeps
//! them in its local store; a revoked device is refused (close code 4401, HTTP 401
//! `device_not_paired`) and starts over.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{ApiClient, ApiError};

/// What a device offers to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceMode {
    /// A waiting-room screen.
    Display,
    /// A ticket machine.
    Kiosk,
}

impl DeviceMode {
    /// `display` / `kiosk`, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceMode::Display => "display",
            DeviceMode::Kiosk => "kiosk",
        }
    }
}

/// A code the device shows while it waits for an admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairingCode {
    pub id: String,
    /// e.g. `K7Q-4MZ`.
    pub code: String,
    pub secret: String,
    pub mode: DeviceMode,
    pub expires_at: DateTime<Utc>,
    pub poll_seconds: u32,
}

/// What a paired device keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceCredentials {
    pub base_url: String,
    pub tenant_slug: String,
    pub mode: DeviceMode,
    pub device_id: String,
    /// The device token (`sqd_…`).
    pub token: String,
    /// The configuration at pairing time (the sync engine keeps it current).
    pub device: Value,
}

impl DeviceCredentials {
    /// The WebSocket channel of the device (after `ws/tenants/{slug}/`).
    pub fn channel(&self) -> String {
        format!("{}s/{}/", self.mode.as_str(), self.device_id)
    }

    /// The REST snapshot of the device (after `/api/v1/tenants/{slug}/`).
    pub fn snapshot(&self) -> String {
        match self.mode {
            DeviceMode::Display => format!("displays/{}/board/", self.device_id),
            DeviceMode::Kiosk => format!("kiosks/{}/menu/", self.device_id),
        }
    }
}

/// The answer to a poll.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    /// Nobody has entered the code yet.
    Pending,
    /// Paired: keep these.
    Paired(DeviceCredentials),
    /// The code lapsed (or was already used): ask for a new one.
    Expired,
}

impl ApiClient {
    /// Asks for a pairing code to show.
    pub async fn start_pairing(&self, mode: DeviceMode) -> Result<PairingCode, ApiError> {
        self.post(
            "/api/v1/public/devices/pairings/",
            &json!({ "mode": mode.as_str() }),
        )
        .await
    }

    /// Polls a pairing once.
    pub async fn poll_pairing(&self, p: &PairingCode) -> Result<PollOutcome, ApiError> {
        let got: Result<Value, ApiError> = self
            .post(
                &format!("/api/v1/public/devices/pairings/{}/claim/", p.id),
                &json!({ "secret": p.secret }),
            )
            .await;
        let v = match got {
            Ok(v) => v,
            Err(ApiError::Api { status: 404, .. }) => return Ok(PollOutcome::Expired),
            Err(e) => return Err(e),
        };
        if v["status"] != "paired" {
            return Ok(PollOutcome::Pending);
        }
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Ok(PollOutcome::Paired(DeviceCredentials {
            base_url: self.base_url().to_owned(),
            tenant_slug: text("tenant_slug"),
            mode: p.mode,
            device_id: text("device_id"),
            token: text("token"),
            device: v["device"].clone(),
        }))
    }
}
