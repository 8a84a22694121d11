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
use crate::store::{DeviceKind, Kind};

/// Events replayed on resume at most; older gaps get a resync.
pub const REPLAY_WINDOW: u32 = 10_000;
const PING_EVERY: Duration = Duration::from_secs(15);
const DEAD_AFTER: Duration = Duration::from_secs(30);
/// A send that takes longer than this means the reader has stalled.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

pub mod route;

pub use route::{Channel, Delivery, Subscriber, Viewer, route};

fn queue_ids(doc: &Value) -> Vec<Id> {
    doc["queue_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|q| q.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
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

/// Who is listening, in which tenant.
struct Listener {
    tenant: Id,
    viewer: Viewer,
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
        let device = crate::caller::device_of(state, token)
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
                viewer: Viewer::Device,
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
                viewer: Viewer::Customer,
            });
        }
        return Err(BAD);
    };
    if let Some(m) = claims.memberships.iter().find(|m| m.tenant_slug == slug) {
        return Ok(Listener {
            tenant: m.tenant_id,
            viewer: Viewer::Staff,
        });
    }
    if claims.su
        && let Ok(Some(t)) = state.store.tenant_by_slug(slug).await
    {
        return Ok(Listener {
            tenant: t.id,
            viewer: Viewer::Staff,
        });
    }
    Err((4404, "tenant not found"))
}

/// The subscription, or None when the tenant has no such channel.
async fn follow(
    state: &AppState,
    tenant: Id,
    channel: Channel,
    viewer: Viewer,
) -> Option<Subscriber> {
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
    Some(Subscriber {
        channel,
        viewer,
        queues,
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
    let (tenant, viewer) = match authenticate(&state, &slug, channel, &token).await {
        Ok(l) => (l.tenant, l.viewer),
        Err((code, why)) => {
            let _ = socket.send(close(code, why)).await;
            return;
        }
    };
    let Some(mut sub) = follow(&state, tenant, channel, viewer).await else {
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
                last = e.seq();
                let e = match route(e.event(), &sub) {
                    Delivery::Skip => continue,
                    Delivery::Full => e,
                    Delivery::Public => e.public(),
                };
                let revoked = route::observe(e.event(), &mut sub);
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
                    if e.tenant_id != tenant || e.seq() <= last {
                        continue;
                    }
                    last = e.seq();
                    // The envelope was serialized once for everyone; this shares it.
                    let text = match route(e.event(), &sub) {
                        Delivery::Skip => continue,
                        Delivery::Full => live_event.json(),
                        Delivery::Public => live_event.public_json(),
                    };
                    let revoked = route::observe(e.event(), &mut sub);
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
