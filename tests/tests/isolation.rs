//! Tenant isolation: every tenant-scoped route, with another tenant's token and with another
//! tenant's ids in paths and bodies, answers 404 (or 403 for a role gap), never data, never a
//! write.

use reqwest::Method;
use serde_json::{Value, json};
use smartqueue_tests::{Api, TestServer, send};

/// Everything tenant A has, as seen by A (for the before/after comparison).
async fn snapshot(a: &Api) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "sites/",
        "services/",
        "queues/",
        "counters/",
        "customers/",
        "displays/",
        "kiosks/",
        "agents/",
        "members/",
        "tickets/?limit=500",
        "audit-logs/?limit=500",
    ] {
        out.insert(path.into(), a.get(&a.t(path)).await.expect(200));
    }
    Value::Object(out)
}

struct World {
    a: Api,
    ids: Value,
}

async fn tenant_a(server: &TestServer) -> World {
    let a = server.tenant("alpha").await;
    let q = a.queue("A", "fifo").await;
    let counter = a
        .post(
            &a.t("counters/"),
            &json!({"site_id": q["site_id"], "name": "Desk 1"}),
        )
        .await
        .expect(201);
    let customer = a
        .post(
            &a.t("customers/"),
            &json!({"name": "Ann", "phone": "+33 6 00 00 00 01"}),
        )
        .await
        .expect(201);
    let agent = a.agent("agent@alpha.test", &[&q]).await;
    let waiting = a
        .post(
            &a.t("tickets/"),
            &json!({"queue_id": q["id"], "customer_id": customer["id"]}),
        )
        .await
        .expect(201);
    a.post(&a.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let called = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let me = agent.get(&agent.t("agents/me/")).await.expect(200);
    let display = a
        .pair(
            "displays",
            &json!({"site_id": q["site_id"], "name": "Hall", "queue_ids": [q["id"]]}),
        )
        .await;
    let kiosk = a
        .post(
            &a.t("kiosks/"),
            &json!({"site_id": q["site_id"], "name": "Door", "queue_ids": [q["id"]]}),
        )
        .await
        .expect(201);
    let ids = json!({
        "display": display.doc["id"], "kiosk": kiosk["id"], "member": agent.user["id"],
        "site": q["site_id"], "service": q["service_id"], "queue": q["id"], "counter": counter["id"],
        "customer": customer["id"], "agent": me["id"], "ticket": called["ticket"]["id"], "waiting": waiting["id"],
    });
    World { a, ids }
}

/// Every tenant-scoped route with a request body where it takes one; `{x}` is replaced by ids.
fn routes(ids: &Value) -> Vec<(Method, String, Option<Value>)> {
    let id = |k: &str| ids[k].as_str().unwrap().to_owned();
    let mut r: Vec<(Method, String, Option<Value>)> = Vec::new();
    for (plural, kind, body) in [
        ("sites", "site", json!({"name": "X", "timezone": "UTC"})),
        ("services", "service", json!({"name": "X"})),
        (
            "queues",
            "queue",
            json!({"site_id": ids["site"], "service_id": ids["service"], "name": "X", "prefix": "X"}),
        ),
        (
            "counters",
            "counter",
            json!({"site_id": ids["site"], "name": "X"}),
        ),
        ("customers", "customer", json!({"name": "X"})),
        (
            "displays",
            "display",
            json!({"site_id": ids["site"], "name": "X", "queue_ids": [ids["queue"]]}),
        ),
        (
            "kiosks",
            "kiosk",
            json!({"site_id": ids["site"], "name": "X", "queue_ids": [ids["queue"]]}),
        ),
    ] {
        r.push((Method::GET, format!("{plural}/"), None));
        r.push((Method::POST, format!("{plural}/"), Some(body)));
        r.push((Method::GET, format!("{plural}/{}/", id(kind)), None));
        r.push((
            Method::PATCH,
            format!("{plural}/{}/", id(kind)),
            Some(json!({"name": "hijacked"})),
        ));
        r.push((
            Method::PUT,
            format!("{plural}/{}/", id(kind)),
            Some(json!({"name": "hijacked"})),
        ));
        r.push((Method::DELETE, format!("{plural}/{}/", id(kind)), None));
    }
    r.push((Method::GET, "members/".into(), None));
    r.push((
        Method::POST,
        "members/".into(),
        Some(json!({"email": "spy@evil.test", "password": "longenough", "role": "admin"})),
    ));
    r.push((
        Method::PATCH,
        format!("members/{}/", id("member")),
        Some(json!({"role": "admin"})),
    ));
    r.push((Method::DELETE, format!("members/{}/", id("member")), None));
    r.push((Method::GET, "agents/".into(), None));
    r.push((Method::GET, "agents/me/".into(), None));
    r.push((
        Method::PATCH,
        "agents/me/".into(),
        Some(json!({"queue_ids": [ids["queue"]]})),
    ));
    r.push((
        Method::POST,
        "agents/call-next/".into(),
        Some(json!({"queue_id": ids["queue"]})),
    ));
    r.push((
        Method::POST,
        "agents/set-status/".into(),
        Some(json!({"status": "break"})),
    ));
    r.push((Method::GET, format!("agents/{}/", id("agent")), None));
    r.push((Method::GET, "tickets/".into(), None));
    r.push((
        Method::POST,
        "tickets/".into(),
        Some(json!({"queue_id": ids["queue"]})),
    ));
    r.push((Method::GET, format!("tickets/{}/", id("ticket")), None));
    for action in [
        "recall",
        "start_service",
        "close",
        "pause",
        "resume",
        "mark_no_show",
        "cancel",
    ] {
        r.push((
            Method::POST,
            format!("tickets/{}/{action}/", id("ticket")),
            Some(json!({})),
        ));
    }
    r.push((
        Method::POST,
        format!("tickets/{}/cancel/", id("waiting")),
        Some(json!({})),
    ));
    r.push((
        Method::POST,
        format!("tickets/{}/transfer/", id("ticket")),
        Some(json!({"to_queue_id": ids["queue"]})),
    ));
    r.push((Method::GET, "audit-logs/".into(), None));
    r.push((Method::GET, format!("queues/{}/stats/", id("queue")), None));
    for (plural, kind) in [("displays", "display"), ("kiosks", "kiosk")] {
        r.push((
            Method::POST,
            format!("{plural}/{}/pair/", id(kind)),
            Some(json!({"code": "ABC-DEF"})),
        ));
        r.push((
            Method::POST,
            format!("{plural}/{}/revoke/", id(kind)),
            Some(json!({})),
        ));
    }
    r.push((
        Method::GET,
        format!("displays/{}/board/", id("display")),
        None,
    ));
    r.push((Method::GET, format!("kiosks/{}/menu/", id("kiosk")), None));
    r.push((
        Method::POST,
        format!("kiosks/{}/tickets/", id("kiosk")),
        Some(json!({"queue_id": ids["queue"]})),
    ));
    r.push((
        Method::POST,
        format!("kiosks/{}/leases/", id("kiosk")),
        Some(json!({"queue_id": ids["queue"]})),
    ));
    r.push((
        Method::POST,
        format!("kiosks/{}/tickets/cancel/", id("kiosk")),
        Some(json!({"tracking_token": "ab".repeat(24)})),
    ));
    r
}

fn assert_no_leak(what: &str, status: u16, body: &Value, ids: &Value) {
    assert!(
        status == 404 || status == 403 || status == 400,
        "{what}: {status} {body}"
    );
    let text = body.to_string();
    for (k, v) in ids.as_object().unwrap() {
        assert!(
            !text.contains(v.as_str().unwrap()),
            "{what} leaks the {k} id: {text}"
        );
    }
    assert!(
        body["code"].is_string() && body["detail"].is_string(),
        "{what}: error shape {body}"
    );
}

#[tokio::test]
async fn another_tenants_token_sees_nothing_and_changes_nothing() {
    let server = TestServer::start().await;
    let world = tenant_a(&server).await;
    let b = server.tenant("bravo").await;
    let before = snapshot(&world.a).await;
    for (method, path, body) in routes(&world.ids) {
        // B's admin token on A's tenant path.
        let url = world.a.t(&path);
        let r = send(
            &b.http,
            method.clone(),
            &url,
            Some(&b.token),
            body.as_ref(),
            None,
        )
        .await;
        assert_eq!(
            r.status.as_u16(),
            404,
            "{method} {url} with bravo's token: {}",
            r.body
        );
        assert_no_leak(
            &format!("{method} {path}"),
            r.status.as_u16(),
            &r.body,
            &world.ids,
        );
    }
    // A tenant that does not exist answers exactly like one that exists.
    let ghost = send(
        &b.http,
        Method::GET,
        &format!("{}/api/v1/tenants/no-such-tenant/queues/", b.base),
        Some(&b.token),
        None,
        None,
    )
    .await;
    let real = send(
        &b.http,
        Method::GET,
        &world.a.t("queues/"),
        Some(&b.token),
        None,
        None,
    )
    .await;
    assert_eq!((ghost.status, &ghost.body), (real.status, &real.body));
    assert_eq!(
        snapshot(&world.a).await,
        before,
        "tenant alpha is unchanged"
    );
}

#[tokio::test]
async fn another_tenants_ids_in_paths_and_bodies_are_not_found() {
    let server = TestServer::start().await;
    let world = tenant_a(&server).await;
    let b = server.tenant("bravo").await;
    // B has its own queue and an agent so that B-side checks pass up to the foreign id.
    let bq = b.queue("B", "fifo").await;
    let b_agent = b.agent("agent@bravo.test", &[&bq]).await;
    let before = snapshot(&world.a).await;
    for (method, path, body) in routes(&world.ids) {
        for api in [&b, &b_agent] {
            let url = api.t(&path);
            let r = send(
                &api.http,
                method.clone(),
                &url,
                Some(&api.token),
                body.as_ref(),
                None,
            )
            .await;
            let s = r.status.as_u16();
            let own_tenant_only = matches!(
                (method.as_str(), path.as_str()),
                (
                    "GET",
                    "sites/"
                        | "services/"
                        | "queues/"
                        | "counters/"
                        | "customers/"
                        | "displays/"
                        | "kiosks/"
                        | "members/"
                        | "agents/"
                        | "agents/me/"
                        | "tickets/"
                        | "audit-logs/"
                ) | (
                    "POST",
                    "sites/" | "services/" | "customers/" | "agents/set-status/"
                )
            );
            if own_tenant_only {
                // Routes without a foreign id act on B's own data: fine, but nothing of A's.
                let text = r.body.to_string();
                for (k, v) in world.ids.as_object().unwrap() {
                    assert!(
                        !text.contains(v.as_str().unwrap()),
                        "{method} {path} leaks A's {k}"
                    );
                }
                continue;
            }
            if path == "members/" && method == Method::POST {
                assert!(s == 201 || s == 403 || s == 409, "{method} {path}: {s}");
                continue;
            }
            assert!(
                s == 404 || s == 403,
                "{method} {url} with A's ids: {s} {}",
                r.body
            );
            assert_no_leak(&format!("{method} {path}"), s, &r.body, &world.ids);
        }
    }
    assert_eq!(
        snapshot(&world.a).await,
        before,
        "tenant alpha is unchanged"
    );
}
