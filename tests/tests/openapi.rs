//! The OpenAPI document is valid, complete and matches the router exactly.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use smartqueue_tests::{TestServer, send};

fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.insert(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[tokio::test]
async fn schema_is_valid_and_matches_every_route() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let spec: Value = reqwest::get(format!("{}/api/schema/", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3."),
        "OpenAPI 3: {}",
        spec["openapi"]
    );
    assert_eq!(spec["info"]["title"], "SmartQueue API");
    let paths = spec["paths"].as_object().unwrap();

    // Every reference resolves; every operation has responses and an operation id.
    let mut all = BTreeSet::new();
    refs(&spec, &mut all);
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for r in &all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has responses"
            );
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "unique operationId for {method} {path}"
            );
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().map(|p| p["name"].as_str().unwrap()).collect())
                .unwrap_or_default();
            let in_path: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(
                declared, in_path,
                "{method} {path}: path parameters declared"
            );
        }
    }

    // The router serves exactly what is documented: documented methods are routed (never the
    // fallback, never 405), other methods on the same path are 405.
    for (path, item) in paths {
        let url = format!(
            "{}{}",
            server.url(),
            path.replace("{tenant_slug}", "bank")
                .replace("{id}", "00000000-0000-0000-0000-000000000000")
        );
        for m in METHODS {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let r = send(
                &admin.http,
                method,
                &url,
                Some(&admin.token),
                Some(&serde_json::json!({})),
                None,
            )
            .await;
            let documented = item.get(m).is_some();
            if documented {
                assert_ne!(
                    r.status.as_u16(),
                    405,
                    "{m} {path} is documented but not routed"
                );
                assert_ne!(
                    r.body["detail"], "no such endpoint",
                    "{m} {path} fell through to the fallback"
                );
            } else {
                assert_eq!(
                    r.status.as_u16(),
                    405,
                    "{m} {path} is routed but not documented: {}",
                    r.body
                );
            }
        }
    }

    // The contract's paths (design §4) are all there.
    let t = "/api/v1/tenants/{tenant_slug}";
    let mut expected = vec![
        "/api/v1/health/".to_owned(),
        "/api/v1/auth/jwt/token/".into(),
        "/api/v1/auth/jwt/refresh/".into(),
        "/api/v1/auth/jwt/me/".into(),
        format!("{t}/agents/call-next/"),
        format!("{t}/agents/set-status/"),
        format!("{t}/agents/me/"),
        format!("{t}/queues/{{id}}/stats/"),
        format!("{t}/audit-logs/"),
        format!("{t}/members/"),
    ];
    for r in [
        "sites",
        "services",
        "queues",
        "counters",
        "customers",
        "tickets",
        "agents",
    ] {
        expected.push(format!("{t}/{r}/"));
        expected.push(format!("{t}/{r}/{{id}}/"));
    }
    for a in [
        "transfer",
        "start_service",
        "close",
        "pause",
        "resume",
        "mark_no_show",
        "recall",
        "cancel",
    ] {
        expected.push(format!("{t}/tickets/{{id}}/{a}/"));
    }
    for p in expected {
        assert!(paths.contains_key(&p), "{p} is documented");
    }
}

#[tokio::test]
async fn interactive_docs_page_is_served() {
    let server = TestServer::start().await;
    let r = reqwest::get(format!("{}/api/docs/", server.url()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("SmartQueue API") && html.contains("/api/schema/"));
}
