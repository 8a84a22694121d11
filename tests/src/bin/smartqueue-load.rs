//! Load generator: starts a real `smartqueue-server` process on a fresh SQLite file and measures
//! create-ticket and call-next (+ start + close) at several client counts.
//!
//! ```sh
//! cargo build --release -p smartqueue-server -p smartqueue-tests
//! target/release/smartqueue-load --duration 20 --clients 1,4,16,32
//! ```

use std::time::Duration;

use clap::Parser;
use smartqueue_tests::load::{Row, ServerProcess, rss_mib, run_call_cycle, run_create};

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

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let server = ServerProcess::start(args.server_bin.clone(), "load").await;
    let pid = server.pid;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_mib(pid).unwrap_or(0.0);
    eprintln!("server pid {pid}, idle RSS {idle_rss:.1} MiB");
    let admin = server.admin().await;
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
