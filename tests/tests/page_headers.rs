//! Every HTML page carries a strict Content-Security-Policy (its own inline code only, by hash),
//! cannot be framed and sends no referrer; nothing is sniffed; token answers are never cached.
//! The pages still work in a real browser under their policy (Debian's chromium, headless).

use serde_json::{Value, json};
use smartqueue_tests::TestServer;

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn assert_page_headers(r: &reqwest::Response, what: &str) {
    let csp = header(r, "content-security-policy");
    assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(header(r, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(r, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(r, "referrer-policy"), "no-referrer", "{what}");
}

/// What headless chromium makes of `url` (the DOM after scripts ran) and what it logged.
fn chromium(url: &str) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            url,
        ])
        .output()
        .expect("chromium (scripts/setup.sh installs it)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_a_strict_policy_and_still_work_in_a_browser() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let t = admin
        .post(
            &admin.t("tickets/"),
            &json!({"queue_id": q["id"], "customer_name": "<script>alert(1)</script>"}),
        )
        .await
        .expect(201);
    let token = t["tracking_token"].as_str().unwrap();

    let docs = reqwest::get(format!("{}/api/docs/", server.url()))
        .await
        .unwrap();
    assert_page_headers(&docs, "API docs");
    let csp = header(&docs, "content-security-policy");
    assert!(
        csp.contains("script-src 'sha256-") && csp.contains("style-src 'sha256-"),
        "{csp}"
    );
    let page_url = format!("{}/t/bank/{token}", server.url());
    let page = reqwest::get(&page_url).await.unwrap();
    assert_page_headers(&page, "tracking page");
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("script-src 'none'"),
        "the tracking page runs no script: {csp}"
    );

    // JSON answers are not sniffed; token answers are not cached.
    let json_answer = reqwest::get(format!("{}/api/v1/health/", server.url()))
        .await
        .unwrap();
    assert_eq!(header(&json_answer, "x-content-type-options"), "nosniff");
    let http = reqwest::Client::new();
    let signin = http
        .post(format!("{}/api/v1/auth/jwt/token/", server.url()))
        .json(&json!({"email": "admin@bank.test", "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&signin, "cache-control"), "no-store");
    let tokens: Value = signin.json().await.unwrap();
    let refresh = http
        .post(format!("{}/api/v1/auth/jwt/refresh/", server.url()))
        .json(&json!({"refresh": tokens["refresh"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 200);
    assert_eq!(header(&refresh, "cache-control"), "no-store");

    // In a real browser: the docs page's own script runs under its policy (it builds the list
    // of operations from /api/schema/), the tracking page shows the ticket with its style and the
    // stored markup as text, and nothing is refused.
    let url = format!("{}/api/docs/", server.url());
    let (dom, log) = tokio::task::spawn_blocking(move || chromium(&url))
        .await
        .unwrap();
    assert!(
        dom.contains("<details>"),
        "the docs script ran: {}",
        &dom[..dom.len().min(500)]
    );
    assert!(!log.contains("Content Security Policy"), "{log}");
    let (dom, log) = tokio::task::spawn_blocking(move || chromium(&page_url))
        .await
        .unwrap();
    assert!(dom.contains(">A001<"), "{dom}");
    assert!(!log.contains("Content Security Policy"), "{log}");
}
