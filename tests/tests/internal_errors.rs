//! A fault of the server is a 500 `internal` with the request's id, never a 4xx, and nothing
//! of the cause leaks into the answer.

use serde_json::json;
use smartqueue_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_stored_data_answers_500_internal_with_the_request_id() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let id = q["id"].as_str().unwrap().to_owned();
    // Damage the stored document behind the server's back.
    let n = server
        .raw_execute(
            "UPDATE entities SET doc = '{\"id\": ' WHERE kind = 'queue' AND id = $1",
            &id,
        )
        .await;
    assert_eq!(n, 1);
    let resp = reqwest::Client::new()
        .get(admin.t(&format!("queues/{id}/")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let header_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "internal", "{body}");
    assert_eq!(body["detail"], "internal server error");
    assert!(body["request_id"].is_string(), "{body}");
    assert_eq!(body["request_id"].as_str(), header_id.as_deref());
    assert!(
        !body.to_string().contains("EOF"),
        "the cause stays in the log: {body}"
    );
    // Bad input is still the client's 4xx, beside the fault.
    let bad = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": "not-a-uuid"}))
        .await;
    assert_eq!(bad.status, 400);
}
