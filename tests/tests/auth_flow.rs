//! Sign-in, refresh rotation with reuse detection, throttling and rate limits.

use serde_json::{Value, json};
use smartqueue_server::Config;
use smartqueue_tests::{Api, TestServer, send};

async fn token(
    server: &TestServer,
    email: &str,
    password: &str,
    xff: Option<&str>,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut req = http
        .post(format!("{}/api/v1/auth/jwt/token/", server.url()))
        .json(&json!({"email": email, "password": password}));
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn refresh(server: &TestServer, refresh: &str) -> (u16, Value) {
    let r = send(
        &reqwest::Client::new(),
        reqwest::Method::POST,
        &format!("{}/api/v1/auth/jwt/refresh/", server.url()),
        None,
        Some(&json!({"refresh": refresh})),
        None,
    )
    .await;
    (r.status.as_u16(), r.body)
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let server = TestServer::start().await;
    server.tenant("bank").await;
    let (s, first) = token(&server, "admin@bank.test", "password123", None).await;
    assert_eq!(s, 200);
    assert_eq!(first["user"]["email"], "admin@bank.test");
    assert!(first["user"].get("password_hash").is_none());
    let r1 = first["refresh"].as_str().unwrap();
    let (s, second) = refresh(&server, r1).await;
    assert_eq!(s, 200, "{second}");
    let r2 = second["refresh"].as_str().unwrap();
    assert_ne!(r1, r2, "the refresh token rotates");
    // The new access token works.
    let api = Api {
        base: server.url(),
        http: reqwest::Client::new(),
        token: second["access"].as_str().unwrap().into(),
        tenant: "bank".into(),
        user: Value::Null,
    };
    api.get(&api.t("queues/")).await.expect(200);
    // Replaying the old refresh token is theft: refused, and the whole session is revoked.
    let (s, body) = refresh(&server, r1).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("token_reused")));
    let (s, body) = refresh(&server, r2).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("token_invalid")),
        "the rotated token died with its session"
    );
    // Garbage.
    assert_eq!(refresh(&server, "nope").await.0, 401);
}

#[tokio::test]
async fn me_reports_memberships_role_and_scopes() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    let me = agent
        .get(&format!("{}/api/v1/auth/jwt/me/", server.url()))
        .await
        .expect(200);
    assert_eq!(
        (me["tenant"].as_str(), me["role"].as_str()),
        (Some("bank"), Some("agent"))
    );
    let scopes: Vec<&str> = me["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"write:ticket") && !scopes.contains(&"manage:settings"));
    assert_eq!(me["memberships"][0]["tenant_slug"], "bank");
}

#[tokio::test]
async fn password_guessing_is_throttled_but_colleagues_are_not() {
    let server = TestServer::start_with(Config {
        public_rate_per_minute: 0,
        ..Config::default()
    })
    .await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    for i in 0..12 {
        admin.post(&admin.t("members/"), &json!({"email": format!("staff{i}@bank.test"), "password": "staffpass1", "role": "agent"})).await.expect(201);
        let _ = &q;
    }
    // Five wrong guesses on one account: the sixth attempt is refused, even with the right password.
    for _ in 0..5 {
        assert_eq!(
            token(&server, "staff0@bank.test", "guess", None).await.0,
            401
        );
    }
    let (s, body) = token(&server, "staff0@bank.test", "staffpass1", None).await;
    assert_eq!((s, body["code"].as_str()), (429, Some("too_many_attempts")));
    // The rest of the branch, same address, signs in normally (a couple of typos included).
    for i in 1..12 {
        if i % 4 == 0 {
            assert_eq!(
                token(&server, &format!("staff{i}@bank.test"), "typo", None)
                    .await
                    .0,
                401
            );
        }
        assert_eq!(
            token(&server, &format!("staff{i}@bank.test"), "staffpass1", None)
                .await
                .0,
            200,
            "staff{i}"
        );
    }
    // Unknown e-mails get the same answer as wrong passwords.
    let (s, body) = token(&server, "nobody@bank.test", "x", None).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
}

#[tokio::test]
async fn public_routes_are_rate_limited_per_address_and_forwarded_for_needs_a_trusted_proxy() {
    // Untrusted: X-Forwarded-For is ignored, every request counts against 127.0.0.1.
    let server = TestServer::start_with(Config {
        public_rate_per_minute: 3,
        ..Config::default()
    })
    .await;
    for i in 0..3 {
        assert_eq!(
            token(
                &server,
                &format!("x{i}@y.test"),
                "p",
                Some(&format!("10.0.0.{i}"))
            )
            .await
            .0,
            401
        );
    }
    let (s, body) = token(&server, "x9@y.test", "p", Some("10.0.0.99")).await;
    assert_eq!((s, body["code"].as_str()), (429, Some("rate_limited")));

    // Behind a trusted proxy, each forwarded client has its own bucket.
    let trusted = TestServer::start_with(Config {
        public_rate_per_minute: 3,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Config::default()
    })
    .await;
    for i in 0..6 {
        // Distinct accounts, so the per-account guessing throttle stays out of the picture.
        assert_eq!(
            token(
                &trusted,
                &format!("x{i}@y.test"),
                "p",
                Some(&format!("10.0.0.{i}"))
            )
            .await
            .0,
            401,
            "client {i}"
        );
    }
    for i in 0..3 {
        token(&trusted, &format!("z{i}@y.test"), "p", Some("10.0.0.200")).await;
    }
    let (s, body) = token(&trusted, "z9@y.test", "p", Some("10.0.0.200")).await;
    assert_eq!((s, body["code"].as_str()), (429, Some("rate_limited")));
}
