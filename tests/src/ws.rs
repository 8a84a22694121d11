//! A WebSocket client for the tests: connect, read the next event, wait for one kind.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::TestServer;

/// A client socket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `ws/tenants/{path}` (path includes the query string).
pub async fn connect(server: &TestServer, path: &str) -> Ws {
    let url = format!("ws://{}/ws/tenants/{path}", server.addr);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect")
        .0
}

/// The next JSON message (skipping pings and `live`), or the close code if the server closed.
pub async fn next(ws: &mut Ws) -> Result<Value, Option<u16>> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("JSON frame");
                if v["type"] != "live" {
                    return Ok(v);
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => return Err(frame.map(|f| u16::from(f.code))),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) => return Err(None),
            Err(_) => panic!("no message within 5 s"),
        }
    }
}

/// The next event of `kind`, skipping others.
pub async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let v = next(ws).await.expect("open");
        if v["type"] == kind {
            return v;
        }
    }
}

/// The close code the server ends the socket with (skipping any messages before it).
pub async fn closed_with(ws: &mut Ws) -> Option<u16> {
    loop {
        if let Err(code) = next(ws).await {
            return code;
        }
    }
}
