//! Helpers shared by the end-to-end tests: a real server on a real database (an SQLite file, or
//! a fresh PostgreSQL database with `SMARTQUEUE_TEST_BACKEND=postgres`) on an ephemeral port,
//! and a small HTTP client for its API.

pub mod load;
pub mod pg;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smartqueue_server::{Config, SqliteStore, Store};
use tokio::sync::oneshot;

/// A real server on `127.0.0.1:<ephemeral>` over a SQLite file in a temporary directory. It runs
/// on its own tokio runtime, so [`TestServer::crash_and_restart`] can kill it the way a crash
/// does: every task and connection gone at once, no goodbye.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    runtime: Option<tokio::runtime::Runtime>,
    dir: Option<Database>,
}

/// Where a test server keeps its data; it outlives a crash, for the restart.
pub enum Database {
    Sqlite(tempfile::TempDir),
    Postgres(pg::PgDatabase),
}

/// Which backend the end-to-end tests run on: `SMARTQUEUE_TEST_BACKEND` = `sqlite` (the
/// default) or `postgres`.
pub fn backend() -> &'static str {
    match std::env::var("SMARTQUEUE_TEST_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

impl Database {
    /// A new empty database of the tests' backend.
    pub async fn create() -> Database {
        match backend() {
            "postgres" => Database::Postgres(pg::PgDatabase::create().await),
            _ => Database::Sqlite(tempfile::tempdir().expect("tempdir")),
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Database::Sqlite(dir) => {
                Arc::new(SqliteStore::open(dir.path().join("smartqueue.db")).expect("open store"))
            }
            Database::Postgres(db) => Arc::new(
                smartqueue_server::store::postgres::PgStore::open(&db.url)
                    .await
                    .expect("open store"),
            ),
        }
    }

    /// The database's URL, for a server process's `--database`.
    pub fn url(&self) -> String {
        match self {
            Database::Sqlite(dir) => {
                format!("sqlite://{}", dir.path().join("smartqueue.db").display())
            }
            Database::Postgres(db) => db.url.clone(),
        }
    }
}

impl TestServer {
    /// Starts a server with the default configuration.
    pub async fn start() -> TestServer {
        Self::start_with(Config::default()).await
    }

    /// Starts a server with `config`.
    pub async fn start_with(config: Config) -> TestServer {
        Self::start_in(Database::create().await, config, None).await
    }

    /// Starts a server on `database` (of whichever backend).
    pub async fn start_on(database: Database) -> TestServer {
        Self::start_in(database, Config::default(), None).await
    }

    async fn start_in(dir: Database, config: Config, addr: Option<SocketAddr>) -> TestServer {
        let store = dir.open().await;
        let listener = std::net::TcpListener::bind(
            addr.unwrap_or_else(|| "127.0.0.1:0".parse().expect("addr")),
        )
        .expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (ready_tx, ready_rx) = oneshot::channel::<()>();
        let server_store = store.clone();
        runtime.spawn(async move {
            let app = smartqueue_server::app(server_store, config)
                .await
                .expect("app");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = ready_tx.send(());
            let _ = smartqueue_server::serve(listener, app, std::future::pending()).await;
        });
        ready_rx.await.expect("server started");
        TestServer {
            addr,
            store,
            runtime: Some(runtime),
            dir: Some(dir),
        }
    }

    /// Kills the server abruptly, the way a crash does (every task and socket gone at once).
    pub async fn crash(mut self) -> DownServer {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        let dir = self.dir.take().expect("database directory");
        let addr = self.addr;
        drop(self);
        // Let the old writer thread finish its last batch.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        DownServer { dir, addr }
    }

    /// Crashes the server and starts a new one on the same database file and port.
    pub async fn crash_and_restart(self) -> TestServer {
        self.crash().await.restart().await
    }

    /// The server's SQLite file (None on PostgreSQL).
    pub fn db_path(&self) -> Option<std::path::PathBuf> {
        match self.dir.as_ref().expect("database") {
            Database::Sqlite(dir) => Some(dir.path().join("smartqueue.db")),
            Database::Postgres(_) => None,
        }
    }

    /// Runs one statement on the database behind the server's back (a test damaging stored
    /// data); `$1` is `arg`, on either backend. Returns the rows changed.
    pub async fn raw_execute(&self, sql: &str, arg: &str) -> u64 {
        match self.dir.as_ref().expect("database") {
            Database::Sqlite(dir) => {
                let db = rusqlite::Connection::open(dir.path().join("smartqueue.db")).unwrap();
                db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
                db.execute(sql, [arg]).unwrap() as u64
            }
            Database::Postgres(pg) => {
                let (client, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client.execute(sql, &[&arg]).await.unwrap()
            }
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates tenant `slug` with admin `admin@{slug}.test` / `password123`, signed in.
    pub async fn tenant(&self, slug: &str) -> Api {
        let email = format!("admin@{slug}.test");
        smartqueue_server::demo::create_tenant(
            self.store.as_ref(),
            slug,
            slug,
            &email,
            "password123",
            false,
        )
        .await
        .expect("create tenant");
        Api::login(&self.url(), &email, "password123").await
    }
}

/// A crashed server: its database and address, ready to restart.
pub struct DownServer {
    dir: Database,
    pub addr: SocketAddr,
}

impl DownServer {
    /// The database the server ran on.
    pub fn database(&self) -> &Database {
        &self.dir
    }

    /// Starts a server again on the same database file and port.
    pub async fn restart(self) -> TestServer {
        TestServer::start_in(self.dir, Config::default(), Some(self.addr)).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A signed-in API client (one user in one tenant).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub tenant: String,
    pub user: Value,
}

/// An answer: status and JSON body (Null when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
}

impl Resp {
    /// Panics with the body unless the status is `want`.
    pub fn expect(self, want: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            want,
            "unexpected answer: {}",
            self.body
        );
        self.body
    }
}

impl Api {
    /// Signs in with e-mail and password.
    pub async fn login(base: &str, email: &str, password: &str) -> Api {
        let http = reqwest::Client::new();
        let r = send(
            &http,
            Method::POST,
            &format!("{base}/api/v1/auth/jwt/token/"),
            None,
            Some(&json!({"email": email, "password": password})),
            None,
        )
        .await;
        let body = r.expect(200);
        Api {
            base: base.to_owned(),
            http,
            token: body["access"].as_str().expect("access").to_owned(),
            tenant: body["tenant"].as_str().unwrap_or_default().to_owned(),
            user: body["user"].clone(),
        }
    }

    /// `{base}/api/v1/tenants/{tenant}/{path}`.
    pub fn t(&self, path: &str) -> String {
        format!("{}{}", self.base, self.tenant_path(path))
    }

    /// `/api/v1/tenants/{tenant}/{path}` (the path part of [`Api::t`]).
    pub fn tenant_path(&self, path: &str) -> String {
        format!("/api/v1/tenants/{}/{}", self.tenant, path)
    }

    pub async fn get(&self, url: &str) -> Resp {
        send(&self.http, Method::GET, url, Some(&self.token), None, None).await
    }

    pub async fn post(&self, url: &str, body: &Value) -> Resp {
        send(
            &self.http,
            Method::POST,
            url,
            Some(&self.token),
            Some(body),
            None,
        )
        .await
    }

    pub async fn post_idem(&self, url: &str, body: &Value, key: &str) -> Resp {
        send(
            &self.http,
            Method::POST,
            url,
            Some(&self.token),
            Some(body),
            Some(key),
        )
        .await
    }

    pub async fn patch(&self, url: &str, body: &Value) -> Resp {
        send(
            &self.http,
            Method::PATCH,
            url,
            Some(&self.token),
            Some(body),
            None,
        )
        .await
    }

    pub async fn delete(&self, url: &str) -> Resp {
        send(
            &self.http,
            Method::DELETE,
            url,
            Some(&self.token),
            None,
            None,
        )
        .await
    }

    /// `POST tickets/{id}/{action}/` with an empty body, expecting success; the ticket.
    pub async fn act(&self, id: &str, action: &str) -> Value {
        self.post(&self.t(&format!("tickets/{id}/{action}/")), &json!({}))
            .await
            .expect(200)
    }

    /// The actions of the tenant's latest 50 audit entries, newest first.
    pub async fn audit_actions(&self) -> Vec<String> {
        let log = self.get(&self.t("audit-logs/?limit=50")).await.expect(200);
        log["results"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["action"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Starts serving and closes ticket `id` (frees the agent).
    pub async fn serve_and_close(&self, id: &str) {
        self.act(id, "start_service").await;
        self.act(id, "close").await;
    }

    /// Creates a site, a service, and a queue with `prefix` and `algorithm`; returns the queue.
    pub async fn queue(&self, prefix: &str, algorithm: &str) -> Value {
        let site = self
            .post(
                &self.t("sites/"),
                &json!({"name": "Main", "timezone": "Europe/Paris"}),
            )
            .await
            .expect(201);
        let service = self
            .post(&self.t("services/"), &json!({"name": "Accounts"}))
            .await
            .expect(201);
        self.post(
            &self.t("queues/"),
            &json!({"site_id": site["id"], "service_id": service["id"], "name": format!("Queue {prefix}"), "prefix": prefix, "algorithm": algorithm}),
        )
        .await
        .expect(201)
    }

    /// Adds an agent serving `queues`, available, and returns them signed in.
    pub async fn agent(&self, email: &str, queues: &[&Value]) -> Api {
        self.post(
            &self.t("members/"),
            &json!({"email": email, "password": "agentpass1", "role": "agent"}),
        )
        .await
        .expect(201);
        let mut a = Api::login(&self.base, email, "agentpass1").await;
        a.tenant = self.tenant.clone();
        let ids: Vec<&Value> = queues.iter().map(|q| &q["id"]).collect();
        a.patch(&a.t("agents/me/"), &json!({"queue_ids": ids}))
            .await
            .expect(200);
        a.post(&a.t("agents/set-status/"), &json!({"status": "available"}))
            .await
            .expect(200);
        a
    }
}

/// Sends one request and reads the JSON answer.
pub async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
    idem: Option<&str>,
) -> Resp {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    if let Some(k) = idem {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// A paired display or kiosk: its configuration and an [`Api`] that speaks with its device
/// token.
pub struct Device {
    pub doc: Value,
    pub api: Api,
    pub mode: smartqueue_core::device::DeviceMode,
}

impl Api {
    /// Creates a display or kiosk (`plural` = `displays` / `kiosks`) from `body` and pairs it the
    /// way a real device does: the device asks for a code, the admin enters it, the device's
    /// poll collects its token.
    pub async fn pair(&self, plural: &str, body: &Value) -> Device {
        let mode = plural.trim_end_matches('s');
        let http = reqwest::Client::new();
        let pairing = send(
            &http,
            Method::POST,
            &format!("{}/api/v1/public/devices/pairings/", self.base),
            None,
            Some(&json!({ "mode": mode })),
            None,
        )
        .await
        .expect(201);
        let claim_url = format!(
            "{}/api/v1/public/devices/pairings/{}/claim/",
            self.base,
            pairing["id"].as_str().expect("pairing id")
        );
        let secret = json!({ "secret": pairing["secret"] });
        let pending = send(&http, Method::POST, &claim_url, None, Some(&secret), None).await;
        assert_eq!(pending.expect(200)["status"], "pending");
        let doc = self
            .post(&self.t(&format!("{plural}/")), body)
            .await
            .expect(201);
        let code = pairing["code"].as_str().expect("code").to_lowercase();
        let id = doc["id"].as_str().expect("device id");
        let paired = self
            .post(
                &self.t(&format!("{plural}/{id}/pair/")),
                &json!({ "code": code }),
            )
            .await
            .expect(200);
        assert_eq!(paired["is_paired"], true);
        let grant = send(&http, Method::POST, &claim_url, None, Some(&secret), None)
            .await
            .expect(200);
        assert_eq!(grant["status"], "paired");
        Device {
            mode: if plural == "kiosks" {
                smartqueue_core::device::DeviceMode::Kiosk
            } else {
                smartqueue_core::device::DeviceMode::Display
            },
            doc: paired,
            api: Api {
                base: self.base.clone(),
                http,
                token: grant["token"].as_str().expect("device token").to_owned(),
                tenant: grant["tenant_slug"].as_str().expect("tenant").to_owned(),
                user: Value::Null,
            },
        }
    }
}

/// Waits (up to 15 s) until the engine's state satisfies `ok`; panics with the state otherwise.
pub async fn wait_for(
    engine: &smartqueue_core::sync::SyncEngine,
    what: &str,
    ok: impl Fn(&smartqueue_core::sync::SyncState) -> bool,
) -> smartqueue_core::sync::SyncState {
    let mut rx = engine.subscribe();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let s = rx.borrow_and_update().clone();
        if ok(&s) {
            return s;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out waiting for {what}; state: {:?}", engine.state()),
        }
    }
}

impl Device {
    /// The credentials the device app keeps after pairing.
    pub fn credentials(&self) -> smartqueue_core::device::DeviceCredentials {
        smartqueue_core::device::DeviceCredentials {
            base_url: self.api.base.clone(),
            tenant_slug: self.api.tenant.clone(),
            mode: self.mode,
            device_id: self.doc["id"].as_str().unwrap_or_default().to_owned(),
            token: self.api.token.clone(),
            device: self.doc.clone(),
        }
    }
}
