//! Displays and kiosks against the real server: pairing by code, device tokens, the display's
//! own channel, revocation, kiosk issuing, and a customer following their ticket with its
//! tracking token.

use chrono::Utc;
use serde_json::{Value, json};
use smartqueue_tests::ws::{closed_with, connect, next, next_of};
use smartqueue_tests::{TestServer, send};

fn site_of(q: &Value) -> Value {
    q["site_id"].clone()
}

fn display_body(site: &Value, queues: &[&Value]) -> Value {
    let ids: Vec<&Value> = queues.iter().map(|q| &q["id"]).collect();
    json!({"site_id": site, "name": "Hall", "queue_ids": ids, "language": "fr", "message": "Bienvenue"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paired_display_sees_calls_without_customer_details_until_revoked() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let other_q = admin.queue("B", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q, &other_q]).await;
    let site = site_of(&q);
    let display = admin.pair("displays", &display_body(&site, &[&q])).await;
    let id = display.doc["id"].as_str().unwrap().to_owned();

    // The device knows who it is.
    let me = display
        .api
        .get(&format!("{}/api/v1/devices/me/", server.url()))
        .await
        .expect(200);
    assert_eq!(
        (me["kind"].as_str(), me["device_id"].as_str()),
        (Some("display"), Some(id.as_str()))
    );
    assert_eq!(me["device"]["message"], "Bienvenue");

    let mut ws = connect(
        &server,
        &format!("bank/displays/{id}/?token={}", display.api.token),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "hello");
    admin
        .post(
            &admin.t("tickets/"),
            &json!({"queue_id": other_q["id"], "customer_name": "Other Queue"}),
        )
        .await
        .expect(201);
    let t = admin
        .post(
            &admin.t("tickets/"),
            &json!({"queue_id": q["id"], "customer_name": "Jeanne Martin", "customer_phone": "+33 6 12 34 56 78"}),
        )
        .await
        .expect(201);
    let created = next_of(&mut ws, "ticket.created").await;
    // Only its own queue's tickets reach it (the other queue's ticket was created first).
    assert_eq!(created["data"]["id"], t["id"]);
    assert_eq!(
        created["data"]["queues"],
        json!([{"queue_id": q["id"], "waiting": 1}])
    );
    assert!(created["data"].get("customer_name").is_none(), "{created}");
    assert!(created["data"].get("customer_phone").is_none());
    agent
        .post(&agent.t("agents/call-next/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(200);
    let called = next_of(&mut ws, "ticket.called").await;
    assert_eq!(called["data"]["display"]["number"], "A001");
    assert_eq!(called["data"]["display"]["announce_fr"], "Ticket A 0 0 1");
    assert!(called["data"].get("customer_name").is_none());

    // The board (its snapshot) shows the call, its queues and no customer details.
    let board = display
        .api
        .get(&display.api.t(&format!("displays/{id}/board/")))
        .await
        .expect(200);
    assert_eq!(board["results"][0]["number"], "A001");
    assert!(board["results"][0].get("customer_name").is_none());
    assert_eq!(board["queues"].as_array().unwrap().len(), 1);
    assert_eq!(board["queues"][0]["name"], "Queue A");
    assert_eq!(board["display"]["message"], "Bienvenue");

    // A configuration change reaches the screen live and changes what it follows.
    admin
        .patch(
            &admin.t(&format!("displays/{id}/")),
            &json!({"queue_ids": [other_q["id"]], "message": "Fermeture à 17 h"}),
        )
        .await
        .expect(200);
    let updated = next_of(&mut ws, "display.updated").await;
    assert_eq!(updated["data"]["message"], "Fermeture à 17 h");
    admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let b = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": other_q["id"]}))
        .await
        .expect(201);
    assert_eq!(
        next_of(&mut ws, "ticket.created").await["data"]["id"],
        b["id"]
    );

    // Nobody sets a pairing state by PATCH: the field is the server's, sent back and ignored.
    let ignored = admin
        .patch(
            &admin.t(&format!("displays/{id}/")),
            &json!({"is_paired": false}),
        )
        .await
        .expect(200);
    assert_eq!(ignored["is_paired"], true);

    // Revoked: the socket is told and closed, the token stops working everywhere.
    let revoked = admin
        .post(&admin.t(&format!("displays/{id}/revoke/")), &json!({}))
        .await
        .expect(200);
    assert_eq!(revoked["is_paired"], false);
    assert_eq!(
        next_of(&mut ws, "display.revoked").await["data"]["id"],
        id.as_str()
    );
    assert_eq!(closed_with(&mut ws).await, Some(4401));
    let after = display
        .api
        .get(&format!("{}/api/v1/devices/me/", server.url()))
        .await;
    assert_eq!(
        (after.status.as_u16(), after.body["code"].as_str()),
        (401, Some("device_not_paired"))
    );
    let board = display
        .api
        .get(&display.api.t(&format!("displays/{id}/board/")))
        .await;
    assert_eq!(board.status, 401);
    let mut again = connect(
        &server,
        &format!("bank/displays/{id}/?token={}", display.api.token),
    )
    .await;
    assert_eq!(next(&mut again).await, Err(Some(4401)));
    // The audit log says who paired and who revoked.
    let actions = admin.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "display.pair")
            && actions.iter().any(|a| a == "display.revoke"),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_codes_are_single_use_checked_and_tenant_bound() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let site = site_of(&q);
    let other = server.tenant("rival").await;
    let rq = other.queue("R", "fifo").await;

    // A code a kiosk shows cannot pair a display.
    let http = reqwest::Client::new();
    let kiosk_code = send(
        &http,
        reqwest::Method::POST,
        &format!("{}/api/v1/public/devices/pairings/", server.url()),
        None,
        Some(&json!({"mode": "kiosk"})),
        None,
    )
    .await
    .expect(201);
    let d = admin
        .post(&admin.t("displays/"), &display_body(&site, &[&q]))
        .await
        .expect(201);
    let did = d["id"].as_str().unwrap();
    let wrong = admin
        .post(
            &admin.t(&format!("displays/{did}/pair/")),
            &json!({"code": kiosk_code["code"]}),
        )
        .await;
    assert_eq!(
        (wrong.status.as_u16(), wrong.body["code"].as_str()),
        (409, Some("wrong_device_mode"))
    );
    // Made-up and malformed codes.
    let bad = admin
        .post(
            &admin.t(&format!("displays/{did}/pair/")),
            &json!({"code": "ZZZ-ZZZ"}),
        )
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.body["code"].as_str()),
        (400, Some("invalid_pairing_code"))
    );
    let short = admin
        .post(
            &admin.t(&format!("displays/{did}/pair/")),
            &json!({"code": "12"}),
        )
        .await;
    assert_eq!(short.status, 400);
    let bad_mode = send(
        &http,
        reqwest::Method::POST,
        &format!("{}/api/v1/public/devices/pairings/", server.url()),
        None,
        Some(&json!({"mode": "toaster"})),
        None,
    )
    .await;
    assert_eq!(bad_mode.status, 400);
    // A wrong secret learns nothing.
    let claim = send(
        &http,
        reqwest::Method::POST,
        &format!(
            "{}/api/v1/public/devices/pairings/{}/claim/",
            server.url(),
            kiosk_code["id"].as_str().unwrap()
        ),
        None,
        Some(&json!({"secret": "guess"})),
        None,
    )
    .await;
    assert_eq!(
        (claim.status.as_u16(), claim.body["code"].as_str()),
        (404, Some("pairing_expired"))
    );

    // Another tenant's admin cannot pair, revoke, read or configure this display.
    let code = send(
        &http,
        reqwest::Method::POST,
        &format!("{}/api/v1/public/devices/pairings/", server.url()),
        None,
        Some(&json!({"mode": "display"})),
        None,
    )
    .await
    .expect(201);
    for (path, body) in [
        (
            format!("displays/{did}/pair/"),
            json!({"code": code["code"]}),
        ),
        (format!("displays/{did}/revoke/"), json!({})),
    ] {
        let r = other.post(&other.t(&path), &body).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    assert_eq!(
        other
            .get(&other.t(&format!("displays/{did}/board/")))
            .await
            .status,
        404
    );
    // Nor point its own display at this tenant's queue.
    let rsite = site_of(&rq);
    let cross = other
        .post(&other.t("displays/"), &display_body(&rsite, &[&q]))
        .await;
    assert_eq!(cross.status, 404);

    // Paired once; the code is then spent.
    let dev = admin.pair("displays", &display_body(&site, &[&q])).await;
    let reuse = admin
        .post(
            &admin.t(&format!("displays/{did}/pair/")),
            &json!({"code": code["code"]}),
        )
        .await;
    assert_eq!(reuse.status, 200, "the code was unused: {}", reuse.body);
    let spent = admin
        .post(
            &admin.t(&format!("displays/{did}/pair/")),
            &json!({"code": code["code"]}),
        )
        .await;
    assert_eq!(spent.status, 400, "{}", spent.body);

    // A device token opens only its own channel, in its own tenant, and no staff route.
    let own = dev.doc["id"].as_str().unwrap();
    let qid = q["id"].as_str().unwrap();
    for path in [
        format!("bank/displays/{did}/?token={}", dev.api.token),
        format!("bank/queues/{qid}/?token={}", dev.api.token),
        format!("bank/?token={}", dev.api.token),
        format!("rival/displays/{own}/?token={}", dev.api.token),
    ] {
        let mut ws = connect(&server, &path).await;
        assert_eq!(next(&mut ws).await, Err(Some(4404)), "{path}");
    }
    assert_eq!(dev.api.get(&dev.api.t("tickets/")).await.status, 401);
    assert_eq!(
        dev.api
            .get(&dev.api.t(&format!("displays/{did}/board/")))
            .await
            .status,
        404
    );
    let rival_board = send(
        &http,
        reqwest::Method::GET,
        &format!(
            "{}/api/v1/tenants/rival/displays/{own}/board/",
            server.url()
        ),
        Some(&dev.api.token),
        None,
        None,
    )
    .await;
    assert_eq!(rival_board.status, 404);

    // Deleting a display kills its token.
    admin
        .delete(&admin.t(&format!("displays/{own}/")))
        .await
        .expect(204);
    let gone = dev
        .api
        .get(&format!("{}/api/v1/devices/me/", server.url()))
        .await;
    assert_eq!(gone.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_issues_tickets_once_per_key_in_its_own_queues() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("K", "fifo").await;
    let not_offered = admin.queue("N", "fifo").await;
    let site = site_of(&q);
    let kiosk = admin
        .pair(
            "kiosks",
            &json!({"site_id": site, "name": "Entrée", "queue_ids": [q["id"]], "printer": "tcp://127.0.0.1:9100"}),
        )
        .await;
    let id = kiosk.doc["id"].as_str().unwrap();
    let menu = kiosk
        .api
        .get(&kiosk.api.t(&format!("kiosks/{id}/menu/")))
        .await
        .expect(200);
    assert_eq!(menu["queues"][0]["service_name"], "Accounts");
    assert_eq!(menu["queues"][0]["waiting"], 0);
    let url = kiosk.api.t(&format!("kiosks/{id}/tickets/"));
    let body = json!({"queue_id": q["id"], "customer_phone": "+33 6 00 00 00 01"});
    let first = kiosk.api.post_idem(&url, &body, "k-1").await.expect(201);
    let retry = kiosk.api.post_idem(&url, &body, "k-1").await.expect(201);
    assert_eq!(first["id"], retry["id"]);
    assert_eq!(
        (first["number"].as_str(), first["channel"].as_str()),
        (Some("K001"), Some("kiosk"))
    );
    assert_eq!(first["position"], 1);
    assert!(
        first["tracking_token"]
            .as_str()
            .is_some_and(|t| t.len() > 30)
    );
    let second = kiosk.api.post_idem(&url, &body, "k-2").await.expect(201);
    assert_eq!(second["number"], "K002");
    let refused = kiosk
        .api
        .post(&url, &json!({"queue_id": not_offered["id"]}))
        .await;
    assert_eq!(refused.status, 400);
    let bad_printer = admin
        .patch(
            &admin.t(&format!("kiosks/{id}/")),
            &json!({"printer": "lpt1"}),
        )
        .await;
    assert_eq!(bad_printer.status, 400);
    assert!(
        bad_printer.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("printer:")
    );
    let list = admin
        .get(&admin.t(&format!("tickets/?queue_id={}", q["id"].as_str().unwrap())))
        .await
        .expect(200);
    assert_eq!(list["count"], 2);
}

/// A kiosk takes back a ticket it could not print — its own, never another kiosk's: the
/// other kiosk of the same tenant, holding a stolen tracking token, is told there is no such
/// ticket, and the ticket stays in line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_takes_back_only_the_tickets_it_issued() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("K", "fifo").await;
    let site = site_of(&q);
    let mut kiosks = Vec::new();
    for name in ["Entrée", "Étage"] {
        kiosks.push(
            admin
                .pair(
                    "kiosks",
                    &json!({"site_id": site, "name": name, "queue_ids": [q["id"]]}),
                )
                .await,
        );
    }
    let (mine, other) = (&kiosks[0], &kiosks[1]);
    let (mine_id, other_id) = (
        mine.doc["id"].as_str().unwrap(),
        other.doc["id"].as_str().unwrap(),
    );
    let issued = mine
        .api
        .post(
            &mine.api.t(&format!("kiosks/{mine_id}/tickets/")),
            &json!({"queue_id": q["id"]}),
        )
        .await
        .expect(201);
    let token = issued["tracking_token"].as_str().unwrap();
    let stolen = other
        .api
        .post(
            &other.api.t(&format!("kiosks/{other_id}/tickets/cancel/")),
            &json!({"tracking_token": token}),
        )
        .await;
    assert_eq!(stolen.status, 404, "{}", stolen.body);
    assert_eq!(stolen.body["code"], "not_found");
    let still = admin
        .get(&admin.t(&format!("tickets/{}/", issued["id"].as_str().unwrap())))
        .await
        .expect(200);
    assert_eq!(still["status"], "waiting");
    // A staff ticket is no kiosk's to take back either.
    let staff = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let r = mine
        .api
        .post(
            &mine.api.t(&format!("kiosks/{mine_id}/tickets/cancel/")),
            &json!({"tracking_token": staff["tracking_token"]}),
        )
        .await;
    assert_eq!(r.status, 404);
    let taken_back = mine
        .api
        .post(
            &mine.api.t(&format!("kiosks/{mine_id}/tickets/cancel/")),
            &json!({"tracking_token": token}),
        )
        .await
        .expect(200);
    assert_eq!(taken_back["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_follows_their_own_ticket_with_its_tracking_token() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    let mine = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let theirs = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let (id, token) = (
        mine["id"].as_str().unwrap(),
        mine["tracking_token"].as_str().unwrap(),
    );
    let mut ws = connect(&server, &format!("bank/tickets/{id}/?token={token}")).await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "hello");
    agent
        .post(&agent.t("agents/call-next/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(200);
    let called = next_of(&mut ws, "ticket.called").await;
    assert_eq!(called["data"]["id"], mine["id"]);
    // The token opens that ticket only, in that tenant only.
    let other_id = theirs["id"].as_str().unwrap();
    let qid = q["id"].as_str().unwrap();
    for path in [
        format!("bank/tickets/{other_id}/?token={token}"),
        format!("bank/queues/{qid}/?token={token}"),
        format!("bank/?token={token}"),
        format!("bank/tickets/{id}/?token=not-the-token"),
    ] {
        let mut ws = connect(&server, &path).await;
        assert_eq!(next(&mut ws).await, Err(Some(4401)), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_issues_need_a_lease_replace_unanswered_attempts_and_can_be_taken_back() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("K", "fifo").await;
    let kiosk = admin
        .pair(
            "kiosks",
            &json!({"site_id": site_of(&q), "name": "Door", "queue_ids": [q["id"]], "printer": "/dev/usb/lp0"}),
        )
        .await;
    let id = kiosk.doc["id"].as_str().unwrap();
    let k = &kiosk.api;
    let lease = k
        .post(
            &k.t(&format!("kiosks/{id}/leases/")),
            &json!({"queue_id": q["id"]}),
        )
        .await
        .expect(201);
    assert_eq!(
        (lease["first"].as_u64(), lease["last"].as_u64()),
        (Some(5001), Some(5050))
    );
    let second = k
        .post(
            &k.t(&format!("kiosks/{id}/leases/")),
            &json!({"queue_id": q["id"]}),
        )
        .await
        .expect(201);
    assert_eq!(second["first"], 5051, "leases never overlap");
    let day = lease["business_day"].clone();
    let far = k
        .post(
            &k.t(&format!("kiosks/{id}/leases/")),
            &json!({"queue_id": q["id"], "business_day": "2030-01-01"}),
        )
        .await;
    assert_eq!(far.status, 400);

    // An online attempt whose answer was lost...
    let url = k.t(&format!("kiosks/{id}/tickets/"));
    let ghost = k
        .post_idem(&url, &json!({"queue_id": q["id"]}), "attempt-1")
        .await
        .expect(201);
    // ...is replaced by the offline ticket the customer holds.
    let token = "ab".repeat(24);
    let offline = |seq: u32, token: &str, supersedes: Option<&str>| {
        json!({"queue_id": q["id"], "offline": {
            "business_day": day, "sequence": seq, "issued_at": Utc::now() - chrono::Duration::minutes(5),
            "tracking_token": token, "supersedes": supersedes}})
    };
    let t = k
        .post_idem(&url, &offline(5001, &token, Some("attempt-1")), "offline-1")
        .await
        .expect(201);
    assert_eq!(
        (t["number"].as_str(), t["tracking_token"].as_str()),
        (Some("K5001"), Some(token.as_str()))
    );
    // Issued five minutes ago: it stands before the online ticket taken since.
    assert_eq!(t["position"], 1);
    let g = admin
        .get(&admin.t(&format!("tickets/{}/", ghost["id"].as_str().unwrap())))
        .await
        .expect(200);
    assert_eq!(g["status"], "cancelled");
    // A number outside its leases, a reused number, a malformed token: refused.
    let r = k.post(&url, &offline(5200, &"cd".repeat(24), None)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = k.post(&url, &offline(5001, &"ef".repeat(24), None)).await;
    assert_eq!(
        (r.status.as_u16(), r.body["code"].as_str()),
        (409, Some("number_taken"))
    );
    let r = k.post(&url, &offline(5002, "not-hex", None)).await;
    assert_eq!(r.status, 400);
    // Issued, it says, hours before its number was leased (or tomorrow): it would jump the line.
    for issued_at in [
        Utc::now() - chrono::Duration::hours(3),
        Utc::now() + chrono::Duration::hours(1),
    ] {
        let early = json!({"queue_id": q["id"], "offline": {
            "business_day": day, "sequence": 5003, "issued_at": issued_at,
            "tracking_token": "12".repeat(24)}});
        let r = k.post(&url, &early).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .starts_with("offline.issued_at"),
            "{}",
            r.body
        );
    }

    // The QR code's page and JSON, without login.
    let page = reqwest::get(format!("{}/t/bank/{token}", server.url()))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("K5001") && html.contains("Position 1"),
        "{html}"
    );
    let public = reqwest::get(format!(
        "{}/api/v1/public/tenants/bank/tickets/{token}/",
        server.url()
    ))
    .await
    .unwrap();
    let body: Value = public.json().await.unwrap();
    assert_eq!(
        (body["number"].as_str(), body["status"].as_str()),
        (Some("K5001"), Some("waiting"))
    );
    for bad in [
        format!("/t/bank/{}", "0".repeat(48)),
        format!("/t/rival/{token}"),
        "/t/bank/x".into(),
    ] {
        let r = reqwest::get(format!("{}{bad}", server.url()))
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }

    // A ticket that could not be printed is taken back.
    let cancelled = k
        .post(
            &k.t(&format!("kiosks/{id}/tickets/cancel/")),
            &json!({"tracking_token": token}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    let html = reqwest::get(format!("{}/t/bank/{token}", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Annulé"));
}
