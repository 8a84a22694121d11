//! Shared state of the HTTP handlers, and the server's configuration.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smartqueue_core::Id;
use smartqueue_core::eta::ServiceTimeModel;

use crate::auth::{JwtKeys, LoginThrottle};
use crate::store::Store;

/// Server configuration (defaults → environment → command line).
#[derive(Debug, Clone)]
pub struct Config {
    /// Proxies whose `X-Forwarded-For` is trusted (none by default).
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests per minute per client address on public and sign-in routes.
    pub public_rate_per_minute: u32,
    /// Failed sign-ins per account per 15 minutes before that account is throttled.
    pub login_failures_per_account: usize,
    /// Failed sign-ins per client address per 15 minutes before that address is throttled.
    pub login_failures_per_ip: usize,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            trusted_proxies: Vec::new(),
            public_rate_per_minute: 120,
            login_failures_per_account: 5,
            login_failures_per_ip: 50,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Service-time model and serving agents of one queue, cached for a few seconds so the hot
/// paths don't recompute them on every request.
#[derive(Debug, Clone, Copy)]
pub struct EtaInputs {
    pub model: ServiceTimeModel,
    pub active_agents: u32,
    at: Instant,
}

/// How long [`EtaInputs`] are reused.
const ETA_TTL: Duration = Duration::from_secs(3);

/// Per-(tenant, queue) cache of ETA inputs.
#[derive(Debug, Default)]
pub struct EtaCache(Mutex<HashMap<(Id, Id), EtaInputs>>);

impl EtaCache {
    /// Cached inputs if fresh.
    pub fn get(&self, tenant: Id, queue: Id) -> Option<EtaInputs> {
        let map = self.0.lock().ok()?;
        map.get(&(tenant, queue))
            .filter(|e| e.at.elapsed() < ETA_TTL)
            .copied()
    }

    /// Stores fresh inputs.
    pub fn put(
        &self,
        tenant: Id,
        queue: Id,
        model: ServiceTimeModel,
        active_agents: u32,
    ) -> EtaInputs {
        let e = EtaInputs {
            model,
            active_agents,
            at: Instant::now(),
        };
        if let Ok(mut map) = self.0.lock() {
            map.insert((tenant, queue), e);
        }
        e
    }

    /// Forgets a queue's inputs (after a close or an agent status change).
    pub fn invalidate(&self, tenant: Id, queue: Id) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&(tenant, queue));
        }
    }
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    pub config: Arc<Config>,
    pub throttle: Arc<LoginThrottle>,
    pub eta: Arc<EtaCache>,
    pub rate: Arc<crate::ratelimit::RateLimiter>,
    /// The OpenAPI document, rendered once.
    pub openapi_json: Arc<String>,
    /// Closes WebSocket sessions on shutdown.
    pub closing: crate::realtime::Closing,
}

impl AppState {
    /// State over `store`, signing tokens with `secret`.
    pub fn new(store: Arc<dyn Store>, secret: &[u8], config: Config) -> Self {
        AppState {
            store,
            keys: Arc::new(JwtKeys::new(secret)),
            throttle: Arc::new(LoginThrottle::new(
                Duration::from_secs(15 * 60),
                config.login_failures_per_account,
                config.login_failures_per_ip,
            )),
            rate: Arc::new(crate::ratelimit::RateLimiter::new(
                config.public_rate_per_minute,
            )),
            config: Arc::new(config),
            eta: Arc::new(EtaCache::default()),
            openapi_json: Arc::new(crate::api::openapi().to_pretty_json().unwrap_or_default()),
            closing: crate::realtime::Closing::new(),
        }
    }
}
