//! The client sync engine (feature `sync`), shared by every app.
//!
//! One engine follows one channel of the server (`queues/{id}/`, `tickets/{id}/`, the tenant
//! feed…) and keeps a view of its tickets:
//!
//! 1. connect the WebSocket (`?token=&since=<last seq>`); the server answers `hello` with its head
//!    seq, replays what this client missed, says `live`, then streams live events;
//! 2. without a stored view, or on `resync`, load the snapshot over REST and continue from the
//!    `hello` seq;
//! 3. apply events in `seq` order (older or repeated seqs are ignored; on the unfiltered tenant
//!    feed a jump in `seq` is a gap and triggers a snapshot);
//! 4. persist the view and last seq in the [`LocalStore`] after every change, so an app restarts
//!    straight into its last known screen;
//! 5. replay the outbox (commands made offline, each with its idempotency key) in order once the
//!    link is up: each lands exactly once because the server deduplicates by key;
//! 6. on any failure, go offline and reconnect with jittered exponential backoff.
//!
//! Apps observe [`SyncState`] through a `watch` channel, and the events as they are applied
//! through [`SyncEngine::events`] (a display announces calls from them); they never talk
//! HTTP/WS themselves.
//!
//! The snapshot may carry more than its `results` (a display's board has its configuration and
//! queue lines): the rest is kept as [`SyncState::context`] and kept current from events —
//! `queues[].waiting` from the queue lengths ticket events carry and `queue.eta` events, and an
//! object `context[x]` from `x.updated` events about it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{Envelope, Event};
use tokio::sync::{Notify, broadcast, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{ApiClient, ApiError};
use crate::store::{LocalStore, OutboxCommand, StoreError};

/// State of the link to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// No link; showing the last known state.
    Offline,
    /// Connected, catching up (replay, snapshot, outbox).
    Syncing,
    /// Up to date and streaming.
    Online,
}

/// What an app shows: the channel's tickets (API JSON, by id) as of `last_seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    pub connection: Connection,
    pub last_seq: i64,
    pub tickets: BTreeMap<String, Value>,
    /// Commands waiting in the outbox.
    pub pending_commands: usize,
    /// The snapshot's other fields (e.g. a display's configuration and queue lines).
    #[serde(default)]
    pub context: Value,
    /// The server refused the credentials (close code 4401): signed out, or a device revoked.
    /// The engine keeps retrying slowly; an app shows its sign-in or pairing screen.
    #[serde(default)]
    pub refused: bool,
}

/// What to follow.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// e.g. `http://127.0.0.1:8000`.
    pub base_url: String,
    pub tenant: String,
    /// Access token (staff JWT; device tokens later).
    pub token: String,
    /// Channel path after `ws/tenants/{tenant}/`: `""` (tenant feed), `queues/{id}/`, …
    pub channel: String,
    /// REST path (after `/api/v1/tenants/{tenant}/`) of the snapshot, a ticket list page.
    pub snapshot: String,
    /// Local database file.
    pub store_path: PathBuf,
    /// The engine pings this often and drops a link silent for twice as long (the server does
    /// the same), so a dead server is noticed within 30 s with the default of 15 s.
    pub heartbeat: Duration,
    /// Keep at most this many tickets in the view (0: no limit); the least recently updated go
    /// first. A display needs its last calls, not the whole day.
    pub max_tickets: usize,
}

impl SyncConfig {
    /// A config with the default heartbeat and no ticket limit.
    pub fn new(
        base_url: impl Into<String>,
        tenant: impl Into<String>,
        token: impl Into<String>,
        channel: impl Into<String>,
        snapshot: impl Into<String>,
        store_path: impl Into<PathBuf>,
    ) -> Self {
        SyncConfig {
            base_url: base_url.into(),
            tenant: tenant.into(),
            token: token.into(),
            channel: channel.into(),
            snapshot: snapshot.into(),
            store_path: store_path.into(),
            heartbeat: HEARTBEAT,
            max_tickets: 0,
        }
    }
}

/// The default heartbeat interval.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Errors that stop a connection attempt (the engine retries).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("websocket: {0}")]
    Ws(String),
    #[error("refused by the server: close code {0}")]
    Refused(u16),
}

const VIEW_KEY: &str = "sync.view";
const SEQ_KEY: &str = "sync.last_seq";
const CONTEXT_KEY: &str = "sync.context";

/// A running engine. Dropping it stops the background task.
pub struct SyncEngine {
    state: watch::Receiver<SyncState>,
    tx: Arc<watch::Sender<SyncState>>,
    store: Arc<Mutex<LocalStore>>,
    wake: Arc<Notify>,
    events: broadcast::Sender<Envelope>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SyncEngine {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Inner {
    config: SyncConfig,
    api: ApiClient,
    store: Arc<Mutex<LocalStore>>,
    tx: Arc<watch::Sender<SyncState>>,
    wake: Arc<Notify>,
    events: broadcast::Sender<Envelope>,
}

impl SyncEngine {
    /// Opens the local store (showing its last known state at once, offline) and starts syncing.
    pub fn start(config: SyncConfig) -> Result<SyncEngine, SyncError> {
        let store = LocalStore::open(&config.store_path)?;
        let tickets: BTreeMap<String, Value> = store.get(VIEW_KEY)?.unwrap_or_default();
        let last_seq: i64 = store.get(SEQ_KEY)?.unwrap_or(0);
        let context: Value = store.get(CONTEXT_KEY)?.unwrap_or_default();
        let pending_commands = store.outbox()?.len();
        let (tx, rx) = watch::channel(SyncState {
            connection: Connection::Offline,
            last_seq,
            tickets,
            pending_commands,
            context,
            refused: false,
        });
        let (events, _) = broadcast::channel(256);
        let mut api = ApiClient::new(config.base_url.clone());
        api.set_access_token(Some(config.token.clone()));
        let store = Arc::new(Mutex::new(store));
        let wake = Arc::new(Notify::new());
        let tx = Arc::new(tx);
        let inner = Inner {
            config,
            api,
            store: store.clone(),
            tx: tx.clone(),
            wake: wake.clone(),
            events: events.clone(),
        };
        let task = tokio::spawn(inner.run());
        Ok(SyncEngine {
            state: rx,
            tx,
            store,
            wake,
            events,
            task,
        })
    }

    /// Events as they are applied (replayed ones included, in order; each envelope once).
    pub fn events(&self) -> broadcast::Receiver<Envelope> {
        self.events.subscribe()
    }

    /// The observable state.
    pub fn subscribe(&self) -> watch::Receiver<SyncState> {
        self.state.clone()
    }

    /// The current state.
    pub fn state(&self) -> SyncState {
        self.state.borrow().clone()
    }

    /// Queues a command (e.g. `POST tickets/` from a kiosk) to send now or when the link
    /// returns; `path` is relative to the tenant (`tickets/`). Returns its idempotency key.
    pub fn enqueue(&self, method: &str, path: &str, body: Value) -> Result<String, SyncError> {
        let key = uuid::Uuid::now_v7().to_string();
        let cmd = OutboxCommand {
            idempotency_key: key.clone(),
            method: method.to_owned(),
            path: path.to_owned(),
            body,
        };
        let pending = {
            let store = self
                .store
                .lock()
                .map_err(|_| SyncError::Ws("store poisoned".into()))?;
            store.outbox_push(&cmd)?;
            store.outbox()?.len()
        };
        self.tx.send_modify(|s| s.pending_commands = pending);
        self.wake.notify_one();
        Ok(key)
    }
}

impl Inner {
    fn update(&self, f: impl FnOnce(&mut SyncState)) {
        self.tx.send_modify(f);
    }

    fn persist(&self) -> Result<(), SyncError> {
        let s = self.tx.borrow().clone();
        let store = self
            .store
            .lock()
            .map_err(|_| SyncError::Ws("store poisoned".into()))?;
        store.put(VIEW_KEY, &s.tickets)?;
        store.put(SEQ_KEY, &s.last_seq)?;
        store.put(CONTEXT_KEY, &s.context)?;
        Ok(())
    }

    async fn run(self) {
        let mut attempt: u32 = 0;
        loop {
            match self.session().await {
                Ok(()) => attempt = 0,
                Err(SyncError::Refused(code)) if code == 4401 || code == 4404 => {
                    // Credentials or channel refused: retrying quickly would not help.
                    self.update(|s| s.refused = true);
                    attempt = attempt.max(6);
                }
                Err(_) => {}
            }
            self.update(|s| s.connection = Connection::Offline);
            attempt = attempt.saturating_add(1);
            // Exponential backoff 100 ms … 5 s with full jitter, so a fleet of kiosks does not
            // reconnect in lockstep after an outage; a new outbox command retries at once.
            let cap = (100u64 << attempt.min(6)).min(5_000);
            let wait = Duration::from_millis(rand::random_range(cap / 2..=cap));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    async fn snapshot(&self, head: i64) -> Result<(), SyncError> {
        let page: Value = self
            .api
            .get(&format!(
                "/api/v1/tenants/{}/{}",
                self.config.tenant, self.config.snapshot
            ))
            .await?;
        let mut page = page;
        let tickets: BTreeMap<String, Value> = page["results"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| Some((t["id"].as_str()?.to_owned(), t.clone())))
                    .collect()
            })
            .unwrap_or_default();
        if let Value::Object(m) = &mut page {
            for k in ["results", "count", "next_offset", "previous_offset"] {
                m.remove(k);
            }
        }
        let max = self.config.max_tickets;
        self.update(|s| {
            s.tickets = tickets;
            trim(&mut s.tickets, max);
            s.last_seq = head;
            s.context = page;
        });
        self.persist()
    }

    async fn flush_outbox(&self) -> Result<(), SyncError> {
        let commands = self
            .store
            .lock()
            .map_err(|_| SyncError::Ws("store poisoned".into()))?
            .outbox()?;
        for cmd in commands {
            let path = format!("/api/v1/tenants/{}/{}", self.config.tenant, cmd.path);
            let result = self
                .api
                .send_with_key::<Value>(
                    &cmd.method,
                    &path,
                    Some(&cmd.body),
                    Some(&cmd.idempotency_key),
                )
                .await;
            match result {
                // Network trouble: keep it and the ones after it, in order, for later.
                Err(ApiError::Network(e)) => return Err(SyncError::Api(ApiError::Network(e))),
                // Answered (done, or refused for good): it will never be sent again.
                _ => self
                    .store
                    .lock()
                    .map_err(|_| SyncError::Ws("store poisoned".into()))?
                    .outbox_remove(&cmd.idempotency_key)?,
            }
            let left = self
                .store
                .lock()
                .map_err(|_| SyncError::Ws("store poisoned".into()))?
                .outbox()?
                .len();
            self.update(|s| s.pending_commands = left);
        }
        Ok(())
    }

    /// Applies an event at `seq` (`None`: an event type this client does not know, from a newer
    /// server — nothing to show, but its place in the sequence counts).
    fn apply(&self, seq: i64, e: Option<&Envelope>) -> bool {
        let last = self.tx.borrow().last_seq;
        if seq <= last {
            return true; // already applied
        }
        if self.config.channel.is_empty() && seq != last + 1 {
            return false; // gap on the full feed
        }
        let max = self.config.max_tickets;
        self.update(|s| {
            if let Some(e) = e {
                apply_event(s, &e.event);
            }
            trim(&mut s.tickets, max);
            s.last_seq = seq;
        });
        if let Some(e) = e {
            let _ = self.events.send(e.clone());
        }
        true
    }

    async fn session(&self) -> Result<(), SyncError> {
        let ws_base = self.config.base_url.replacen("http", "ws", 1);
        let had_view = self.tx.borrow().last_seq > 0;
        let since = self.tx.borrow().last_seq;
        let mut url = format!(
            "{ws_base}/ws/tenants/{}/{}?token={}",
            self.config.tenant, self.config.channel, self.config.token
        );
        if had_view {
            url.push_str(&format!("&since={since}"));
        }
        // Events are small JSON frames; tungstenite zeroes `read_buffer_size` bytes on every read
        // (128 KiB by default), so a small buffer saves a large memset per frame.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8 * 1024);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .map_err(|e| SyncError::Ws(e.to_string()))?;
        self.update(|s| s.connection = Connection::Syncing);
        let mut beat = tokio::time::interval(self.config.heartbeat);
        beat.tick().await;
        let mut heard = tokio::time::Instant::now();
        loop {
            let msg = tokio::select! {
                m = ws.next() => m,
                _ = self.wake.notified() => {
                    self.flush_outbox().await?;
                    continue;
                }
                _ = beat.tick() => {
                    if heard.elapsed() > self.config.heartbeat * 2 {
                        return Err(SyncError::Ws("no answer from the server: link is dead".into()));
                    }
                    ws.send(Message::Text(r#"{"type":"ping"}"#.into())).await.map_err(|e| SyncError::Ws(e.to_string()))?;
                    continue;
                }
            };
            heard = tokio::time::Instant::now();
            if self.tx.borrow().refused {
                self.update(|s| s.refused = false);
            }
            let text = match msg {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Ping(p))) => {
                    let _ = ws.send(Message::Pong(p)).await;
                    continue;
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(SyncError::Refused(
                        frame.map(|f| u16::from(f.code)).unwrap_or(1000),
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(SyncError::Ws(e.to_string())),
                None => return Ok(()),
            };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            match v["type"].as_str() {
                Some("hello") if !had_view => self.snapshot(v["seq"].as_i64().unwrap_or(0)).await?,
                Some("live") => {
                    // Replay done: send what was made offline, then we are up to date.
                    self.flush_outbox().await?;
                    self.update(|s| s.connection = Connection::Online);
                }
                Some("resync") => {
                    let head = v["seq"].as_i64().unwrap_or(0);
                    self.snapshot(head).await?;
                }
                Some("pong") => {}
                Some(_) => {
                    let Some(seq) = v["seq"].as_i64() else {
                        continue;
                    };
                    let event = serde_json::from_str::<Envelope>(&text).ok();
                    if !self.apply(seq, event.as_ref()) {
                        // A gap: reload and carry on from here.
                        let head = v["seq"].as_i64().unwrap_or(0);
                        self.snapshot(head).await?;
                    }
                    self.persist()?;
                }
                None => {}
            }
        }
    }
}

/// Applies one event to a view: a ticket's fields are merged (an event that leaves a field out,
/// such as the display block of a call, keeps the known value), queue lengths and updated
/// context objects are taken over.
pub fn apply_event(s: &mut SyncState, e: &Event) {
    if let Some(t) = e.ticket() {
        let Ok(data) = serde_json::to_value(t) else {
            return;
        };
        let id = t.ticket.id.to_string();
        match (s.tickets.get_mut(&id), data) {
            (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
            (_, data) => {
                s.tickets.insert(id, data);
            }
        }
        if let Some(lines) = s.context.get_mut("queues").and_then(Value::as_array_mut) {
            for l in &t.queues {
                if let Some(line) = lines.iter_mut().find(|q| is_id(&q["id"], l.queue_id)) {
                    line["waiting"] = l.waiting.into();
                }
            }
        }
    }
    let updated = match e {
        Event::QueueEta(eta) => {
            if let Some(line) = s
                .context
                .get_mut("queues")
                .and_then(Value::as_array_mut)
                .and_then(|lines| lines.iter_mut().find(|q| is_id(&q["id"], eta.queue_id)))
            {
                line["waiting"] = eta.waiting.into();
                line["eta_next_seconds"] = eta.eta_next_seconds.into();
            }
            None
        }
        Event::DisplayUpdated(d) => Some(("display", d.id, serde_json::to_value(d))),
        Event::KioskUpdated(k) => Some(("kiosk", k.id, serde_json::to_value(k))),
        _ => None,
    };
    if let Some((object, id, Ok(doc))) = updated
        && let Some(current) = s.context.get_mut(object)
        && is_id(&current["id"], id)
    {
        *current = doc;
    }
}

fn is_id(v: &Value, id: uuid::Uuid) -> bool {
    v.as_str().and_then(|s| s.parse().ok()) == Some(id)
}

/// Drops the least recently updated tickets beyond `max` (0: no limit).
fn trim(tickets: &mut BTreeMap<String, Value>, max: usize) {
    if max == 0 || tickets.len() <= max {
        return;
    }
    let mut by_age: Vec<(String, String)> = tickets
        .iter()
        .map(|(id, t)| {
            (
                t["updated_at"].as_str().unwrap_or_default().to_owned(),
                id.clone(),
            )
        })
        .collect();
    by_age.sort();
    for (_, id) in by_age.into_iter().take(tickets.len() - max) {
        tickets.remove(&id);
    }
}
