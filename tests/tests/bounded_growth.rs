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
