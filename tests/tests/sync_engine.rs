//! core's sync engine against the real server: snapshot + events, restart into the last known
//! view, convergence after a crash, and the offline outbox (a kiosk issuing tickets).

use std::time::Duration;

use serde_json::json;
use smartqueue_core::sync::{Connection, SyncConfig, SyncEngine};
use smartqueue_tests::{Api, TestServer, wait_for};

fn config(server: &TestServer, admin: &Api, queue: &str, dir: &std::path::Path) -> SyncConfig {
    config_at(&server.url(), admin, queue, dir)
}

fn config_at(base_url: &str, admin: &Api, queue: &str, dir: &std::path::Path) -> SyncConfig {
    SyncConfig::new(
        base_url,
        &admin.tenant,
        &admin.token,
        format!("queues/{queue}/"),
        format!("tickets/?queue_id={queue}&limit=500"),
        dir.join("app.db"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_follows_a_queue_restarts_into_its_last_view_and_converges_after_a_crash() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let qid = q["id"].as_str().unwrap().to_owned();
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    for _ in 0..2 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    let dir = tempfile::tempdir().unwrap();
    let engine = SyncEngine::start(config(&server, &admin, &qid, dir.path())).unwrap();
    wait_for(&engine, "snapshot", |s| {
        s.connection == Connection::Online && s.tickets.len() == 2
    })
    .await;
    let called = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let id = called["ticket"]["id"].as_str().unwrap().to_owned();
    wait_for(&engine, "the call", |s| {
        s.tickets.get(&id).is_some_and(|t| t["status"] == "called")
    })
    .await;
    drop(engine);

    // The server goes down; the app restarts straight into its last known screen, offline.
    let down = server.crash().await;
    let engine = SyncEngine::start(config_at(
        &format!("http://{}", down.addr),
        &admin,
        &qid,
        dir.path(),
    ))
    .unwrap();
    let s = engine.state();
    assert_eq!(s.connection, Connection::Offline);
    assert_eq!(
        s.tickets.get(&id).map(|t| t["status"].clone()),
        Some(json!("called"))
    );
    // The server comes back; what happened meanwhile (nothing) and afterwards reaches the view.
    let server = down.restart().await;
    wait_for(&engine, "reconnect", |s| s.connection == Connection::Online).await;
    let mut agent = agent;
    agent.base = server.url();
    agent.act(&id, "start_service").await;
    wait_for(&engine, "start after restart", |s| {
        s.tickets
            .get(&id)
            .is_some_and(|t| t["status"] == "in_service")
    })
    .await;
    // The view equals the server's list.
    let mut admin = admin;
    admin.base = server.url();
    let list = admin
        .get(&admin.t(&format!("tickets/?queue_id={qid}")))
        .await
        .expect(200);
    let view = engine.state();
    for t in list["results"].as_array().unwrap() {
        assert_eq!(
            view.tickets[t["id"].as_str().unwrap()]["status"],
            t["status"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_issues_100_tickets_offline_and_each_lands_once_in_order() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let qid = q["id"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let engine = SyncEngine::start(config(&server, &admin, &qid, dir.path())).unwrap();
    wait_for(&engine, "online", |s| s.connection == Connection::Online).await;

    let down = server.crash().await;
    wait_for(&engine, "offline", |s| s.connection == Connection::Offline).await;
    for i in 0..100 {
        engine
            .enqueue(
                "POST",
                "tickets/",
                json!({"queue_id": qid, "channel": "kiosk", "customer_name": format!("k{i:03}")}),
            )
            .unwrap();
    }
    assert_eq!(engine.state().pending_commands, 100);
    let server = down.restart().await;
    wait_for(&engine, "outbox flushed", |s| {
        s.pending_commands == 0 && s.connection == Connection::Online
    })
    .await;
    wait_for(&engine, "100 tickets in the view", |s| {
        s.tickets.len() == 100
    })
    .await;

    let mut admin = admin;
    admin.base = server.url();
    let list = admin
        .get(&admin.t(&format!("tickets/?queue_id={qid}&status=waiting&limit=500")))
        .await
        .expect(200);
    assert_eq!(
        list["count"], 100,
        "exactly 100 tickets, none lost, none twice"
    );
    let got: Vec<(String, String)> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["number"].as_str().unwrap().to_owned(),
                t["customer_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = (0..100)
        .map(|i| (format!("A{:03}", i + 1), format!("k{i:03}")))
        .collect();
    assert_eq!(got, want, "they joined the queue in issue order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_detected_by_the_heartbeat() {
    // A peer that accepts the WebSocket and then never says anything (a hung server, a dead
    // link that still looks open).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                held.push(ws);
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let engine = SyncEngine::start(SyncConfig {
        heartbeat: Duration::from_millis(300),
        ..SyncConfig::new(
            format!("http://{addr}"),
            "bank",
            "t",
            "",
            "tickets/",
            dir.path().join("app.db"),
        )
    })
    .unwrap();
    wait_for(&engine, "connected", |s| {
        s.connection == Connection::Syncing
    })
    .await;
    let t0 = tokio::time::Instant::now();
    wait_for(&engine, "dead link noticed", |s| {
        s.connection == Connection::Offline
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "noticed after {:?}",
        t0.elapsed()
    );
}
