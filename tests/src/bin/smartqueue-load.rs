//! Load generator: starts real `smartqueue-server` processes on a fresh database and measures
//! create-ticket and call-next (+ start + close) at several client counts.
//!
//! ```sh
//! cargo build --release -p smartqueue-server -p smartqueue-tests
//! target/release/smartqueue-load --duration 20 --clients 1,4,16,32
//! # PostgreSQL (a fresh database on $SMARTQUEUE_TEST_POSTGRES), one or two instances:
//! target/release/smartqueue-load --backend postgres --instances 2 --clients 32
//! ```

use std::time::Duration;

use clap::Parser;
use smartqueue_tests::Api;
use smartqueue_tests::load::{
    Row, ServerProcess, create_tenant, rss_mib, run_call_cycle, run_create_on, server_bin,
};
use smartqueue_tests::pg::PgDatabase;

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
    /// `sqlite` (a fresh file) or `postgres` (a fresh database, dropped afterwards).
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Server instances on the one database; clients are spread over them.
    #[arg(long, default_value_t = 1)]
    instances: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let bin = args.server_bin.clone().unwrap_or_else(server_bin);
    let mut _pg = None;
    let mut _dir = None;
    let url = if args.backend == "postgres" {
        let db = PgDatabase::create().await;
        let url = db.url.clone();
        _pg = Some(db);
        url
    } else {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        _dir = Some(dir);
        url
    };
    assert!(
        args.instances == 1 || args.backend == "postgres",
        "several instances share a PostgreSQL database"
    );
    create_tenant(&bin, &url, "load");
    let mut servers = Vec::new();
    for _ in 0..args.instances.max(1) {
        servers.push(ServerProcess::serve(&bin, &url, "load").await);
    }
    let pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
    let rss = |pids: &[u32]| {
        pids.iter()
            .map(|p| format!("{:.1}", rss_mib(*p).unwrap_or(0.0)))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss(&pids);
    eprintln!(
        "{} on {}: {} instance(s), pids {pids:?}, idle RSS {idle_rss} MiB",
        bin.display(),
        args.backend,
        servers.len()
    );
    let admin = servers[0].admin().await;
    // The same admin on every instance.
    let admins: Vec<Api> = servers
        .iter()
        .map(|s| Api {
            base: s.base.clone(),
            ..admin.clone()
        })
        .collect();
    let q = admin.queue("A", "fifo").await;
    let d = Duration::from_secs(args.duration);
    let mut rows: Vec<Row> = Vec::new();
    if args.scenario == "all" || args.scenario == "create" {
        for &c in &args.clients {
            let row = run_create_on(&admins, &q["id"], c, d).await;
            eprintln!("{}", row.markdown());
            rows.push(row);
        }
    }
    if args.scenario == "all" || args.scenario == "call" {
        let max = args.clients.iter().copied().max().unwrap_or(1);
        let mut agents = Vec::new();
        for i in 0..max {
            let agent = admin.agent(&format!("agent{i}@load.test"), &[&q]).await;
            let at = &servers[i % servers.len()];
            agents.push(Api {
                base: at.base.clone(),
                ..agent
            });
        }
        eprintln!(
            "{} agents ready, server RSS {} MiB",
            agents.len(),
            rss(&pids)
        );
        for &c in &args.clients {
            let row = run_call_cycle(&agents[..c], d, &q["id"], &admin).await;
            eprintln!("{}", row.markdown());
            rows.push(row);
        }
    }
    let busy_rss = rss(&pids);
    println!("| scenario | clients | ok/s | errors | p50 ms | p90 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!("{}", r.markdown());
    }
    println!("\nserver RSS: idle {idle_rss} MiB, after load {busy_rss} MiB");
    drop(servers);
}
