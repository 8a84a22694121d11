//! # smartqueue-server
//!
//! The multi-tenant HTTP API of SmartQueue (axum) on embedded SQLite.
//!
//! * [`api`] — routes and handlers; every error is `{code, detail}` ([`error`]).
//! * [`auth`] — argon2id, JWT access tokens, rotating refresh tokens, throttling, extractors.
//! * [`service`] — business decisions between handlers and the store.
//! * [`store`] — the storage interface (domain operations) and its SQLite implementation.
//! * [`demo`] — the demo tenant behind `create-tenant --with-demo-data`.
//! * [`eta_events`] — `queue.eta` events when a queue's estimated wait moves.
//! * [`cli`] — `serve`, `create-tenant`, `migrate`.

pub mod alloc;
pub mod api;
pub mod auth;
pub mod bus;
pub mod caller;
pub mod cli;
pub mod demo;
pub mod error;
pub mod eta_events;
pub mod ratelimit;
pub mod realtime;
pub mod service;
pub mod state;
pub mod store;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

pub use state::{AppState, Config};
pub use store::Store;
pub use store::sqlite::SqliteStore;

/// The server: its router and the handle that closes WebSocket sessions on shutdown.
pub struct App {
    pub router: Router,
    pub closing: state::Closing,
}

/// Builds the server over an opened store.
pub async fn app(store: Arc<dyn Store>, config: Config) -> Result<App, store::StoreError> {
    let secret = match std::env::var("SMARTQUEUE_JWT_SECRET") {
        Ok(s) if s.len() >= 32 => s.into_bytes(),
        _ => service::tenants::signing_secret(&*store).await?,
    };
    telemetry::init();
    let state = AppState::new(store, &secret, config);
    let closing = state.closing.clone();
    eta_events::spawn(state.clone());
    Ok(App {
        router: api::router(state),
        closing,
    })
}

/// Serves `app` on `listener` until `shutdown` resolves, then closes WebSocket sessions and
/// finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let closing = app.closing.clone();
    // No Nagle delay: answers and WebSocket frames are small writes that must leave at once.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.router
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        closing.close();
    })
    .await
}

/// The process's allocator: [`alloc::Allocator`].
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator;
