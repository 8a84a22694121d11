//! Correctness under concurrency with real concurrent HTTP clients.

use std::collections::HashSet;

use futures::future::join_all;
use serde_json::json;
use smartqueue_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_get_unique_gap_free_numbers() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    // 32 clients × 10 tickets, all at once.
    let tasks = (0..32).map(|_| {
        let api = admin.clone();
        let qid = q["id"].clone();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in 0..10 {
                let r = api
                    .post(&api.t("tickets/"), &json!({"queue_id": qid}))
                    .await;
                out.push((
                    r.status.as_u16(),
                    r.body["sequence"].as_u64(),
                    r.body["number"].as_str().map(str::to_owned),
                ));
            }
            out
        })
    });
    let results: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();
    assert!(
        results.iter().all(|(s, _, _)| *s == 201),
        "every create succeeds: {:?}",
        results.iter().find(|r| r.0 != 201)
    );
    let mut seqs: Vec<u64> = results.iter().map(|r| r.1.unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=320).collect::<Vec<u64>>(),
        "numbers 1..=320, no gap, no duplicate"
    );
    let numbers: HashSet<String> = results.into_iter().map(|r| r.2.unwrap()).collect();
    assert_eq!(numbers.len(), 320);
    assert!(numbers.contains("A001") && numbers.contains("A320"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_ticket_goes_to_exactly_one_agent() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let mut agents = Vec::new();
    for i in 0..8 {
        agents.push(admin.agent(&format!("agent{i}@bank.test"), &[&q]).await);
    }
    for _ in 0..60 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    // Every agent calls, closes, calls again, as fast as possible, until the line is empty.
    let tasks = agents.into_iter().map(|agent| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let r = agent
                    .post(&agent.t("agents/call-next/"), &json!({}))
                    .await
                    .expect(200);
                let Some(id) = r["ticket"]["id"].as_str().map(str::to_owned) else {
                    break;
                };
                got.push(id.clone());
                agent.serve_and_close(&id).await;
            }
            got
        })
    });
    let per_agent: Vec<Vec<String>> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let all: Vec<&String> = per_agent.iter().flatten().collect();
    let unique: HashSet<&&String> = all.iter().collect();
    assert_eq!(all.len(), 60, "all 60 tickets were called");
    assert_eq!(unique.len(), 60, "no ticket was given to two agents");
    assert!(
        per_agent.iter().filter(|v| !v.is_empty()).count() > 1,
        "the work was shared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_calls_by_one_agent_give_one_ticket() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    for _ in 0..5 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    let answers = join_all((0..10).map(|_| {
        let a = agent.clone();
        async move { a.post(&a.t("agents/call-next/"), &json!({})).await }
    }))
    .await;
    let ok = answers.iter().filter(|r| r.status.as_u16() == 200).count();
    let busy = answers
        .iter()
        .filter(|r| r.status.as_u16() == 409 && r.body["code"] == "agent_busy")
        .count();
    assert_eq!((ok, busy), (1, 9), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retried_writes_with_the_same_idempotency_key_return_the_first_result() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let body = json!({"queue_id": q["id"], "channel": "kiosk"});
    // Ten concurrent retries of the same request.
    let answers = join_all((0..10).map(|_| {
        let (a, b) = (admin.clone(), body.clone());
        async move { a.post_idem(&a.t("tickets/"), &b, "kiosk-7-req-42").await }
    }))
    .await;
    let ids: HashSet<String> = answers
        .iter()
        .map(|r| r.clone().expect(201)["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one ticket for ten retries");
    let list = admin.get(&admin.t("tickets/")).await.expect(200);
    assert_eq!(list["count"], 1);
    // Later retry: still the first result.
    let late = admin
        .post_idem(&admin.t("tickets/"), &body, "kiosk-7-req-42")
        .await
        .expect(201);
    assert_eq!(late["number"], "A001");
    // Same key, different request: refused.
    let other = admin
        .post_idem(
            &admin.t("tickets/"),
            &json!({"queue_id": q["id"], "channel": "web"}),
            "kiosk-7-req-42",
        )
        .await;
    assert_eq!(
        (other.status.as_u16(), other.body["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );
    // A new key is a new ticket.
    assert_eq!(
        admin
            .post_idem(&admin.t("tickets/"), &body, "kiosk-7-req-43")
            .await
            .expect(201)["number"],
        "A002"
    );
}
