//! Malformed input gets a 4xx `{code, detail}`, never a 5xx, and stored data is intact.

use reqwest::Method;
use serde_json::{Value, json};
use smartqueue_tests::TestServer;

async fn raw(
    api: &smartqueue_tests::Api,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = api
        .http
        .request(method, api.t(path))
        .bearer_auth(&api.token)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path}: body is not JSON: {text:?}")),
    )
}

/// method, path, content type, body, expected status, expected code.
type Case<'a> = (Method, String, Option<&'a str>, Vec<u8>, u16, &'a str);

#[tokio::test]
async fn malformed_requests_are_refused_cleanly() {
    let server = TestServer::start().await;
    let api = server.tenant("bank").await;
    let q = api.queue("A", "fifo").await;
    let t = api
        .post(&api.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let tid = t["id"].as_str().unwrap();
    let json_ct = Some("application/json");
    // Over the 64 KiB limit. The server answers 413 without reading the rest and closes, so a
    // client still writing a much larger body may see the reset before the answer; this size
    // fits in the socket buffers, and the oversized-body test below covers the reset case.
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(80 * 1024)).into_bytes();
    let cases: Vec<Case<'_>> = vec![
        (Method::POST, "tickets/".into(), json_ct, b"{".to_vec(), 400, "parse_error"),
        (Method::POST, "tickets/".into(), json_ct, b"not json at all".to_vec(), 400, "parse_error"),
        (Method::POST, "tickets/".into(), json_ct, b"{}".to_vec(), 400, "validation_error"),
        (Method::POST, "tickets/".into(), json_ct, br#"{"queue_id": 5}"#.to_vec(), 400, "validation_error"),
        (Method::POST, "tickets/".into(), json_ct, br#"{"queue_id": "not-a-uuid"}"#.to_vec(), 400, "validation_error"),
        (Method::POST, "tickets/".into(), json_ct, format!(r#"{{"queue_id": "{}", "priority": "royal"}}"#, q["id"].as_str().unwrap()).into_bytes(), 400, "validation_error"),
        (Method::POST, "tickets/".into(), json_ct, format!(r#"{{"queue_id": "{}", "channel": 7}}"#, q["id"].as_str().unwrap()).into_bytes(), 400, "validation_error"),
        (Method::POST, "tickets/".into(), json_ct, format!(r#"{{"queue_id": "{}", "hack": true}}"#, q["id"].as_str().unwrap()).into_bytes(), 400, "validation_error"),
        (Method::POST, "tickets/".into(), json_ct, format!(r#"{{"queue_id": "{}", "customer_phone": "call me maybe"}}"#, q["id"].as_str().unwrap()).into_bytes(), 400, "validation_error"),
        (Method::POST, "tickets/".into(), json_ct, br#"[1, 2, 3]"#.to_vec(), 400, "validation_error"),
        (Method::POST, "tickets/".into(), None, br#"{"queue_id": "x"}"#.to_vec(), 415, "unsupported_media_type"),
        (Method::POST, "sites/".into(), json_ct, huge, 413, "payload_too_large"),
        (Method::POST, "sites/".into(), json_ct, br#"{"name": "S", "timezone": "Mars/Olympus"}"#.to_vec(), 400, "validation_error"),
        (Method::POST, "sites/".into(), json_ct, br#"{"name": "", "timezone": "UTC"}"#.to_vec(), 400, "validation_error"),
        (Method::POST, "sites/".into(), json_ct, br#"{"name": "S", "latitude": 123.0}"#.to_vec(), 400, "validation_error"),
        (Method::POST, "queues/".into(), json_ct, format!(r#"{{"site_id": "{}", "service_id": "{}", "name": "Q", "prefix": "TOO-LONG"}}"#, q["site_id"].as_str().unwrap(), q["service_id"].as_str().unwrap()).into_bytes(), 400, "validation_error"),
        (Method::POST, "queues/".into(), json_ct, format!(r#"{{"site_id": "{}", "service_id": "{}", "name": "Q", "prefix": "Q", "algorithm": "random"}}"#, q["site_id"].as_str().unwrap(), q["service_id"].as_str().unwrap()).into_bytes(), 400, "validation_error"),
        (Method::PATCH, format!("queues/{}/", q["id"].as_str().unwrap()), json_ct, br#"{"sla_target_seconds": -5}"#.to_vec(), 400, "validation_error"),
        (Method::PATCH, format!("queues/{}/", q["id"].as_str().unwrap()), json_ct, br#"{"no_such_field": 1}"#.to_vec(), 400, "validation_error"),
        (Method::PATCH, format!("queues/{}/", q["id"].as_str().unwrap()), json_ct, br#""a string""#.to_vec(), 400, "validation_error"),
        (Method::GET, "tickets/not-a-uuid/".into(), None, vec![], 404, "not_found"),
        (Method::GET, "tickets/00000000-0000-0000-0000-000000000000/".into(), None, vec![], 404, "not_found"),
        (Method::GET, "tickets/?status=sleeping".into(), None, vec![], 400, "validation_error"),
        (Method::GET, "tickets/?limit=0".into(), None, vec![], 400, "validation_error"),
        (Method::GET, "tickets/?limit=100000".into(), None, vec![], 400, "validation_error"),
        (Method::GET, "tickets/?date=yesterday".into(), None, vec![], 400, "validation_error"),
        (Method::POST, format!("tickets/{tid}/transfer/"), json_ct, b"{}".to_vec(), 400, "validation_error"),
        (Method::POST, format!("tickets/{tid}/transfer/"), json_ct, b"{oops".to_vec(), 400, "parse_error"),
        (Method::POST, format!("tickets/{tid}/transfer/"), json_ct, br#"{"to_queue_id": "abc"}"#.to_vec(), 400, "validation_error"),
        (Method::POST, format!("tickets/{tid}/close/"), json_ct, b"{}".to_vec(), 409, "invalid_transition"),
        (Method::POST, format!("tickets/{tid}/frobnicate/"), json_ct, b"{}".to_vec(), 404, "not_found"),
        (Method::DELETE, "tickets/".into(), None, vec![], 405, "method_not_allowed"),
        (Method::POST, "members/".into(), json_ct, br#"{"email": "x@y.z", "password": "longenough", "role": "admin", "is_superuser": true}"#.to_vec(), 400, "validation_error"),
        (Method::POST, "members/".into(), json_ct, br#"{"email": "x@y.z", "password": "longenough", "role": "emperor"}"#.to_vec(), 400, "validation_error"),
        (Method::POST, "members/".into(), json_ct, br#"{"email": "x@y.z", "password": "short", "role": "agent"}"#.to_vec(), 400, "validation_error"),
        (Method::POST, "agents/set-status/".into(), json_ct, br#"{"status": "asleep"}"#.to_vec(), 400, "validation_error"),
    ];
    for (method, path, ct, body, want, code) in cases {
        let (status, got) = raw(&api, method.clone(), &path, ct, body).await;
        assert_eq!(
            (status, got["code"].as_str()),
            (want, Some(code)),
            "{method} {path}: {got}"
        );
        assert!(
            got["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{method} {path}: detail {got}"
        );
    }
    // Unauthenticated and garbage tokens.
    let r = api.http.get(api.t("queues/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = api
        .http
        .get(api.t("queues/"))
        .bearer_auth("abc.def.ghi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "token_invalid");
    // Nothing stored was damaged.
    let after = api
        .get(&api.t(&format!("tickets/{tid}/")))
        .await
        .expect(200);
    assert_eq!(
        (after["number"].as_str(), after["status"].as_str()),
        (Some("A001"), Some("waiting"))
    );
    let queue = api
        .get(&api.t(&format!("queues/{}/", q["id"].as_str().unwrap())))
        .await
        .expect(200);
    assert_eq!(queue, q);
    assert_eq!(api.get(&api.t("tickets/")).await.expect(200)["count"], 1);
    assert_eq!(
        api.get(&api.t("members/"))
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1,
        "no member was added"
    );
}

#[tokio::test]
async fn a_very_large_body_is_refused_and_the_server_stays_healthy() {
    let server = TestServer::start().await;
    let api = server.tenant("bank").await;
    let body = format!("{{\"name\": \"{}\"}}", "x".repeat(8 * 1024 * 1024));
    let r = api
        .http
        .post(api.t("sites/"))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match r {
        // Either the client reads the 413 …
        Ok(resp) => {
            assert_eq!(resp.status().as_u16(), 413);
            assert_eq!(
                resp.json::<Value>().await.unwrap()["code"],
                "payload_too_large"
            );
        }
        // … or the server's early close reaches it while still sending: refused either way.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert_eq!(
        api.get(&api.t("sites/")).await.expect(200)["count"],
        0,
        "nothing stored"
    );
}
