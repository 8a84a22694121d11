//! The load generator behind `smartqueue-load` (see BENCHMARKS.md): drives a real server process
//! over HTTP with N concurrent keep-alive clients and reports throughput and latency.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::Api;

/// Latency samples of one run.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// Successful operations.
    pub ok: u64,
    /// Failed requests (non-2xx or transport errors).
    pub errors: u64,
    /// Per-request latencies, microseconds.
    pub latencies_us: Vec<u64>,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
    }

    /// The `q`-quantile latency in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

/// One row of the results table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: &'static str,
    pub clients: usize,
    pub ok_per_s: f64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

impl Row {
    /// Markdown table line.
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.2} |",
            self.scenario,
            self.clients,
            self.ok_per_s,
            self.errors,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms
        )
    }
}

/// One keep-alive HTTP/1.1 connection of a benchmark client, with its bearer token.
///
/// A bare hyper connection rather than `reqwest`: the load generator shares the two cores with
/// the server it measures, and reqwest's pool, per-request header building and JSON trees cost
/// ~27 µs of CPU per request — a fifth of the machine at 10,000 requests/s. The server sees the
/// same requests either way (method, path, `Authorization`, JSON body, keep-alive).
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: HeaderValue,
    auth: HeaderValue,
}

impl Client {
    /// Opens a connection to `api`'s server, sending its token.
    async fn connect(api: &Api) -> Option<Client> {
        let authority = api.base.strip_prefix("http://")?.to_owned();
        let stream = tokio::net::TcpStream::connect(&authority).await.ok()?;
        stream.set_nodelay(true).ok()?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(conn);
        Some(Client {
            sender,
            host: HeaderValue::from_str(&authority).ok()?,
            auth: HeaderValue::from_str(&format!("Bearer {}", api.token)).ok()?,
        })
    }

    /// POSTs `body` to `path` (from `/api/…`); the answer's body if it was a 2xx.
    async fn post(&mut self, path: &str, body: &Bytes) -> Option<Bytes> {
        self.sender.ready().await.ok()?;
        let req = hyper::Request::post(path)
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .ok()?;
        let resp = self.sender.send_request(req).await.ok()?;
        let ok = resp.status().is_success();
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        ok.then_some(bytes)
    }
}

/// Runs one request on `client` (connecting first if needed), recording its latency; the
/// answer's body if it succeeded.
async fn timed(
    client: &mut Option<Client>,
    api: &Api,
    path: &str,
    body: &Bytes,
    samples: &mut Samples,
) -> Option<Bytes> {
    let start = Instant::now();
    if client.is_none() {
        *client = Client::connect(api).await;
    }
    let out = match client.as_mut() {
        Some(c) => c.post(path, body).await,
        None => None,
    };
    samples
        .latencies_us
        .push(start.elapsed().as_micros() as u64);
    if out.is_none() {
        samples.errors += 1;
        // The connection may be broken: the next request opens a new one.
        *client = None;
    }
    out
}

/// `clients` clients issue tickets as fast as they can for `duration`.
pub async fn run_create(api: &Api, queue_id: &Value, clients: usize, duration: Duration) -> Row {
    run_create_on(std::slice::from_ref(api), queue_id, clients, duration).await
}

/// [`run_create`] with the clients spread over several instances (client `i` talks to
/// `apis[i % n]`).
pub async fn run_create_on(
    apis: &[Api],
    queue_id: &Value,
    clients: usize,
    duration: Duration,
) -> Row {
    let deadline = Instant::now() + duration;
    let body = Bytes::from(json!({"queue_id": queue_id, "channel": "kiosk"}).to_string());
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let api = apis[i % apis.len()].clone();
            let body = body.clone();
            tokio::spawn(async move {
                let path = api.tenant_path("tickets/");
                let mut client = None;
                let mut s = Samples::default();
                while Instant::now() < deadline {
                    if timed(&mut client, &api, &path, &body, &mut s)
                        .await
                        .is_some()
                    {
                        s.ok += 1;
                    }
                }
                s
            })
        })
        .collect();
    finish("create", clients, duration, tasks).await
}

/// The part of a call-next answer the benchmark reads.
#[derive(serde::Deserialize)]
struct Called {
    ticket: Option<CalledTicket>,
}

#[derive(serde::Deserialize)]
struct CalledTicket {
    id: String,
}

/// Each of `agents` calls the next ticket, starts and closes it, in a loop, for `duration`; an
/// agent that finds the line empty issues a ticket first. One operation = call + start + close.
pub async fn run_call_cycle(
    agents: &[Api],
    duration: Duration,
    refill_queue: &Value,
    refill: &Api,
) -> Row {
    let deadline = Instant::now() + duration;
    let empty = Bytes::from_static(b"{}");
    let refill_body = Bytes::from(json!({"queue_id": refill_queue}).to_string());
    let tasks: Vec<_> = agents
        .iter()
        .cloned()
        .map(|agent| {
            let refill = refill.clone();
            let (empty, refill_body) = (empty.clone(), refill_body.clone());
            tokio::spawn(async move {
                let mut s = Samples::default();
                let (mut client, mut refill_client) = (None, None);
                let call = agent.tenant_path("agents/call-next/");
                let create = refill.tenant_path("tickets/");
                while Instant::now() < deadline {
                    let Some(r) = timed(&mut client, &agent, &call, &empty, &mut s).await else {
                        continue;
                    };
                    let called = serde_json::from_slice::<Called>(&r)
                        .ok()
                        .and_then(|c| c.ticket);
                    let Some(CalledTicket { id }) = called else {
                        let _ =
                            timed(&mut refill_client, &refill, &create, &refill_body, &mut s).await;
                        continue;
                    };
                    let start = agent.tenant_path(&format!("tickets/{id}/start_service/"));
                    let close = agent.tenant_path(&format!("tickets/{id}/close/"));
                    if timed(&mut client, &agent, &start, &empty, &mut s)
                        .await
                        .is_some()
                        && timed(&mut client, &agent, &close, &empty, &mut s)
                            .await
                            .is_some()
                    {
                        s.ok += 1;
                    }
                }
                s
            })
        })
        .collect();
    finish("call-next+start+close", agents.len(), duration, tasks).await
}

async fn finish(
    scenario: &'static str,
    clients: usize,
    duration: Duration,
    tasks: Vec<tokio::task::JoinHandle<Samples>>,
) -> Row {
    let mut all = Samples::default();
    for t in tasks {
        if let Ok(s) = t.await {
            all.merge(s);
        }
    }
    Row {
        scenario,
        clients,
        ok_per_s: all.ok as f64 / duration.as_secs_f64(),
        errors: all.errors,
        p50_ms: all.quantile_ms(0.50),
        p90_ms: all.quantile_ms(0.90),
        p99_ms: all.quantile_ms(0.99),
    }
}

/// Resident memory of process `pid` in MiB (Linux).
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A real `smartqueue-server` process with one tenant (`slug`, admin `admin@{slug}.test` /
/// `{slug}pass123`), for the benchmark programs and the multi-instance tests. Killed when
/// dropped.
pub struct ServerProcess {
    child: std::process::Child,
    pub pid: u32,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub admin_email: String,
    pub admin_password: String,
    _dir: Option<tempfile::TempDir>,
}

/// The `smartqueue-server` binary next to the running program (a benchmark program), or of the
/// same build (a test under `target/*/deps/`).
pub fn server_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("dir");
    let here = dir.join("smartqueue-server");
    if here.exists() {
        return here;
    }
    let up = dir.parent().expect("target dir").join("smartqueue-server");
    assert!(
        up.exists(),
        "{} missing: cargo build -p smartqueue-server",
        up.display()
    );
    up
}

impl ServerProcess {
    /// A server on a fresh SQLite file: creates the tenant with the server's CLI, starts
    /// `serve`, waits until healthy. `bin` defaults to [`server_bin`].
    pub async fn start(bin: Option<std::path::PathBuf>, slug: &str) -> ServerProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = format!("sqlite://{}", dir.path().join("bench.db").display());
        let bin = bin.unwrap_or_else(server_bin);
        create_tenant(&bin, &db, slug);
        let mut server = ServerProcess::serve(&bin, &db, slug).await;
        server._dir = Some(dir);
        server
    }

    /// A server on the database at `url`, whose tenant `slug` already exists (see
    /// [`create_tenant`]).
    pub async fn serve(bin: &std::path::Path, url: &str, slug: &str) -> ServerProcess {
        use std::process::{Command, Stdio};
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(bin)
            .args(["--database", url, "serve", "--addr", &addr])
            .args(["--public-rate-per-minute", "0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start server");
        let base = format!("http://{addr}");
        for _ in 0..200 {
            if reqwest::get(format!("{base}/api/v1/health/")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ServerProcess {
            pid: child.id(),
            child,
            addr,
            base,
            admin_email: format!("admin@{slug}.test"),
            admin_password: format!("{slug}pass123"),
            _dir: None,
        }
    }

    /// The tenant admin, signed in.
    pub async fn admin(&self) -> Api {
        Api::login(&self.base, &self.admin_email, &self.admin_password).await
    }

    /// Kills the process at once (SIGKILL: no shutdown, its connections dropped by the kernel).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates tenant `slug` (admin `admin@{slug}.test` / `{slug}pass123`) in the database at `url`
/// with the server's CLI.
pub fn create_tenant(bin: &std::path::Path, url: &str, slug: &str) {
    let status = std::process::Command::new(bin)
        .args([
            "--database",
            url,
            "create-tenant",
            "--name",
            slug,
            "--slug",
            slug,
        ])
        .args(["--admin-email", &format!("admin@{slug}.test")])
        .args(["--admin-password", &format!("{slug}pass123")])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run create-tenant");
    assert!(status.success(), "create-tenant failed");
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
