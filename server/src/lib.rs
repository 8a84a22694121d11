//! # smartqueue-server
//!
//! The axum HTTP API of SmartQueue on embedded SQLite.

pub mod cli;

use axum::{Json, Router, routing::get};
use serde_json::json;

/// Builds the HTTP router.
pub fn app() -> Router {
    Router::new().route("/api/v1/health/", get(health))
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Serves `app()` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app())
        .with_graceful_shutdown(shutdown)
        .await
}
