//! Fan-out benchmark: N WebSocket subscribers on one queue channel of a real server process; an
//! agent calls; measures call → frame latency at every subscriber and the server's RSS.
//!
//! ```sh
//! cargo build --release -p smartqueue-server -p smartqueue-tests
//! target/release/smartqueue-fanout --subscribers 1000,10000 --rounds 5
//! ```
//! Each side needs one file descriptor per connection (the harness raises its soft limit to the
//! hard limit; the server runs as a separate process).

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use serde_json::json;
use smartqueue_tests::load::{ServerProcess, rss_mib};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Parser)]
#[command(about = "SmartQueue WebSocket fan-out benchmark")]
struct Args {
    /// Server binary (default: smartqueue-server next to this program).
    #[arg(long)]
    server_bin: Option<std::path::PathBuf>,
    /// Subscriber counts to run.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    subscribers: Vec<usize>,
    /// Calls measured per subscriber count.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// Raises this process's soft limit on open files to the hard limit (one descriptor per
/// connection) and reports it.
fn raise_fd_limit() {
    #[cfg(target_os = "linux")]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                eprintln!("open files limit: {}", lim.rlim_cur);
            }
        }
    }
}

/// CPU time (user + system) of process `pid` so far, in microseconds (Linux `/proc`).
fn cpu_us(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    f.get(10..12).map_or(0.0, |t| (t[0] + t[1]) / hz * 1e6)
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    raise_fd_limit();
    let server = ServerProcess::start(args.server_bin.clone(), "fan").await;
    let (pid, addr) = (server.pid, server.addr.clone());
    let admin = server.admin().await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@fan.test", &[&q]).await;
    let qid = q["id"].as_str().unwrap().to_owned();
    println!(
        "| subscribers | calls | frames | call answered ms (p50) | first frame ms (p50) | p50 ms | p99 ms | max ms | server RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &args.subscribers {
        // (ticket id, called?, arrival) of every ticket.created / ticket.called frame.
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, bool, Instant)>();
        let mut ready = 0;
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
        let url = format!(
            "ws://{addr}/ws/tenants/fan/queues/{qid}/?token={}",
            admin.token
        );
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let (url, tx, ready_tx) = (url.clone(), tx.clone(), ready_tx.clone());
            tasks.push(tokio::spawn(async move {
                let mut ws = loop {
                    // A small read buffer: tungstenite zeroes `read_buffer_size` bytes on every
                    // read, and its 128 KiB default made that memset half the harness's time.
                    let config = WebSocketConfig::default().read_buffer_size(4096);
                    match tokio_tungstenite::connect_async_with_config(
                        url.as_str(),
                        Some(config),
                        true,
                    )
                    .await
                    {
                        Ok((ws, _)) => break ws,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(20 + (i % 50) as u64)).await
                        }
                    }
                };
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Text(t) = m {
                        // Timestamp first and avoid a full JSON parse: the harness shares the
                        // machine's two cores with the server, and its own work would count as
                        // fan-out latency.
                        let at = Instant::now();
                        let called = t.contains("\"type\":\"ticket.called\"");
                        if called || t.contains("\"type\":\"ticket.created\"") {
                            let id = t
                                .split("\"id\":\"")
                                .nth(1)
                                .and_then(|r| r.get(..36))
                                .unwrap_or_default()
                                .to_owned();
                            let _ = tx.send((id, called, at));
                        } else if t.contains("\"type\":\"live\"") {
                            let _ = ready_tx.send(());
                        }
                    }
                }
            }));
        }
        while ready < n {
            if ready_rx.recv().await.is_some() {
                ready += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cpu_before = (cpu_us(&pid.to_string()), cpu_us("self"));
        let mut latencies = Vec::new();
        let mut call_ms = Vec::new();
        let mut firsts = Vec::new();
        let mut frames = 0;
        for _ in 0..args.rounds {
            let created = admin
                .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
                .await
                .expect(201);
            // The new ticket's own event goes to every subscriber first; the call is measured
            // once that broadcast is over, not queued behind it.
            let created_id = created["id"].as_str().unwrap_or_default().to_owned();
            let mut seen = 0;
            while seen < n {
                match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                    Ok(Some((tid, false, _))) if tid == created_id => seen += 1,
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            let sent = Instant::now();
            let called = agent
                .post(&agent.t("agents/call-next/"), &json!({}))
                .await
                .expect(200);
            call_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
            let id = called["ticket"]["id"].as_str().unwrap().to_owned();
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut got = 0;
            let mut first = f64::MAX;
            while got < n && Instant::now() < deadline {
                if let Ok(Some((tid, true, at))) =
                    tokio::time::timeout(Duration::from_secs(30), rx.recv()).await
                    && tid == id
                {
                    got += 1;
                    let ms = at.duration_since(sent).as_secs_f64() * 1000.0;
                    first = first.min(ms);
                    latencies.push(ms);
                }
            }
            frames += got;
            firsts.push(first);
            // Free the agent for the next round.
            agent.serve_and_close(&id).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let rss = rss_mib(pid).unwrap_or(0.0);
        // Each round broadcasts four events to every subscriber (created, called, started,
        // closed); the CPU of the whole rounds is shared out over all those frames.
        let per_frame = |before: f64, now: f64| (now - before) / ((4 * frames).max(1) as f64);
        eprintln!(
            "{n} subscribers: CPU per frame sent (4 events per round, requests included): server {:.1} µs, harness {:.1} µs",
            per_frame(cpu_before.0, cpu_us(&pid.to_string())),
            per_frame(cpu_before.1, cpu_us("self"))
        );
        call_ms.sort_by(|a, b| a.total_cmp(b));
        firsts.sort_by(|a, b| a.total_cmp(b));
        latencies.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| {n} | {} | {frames}/{} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {rss:.1} |",
            args.rounds,
            n * args.rounds,
            pct(&call_ms, 0.5),
            pct(&firsts, 0.5),
            pct(&latencies, 0.5),
            pct(&latencies, 0.99),
            latencies.last().copied().unwrap_or(0.0)
        );
        for t in tasks {
            t.abort();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
