//! WebSocket endpoints (design §5): `ws/tenants/{slug}/` (tenant feed for staff consoles) and
//! `ws/tenants/{slug}/{queues,tickets,agents,displays,kiosks}/{id}/`.
//!
//! Protocol: authenticate with `?token=<token>` or a first message `{"type":"auth","token":…}`.
//! The token is a staff access token (any channel of the tenant), a device token (only the
//! device's own `displays/{id}/` or `kiosks/{id}/` channel: the ticket events of its queues,
//! without customer details, and its own configuration events; revoking it closes the socket
//! with 4401), or a ticket's tracking token (only that ticket's channel); resume with `?since=<seq>` (or `"since"` in the auth message).
//! The server first answers `{"type":"hello","seq":<last seq>}`, then replays the channel's
//! events after `since` from the persisted log, in order, sends `{"type":"live","seq":N}`, then
//! forwards live ones; events are
//! the envelope `{seq, type, tenant, at, data}`. If `since` is older than the replay window or
//! ahead of the log, it sends `{"type":"resync"}`: refetch the snapshot. Live events are
//! published only after their transaction commits. A client that falls behind the live buffer
//! or stalls a send is told to resync and disconnected, so a slow reader never grows server
//! memory. The server pings every 15 s and drops a link silent for 30 s; clients may send
//! `{"type":"ping"}` and get `{"type":"pong"}`.
//!
//! Close codes: 4401 bad or missing credentials, 4404 tenant or channel not found (the same for
//! another tenant's), 4408 too slow (resync), 4000 heartbeat timeout, 1001 server shutting down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use smartqueue_core::Id;
use tokio::sync::broadcast::error::RecvError;

use crate::state::AppState;
use crate::store::{DeviceKind, Kind, StoredEvent};

/// Events replayed on resume at most; older gaps get a resync.
pub const REPLAY_WINDOW: u32 = 10_000;
const PING_EVERY: Duration = Duration::from_secs(15);
const DEAD_AFTER: Duration = Duration::from_secs(30);
/// A send that takes longer than this means the reader has stalled.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Tenant,
    Queue(Id),
    Ticket(Id),
    Agent(Id),
    /// A display's own feed: ticket events of its queues, and its configuration.
    Display(Id),
    /// A kiosk's own feed: ticket events of its queues (lengths, ETA), and its configuration.
    Kiosk(Id),
}

/// A channel with what its subscriber may see.
#[derive(Debug, Clone)]
struct Follow {
    channel: Channel,
    /// The queues a display or kiosk shows (kept current from its `*.updated` events).
    queues: Vec<Id>,
    /// A screen in a public place: customer details are left out.
    public: bool,
}

impl Follow {
    fn wants(&self, e: &StoredEvent) -> bool {
        let (prefix, id) = match self.channel {
            Channel::Display(id) => ("display.", id),
            Channel::Kiosk(id) => ("kiosk.", id),
            other => return other.wants(e),
        };
        if e.kind.starts_with(prefix) {
            return is_id(&e.data["id"], &id);
        }
        (e.kind.starts_with("ticket.") || e.kind == "queue.eta")
            && self.queues.iter().any(|q| Channel::Queue(*q).wants(e))
    }

    /// What this event means for the session itself: new queues, or the device revoked.
    fn observe(&mut self, e: &StoredEvent) -> bool {
        let own = matches!(self.channel, Channel::Display(_) | Channel::Kiosk(_));
        if own && e.kind.ends_with(".updated") {
            self.queues = queue_ids(&e.data);
        }
        own && e.kind.ends_with(".revoked")
    }
}

fn queue_ids(doc: &Value) -> Vec<Id> {
    doc["queue_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|q| q.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Whether `v` is the string form of `id` (without allocating: this runs for every
/// subscriber of every event).
fn is_id(v: &Value, id: &Id) -> bool {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    v.as_str() == Some(&*id.hyphenated().encode_lower(&mut buf))
}

impl Channel {
    /// Whether `e` belongs on this channel.
    pub fn wants(&self, e: &StoredEvent) -> bool {
        let id_is = |field: &str, id: &Id| e.data.get(field).is_some_and(|v| is_id(v, id));
        match self {
            Channel::Tenant => true,
            Channel::Queue(q) => {
                id_is("queue_id", q)
                    || e.data["transfers"]
                        .as_array()
                        .and_then(|t| t.last())
                        .is_some_and(|h| {
                            e.kind == "ticket.transferred" && is_id(&h["from_queue_id"], q)
                        })
            }
            Channel::Ticket(t) => e.kind.starts_with("ticket.") && id_is("id", t),
            Channel::Agent(a) => {
                (e.kind.starts_with("agent.") && id_is("id", a)) || id_is("agent_id", a)
            }
            // Filtered by [`Follow`], which knows the device's queues.
            Channel::Display(_) | Channel::Kiosk(_) => false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct WsQuery {
    token: Option<String>,
    since: Option<i64>,
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn send_json(socket: &mut WebSocket, v: &impl serde::Serialize) -> bool {
    let Ok(text) = serde_json::to_string(v) else {
        return false;
    };
    send_text(socket, text).await
}

async fn send_text(socket: &mut WebSocket, text: impl Into<Utf8Bytes>) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

/// Who is listening.
struct Listener {
    tenant: Id,
    /// A device or a customer with a tracking token rather than staff.
    public: bool,
}

/// Resolves credentials for `channel` to the tenant, or the close code to refuse with.
async fn authenticate(
    state: &AppState,
    slug: &str,
    channel: Channel,
    token: &str,
) -> Result<Listener, (u16, &'static str)> {
    const BAD: (u16, &str) = (4401, "invalid or expired token");
    if token.starts_with(crate::auth::DEVICE_TOKEN_PREFIX) {
        let device = crate::auth::device_of(state, token)
            .await
            .ok()
            .flatten()
            .ok_or((4401, "device not paired or revoked"))?;
        if device.tenant_slug != slug {
            return Err((4404, "tenant not found"));
        }
        let own = match channel {
            Channel::Display(id) => device.kind == DeviceKind::Display && device.device_id == id,
            Channel::Kiosk(id) => device.kind == DeviceKind::Kiosk && device.device_id == id,
            _ => false,
        };
        return if own {
            Ok(Listener {
                tenant: device.tenant_id,
                public: true,
            })
        } else {
            Err((4404, "channel not found"))
        };
    }
    let Ok(claims) = state.keys.verify(token) else {
        // Not a staff token: a customer following their own ticket with its tracking token.
        if let Channel::Ticket(id) = channel
            && let Ok(Some(t)) = state.store.tenant_by_slug(slug).await
            && let Ok(Some(p)) = state.store.ticket(t.id, id).await
            && !token.is_empty()
            && p.ticket.tracking_token == token
        {
            return Ok(Listener {
                tenant: t.id,
                public: false,
            });
        }
        return Err(BAD);
    };
    if let Some(m) = claims.memberships.iter().find(|m| m.tenant_slug == slug) {
        return Ok(Listener {
            tenant: m.tenant_id,
            public: false,
        });
    }
    if claims.su
        && let Ok(Some(t)) = state.store.tenant_by_slug(slug).await
    {
        return Ok(Listener {
            tenant: t.id,
            public: false,
        });
    }
    Err((4404, "tenant not found"))
}

/// The channel with its filter, or None when the tenant has no such channel.
async fn follow(state: &AppState, tenant: Id, channel: Channel, public: bool) -> Option<Follow> {
    let entity = |kind, id| async move {
        state
            .store
            .get_entity(tenant, kind, id)
            .await
            .ok()
            .flatten()
    };
    let queues = match channel {
        Channel::Tenant => Vec::new(),
        Channel::Queue(id) => entity(Kind::Queue, id).await.map(|_| Vec::new())?,
        Channel::Agent(id) => entity(Kind::Agent, id).await.map(|_| Vec::new())?,
        Channel::Ticket(id) => state
            .store
            .ticket(tenant, id)
            .await
            .ok()
            .flatten()
            .map(|_| Vec::new())?,
        Channel::Display(id) => queue_ids(&entity(Kind::Display, id).await?),
        Channel::Kiosk(id) => queue_ids(&entity(Kind::Kiosk, id).await?),
    };
    Some(Follow {
        channel,
        queues,
        public,
    })
}

async fn session(
    mut socket: WebSocket,
    state: AppState,
    slug: String,
    channel: Channel,
    q: WsQuery,
) {
    let mut since = q.since;
    let token = match q.token {
        Some(t) => t,
        None => {
            // First message: {"type":"auth","token":…,"since":N}.
            let first = tokio::time::timeout(AUTH_TIMEOUT, socket.recv()).await;
            let msg: Option<Value> = match first {
                Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(&t).ok(),
                _ => None,
            };
            match msg.filter(|m| m["type"] == "auth").and_then(|m| {
                since = since.or(m["since"].as_i64());
                m["token"].as_str().map(str::to_owned)
            }) {
                Some(t) => t,
                None => {
                    let _ = socket
                        .send(close(
                            4401,
                            "authenticate first: ?token= or {\"type\":\"auth\"}",
                        ))
                        .await;
                    return;
                }
            }
        }
    };
    let (tenant, public) = match authenticate(&state, &slug, channel, &token).await {
        Ok(l) => (l.tenant, l.public),
        Err((code, why)) => {
            let _ = socket.send(close(code, why)).await;
            return;
        }
    };
    let Some(mut follow) = follow(&state, tenant, channel, public).await else {
        let _ = socket.send(close(4404, "channel not found")).await;
        return;
    };
    // Subscribe before reading the log, so nothing committed in between is missed; live events
    // already replayed are skipped by seq.
    let mut live = state.store.subscribe();
    let head = state.store.last_event_seq(tenant).await.unwrap_or(0);
    if !send_json(&mut socket, &json!({"type": "hello", "seq": head})).await {
        return;
    }
    let mut last = since.unwrap_or(head);
    if let Some(since) = since {
        let resync = since > head || head - since > i64::from(REPLAY_WINDOW);
        if resync {
            last = head;
            if !send_json(&mut socket, &json!({"type": "resync", "seq": head})).await {
                return;
            }
        } else {
            let missed = state
                .store
                .events_since(tenant, since, REPLAY_WINDOW)
                .await
                .unwrap_or_default();
            for e in missed {
                last = e.seq;
                if !follow.wants(&e) {
                    continue;
                }
                let revoked = follow.observe(&e);
                let e = if follow.public { e.public() } else { e };
                if !send_json(&mut socket, &e).await {
                    return;
                }
                if revoked {
                    let _ = socket.send(close(4401, "device revoked")).await;
                    return;
                }
            }
        }
    }
    if !send_json(&mut socket, &json!({"type": "live", "seq": last})).await {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = Instant::now();
    let mut closing = state.closing.subscribe();
    loop {
        tokio::select! {
            ev = live.recv() => match ev {
                Ok(live_event) => {
                    let e = &live_event.event;
                    if e.tenant_id != tenant || e.seq <= last {
                        continue;
                    }
                    last = e.seq;
                    if !follow.wants(e) {
                        continue;
                    }
                    let revoked = follow.observe(e);
                    // The envelope was serialized once for everyone; this shares it.
                    let text = if follow.public { live_event.public_json() } else { live_event.json() };
                    if !send_text(&mut socket, text.clone()).await {
                        return; // stalled reader: drop it
                    }
                    if revoked {
                        let _ = socket.send(close(4401, "device revoked")).await;
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let _ = send_json(&mut socket, &json!({"type": "resync", "seq": last})).await;
                    let _ = socket.send(close(4408, "too slow: resync and reconnect")).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    heard = Instant::now();
                    if serde_json::from_str::<Value>(&t).is_ok_and(|v| v["type"] == "ping")
                        && !send_json(&mut socket, &json!({"type": "pong", "seq": last})).await
                    {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => heard = Instant::now(),
            },
            _ = ping.tick() => {
                if heard.elapsed() > DEAD_AFTER {
                    let _ = socket.send(close(4000, "heartbeat timeout")).await;
                    return;
                }
                if !matches!(tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Ping(Vec::new().into()))).await, Ok(Ok(()))) {
                    return;
                }
            }
            _ = closing.changed() => {
                let _ = socket.send(close(1001, "server shutting down")).await;
                return;
            }
        }
    }
}

fn upgrade(
    ws: WebSocketUpgrade,
    state: AppState,
    params: HashMap<String, String>,
    q: WsQuery,
    kind: &'static str,
) -> Response {
    let slug = params.get("tenant_slug").cloned().unwrap_or_default();
    let id = params.get("id").and_then(|s| s.parse::<Id>().ok());
    // Small per-connection buffers: a screen receives short JSON frames, and ten thousand
    // subscribers with tungstenite's default 128 KiB read buffer would need over a GiB.
    let ws = ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(64 * 1024);
    ws.on_upgrade(move |mut socket| async move {
        let channel = match (kind, id) {
            ("tenant", _) => Channel::Tenant,
            ("queues", Some(id)) => Channel::Queue(id),
            ("tickets", Some(id)) => Channel::Ticket(id),
            ("agents", Some(id)) => Channel::Agent(id),
            ("displays", Some(id)) => Channel::Display(id),
            ("kiosks", Some(id)) => Channel::Kiosk(id),
            _ => {
                let _ = socket.send(close(4404, "channel not found")).await;
                return;
            }
        };
        session(socket, state, slug, channel, q).await
    })
}

macro_rules! ws_route {
    ($name:ident, $kind:literal) => {
        async fn $name(
            ws: WebSocketUpgrade,
            State(state): State<AppState>,
            Path(params): Path<HashMap<String, String>>,
            Query(q): Query<WsQuery>,
        ) -> Response {
            upgrade(ws, state, params, q, $kind)
        }
    };
}

ws_route!(ws_tenant, "tenant");
ws_route!(ws_queue, "queues");
ws_route!(ws_ticket, "tickets");
ws_route!(ws_agent, "agents");
ws_route!(ws_display, "displays");
ws_route!(ws_kiosk, "kiosks");

/// WebSocket routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ws/tenants/{tenant_slug}/", get(ws_tenant))
        .route("/ws/tenants/{tenant_slug}/queues/{id}/", get(ws_queue))
        .route("/ws/tenants/{tenant_slug}/tickets/{id}/", get(ws_ticket))
        .route("/ws/tenants/{tenant_slug}/agents/{id}/", get(ws_agent))
        .route("/ws/tenants/{tenant_slug}/displays/{id}/", get(ws_display))
        .route("/ws/tenants/{tenant_slug}/kiosks/{id}/", get(ws_kiosk))
}

/// Tells every open WebSocket session to close (graceful shutdown).
#[derive(Debug, Clone)]
pub struct Closing(pub Arc<tokio::sync::watch::Sender<bool>>);

impl Closing {
    /// A handle nobody has triggered.
    pub fn new() -> Self {
        Closing(Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Closes every session.
    pub fn close(&self) {
        let _ = self.0.send(true);
    }

    /// A receiver that changes when closing starts.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.subscribe()
    }
}

impl Default for Closing {
    fn default() -> Self {
        Self::new()
    }
}
