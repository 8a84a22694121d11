//! No lost update: configuration and agent-profile changes merge inside their write
//! transaction, so concurrent writes to the same document all survive — with real concurrent
//! HTTP clients against the real server.

use futures::future::join_all;
use serde_json::{Value, json};
use smartqueue_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_different_fields_of_one_queue_all_survive() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let url = admin.t(&format!("queues/{}/", q["id"].as_str().unwrap()));
    for round in 0..4u32 {
        let prefix = ["B", "C", "D", "E"][round as usize];
        let algorithm = ["sla", "priority", "fifo", "sla"][round as usize];
        let want = json!({
            "name": format!("Round {round}"),
            "prefix": prefix,
            "algorithm": algorithm,
            "sla_target_seconds": 600 + round,
            "max_wait_seconds": 1200 + round,
            "max_length": 50 + round,
            "is_active": round % 2 == 0,
        });
        // Each field in its own PATCH, all at once, several times over (20+ in flight).
        let patches = want
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(k, v)| std::iter::repeat_n((k.clone(), v.clone()), 3))
            .map(|(k, v)| {
                let (api, url) = (admin.clone(), url.clone());
                tokio::spawn(async move { api.patch(&url, &json!({ k: v })).await.status })
            });
        let statuses: Vec<_> = join_all(patches)
            .await
            .into_iter()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(statuses.len(), 21);
        assert!(
            statuses.iter().all(|s| *s == 200),
            "round {round}: {statuses:?}"
        );
        let now = admin.get(&url).await.expect(200);
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&now[k], v, "round {round}: {k} survived every other PATCH");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_editing_its_queues_during_call_next_keeps_its_ticket_and_never_holds_two() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let other = admin.queue("B", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    for _ in 0..40 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    let me = agent.t("agents/me/");
    for round in 0..20 {
        let queues = if round % 2 == 0 {
            json!([q["id"], other["id"]])
        } else {
            json!([q["id"]])
        };
        let (patch, call_url, empty) = (
            json!({ "queue_ids": queues }),
            agent.t("agents/call-next/"),
            json!({}),
        );
        let (patched, called) =
            tokio::join!(agent.patch(&me, &patch), agent.post(&call_url, &empty));
        assert_eq!(patched.status, 200, "round {round}: {:?}", patched.body);
        let called = called.expect(200);
        let ticket = called["ticket"]["id"].clone();
        assert!(ticket.is_string(), "round {round}: a ticket was called");
        let profile = agent.get(&me).await.expect(200);
        assert_eq!(
            profile["current_ticket_id"], ticket,
            "round {round}: the PATCH did not erase the ticket being served"
        );
        assert_eq!(
            profile["queue_ids"], queues,
            "round {round}: the PATCH is kept"
        );
        let again = agent.post(&agent.t("agents/call-next/"), &json!({})).await;
        assert_eq!(
            again.status, 409,
            "round {round}: never two tickets at once"
        );
        assert_eq!(again.body["code"], "agent_busy");
        agent.serve_and_close(ticket.as_str().unwrap()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_racing_a_configuration_patch_leaves_the_device_revoked() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    for round in 0..6 {
        let display = admin
            .pair(
                "displays",
                &json!({"site_id": q["site_id"], "name": "Hall", "queue_ids": [q["id"]]}),
            )
            .await;
        let id = display.doc["id"].as_str().unwrap();
        let url = admin.t(&format!("displays/{id}/"));
        let name = format!("Hall {round}");
        // The console sends back the document it read, read-only fields included.
        let mut echo = display.doc.clone();
        echo["name"] = Value::String(name.clone());
        let (revoke_url, empty) = (admin.t(&format!("displays/{id}/revoke/")), json!({}));
        let (patched, revoked) =
            tokio::join!(admin.patch(&url, &echo), admin.post(&revoke_url, &empty));
        assert_eq!(patched.status, 200, "round {round}: {:?}", patched.body);
        assert_eq!(revoked.status, 200, "round {round}: {:?}", revoked.body);
        let now = admin.get(&url).await.expect(200);
        assert_eq!(now["is_paired"], false, "round {round}: still revoked");
        assert_eq!(now["name"], name.as_str(), "round {round}: and renamed");
        let board = display
            .api
            .get(&display.api.t(&format!("displays/{id}/board/")))
            .await;
        assert_eq!(board.status, 401, "round {round}: its token is dead");
    }
}

/// Clients send back what they were given: the server's own fields are accepted and ignored,
/// a field that does not exist is still refused with its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_may_repeat_read_only_fields_but_not_invent_any() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let url = admin.t(&format!("queues/{}/", q["id"].as_str().unwrap()));
    let mut echo = q.clone();
    echo["name"] = json!("Renamed");
    echo["created_at"] = json!("2001-01-01T00:00:00Z");
    echo["tenant_id"] = json!("00000000-0000-0000-0000-000000000000");
    let out = admin.patch(&url, &echo).await.expect(200);
    assert_eq!(out["name"], "Renamed");
    assert_eq!(out["id"], q["id"]);
    assert_eq!(
        out["tenant_id"], q["tenant_id"],
        "a document never changes tenant"
    );
    assert_eq!(
        out["created_at"], q["created_at"],
        "read-only fields are ignored"
    );
    let bad = admin
        .patch(&url, &json!({"name": "X", "colour": "red"}))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["code"], "validation_error");
    assert!(bad.body["detail"].as_str().unwrap().contains("colour"));
    assert_eq!(admin.get(&url).await.expect(200)["name"], "Renamed");

    let agent = admin.agent("agent@bank.test", &[&q]).await;
    let me = agent.t("agents/me/");
    let mut profile = agent.get(&me).await.expect(200);
    profile["queue_ids"] = json!([]);
    let out = agent.patch(&me, &profile).await.expect(200);
    assert_eq!(out["queue_ids"], json!([]));
    assert_eq!(out["status"], "available");
    let bad = agent.patch(&me, &json!({"counter": 3})).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["detail"].as_str().unwrap().contains("counter"));
}
