//! Real-time events over real WebSockets against the real server.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use smartqueue_tests::ws::{connect, connect_small, next, next_of};
use smartqueue_tests::{Api, TestServer};
use tokio_tungstenite::tungstenite::Message;

async fn setup(server: &TestServer) -> (Api, Value, Api) {
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    (admin, q, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_channel_sees_the_call_at_once() {
    let server = TestServer::start().await;
    let (admin, q, agent) = setup(&server).await;
    let qid = q["id"].as_str().unwrap();
    let mut ws = connect(
        &server,
        &format!("bank/queues/{qid}/?token={}", admin.token),
    )
    .await;
    let hello = next(&mut ws).await.unwrap();
    assert_eq!(hello["type"], "hello");
    admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let created = next_of(&mut ws, "ticket.created").await;
    // The event carries the queue's new length.
    assert_eq!(
        created["data"]["queues"],
        json!([{"queue_id": qid, "waiting": 1}])
    );
    assert_eq!(
        (
            created["data"]["number"].as_str(),
            created["tenant"].as_str()
        ),
        (Some("A001"), Some("bank"))
    );
    assert!(
        created["data"].get("tracking_token").is_none(),
        "the secret token is never broadcast"
    );
    let t0 = Instant::now();
    agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let called = next_of(&mut ws, "ticket.called").await;
    let latency = t0.elapsed();
    assert_eq!(called["data"]["number"], "A001");
    assert_eq!(
        called["data"]["queues"],
        json!([{"queue_id": qid, "waiting": 0}])
    );
    // What the screen shows and says.
    let display = &called["data"]["display"];
    assert_eq!(
        (display["number"].as_str(), display["queue"].as_str()),
        (Some("A001"), Some("Queue A"))
    );
    assert_eq!(display["announce_fr"], "Ticket A 0 0 1");
    // With a counter, the counter is named; a recall is announced again.
    let counter = admin
        .post(
            &admin.t("counters/"),
            &json!({"site_id": q["site_id"], "name": "Guichet 3"}),
        )
        .await
        .expect(201);
    agent
        .patch(
            &agent.t("agents/me/"),
            &json!({"counter_id": counter["id"]}),
        )
        .await
        .expect(200);
    let id = called["data"]["id"].as_str().unwrap();
    agent.serve_and_close(id).await;
    admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let second = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let called2 = next_of(&mut ws, "ticket.called").await;
    assert_eq!(
        called2["data"]["display"]["announce_fr"],
        "Ticket A 0 0 2, Guichet 3"
    );
    assert_eq!(called2["data"]["display"]["counter"], "Guichet 3");
    let id2 = second["ticket"]["id"].as_str().unwrap();
    agent.act(id2, "recall").await;
    let recalled = next_of(&mut ws, "ticket.recalled").await;
    assert_eq!(
        recalled["data"]["display"]["announce_en"],
        "Ticket A 0 0 2, Guichet 3"
    );
    assert_eq!(
        called["seq"].as_i64(),
        created["seq"].as_i64().map(|s| s + 1),
        "seq strictly increasing, nothing between"
    );
    assert!(
        latency < Duration::from_secs(1),
        "call reached the screen in {latency:?}"
    );
    eprintln!("call → frame: {latency:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_with_since_replays_exactly_the_missed_events_in_order() {
    let server = TestServer::start().await;
    let (admin, q, agent) = setup(&server).await;
    let mut ws = connect(&server, &format!("bank/?token={}", admin.token)).await;
    let seen = next(&mut ws).await.unwrap()["seq"].as_i64().unwrap();
    drop(ws);
    // While disconnected: 3 tickets, a call, a refused action (emits nothing), a start.
    for _ in 0..3 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    let called = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let id = called["ticket"]["id"].as_str().unwrap();
    assert_eq!(
        agent
            .post(&agent.t(&format!("tickets/{id}/close/")), &json!({}))
            .await
            .status
            .as_u16(),
        409
    );
    agent.act(id, "start_service").await;

    let mut ws = connect(
        &server,
        &format!("bank/?token={}&since={seen}", admin.token),
    )
    .await;
    let hello = next(&mut ws).await.unwrap();
    let head = hello["seq"].as_i64().unwrap();
    let mut got = Vec::new();
    while got.len() < (head - seen) as usize {
        got.push(next(&mut ws).await.unwrap());
    }
    let kinds: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ticket.created",
            "ticket.created",
            "ticket.created",
            "ticket.called",
            "ticket.started"
        ]
    );
    let seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        ((seen + 1)..=head).collect::<Vec<_>>(),
        "exactly the missed seqs, in order"
    );
    // The replay equals the server's event log.
    let tenant = server.store.tenant_by_slug("bank").await.unwrap().unwrap();
    let log = server
        .store
        .events_since(tenant.id, seen, 100)
        .await
        .unwrap();
    assert_eq!(log.iter().map(|e| e.seq()).collect::<Vec<_>>(), seqs);
    // Then live events follow, without a duplicate.
    agent.act(id, "close").await;
    let live = next(&mut ws).await.unwrap();
    assert_eq!(
        (live["type"].as_str(), live["seq"].as_i64()),
        (Some("ticket.closed"), Some(head + 1))
    );

    // A client ahead of the log (e.g. the database was restored) is told to resync.
    let mut ws = connect(
        &server,
        &format!("bank/?token={}&since={}", admin.token, head + 1000),
    )
    .await;
    next(&mut ws).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["type"], "resync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_credentials_are_refused_with_a_close_code() {
    let server = TestServer::start().await;
    let (admin, q, _agent) = setup(&server).await;
    let other = server.tenant("other").await;
    let oq = other.queue("O", "fifo").await;
    let qid = q["id"].as_str().unwrap();

    let mut ws = connect(&server, &format!("bank/queues/{qid}/?token=garbage")).await;
    assert_eq!(next(&mut ws).await.unwrap_err(), Some(4401));
    // No token: the first message must authenticate.
    let mut ws = connect(&server, &format!("bank/queues/{qid}/")).await;
    ws.send(Message::Text(r#"{"type":"hello"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await.unwrap_err(), Some(4401));
    // Another tenant's token on this tenant, and this tenant's token on another tenant's queue.
    let mut ws = connect(
        &server,
        &format!("bank/queues/{qid}/?token={}", other.token),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap_err(), Some(4404));
    let mut ws = connect(
        &server,
        &format!(
            "bank/queues/{}/?token={}",
            oq["id"].as_str().unwrap(),
            admin.token
        ),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap_err(), Some(4404));
    // Authenticating by first message works.
    let mut ws = connect(&server, &format!("bank/queues/{qid}/")).await;
    ws.send(Message::Text(
        json!({"type": "auth", "token": admin.token})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["type"], "hello");
    ws.send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_converges_across_a_server_crash_without_missing_or_duplicating() {
    let server = TestServer::start().await;
    let (admin, q, _agent) = setup(&server).await;
    let mut ws = connect(&server, &format!("bank/?token={}&since=0", admin.token)).await;
    next(&mut ws).await.unwrap(); // hello
    let mut received: Vec<i64> = Vec::new();
    for _ in 0..10 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    // Read only part of the stream, then the server dies.
    while received.len() < 6 {
        let e = next(&mut ws).await.unwrap();
        received.push(e["seq"].as_i64().unwrap());
    }
    let server = server.crash_and_restart().await;
    // What the old link delivered before it died still counts; then it must end (next()
    // fails the test if the dead link just hangs).
    while let Ok(e) = next(&mut ws).await {
        received.push(e["seq"].as_i64().unwrap());
    }
    drop(ws);
    // The restarted server keeps the seq and the log; more happens.
    let mut admin = admin;
    admin.base = server.url();
    for _ in 0..5 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    let last = *received.last().unwrap();
    let mut ws = connect(
        &server,
        &format!("bank/?token={}&since={last}", admin.token),
    )
    .await;
    let head = next(&mut ws).await.unwrap()["seq"].as_i64().unwrap();
    while *received.last().unwrap() < head {
        let e = next(&mut ws).await.unwrap();
        received.push(e["seq"].as_i64().unwrap());
    }
    let tenant = server.store.tenant_by_slug("bank").await.unwrap().unwrap();
    let log: Vec<i64> = server
        .store
        .events_since(tenant.id, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq())
        .collect();
    assert_eq!(
        received, log,
        "every event of the log exactly once, in order"
    );
    assert_eq!(received, (1..=head).collect::<Vec<_>>());
}

fn rss_mib() -> f64 {
    smartqueue_tests::load::rss_mib(std::process::id()).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_cut_off_and_memory_stays_flat() {
    use smartqueue_core::{Channel, Priority};
    use smartqueue_server::store::{Actor, NewTicket};
    let server = TestServer::start().await;
    let (admin, q, _agent) = setup(&server).await;
    let tenant = server.store.tenant_by_slug("bank").await.unwrap().unwrap();
    // A client that subscribes and then never reads, with a small receive buffer so the
    // server's sends back up instead of disappearing into kernel buffers.
    let mut stalled = connect_small(server.addr, &format!("bank/?token={}", admin.token)).await;
    next(&mut stalled).await.unwrap(); // hello
    let before = rss_mib();
    let qid: uuid::Uuid = q["id"].as_str().unwrap().parse().unwrap();
    // Far more events than the live buffer (4,096) and the socket buffers hold.
    for _ in 0..6000 {
        let new = NewTicket {
            queue_id: qid,
            priority: Priority::Normal,
            channel: Channel::Kiosk,
            customer_id: None,
            customer_name: Some("x".repeat(2000)),
            customer_phone: None,
            offline: None,
            issued_by: None,
        };
        smartqueue_server::service::tickets::create(
            &*server.store,
            tenant.id,
            new,
            None,
            &Actor::system(),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    }
    let grown = rss_mib() - before;
    // The server dropped the reader: reading now yields what was already in flight, in order,
    // and then the end of the stream (resync + close, or the dropped link), never a hang.
    let mut last = 0;
    let mut ended = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), stalled.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if let Some(seq) = v["seq"].as_i64().filter(|_| v["type"] == "ticket.created") {
                    assert!(seq > last, "in order");
                    last = seq;
                }
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                ended = true;
                break;
            }
            Ok(Some(Ok(_))) => {}
            Err(_) => break,
        }
    }
    assert!(ended, "the stalled reader was disconnected");
    assert!(
        last < 6000,
        "it did not get everything: it was cut off (got up to seq {last})"
    );
    assert!(
        grown < 64.0,
        "server memory stayed flat while a reader stalled: +{grown:.1} MiB"
    );
    eprintln!("stalled reader cut after seq {last}; RSS +{grown:.1} MiB");
    // A healthy client is unaffected.
    let mut ws = connect(&server, &format!("bank/?token={}", admin.token)).await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_channel_hears_when_the_estimated_wait_moves() {
    let server = TestServer::start().await;
    let (admin, q, agent) = setup(&server).await;
    let qid = q["id"].as_str().unwrap();
    let mut ws = connect(
        &server,
        &format!("bank/queues/{qid}/?token={}", admin.token),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "hello");
    for _ in 0..3 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    // Three waiting, one agent at work: a new ticket would wait for the three ahead.
    let eta = loop {
        let e = next_of(&mut ws, "queue.eta").await;
        if e["data"]["waiting"] == 3 {
            break e;
        }
    };
    assert_eq!(eta["data"]["queue_id"], qid);
    assert_eq!(eta["data"]["active_agents"], 1);
    let three = eta["data"]["eta_next_seconds"]
        .as_u64()
        .expect("an estimate");
    assert!(three > 0);
    // The agent leaves for a break: the estimate grows (no one serving; assumed one opens).
    agent
        .post(&agent.t("agents/set-status/"), &json!({"status": "break"}))
        .await
        .expect(200);
    let later = next_of(&mut ws, "queue.eta").await;
    assert_eq!(later["data"]["active_agents"], 0);
}

/// The server in its own process, so its memory is measured alone: fifty readers that
/// subscribe and never read, while 12,000 events go by. A server that queued events for them
/// would hold 50 × 12,000 frames (hundreds of MiB); this one cuts them off and stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_do_not_grow_a_separate_server_process() {
    use std::sync::Arc;
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_smartqueue-test-server"));
    let server = smartqueue_tests::load::ServerProcess::start(Some(bin), "bank").await;
    let mut admin = Api::login(&server.base, &server.admin_email, &server.admin_password).await;
    admin.tenant = "bank".into();
    let q = admin.queue("A", "fifo").await;
    let body = json!({"queue_id": q["id"], "customer_name": "x".repeat(200)});
    // Warm up (pools, caches, page cache of the database) before the baseline.
    for _ in 0..300 {
        admin.post(&admin.t("tickets/"), &body).await.expect(201);
    }
    let mut stalled = Vec::new();
    for _ in 0..50 {
        let mut ws = connect_small(
            server.addr.parse().unwrap(),
            &format!("bank/?token={}", admin.token),
        )
        .await;
        next(&mut ws).await.unwrap(); // hello, then never read again
        stalled.push(ws);
    }
    let rss = || smartqueue_tests::load::rss_mib(server.pid).unwrap_or(0.0);
    let before = rss();
    let admin = Arc::new(admin);
    let mut peak: f64 = before;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (admin, body) = (admin.clone(), body.clone());
            tokio::spawn(async move {
                for _ in 0..750 {
                    admin.post(&admin.t("tickets/"), &body).await.expect(201);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
        peak = peak.max(rss());
    }
    let grown = peak - before;
    eprintln!("50 stalled readers, 12,000 events: server RSS {before:.1} → peak {peak:.1} MiB");
    // Measured here: +29 MiB for the 12,000 tickets alone (no reader), +54 MiB with the fifty
    // stalled readers, i.e. ~0.5 MiB each whatever the number of events. A server that queued
    // frames for them would need 50 × 12,000 frames of ~1 KiB: some 600 MiB.
    assert!(grown < 120.0, "server memory grew by {grown:.1} MiB");
    // They were cut off: each socket ends (after what was already in flight).
    for ws in &mut stalled {
        let mut ended = false;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                    ended = true;
                    break;
                }
                Ok(Some(Ok(_))) => {}
                Err(_) => break,
            }
        }
        assert!(ended, "a stalled reader was left connected");
    }
}
