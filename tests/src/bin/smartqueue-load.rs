//! Load generator: starts a real `smartqueue-server` process on a fresh SQLite file and measures
//! create-ticket and call-next (+ start + close) at several client counts.
//!
//! ```sh
//! cargo build --release -p smartqueue-server -p smartqueue-tests
//! target/release/smartqueue-load --duration 20 --clients 1,4,16,32
//! ```

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use smartqueue_tests::Api;
use smartqueue_tests::load::{Row, rss_mib, run_call_cycle, run_create};

#[derive(Parser)]
#[command(about = "SmartQueue load generator")]
struct Args {
    /// Server binary (default: smartqueue-server next to this program).
    #[arg(long)]
    server_bin: Option<std::path::PathBuf>,
    /// Seconds per run.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Client counts to run.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,32")]
    clients: Vec<usize>,
    /// Which scenarios: create, call, or all.
    #[arg(long, default_value = "all")]
    scenario: String,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let bin = args.server_bin.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("current exe")
            .parent()
            .expect("dir")
            .join("smartqueue-server")
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("load.db").display());
    let status = Command::new(&bin)
        .args([
            "--database",
            &db,
            "create-tenant",
            "--name",
            "Load",
            "--slug",
            "load",
            "--admin-email",
            "admin@load.test",
            "--admin-password",
            "loadpass1",
        ])
        .stdout(Stdio::null())
        .status()
        .expect("run create-tenant");
    assert!(status.success(), "create-tenant failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(&bin)
        .args([
            "--database",
            &db,
            "serve",
            "--addr",
            &addr,
            "--public-rate-per-minute",
            "0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start server");
    let pid = child.id();
    let _server = Server(child);
    let base = format!("http://{addr}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/api/v1/health/")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_mib(pid).unwrap_or(0.0);
    eprintln!("server pid {pid}, idle RSS {idle_rss:.1} MiB");

    let admin = Api::login(&base, "admin@load.test", "loadpass1").await;
    let q = admin.queue("A", "fifo").await;
    let d = Duration::from_secs(args.duration);
    let mut rows: Vec<Row> = Vec::new();
    if args.scenario == "all" || args.scenario == "create" {
        for &c in &args.clients {
            let row = run_create(&admin, &q["id"], c, d).await;
            eprintln!("{}", row.markdown());
            rows.push(row);
        }
    }
    if args.scenario == "all" || args.scenario == "call" {
        let max = args.clients.iter().copied().max().unwrap_or(1);
        let mut agents = Vec::new();
        for i in 0..max {
            agents.push(admin.agent(&format!("agent{i}@load.test"), &[&q]).await);
        }
        eprintln!(
            "{} agents ready, server RSS {:.1} MiB",
            agents.len(),
            rss_mib(pid).unwrap_or(0.0)
        );
        for &c in &args.clients {
            let row = run_call_cycle(&agents[..c], d, &q["id"], &admin).await;
            eprintln!("{}", row.markdown());
            rows.push(row);
        }
    }
    let busy_rss = rss_mib(pid).unwrap_or(0.0);
    println!("| scenario | clients | ok/s | errors | p50 ms | p90 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!("{}", r.markdown());
    }
    println!("\nserver RSS: idle {idle_rss:.1} MiB, after load {busy_rss:.1} MiB");
}
