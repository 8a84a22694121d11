//! A customer's channel (the WebSocket opened with a ticket's tracking token) carries that
//! ticket's public view only — no customer's name, phone or id, no transfer reason, no agent —
//! live and on a full replay (`since=0`).

use serde_json::{Value, json};
use smartqueue_tests::TestServer;
use smartqueue_tests::ws::{connect, next};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracking_socket_carries_only_the_public_view_even_on_replay() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let (qa, qb) = (
        admin.queue("A", "fifo").await,
        admin.queue("B", "fifo").await,
    );
    let agent = admin.agent("agent@bank.test", &[&qa, &qb]).await;
    let secrets = [
        "Jeanne Martin",
        "+33 6 12 34 56 78",
        "Paul Other",
        "+33 7 00 00 00 00",
        "rude to staff",
    ];
    let mine = admin
        .post(
            &admin.t("tickets/"),
            &json!({"queue_id": qa["id"], "customer_name": secrets[0], "customer_phone": secrets[1]}),
        )
        .await
        .expect(201);
    admin
        .post(
            &admin.t("tickets/"),
            &json!({"queue_id": qa["id"], "customer_name": secrets[2], "customer_phone": secrets[3]}),
        )
        .await
        .expect(201);
    let id = mine["id"].as_str().unwrap();
    let token = mine["tracking_token"].as_str().unwrap();
    let called = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    assert_eq!(called["ticket"]["id"], mine["id"]);
    agent
        .post(
            &agent.t(&format!("tickets/{id}/transfer/")),
            &json!({"to_queue_id": qb["id"], "reason": secrets[4]}),
        )
        .await
        .expect(200);
    let again = agent
        .post(
            &agent.t("agents/call-next/"),
            &json!({"queue_id": qb["id"]}),
        )
        .await
        .expect(200);
    assert_eq!(again["ticket"]["id"], mine["id"]);
    let me = agent.get(&agent.t("agents/me/")).await.expect(200);
    let agent_id = me["id"].as_str().expect("the agent's id").to_owned();

    for path in [
        format!("bank/tickets/{id}/?token={token}&since=0"),
        format!("bank/tickets/{id}/?token={token}"),
    ] {
        let mut ws = connect(&server, &path).await;
        let mut seen: Vec<Value> = Vec::new();
        while let Ok(Ok(Ok(e))) =
            tokio::time::timeout(std::time::Duration::from_millis(700), next(&mut ws))
                .await
                .map(Ok::<_, ()>)
        {
            seen.push(e);
        }
        if path.contains("since=0") {
            let kinds: Vec<&str> = seen.iter().filter_map(|e| e["type"].as_str()).collect();
            for k in ["ticket.created", "ticket.called", "ticket.transferred"] {
                assert!(kinds.contains(&k), "{path}: replay has {k}: {kinds:?}");
            }
        }
        for e in &seen {
            let text = e.to_string();
            for s in secrets {
                assert!(!text.contains(s), "{path}: {s:?} in {text}");
            }
            assert!(e["data"].get("customer_id").is_none(), "{text}");
            assert!(
                !text.contains(&agent_id),
                "{path}: the agent's id in {text}"
            );
            // Only this ticket's events.
            if let Some(tid) = e["data"]["id"].as_str() {
                assert_eq!(tid, id, "{text}");
            }
        }
    }
}
