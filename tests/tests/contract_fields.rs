//! Fields the SmartQueue contract names: `counter_number` on `PATCH agents/me/`,
//! `current_status` beside `status` on agents, `wait_time_seconds` on tickets.

use serde_json::json;
use smartqueue_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sits_down_by_counter_number_and_answers_carry_the_contract_fields() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let elsewhere = admin
        .post(
            &admin.t("sites/"),
            &json!({"name": "Elsewhere", "timezone": "Europe/Paris"}),
        )
        .await
        .expect(201);
    let counter = |site: &serde_json::Value, number: u32| json!({"site_id": site, "name": format!("Guichet {number}"), "number": number});
    let three = admin
        .post(&admin.t("counters/"), &counter(&q["site_id"], 3))
        .await
        .expect(201);
    // The same number at another site is not the agent's.
    admin
        .post(&admin.t("counters/"), &counter(&elsewhere["id"], 3))
        .await
        .expect(201);
    admin
        .post(&admin.t("counters/"), &counter(&elsewhere["id"], 4))
        .await
        .expect(201);
    let bad = admin
        .post(&admin.t("counters/"), &counter(&q["site_id"], 0))
        .await;
    assert_eq!(bad.status, 400);

    let agent = admin.agent("agent@bank.test", &[&q]).await;
    let me = agent.t("agents/me/");
    let sat = agent
        .patch(&me, &json!({"counter_number": 3}))
        .await
        .expect(200);
    assert_eq!(sat["counter_id"], three["id"]);
    assert_eq!(sat["current_status"], sat["status"]);
    assert_eq!(sat["current_status"], "available");
    let missing = agent.patch(&me, &json!({"counter_number": 4})).await;
    assert_eq!(
        missing.status, 404,
        "counter 4 is at another site: {:?}",
        missing.body
    );
    let both = agent
        .patch(
            &me,
            &json!({"counter_number": 3, "counter_id": three["id"]}),
        )
        .await;
    assert_eq!(both.status, 400);
    let listed = admin.get(&admin.t("agents/")).await.expect(200);
    assert!(
        listed["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["current_status"] == a["status"])
    );

    let t = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    assert!(t["wait_time_seconds"].is_null(), "not called yet: {t}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let called = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let waited = called["ticket"]["wait_time_seconds"].as_u64().unwrap();
    assert!((1..=30).contains(&waited), "arrival → call: {waited}");
    let busy = agent.get(&me).await.expect(200);
    assert_eq!(busy["current_status"], "busy");
    let id = called["ticket"]["id"].as_str().unwrap();
    let read = admin
        .get(&admin.t(&format!("tickets/{id}/")))
        .await
        .expect(200);
    assert_eq!(read["wait_time_seconds"], waited);
    let list = admin.get(&admin.t("tickets/")).await.expect(200);
    assert_eq!(list["results"][0]["wait_time_seconds"], waited);
}
