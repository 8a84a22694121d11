//! The console's session and agent actions, independent of Tauri so they are tested against a
//! real server (`desktop/tests/console.rs`). The Tauri commands in `lib.rs` only forward here.
//!
//! Session: sign in with server URL, e-mail and password; the refresh token (never the
//! password) is kept in the OS keyring ([`Keyring`]; the kernel keyutils backend on a headless
//! Linux box), rotated on every refresh, and removed on sign-out. A restart with a valid
//! refresh token goes straight to work ([`Console::restore`]). Access tokens (15 min) are
//! refreshed silently before they expire, and once more if the server says 401.
//!
//! Errors reach the agent as plain sentences ([`Problem`]), never as a raw code.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use smartqueue_core::Id;
use smartqueue_core::client::{ApiClient, ApiError};

use crate::views::{self, Counter, FloorView, QueueLine, WaitingRow};

/// Keyring service name.
pub const KEYRING_SERVICE: &str = "smartqueue-desktop";
/// Refresh the access token once it is this old (it lives 15 minutes).
const REFRESH_AFTER: Duration = Duration::from_secs(12 * 60);

/// Where the session survives a restart.
pub trait SecretStore: Send + Sync {
    fn load(&self) -> Result<Option<String>, String>;
    fn save(&self, secret: &str) -> Result<(), String>;
    fn clear(&self) -> Result<(), String>;
}

/// The OS keyring.
pub struct Keyring {
    account: String,
}

impl Keyring {
    /// The keyring entry of `account` (one session per OS user and account name).
    pub fn new(account: impl Into<String>) -> Self {
        Keyring {
            account: account.into(),
        }
    }

    fn entry(&self) -> Result<keyring::Entry, String> {
        keyring::Entry::new(KEYRING_SERVICE, &self.account).map_err(|e| e.to_string())
    }
}

impl SecretStore for Keyring {
    fn load(&self) -> Result<Option<String>, String> {
        match self.entry()?.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn save(&self, secret: &str) -> Result<(), String> {
        self.entry()?
            .set_password(secret)
            .map_err(|e| e.to_string())
    }

    fn clear(&self) -> Result<(), String> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A problem as the person at the counter reads it.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    /// The API's code (`agent_busy`, `network`, …), for the UI's translations.
    pub code: String,
    /// A plain sentence (English; the UI translates known codes).
    pub message: String,
    /// The form field the problem is about, when the server named one.
    pub field: Option<String>,
}

impl Problem {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Problem {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }
}

fn sentence(s: &str) -> String {
    let mut c = s.trim().chars();
    let mut out: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// Turns an API error into what the agent should read.
pub fn explain(e: ApiError) -> Problem {
    let (code, detail) = match &e {
        ApiError::Network(_) => {
            return Problem::new(
                "network",
                "The server cannot be reached. Check the network; the console keeps trying.",
            );
        }
        ApiError::Api { code, detail, .. } => (code.as_str(), detail.as_str()),
    };
    let message = match code {
        "invalid_credentials" => "Wrong e-mail or password.".into(),
        "not_authenticated" | "token_invalid" | "token_expired" => {
            "Your session has ended: sign in again.".into()
        }
        "permission_denied" => "Your role does not allow this.".into(),
        "not_found" => "It no longer exists: someone may have changed it meanwhile.".into(),
        "not_your_ticket" => format!("Another agent took it: {}", sentence(detail)),
        _ => sentence(detail),
    };
    // "timezone: unknown time zone …" → shown next to the field, without repeating its name.
    let named = (code == "validation_error")
        .then(|| detail.split_once(':'))
        .flatten()
        .filter(|(f, _)| !f.trim().contains(' '));
    match named {
        Some((f, rest)) => Problem {
            code: code.to_owned(),
            message: sentence(rest),
            field: Some(f.trim().to_owned()),
        },
        None => Problem {
            code: code.to_owned(),
            message,
            field: None,
        },
    }
}

/// What is kept in the keyring.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    server: String,
    email: String,
    refresh: String,
    tenant: Option<String>,
}

/// One tenant the user may work in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantChoice {
    pub slug: String,
    pub role: String,
}

/// Who is signed in, where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignedIn {
    pub server: String,
    pub email: String,
    pub name: String,
    /// The current tenant.
    pub tenant: Option<String>,
    /// Every tenant of the user (choose when there are several).
    pub tenants: Vec<TenantChoice>,
    pub role: Option<String>,
    pub agent_id: Option<String>,
    /// The access token, for the sync engine's WebSocket.
    #[serde(skip)]
    pub access: String,
}

struct Live {
    api: ApiClient,
    saved: Saved,
    signed: SignedIn,
    issued: Instant,
}

/// The console's state: at most one session.
pub struct Console {
    secrets: Box<dyn SecretStore>,
    live: Mutex<Option<Live>>,
    /// Serializes refreshes (two concurrent ones would reuse a rotated token and end the
    /// session).
    refreshing: tokio::sync::Mutex<()>,
}

fn signed_in(server: &str, email: &str, answer: &Value) -> SignedIn {
    let tenant = answer["tenant"].as_str().map(str::to_owned);
    let memberships = answer["memberships"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let current = memberships
        .iter()
        .find(|m| m["tenant_slug"].as_str() == tenant.as_deref());
    let user = &answer["user"];
    let name = format!(
        "{} {}",
        user["first_name"].as_str().unwrap_or_default(),
        user["last_name"].as_str().unwrap_or_default()
    )
    .trim()
    .to_owned();
    SignedIn {
        server: server.to_owned(),
        email: email.to_owned(),
        name: if name.is_empty() {
            email.to_owned()
        } else {
            name
        },
        tenant,
        tenants: memberships
            .iter()
            .map(|m| TenantChoice {
                slug: m["tenant_slug"].as_str().unwrap_or_default().to_owned(),
                role: m["role"].as_str().unwrap_or_default().to_owned(),
            })
            .collect(),
        role: current.and_then(|m| m["role"].as_str().map(str::to_owned)),
        agent_id: current.and_then(|m| m["agent_id"].as_str().map(str::to_owned)),
        access: answer["access"].as_str().unwrap_or_default().to_owned(),
    }
}

impl Console {
    /// A console keeping its session in `secrets`.
    pub fn new(secrets: Box<dyn SecretStore>) -> Self {
        Console {
            secrets,
            live: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn remember(&self, server: &str, email: &str, answer: &Value) -> Result<SignedIn, Problem> {
        let signed = signed_in(server, email, answer);
        let saved = Saved {
            server: server.to_owned(),
            email: email.to_owned(),
            refresh: answer["refresh"].as_str().unwrap_or_default().to_owned(),
            tenant: signed.tenant.clone(),
        };
        self.secrets
            .save(&serde_json::to_string(&saved).unwrap_or_default())
            .map_err(|e| {
                Problem::new(
                    "keyring",
                    format!("The session could not be saved in the system keyring: {e}"),
                )
            })?;
        let mut api = ApiClient::new(server);
        api.set_access_token(Some(signed.access.clone()));
        *self
            .live
            .lock()
            .map_err(|_| Problem::new("internal", "The console must be restarted."))? =
            Some(Live {
                api,
                saved,
                signed: signed.clone(),
                issued: Instant::now(),
            });
        Ok(signed)
    }

    /// Signs in (in `tenant`, or the user's first) and keeps the session in the keyring.
    pub async fn sign_in(
        &self,
        server: &str,
        email: &str,
        password: &str,
        tenant: Option<&str>,
    ) -> Result<SignedIn, Problem> {
        let server = server.trim().trim_end_matches('/');
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(Problem {
                code: "validation_error".into(),
                message: "The server address starts with http:// or https://.".into(),
                field: Some("server".into()),
            });
        }
        let api = ApiClient::new(server);
        let answer: Value = api
            .post(
                "/api/v1/auth/jwt/token/",
                &json!({"email": email.trim(), "password": password, "tenant": tenant}),
            )
            .await
            .map_err(explain)?;
        self.remember(server, email.trim(), &answer)
    }

    /// Resumes the session kept in the keyring, if it is still valid (the refresh token is
    /// rotated). `None` when there is none or it has ended (then it is removed).
    pub async fn restore(&self) -> Result<Option<SignedIn>, Problem> {
        let Some(raw) = self
            .secrets
            .load()
            .map_err(|e| Problem::new("keyring", e))?
        else {
            return Ok(None);
        };
        let Ok(saved) = serde_json::from_str::<Saved>(&raw) else {
            let _ = self.secrets.clear();
            return Ok(None);
        };
        match self.rotate(&saved, saved.tenant.as_deref()).await {
            Ok(s) => Ok(Some(s)),
            Err(p) if p.code == "network" => Err(p),
            Err(_) => {
                let _ = self.secrets.clear();
                Ok(None)
            }
        }
    }

    async fn rotate(&self, saved: &Saved, tenant: Option<&str>) -> Result<SignedIn, Problem> {
        let api = ApiClient::new(&saved.server);
        let answer: Value = api
            .post(
                "/api/v1/auth/jwt/refresh/",
                &json!({"refresh": saved.refresh, "tenant": tenant}),
            )
            .await
            .map_err(explain)?;
        self.remember(&saved.server, &saved.email, &answer)
    }

    fn saved(&self) -> Result<(Saved, Instant), Problem> {
        self.live
            .lock()
            .ok()
            .and_then(|l| l.as_ref().map(|l| (l.saved.clone(), l.issued)))
            .ok_or_else(|| Problem::new("not_authenticated", "Sign in first."))
    }

    /// Works in another of the user's tenants.
    pub async fn switch_tenant(&self, slug: &str) -> Result<SignedIn, Problem> {
        let _one = self.refreshing.lock().await;
        let (saved, _) = self.saved()?;
        self.rotate(&saved, Some(slug)).await
    }

    /// Ends the session on this computer: the refresh token leaves the keyring.
    pub fn sign_out(&self) -> Result<(), Problem> {
        if let Ok(mut l) = self.live.lock() {
            *l = None;
        }
        self.secrets.clear().map_err(|e| {
            Problem::new(
                "keyring",
                format!("The keyring entry could not be removed: {e}"),
            )
        })
    }

    /// Who is signed in.
    pub fn who(&self) -> Option<SignedIn> {
        self.live.lock().ok()?.as_ref().map(|l| l.signed.clone())
    }

    /// Rotates the tokens if the access token is at least `age` old (`ZERO`: now).
    async fn refresh_if_older(&self, age: Duration) -> Result<(), Problem> {
        let _one = self.refreshing.lock().await;
        let (saved, issued) = self.saved()?;
        if issued.elapsed() >= age {
            self.rotate(&saved, saved.tenant.as_deref()).await?;
        }
        Ok(())
    }

    fn client(&self) -> Result<(ApiClient, String), Problem> {
        let l = self
            .live
            .lock()
            .map_err(|_| Problem::new("internal", "The console must be restarted."))?;
        let l = l
            .as_ref()
            .ok_or_else(|| Problem::new("not_authenticated", "Sign in first."))?;
        let tenant = l.signed.tenant.clone().ok_or_else(|| {
            Problem::new("no_tenant", "Your account belongs to no organisation yet.")
        })?;
        Ok((l.api.clone(), tenant))
    }

    /// `method` on a path of the current tenant (`agents/me/`), refreshing the access token
    /// silently when it is old or refused.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Problem> {
        self.refresh_if_older(REFRESH_AFTER).await?;
        for attempt in 0..2 {
            let (api, tenant) = self.client()?;
            let url = format!("/api/v1/tenants/{tenant}/{path}");
            match api
                .send_with_key::<Value>(method, &url, body.as_ref(), None)
                .await
            {
                Err(ApiError::Api { status: 401, .. }) if attempt == 0 => {
                    self.refresh_if_older(Duration::ZERO).await?
                }
                other => return other.map_err(explain),
            }
        }
        Err(Problem::new(
            "not_authenticated",
            "Your session has ended: sign in again.",
        ))
    }

    /// The agent's profile and the ticket they hold (if any).
    pub async fn agent(&self) -> Result<Value, Problem> {
        let me = self.request("GET", "agents/me/", None).await?;
        let current = match me["current_ticket_id"].as_str() {
            Some(id) => Some(self.request("GET", &format!("tickets/{id}/"), None).await?),
            None => None,
        };
        Ok(json!({ "agent": me, "ticket": current }))
    }

    /// Every item of a list of the current tenant (`queues/`), page after page.
    async fn all(&self, path: &str) -> Result<Vec<Value>, Problem> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        loop {
            let page = self
                .request(
                    "GET",
                    &format!("{path}{sep}limit=200&offset={}", out.len()),
                    None,
                )
                .await?;
            let got = page["results"].as_array().cloned().unwrap_or_default();
            let more = !got.is_empty() && page["next_offset"].is_u64();
            out.extend(got);
            if !more {
                return Ok(out);
            }
        }
    }

    /// What the counter's views are computed from ([`views::Counter`]): the agent's profile,
    /// the queues they serve, every queue's rule and name, the served queues' wait-estimate
    /// inputs (`eta_inputs` of their stats) and the ticket they hold.
    pub async fn counter(&self) -> Result<Counter, Problem> {
        let view = self.agent().await?;
        let served: Vec<Id> = view["agent"]["queue_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| q.as_str()?.parse().ok())
            .collect();
        let mut queues = std::collections::HashMap::new();
        for q in self.all("queues/").await? {
            let Some(id) = q["id"].as_str().and_then(|s| s.parse::<Id>().ok()) else {
                continue;
            };
            let stats = if served.contains(&id) {
                Some(
                    self.request("GET", &format!("queues/{id}/stats/"), None)
                        .await?,
                )
            } else {
                None
            };
            if let Some(line) = QueueLine::from_api(&q, stats.as_ref()) {
                queues.insert(id, line);
            }
        }
        Ok(Counter {
            agent: view["agent"].clone(),
            served,
            queues,
            current: view.get("ticket").filter(|t| !t.is_null()).cloned(),
        })
    }

    /// The agent's waiting list as the server has it now, in calling order
    /// ([`views::waiting_list`]; the window gets the same list live from the feed).
    pub async fn waiting_list(&self, counter: &Counter) -> Result<Vec<WaitingRow>, Problem> {
        let tickets = self.all("tickets/?status=waiting").await?;
        Ok(views::waiting_list(&tickets, counter))
    }

    /// The manager's floor, from one `floor/` request ([`views::floor`]).
    pub async fn floor(&self) -> Result<FloorView, Problem> {
        let answer = self.request("GET", "floor/", None).await?;
        views::floor(&answer, chrono::Utc::now()).map_err(|e| {
            Problem::new(
                "unexpected_answer",
                format!("The server's floor answer was not understood: {e}"),
            )
        })
    }

    /// Calls the next ticket of the agent's queues. `Ok(None)` when nobody is waiting.
    pub async fn call_next(&self) -> Result<Option<Value>, Problem> {
        let r = self
            .request("POST", "agents/call-next/", Some(json!({})))
            .await?;
        Ok(r.get("ticket").filter(|t| !t.is_null()).cloned())
    }

    /// A lifecycle action on a ticket (`recall`, `start_service`, `close`, `pause`, `resume`,
    /// `mark_no_show`, `cancel`, `transfer` with `{to_queue_id, reason, placement}`).
    pub async fn act(
        &self,
        ticket_id: &str,
        action: &str,
        body: Option<Value>,
    ) -> Result<Value, Problem> {
        const ACTIONS: [&str; 8] = [
            "recall",
            "start_service",
            "close",
            "pause",
            "resume",
            "mark_no_show",
            "cancel",
            "transfer",
        ];
        if !ACTIONS.contains(&action) {
            return Err(Problem::new(
                "validation_error",
                format!("Unknown action {action}."),
            ));
        }
        self.request(
            "POST",
            &format!("tickets/{ticket_id}/{action}/"),
            Some(body.unwrap_or_else(|| json!({}))),
        )
        .await
    }

    /// Sets the agent's status (`available`, `break`, `offline`).
    pub async fn set_status(&self, status: &str) -> Result<Value, Problem> {
        self.request(
            "POST",
            "agents/set-status/",
            Some(json!({ "status": status })),
        )
        .await
    }
}

/// Secrets in memory (tests, and a fallback when no keyring exists).
#[derive(Default)]
pub struct MemorySecrets(Mutex<Option<String>>);

impl SecretStore for MemorySecrets {
    fn load(&self) -> Result<Option<String>, String> {
        Ok(self.0.lock().map_err(|e| e.to_string())?.clone())
    }
    fn save(&self, secret: &str) -> Result<(), String> {
        *self.0.lock().map_err(|e| e.to_string())? = Some(secret.to_owned());
        Ok(())
    }
    fn clear(&self) -> Result<(), String> {
        *self.0.lock().map_err(|e| e.to_string())? = None;
        Ok(())
    }
}

impl<T: SecretStore + ?Sized> SecretStore for std::sync::Arc<T> {
    fn load(&self) -> Result<Option<String>, String> {
        (**self).load()
    }
    fn save(&self, secret: &str) -> Result<(), String> {
        (**self).save(secret)
    }
    fn clear(&self) -> Result<(), String> {
        (**self).clear()
    }
}
