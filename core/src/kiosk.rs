//! A kiosk's ticket issuing that keeps working through network drops (feature `sync`).
//!
//! Online, a ticket is issued by the server (with an idempotency key). When the server is
//! unreachable — or its answer does not come in time — the kiosk issues the ticket itself with a
//! number from a block the server leased it in advance (offline numbers start at
//! [`crate::numbering::OFFLINE_FIRST`], so they never collide with the server's), prints it,
//! and queues the issue in the sync engine's outbox; when the link returns the tickets join
//! their queues in issue order, each exactly once. An offline issue that follows an unanswered
//! online attempt names it (`supersedes`), so the server cancels the attempt's ticket if it was
//! created after all: the customer holds exactly one.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{ApiClient, ApiError};
use crate::device::DeviceCredentials;
use crate::store::{LocalStore, StoreError};
use crate::sync::SyncEngine;

const LEASES_KEY: &str = "kiosk.leases";

/// A block of offline numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub queue_id: String,
    pub prefix: String,
    pub business_day: NaiveDate,
    /// The next number to use.
    pub next: u32,
    pub last: u32,
}

impl Lease {
    fn left(&self) -> u32 {
        (self.last + 1).saturating_sub(self.next)
    }
}

/// A ticket the kiosk handed out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedTicket {
    pub number: String,
    pub queue_id: String,
    pub tracking_token: String,
    /// Place in line (estimated from the last known queue length when issued offline).
    pub position: Option<u32>,
    pub eta_seconds: Option<u32>,
    pub issued_at: DateTime<Utc>,
    /// Issued from a lease while the server was unreachable (waiting in the outbox).
    pub offline: bool,
}

/// Why a ticket could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum KioskError {
    /// The server refused (queue closed, full, …): say it, do not print.
    #[error("{0}")]
    Refused(String),
    /// Offline, and no leased number is left for this queue today.
    #[error("no offline numbers left for this queue; the kiosk must reconnect first")]
    NoNumbers,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("outbox: {0}")]
    Outbox(String),
}

/// Issues tickets for one paired kiosk.
pub struct KioskIssuer {
    api: ApiClient,
    kiosk_id: String,
    store: Mutex<LocalStore>,
    /// How long an online issue may take before the kiosk issues offline instead.
    pub online_timeout: Duration,
}

/// One queue the kiosk offers, as its menu shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub queue_id: String,
    pub waiting: Option<u32>,
    pub eta_seconds: Option<u32>,
}

fn new_tracking_token() -> String {
    let bytes: [u8; 24] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl KioskIssuer {
    /// An issuer keeping its leases in `store_path`.
    pub fn new(
        creds: &DeviceCredentials,
        store_path: impl AsRef<Path>,
    ) -> Result<Self, StoreError> {
        let mut api = ApiClient::new(creds.base_url.clone());
        api.set_access_token(Some(creds.token.clone()));
        Ok(KioskIssuer {
            api,
            kiosk_id: creds.device_id.clone(),
            store: Mutex::new(LocalStore::open(store_path)?),
            online_timeout: Duration::from_secs(3),
        })
    }

    fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let store = self.store.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(store.get(LEASES_KEY)?.unwrap_or_default())
    }

    fn save_leases(&self, leases: &[Lease]) -> Result<(), StoreError> {
        let store = self.store.lock().map_err(|_| StoreError::Poisoned)?;
        store.put(LEASES_KEY, &leases)
    }

    /// Offline numbers left for a queue's day.
    pub fn numbers_left(&self, queue_id: &str, day: NaiveDate) -> u32 {
        self.leases()
            .unwrap_or_default()
            .iter()
            .filter(|l| l.queue_id == queue_id && l.business_day == day)
            .map(Lease::left)
            .sum()
    }

    /// While online: makes sure every queue has at least `reserve` leased numbers for `today`
    /// and the next day (the tickets the kiosk can issue through an outage), and forgets spent
    /// or past leases.
    pub async fn top_up(
        &self,
        tenant: &str,
        queue_ids: &[String],
        today: NaiveDate,
        reserve: u32,
    ) -> Result<(), KioskError> {
        let tomorrow = today.succ_opt().unwrap_or(today);
        let mut leases = self.leases().unwrap_or_default();
        leases.retain(|l| l.business_day >= today && l.left() > 0);
        for q in queue_ids {
            for day in [today, tomorrow] {
                loop {
                    let left: u32 = leases
                        .iter()
                        .filter(|l| &l.queue_id == q && l.business_day == day)
                        .map(Lease::left)
                        .sum();
                    if left >= reserve {
                        break;
                    }
                    let got: Value = self
                        .api
                        .post(
                            &format!("/api/v1/tenants/{tenant}/kiosks/{}/leases/", self.kiosk_id),
                            &json!({ "queue_id": q, "business_day": day }),
                        )
                        .await?;
                    leases.push(Lease {
                        queue_id: q.clone(),
                        prefix: got["prefix"].as_str().unwrap_or_default().to_owned(),
                        business_day: day,
                        next: got["first"].as_u64().unwrap_or(0) as u32,
                        last: got["last"].as_u64().unwrap_or(0) as u32,
                    });
                }
            }
        }
        Ok(self.save_leases(&leases)?)
    }

    /// Takes the next leased number of a queue's day, saved before it is used so a crash never
    /// hands it out twice.
    fn take_number(&self, queue_id: &str, day: NaiveDate) -> Result<(String, u32), KioskError> {
        let mut leases = self.leases()?;
        let lease = leases
            .iter_mut()
            .filter(|l| l.queue_id == queue_id && l.business_day == day && l.left() > 0)
            .min_by_key(|l| l.next)
            .ok_or(KioskError::NoNumbers)?;
        let n = lease.next;
        lease.next += 1;
        let prefix = lease.prefix.clone();
        self.save_leases(&leases)?;
        Ok((prefix, n))
    }

    /// Issues a ticket for `offer`: online when the engine is online and the server answers in
    /// time, otherwise from the lease through the outbox.
    pub async fn issue(
        &self,
        engine: &SyncEngine,
        tenant: &str,
        offer: &Offer,
        phone: Option<String>,
        today: NaiveDate,
    ) -> Result<IssuedTicket, KioskError> {
        let path = format!("kiosks/{}/tickets/", self.kiosk_id);
        let mut body = json!({ "queue_id": offer.queue_id, "customer_phone": phone });
        let mut supersedes = None;
        if engine.state().connection == crate::sync::Connection::Online {
            let key = uuid::Uuid::now_v7().to_string();
            let url = format!("/api/v1/tenants/{tenant}/{path}");
            let attempt = tokio::time::timeout(
                self.online_timeout,
                self.api
                    .send_with_key::<Value>("POST", &url, Some(&body), Some(&key)),
            )
            .await;
            match attempt {
                Ok(Ok(t)) => {
                    return Ok(IssuedTicket {
                        number: t["number"].as_str().unwrap_or_default().to_owned(),
                        queue_id: offer.queue_id.clone(),
                        tracking_token: t["tracking_token"].as_str().unwrap_or_default().to_owned(),
                        position: t["position"].as_u64().map(|p| p as u32),
                        eta_seconds: t["eta_seconds"].as_u64().map(|p| p as u32),
                        issued_at: Utc::now(),
                        offline: false,
                    });
                }
                Ok(Err(ApiError::Api { detail, .. })) => return Err(KioskError::Refused(detail)),
                // No answer: the server may or may not have created it.
                Ok(Err(_)) | Err(_) => supersedes = Some(key),
            }
        }
        let (prefix, sequence) = self.take_number(&offer.queue_id, today)?;
        let issued_at = Utc::now();
        let token = new_tracking_token();
        body["offline"] = json!({
            "business_day": today,
            "sequence": sequence,
            "issued_at": issued_at,
            "tracking_token": token,
            "supersedes": supersedes,
        });
        engine
            .enqueue("POST", &path, body)
            .map_err(|e| KioskError::Outbox(e.to_string()))?;
        Ok(IssuedTicket {
            number: crate::numbering::format_number(&prefix, sequence),
            queue_id: offer.queue_id.clone(),
            tracking_token: token,
            position: offer.waiting.map(|w| w + 1),
            eta_seconds: offer.eta_seconds,
            issued_at,
            offline: true,
        })
    }

    /// Takes back a ticket that could not be printed (through the outbox, after its issue).
    pub fn cancel(&self, engine: &SyncEngine, t: &IssuedTicket) -> Result<(), KioskError> {
        engine
            .enqueue(
                "POST",
                &format!("kiosks/{}/tickets/cancel/", self.kiosk_id),
                json!({ "tracking_token": t.tracking_token }),
            )
            .map(|_| ())
            .map_err(|e| KioskError::Outbox(e.to_string()))
    }
}
