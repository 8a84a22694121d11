//! The real server answers its health check over real HTTP, through core's API client.

use smartqueue_core::client::ApiClient;
use smartqueue_tests::TestServer;

#[tokio::test]
async fn health_answers_over_http() {
    let server = TestServer::start().await;
    let client = ApiClient::new(server.url());
    let v: serde_json::Value = client.get("/api/v1/health/").await.unwrap();
    assert_eq!(v["status"], "ok");
}

#[tokio::test]
async fn unknown_route_is_an_api_error_not_a_crash() {
    let server = TestServer::start().await;
    let client = ApiClient::new(server.url());
    let err = client
        .get::<serde_json::Value>("/api/v1/nope/")
        .await
        .unwrap_err();
    match err {
        smartqueue_core::client::ApiError::Api { status, code, .. } => {
            assert_eq!((status, code.as_str()), (404, "not_found"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn core_client_signs_in_against_the_real_server() {
    let server = TestServer::start().await;
    server.tenant("acme").await;
    let mut client = ApiClient::new(server.url());
    let pair = client
        .login("admin@acme.test", "password123")
        .await
        .unwrap();
    assert_eq!(pair.user.email, "admin@acme.test");
    let me: serde_json::Value = client.get("/api/v1/auth/jwt/me/").await.unwrap();
    assert_eq!(me["tenant"], "acme");
    assert_eq!(me["role"], "admin");
    let err = client
        .login("admin@acme.test", "wrong-password")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_credentials");
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_format() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    admin
        .post(
            &admin.t("tickets/"),
            &serde_json::json!({"queue_id": q["id"]}),
        )
        .await
        .expect(201);
    let text = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("smartqueue_http_requests_total"), "{text}");
    assert!(
        text.contains("route=\"/api/v1/tenants/{tenant_slug}/tickets/\""),
        "routes are labelled by template, not by id"
    );
    assert!(text.contains("smartqueue_tickets_created_total"));
    assert!(text.contains("smartqueue_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn the_root_url_leads_to_the_api_explorer() {
    let server = TestServer::start().await;
    let r = reqwest::get(format!("{}/", server.url())).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.url().path().ends_with("/api/docs/"));
}
