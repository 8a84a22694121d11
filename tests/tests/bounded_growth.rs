//! Bounded growth: a ticket bounced between queues in a loop is refused with a clear 409 at the
//! limit, keeps a bounded hop history, and its stored document stays small.

use serde_json::json;
use smartqueue_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transferring_one_ticket_in_a_loop_stops_at_the_limit() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let (qa, qb) = (
        admin.queue("A", "fifo").await,
        admin.queue("B", "fifo").await,
    );
    let t = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": qa["id"]}))
        .await
        .expect(201);
    let id = t["id"].as_str().unwrap();
    let url = admin.t(&format!("tickets/{id}/transfer/"));
    let reason = "x".repeat(500);
    let mut done = 0;
    let refused = loop {
        let to = if done % 2 == 0 { &qb["id"] } else { &qa["id"] };
        let r = admin
            .post(&url, &json!({"to_queue_id": to, "reason": reason}))
            .await;
        if r.status != 200 {
            break r;
        }
        done += 1;
        assert!(done <= 20, "a 21st transfer was accepted");
    };
    assert_eq!(done, 20, "the default limit");
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "too_many_transfers");
    assert!(refused.body["detail"].as_str().unwrap().contains("20"));
    let ticket = admin
        .get(&admin.t(&format!("tickets/{id}/")))
        .await
        .expect(200);
    assert_eq!(ticket["transfer_count"], 20);
    assert_eq!(
        ticket["transfers"].as_array().unwrap().len(),
        10,
        "the latest hops only"
    );
    assert!(
        ticket.to_string().len() < 10_000,
        "the document stays small: {} bytes",
        ticket.to_string().len()
    );
    // The line is intact: the ticket still waits, once.
    assert_eq!(ticket["status"], "waiting");
    let waiting = admin
        .get(&admin.t("tickets/?status=waiting"))
        .await
        .expect(200);
    assert_eq!(waiting["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_text_over_its_limit_is_refused_naming_the_field() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let long = |n: usize| "x".repeat(n);
    let cases = [
        (
            "sites/",
            json!({"name": "S", "address": long(501)}),
            "address",
        ),
        (
            "services/",
            json!({"name": "S", "description": long(2001)}),
            "description",
        ),
        ("sites/", json!({"name": long(201)}), "name"),
        (
            "members/",
            json!({"email": "a@bank.test", "password": "password123", "role": "agent", "first_name": long(101)}),
            "first_name",
        ),
        (
            "members/",
            json!({"email": "b@bank.test", "password": long(257), "role": "agent"}),
            "password",
        ),
        (
            "tickets/",
            json!({"queue_id": q["id"], "customer_name": long(201)}),
            "customer_name",
        ),
    ];
    for (path, body, field) in cases {
        let r = admin.post(&admin.t(path), &body).await;
        assert_eq!(r.status, 400, "{path} {field}: {:?}", r.body);
        assert_eq!(r.body["code"], "validation_error");
        assert!(
            r.body["detail"].as_str().unwrap().starts_with(field),
            "{path}: {:?}",
            r.body
        );
    }
    let signin = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/jwt/token/", server.url()))
        .json(&json!({"email": "admin@bank.test", "password": long(10_000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(signin.status(), 400);
}
