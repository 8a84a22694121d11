//! A kiosk keeps issuing through a server outage: numbers from its lease, held in the outbox,
//! joining their queue in issue order when the server is back — none lost, none twice.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::json;
use smartqueue_core::kiosk::{KioskIssuer, Offer};
use smartqueue_core::numbering::business_day;
use smartqueue_core::sync::{Connection, SyncConfig, SyncEngine};
use smartqueue_tests::{TestServer, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_issues_100_tickets_offline_and_they_join_in_issue_order_exactly_once() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("K", "fifo").await;
    let qid = q["id"].as_str().unwrap().to_owned();
    let kiosk = admin
        .pair(
            "kiosks",
            &json!({"site_id": q["site_id"], "name": "Entrée", "queue_ids": [q["id"]], "printer": "tcp://127.0.0.1:9"}),
        )
        .await;
    let creds = kiosk.credentials();
    let dir = tempfile::tempdir().unwrap();
    let engine = SyncEngine::start(SyncConfig::new(
        server.url(),
        "bank",
        &creds.token,
        creds.channel(),
        creds.snapshot(),
        dir.path().join("sync.db"),
    ))
    .unwrap();
    let issuer = KioskIssuer::new(&creds, dir.path().join("kiosk.db")).unwrap();
    wait_for(&engine, "online", |s| s.connection == Connection::Online).await;
    let today = business_day(Utc::now(), chrono_tz::Europe::Paris);
    issuer
        .top_up("bank", std::slice::from_ref(&qid), today, 100)
        .await
        .unwrap();
    assert!(issuer.numbers_left(&qid, today) >= 100);
    let offer = Offer {
        queue_id: qid.clone(),
        waiting: Some(0),
        eta_seconds: None,
    };
    let mut issued = Vec::new();
    for _ in 0..2 {
        let t = issuer
            .issue(&engine, "bank", &offer, None, today)
            .await
            .unwrap();
        assert!(!t.offline);
        issued.push(t.number);
    }
    assert_eq!(issued, ["K001", "K002"]);

    // The server goes down; the kiosk notices and keeps issuing from its lease.
    let down = server.crash().await;
    wait_for(&engine, "offline", |s| s.connection == Connection::Offline).await;
    for _ in 0..100 {
        let t = issuer
            .issue(
                &engine,
                "bank",
                &offer,
                Some("+33 6 00 00 00 02".into()),
                today,
            )
            .await
            .unwrap();
        assert!(t.offline && t.tracking_token.len() == 48);
        issued.push(t.number);
    }
    assert_eq!(engine.state().pending_commands, 100);
    assert_eq!(&issued[2..5], ["K5001", "K5002", "K5003"]);

    // Back: the outbox drains, each command once.
    let server = down.restart().await;
    wait_for(&engine, "outbox drained", |s| {
        s.connection == Connection::Online && s.pending_commands == 0
    })
    .await;
    let list = admin
        .get(&admin.t(&format!("tickets/?queue_id={qid}&limit=500")))
        .await
        .expect(200);
    assert_eq!(list["count"], 102, "exactly the tickets issued, none twice");
    let numbers: HashSet<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        issued.iter().map(String::as_str).collect::<HashSet<_>>()
    );

    // The calling order is the issue order.
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    let mut called = Vec::new();
    loop {
        let r = agent
            .post(&agent.t("agents/call-next/"), &json!({"queue_id": qid}))
            .await
            .expect(200);
        let Some(id) = r["ticket"]["id"].as_str() else {
            break;
        };
        called.push(r["ticket"]["number"].as_str().unwrap().to_owned());
        agent.serve_and_close(id).await;
    }
    assert_eq!(called, issued);
    drop(server);
}
