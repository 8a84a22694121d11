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
    assert!(
        matches!(
            err,
            smartqueue_core::client::ApiError::Api { status: 404, .. }
        ),
        "{err:?}"
    );
}
