//! # smartqueue-server
//!
//! The multi-tenant HTTP API of SmartQueue (axum) on embedded SQLite.
//!
//! * [`api`] — routes and handlers; every error is `{code, detail}` ([`error`]).
//! * [`auth`] — argon2id, JWT access tokens, rotating refresh tokens, throttling, extractors.
//! * [`store`] — the storage interface (domain operations) and its SQLite implementation.
//! * [`demo`] — the demo tenant behind `create-tenant --with-demo-data`.
//! * [`cli`] — `serve`, `create-tenant`, `migrate`.

pub mod api;
pub mod auth;
pub mod cli;
pub mod demo;
pub mod error;
pub mod ratelimit;
pub mod state;
pub mod store;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

pub use state::{AppState, Config};
pub use store::Store;
pub use store::sqlite::SqliteStore;

/// Builds the router over an opened store.
pub async fn app(store: Arc<dyn Store>, config: Config) -> Result<Router, store::StoreError> {
    let secret = match std::env::var("SMARTQUEUE_JWT_SECRET") {
        Ok(s) if s.len() >= 32 => s.into_bytes(),
        _ => store.signing_secret().await?,
    };
    telemetry::init();
    Ok(api::router(AppState::new(store, &secret, config)))
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
