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

/// Connects to `ws/tenants/{path}` with a 4 KiB receive buffer, for a reader that will stall:
/// the server's sends then back up instead of disappearing into kernel buffers.
pub async fn connect_small(addr: std::net::SocketAddr, path: &str) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer");
    let tcp = socket.connect(addr).await.expect("connect");
    let url = format!("ws://{addr}/ws/tenants/{path}");
    tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
        .await
        .expect("ws handshake")
        .0
}
