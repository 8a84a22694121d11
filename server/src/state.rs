//! Shared state of the HTTP handlers, and the server's configuration.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smartqueue_core::Id;
use smartqueue_core::eta::EtaInputs;

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
    /// Transfers one ticket may go through (then `too_many_transfers`).
    pub max_transfers_per_ticket: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            trusted_proxies: Vec::new(),
            public_rate_per_minute: 120,
            login_failures_per_account: 5,
            login_failures_per_ip: 50,
            max_body_bytes: 64 * 1024,
            max_transfers_per_ticket: smartqueue_core::lifecycle::MAX_TRANSFERS,
        }
    }
}

/// How long a queue's [`EtaInputs`] are reused.
const ETA_TTL: Duration = Duration::from_secs(3);

/// Per-(tenant, queue) cache of ETA inputs.
///
/// An expired entry is refreshed by one request while the others keep using it: when every
/// client of a busy queue missed together, each recomputed the inputs (a count over the whole
/// line among them) and the slowest requests waited behind all of those reads.
#[derive(Debug, Default)]
pub struct EtaCache(Mutex<HashMap<(Id, Id), EtaEntry>>);

#[derive(Debug, Clone, Copy)]
struct EtaEntry {
    inputs: EtaInputs,
    at: Instant,
    /// When a request took on refreshing this entry (another may take over after [`ETA_TTL`]).
    refreshing_since: Option<Instant>,
}

/// What [`EtaCache::lookup`] found.
#[derive(Debug, Clone, Copy)]
pub enum EtaLookup {
    /// Inputs to use as they are (fresh, or being refreshed by another request).
    Use(EtaInputs),
    /// Expired, and this caller refreshes them (the old inputs serve if that fails).
    Refresh(EtaInputs),
    /// Nothing cached: the caller computes them.
    Missing,
}

impl EtaCache {
    /// The cached inputs of a queue, and whether this caller should refresh them.
    pub fn lookup(&self, tenant: Id, queue: Id) -> EtaLookup {
        let Ok(mut map) = self.0.lock() else {
            return EtaLookup::Missing;
        };
        let Some(entry) = map.get_mut(&(tenant, queue)) else {
            return EtaLookup::Missing;
        };
        if entry.at.elapsed() < ETA_TTL {
            return EtaLookup::Use(entry.inputs);
        }
        match entry.refreshing_since {
            Some(since) if since.elapsed() < ETA_TTL => EtaLookup::Use(entry.inputs),
            _ => {
                entry.refreshing_since = Some(Instant::now());
                EtaLookup::Refresh(entry.inputs)
            }
        }
    }

    /// Stores fresh inputs.
    pub fn put(&self, tenant: Id, queue: Id, inputs: EtaInputs) -> EtaInputs {
        if let Ok(mut map) = self.0.lock() {
            map.insert(
                (tenant, queue),
                EtaEntry {
                    inputs,
                    at: Instant::now(),
                    refreshing_since: None,
                },
            );
        }
        inputs
    }

    /// Marks a queue's inputs out of date (after a close or an agent status change): the next
    /// request recomputes them, the ones arriving meanwhile use the old ones.
    pub fn invalidate(&self, tenant: Id, queue: Id) {
        if let Ok(mut map) = self.0.lock()
            && let Some(entry) = map.get_mut(&(tenant, queue))
        {
            match Instant::now().checked_sub(ETA_TTL) {
                Some(expired) => {
                    entry.at = expired;
                    entry.refreshing_since = None;
                }
                None => {
                    map.remove(&(tenant, queue));
                }
            }
        }
    }
}

/// State shared by every handler: one reference-counted pointer, since axum clones it for
/// every extractor of every request (cloning the fields' own `Arc`s one by one showed as ~5 % of
/// the request threads' time, their counters bouncing between the cores).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    pub config: Arc<Config>,
    pub throttle: Arc<LoginThrottle>,
    pub eta: Arc<EtaCache>,
    pub rate: Arc<crate::ratelimit::RateLimiter>,
    /// The OpenAPI document, rendered once.
    /// Closes WebSocket sessions on shutdown.
    pub closing: Closing,
}

impl AppState {
    /// State over `store`, signing tokens with `secret`.
    pub fn new(store: Arc<dyn Store>, secret: &[u8], config: Config) -> Self {
        AppState(Arc::new(Shared {
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
            closing: Closing::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When a busy queue's inputs expire, one request recomputes them and the others keep
    /// answering with the old ones instead of all recomputing at once.
    #[test]
    fn one_request_refreshes_expired_eta_inputs_while_the_others_use_them() {
        let cache = EtaCache::default();
        let (t, q) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let inputs = |serving_agents| EtaInputs {
            model: smartqueue_core::eta::ServiceTimeModel::from_history(&[], 300.0),
            serving_agents,
        };
        assert!(matches!(cache.lookup(t, q), EtaLookup::Missing));
        cache.put(t, q, inputs(2));
        assert!(matches!(cache.lookup(t, q), EtaLookup::Use(i) if i.serving_agents == 2));
        cache.invalidate(t, q);
        assert!(matches!(cache.lookup(t, q), EtaLookup::Refresh(i) if i.serving_agents == 2));
        assert!(
            matches!(cache.lookup(t, q), EtaLookup::Use(i) if i.serving_agents == 2),
            "only the first request after expiry refreshes"
        );
        cache.put(t, q, inputs(3));
        assert!(matches!(cache.lookup(t, q), EtaLookup::Use(i) if i.serving_agents == 3));
    }
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
