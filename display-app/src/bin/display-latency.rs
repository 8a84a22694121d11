//! Benchmark: a call made at a console → the call at a paired display (the sync engine's
//! event) and its announcement started (chime + espeak-ng speech rendered, handed to the
//! player). Run against a server with the demo tenant:
//!
//! ```text
//! target/release/smartqueue-server serve --demo &
//! cargo run --release -p smartqueue-display --bin display-latency -- --calls 50
//! ```
//!
//! It pairs a temporary display (revoked and deleted at the end), then for each call creates a
//! ticket, has the agent call it, and times from just before the call request until the
//! display has the event and until its announcement starts. Audio goes nowhere (no sound card
//! needed); rendering the speech is included.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smartqueue_core::client::ApiClient;
use smartqueue_core::device::{DeviceMode, PollOutcome};
use smartqueue_core::event::Event;
use smartqueue_core::sync::{Connection, SyncConfig, SyncEngine};
use smartqueue_display::speech::{Announcer, Audio, EspeakNg, Player, Say, SpeechError};

struct Nowhere;

impl Player for Nowhere {
    fn play(&self, _audio: &Audio) -> Result<(), SpeechError> {
        Ok(())
    }
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.windows(2)
        .find(|w| w[0] == name)
        .map(|w| w[1].clone())
        .unwrap_or_else(|| default.to_owned())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let server = arg(&args, "--server", "http://127.0.0.1:8000");
    let tenant = arg(&args, "--tenant", "demo-bank");
    let calls: usize = arg(&args, "--calls", "50").parse()?;
    let mut admin = ApiClient::new(&server);
    admin
        .login(
            &arg(&args, "--admin", "admin@demo-bank.com"),
            &arg(&args, "--admin-password", "admin123"),
        )
        .await?;
    let mut agent = ApiClient::new(&server);
    agent
        .login(
            &arg(&args, "--agent", "agent1@demo-bank.com"),
            &arg(&args, "--agent-password", "agent123"),
        )
        .await?;
    let t = |p: &str| format!("/api/v1/tenants/{tenant}/{p}");
    let me: Value = agent.get(&t("agents/me/")).await?;
    let queue_id = me["queue_ids"][0]
        .as_str()
        .ok_or("the agent serves no queue")?
        .to_owned();
    let queue: Value = admin.get(&t(&format!("queues/{queue_id}/"))).await?;
    // Free the agent if a previous run left a ticket with them.
    if let Some(current) = me["current_ticket_id"].as_str() {
        let _: Result<Value, _> = agent
            .post(&t(&format!("tickets/{current}/start_service/")), &json!({}))
            .await;
        let _: Result<Value, _> = agent
            .post(&t(&format!("tickets/{current}/close/")), &json!({}))
            .await;
    }
    let _: Value = agent
        .post(&t("agents/set-status/"), &json!({"status": "available"}))
        .await?;

    // Pair a display the way a real one does.
    let device = ApiClient::new(&server);
    let code = device.start_pairing(DeviceMode::Display).await?;
    let display: Value = admin
        .post(
            &t("displays/"),
            &json!({"site_id": queue["site_id"], "name": "latency bench", "queue_ids": [queue_id]}),
        )
        .await?;
    let display_id = display["id"].as_str().unwrap_or_default().to_owned();
    let _: Value = admin
        .post(
            &t(&format!("displays/{display_id}/pair/")),
            &json!({"code": code.code}),
        )
        .await?;
    let creds = match device.poll_pairing(&code).await? {
        PollOutcome::Paired(c) => c,
        other => return Err(format!("pairing: {other:?}").into()),
    };
    let dir = std::env::temp_dir().join(format!("sq-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let engine = SyncEngine::start(SyncConfig::new(
        &server,
        &tenant,
        &creds.token,
        creds.channel(),
        creds.snapshot(),
        dir.join("sync.db"),
    ))?;
    let mut state = engine.subscribe();
    while state.borrow_and_update().connection != Connection::Online {
        tokio::time::timeout(Duration::from_secs(10), state.changed()).await??;
    }
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let announcer = Announcer::start(Box::new(EspeakNg), Box::new(Nowhere), move |_, _| {
        let _ = started_tx.send(Instant::now());
    });
    let mut events = engine.events();
    let (mut to_screen, mut to_voice) = (Vec::new(), Vec::new());
    for _ in 0..calls {
        let _: Value = admin
            .post(&t("tickets/"), &json!({"queue_id": queue_id}))
            .await?;
        let t0 = Instant::now();
        let called: Value = agent
            .post(&t("agents/call-next/"), &json!({"queue_id": queue_id}))
            .await?;
        let id = called["ticket"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let event = loop {
            let e = tokio::time::timeout(Duration::from_secs(5), events.recv()).await??;
            if let Event::TicketCalled(call) = e.event
                && call.ticket.id.to_string() == id
            {
                break call;
            }
        };
        let t1 = Instant::now();
        announcer.say(Say {
            text: event.display.map(|d| d.announce_fr).unwrap_or_default(),
            lang: "fr".into(),
            received: t1,
        });
        let t2 = tokio::time::timeout(Duration::from_secs(5), started_rx.recv())
            .await?
            .ok_or("announcer stopped")?;
        to_screen.push((t1 - t0).as_secs_f64() * 1000.0);
        to_voice.push((t2 - t0).as_secs_f64() * 1000.0);
        let _: Value = agent
            .post(&t(&format!("tickets/{id}/start_service/")), &json!({}))
            .await?;
        let _: Value = agent
            .post(&t(&format!("tickets/{id}/close/")), &json!({}))
            .await?;
    }
    let _: Value = admin
        .post(&t(&format!("displays/{display_id}/revoke/")), &json!({}))
        .await?;
    let _ = admin
        .send_with_key::<Value>("DELETE", &t(&format!("displays/{display_id}/")), None, None)
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    for v in [&mut to_screen, &mut to_voice] {
        v.sort_by(f64::total_cmp);
    }
    println!("{calls} calls, agent's call-next request → display (ms)");
    println!(
        "{:<28} {:>7} {:>7} {:>7} {:>7}",
        "", "p50", "p90", "p99", "max"
    );
    for (name, v) in [
        ("event at the display", &to_screen),
        ("announcement started", &to_voice),
    ] {
        println!(
            "{name:<28} {:>7.1} {:>7.1} {:>7.1} {:>7.1}",
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
