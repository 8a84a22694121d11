//! Helpers shared by the end-to-end tests: start a real server on an ephemeral port.

use std::net::SocketAddr;

use tokio::sync::oneshot;

/// A real server on `127.0.0.1:<ephemeral>`, shut down gracefully when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// Binds an ephemeral port and serves the real router on it.
    pub async fn start() -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(smartqueue_server::serve(listener, async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            stop: Some(tx),
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
