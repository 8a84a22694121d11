//! The whole ticket lifecycle over HTTP against the real server.

use serde_json::json;
use smartqueue_tests::TestServer;

#[tokio::test]
async fn issue_call_serve_close_with_positions_eta_and_audit() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q]).await;

    let mut numbers = Vec::new();
    for i in 0..3 {
        let t = admin
            .post(
                &admin.t("tickets/"),
                &json!({"queue_id": q["id"], "customer_name": format!("C{i}")}),
            )
            .await
            .expect(201);
        assert_eq!(t["status"], "waiting");
        assert_eq!(t["position"], i + 1);
        assert!(
            t["eta_seconds"].as_u64().is_some(),
            "waiting tickets carry an ETA: {t}"
        );
        assert!(t["eta_p90_seconds"].as_u64() >= t["eta_seconds"].as_u64());
        assert_eq!(t["tracking_token"].as_str().unwrap().len(), 48);
        numbers.push(t["number"].as_str().unwrap().to_owned());
    }
    assert_eq!(numbers, ["A001", "A002", "A003"]);

    let called = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let ticket = &called["ticket"];
    assert_eq!(
        (ticket["number"].as_str(), ticket["status"].as_str()),
        (Some("A001"), Some("called"))
    );
    let id = ticket["id"].as_str().unwrap();

    // An agent holding a ticket cannot call another.
    let busy = agent.post(&agent.t("agents/call-next/"), &json!({})).await;
    assert_eq!(busy.status.as_u16(), 409);
    assert_eq!(busy.body["code"], "agent_busy");
    assert!(
        busy.body["detail"].as_str().unwrap().contains("A001"),
        "{}",
        busy.body
    );

    // The next one moved up.
    let second = admin
        .get(&admin.t(&format!(
            "tickets/?queue_id={}&status=waiting",
            q["id"].as_str().unwrap()
        )))
        .await
        .expect(200);
    assert_eq!(second["count"], 2);
    assert_eq!(second["results"][0]["number"], "A002");

    agent.act(id, "recall").await;
    agent.act(id, "start_service").await;
    agent.act(id, "pause").await;
    agent.act(id, "resume").await;
    let closed = agent.act(id, "close").await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["recall_count"], 1);

    // Refused transition: a clear 409, nothing changed.
    let again = agent
        .post(
            &agent.t(&format!("tickets/{id}/start_service/")),
            &json!({}),
        )
        .await;
    assert_eq!(again.status.as_u16(), 409);
    assert_eq!(again.body["code"], "invalid_transition");
    assert_eq!(
        admin
            .get(&admin.t(&format!("tickets/{id}/")))
            .await
            .expect(200)["status"],
        "closed"
    );

    // The agent is free again and gets A002.
    let next = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    assert_eq!(next["ticket"]["number"], "A002");

    // Statistics and audit trail.
    let stats = admin
        .get(&admin.t(&format!("queues/{}/stats/", q["id"].as_str().unwrap())))
        .await
        .expect(200);
    assert_eq!(
        (
            stats["waiting"].as_u64(),
            stats["served_today"].as_u64(),
            stats["active"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let audit = admin
        .get(&admin.t("audit-logs/?limit=100"))
        .await
        .expect(200);
    let actions: Vec<&str> = audit["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "ticket.create",
        "ticket.call",
        "ticket.recall",
        "ticket.start_service",
        "ticket.pause",
        "ticket.resume",
        "ticket.close",
        "queue.create",
        "member.add",
    ] {
        assert!(actions.contains(&a), "audit has {a}: {actions:?}");
    }
    let close_entry = audit["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "ticket.close")
        .unwrap();
    assert_eq!(close_entry["before"]["status"], "in_service");
    assert_eq!(close_entry["after"]["status"], "closed");
    assert_eq!(close_entry["actor_user_id"], agent.user["id"]);
}

#[tokio::test]
async fn transfer_keeps_number_and_tracking_and_places_by_policy() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let a = admin.queue("A", "fifo").await;
    let b = admin.queue("B", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&a]).await;
    for _ in 0..2 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": b["id"]}))
            .await
            .expect(201);
    }
    let t = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": a["id"]}))
        .await
        .expect(201);
    agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let id = t["id"].as_str().unwrap();
    let moved = agent
        .post(
            &agent.t(&format!("tickets/{id}/transfer/")),
            &json!({"to_queue_id": b["id"], "placement": "front", "reason": "needs loans"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (moved["id"].as_str(), moved["number"].as_str()),
        (Some(id), Some("A001"))
    );
    assert_eq!(moved["tracking_token"], t["tracking_token"]);
    assert_eq!(moved["queue_id"], b["id"]);
    assert_eq!(moved["status"], "waiting");
    assert_eq!(
        moved["position"], 1,
        "front placement goes ahead of B001 and B002"
    );
    assert_eq!(moved["transfers"][0]["reason"], "needs loans");
    // The agent was released by the transfer.
    let me = agent.get(&agent.t("agents/me/")).await.expect(200);
    assert_eq!(
        (me["status"].as_str(), me["current_ticket_id"].is_null()),
        (Some("available"), true)
    );
}

#[tokio::test]
async fn roles_are_enforced_by_scope() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    let r = agent.post(&agent.t("queues/"), &json!({"site_id": q["site_id"], "service_id": q["service_id"], "name": "X", "prefix": "X"})).await;
    assert_eq!(
        (r.status.as_u16(), r.body["code"].as_str()),
        (403, Some("permission_denied"))
    );
    let r = agent
        .post(
            &agent.t("members/"),
            &json!({"email": "boss@bank.test", "password": "longenough", "role": "admin"}),
        )
        .await;
    assert_eq!(
        r.status.as_u16(),
        403,
        "an agent cannot make anyone an admin"
    );
    let r = agent.get(&agent.t("audit-logs/")).await;
    assert_eq!(r.status.as_u16(), 403);
    // Agents can issue tickets and read queues.
    agent
        .post(&agent.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    agent.get(&agent.t("queues/")).await.expect(200);
}

#[tokio::test]
async fn an_agent_cannot_act_on_another_agents_ticket_but_a_manager_can() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let first = admin.agent("a1@bank.test", &[&q]).await;
    let second = admin.agent("a2@bank.test", &[&q]).await;
    admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let called = first
        .post(&first.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let id = called["ticket"]["id"].as_str().unwrap();
    let r = second
        .post(
            &second.t(&format!("tickets/{id}/start_service/")),
            &json!({}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["code"].as_str()),
        (409, Some("not_your_ticket"))
    );
    assert!(r.body["detail"].as_str().unwrap().contains("A001"));
    assert_eq!(
        admin
            .get(&admin.t(&format!("tickets/{id}/")))
            .await
            .expect(200)["status"],
        "called",
        "unchanged"
    );
    // The holder and an admin may.
    first.act(id, "start_service").await;
    assert_eq!(admin.act(id, "close").await["status"], "closed");
}
