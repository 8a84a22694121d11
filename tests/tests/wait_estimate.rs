//! One wait estimate: for the same state, every place that shows a wait shows the same one —
//! the kiosk's menu, the ticket the kiosk prints, the ticket as staff and the customer's
//! tracking page read it, the display board and the queue's figures.

use serde_json::{Value, json};
use smartqueue_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_menu_the_printed_ticket_and_every_reader_show_the_same_wait() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let site = admin
        .post(
            &admin.t("sites/"),
            &json!({"name": "Main", "timezone": "Europe/Paris"}),
        )
        .await
        .expect(201);
    // Not the 300 s every screen used to assume: a long service, so a screen that ignores the
    // service's own time shows another wait.
    let service = admin
        .post(
            &admin.t("services/"),
            &json!({"name": "Mortgages", "default_service_seconds": 600}),
        )
        .await
        .expect(201);
    let q = admin
        .post(
            &admin.t("queues/"),
            &json!({"site_id": site["id"], "service_id": service["id"], "name": "Mortgages", "prefix": "M"}),
        )
        .await
        .expect(201);
    let _agent = admin.agent("agent@bank.test", &[&q]).await;
    for _ in 0..2 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    let kiosk = admin
        .pair(
            "kiosks",
            &json!({"site_id": site["id"], "name": "Entrée", "queue_ids": [q["id"]]}),
        )
        .await;
    let kiosk_id = kiosk.doc["id"].as_str().unwrap().to_owned();
    let menu = kiosk
        .api
        .get(&kiosk.api.t(&format!("kiosks/{kiosk_id}/menu/")))
        .await
        .expect(200);
    let line = &menu["queues"][0];
    assert_eq!(line["waiting"], 2);
    // Two ahead, one agent, 600 s each (no history yet): (2 + ½) · 600 s.
    assert_eq!(line["eta_next_seconds"], 1500, "menu: {line}");
    let promised = (
        line["eta_next_seconds"].clone(),
        line["eta_next_p90_seconds"].clone(),
    );

    let printed = kiosk
        .api
        .post_idem(
            &kiosk.api.t(&format!("kiosks/{kiosk_id}/tickets/")),
            &json!({"queue_id": q["id"]}),
            "same-wait",
        )
        .await
        .expect(201);
    let wait = |t: &Value| (t["eta_seconds"].clone(), t["eta_p90_seconds"].clone());
    assert_eq!(printed["position"], 3);
    assert_eq!(wait(&printed), promised, "the printed ticket: {printed}");

    let id = printed["id"].as_str().unwrap();
    let read = admin
        .get(&admin.t(&format!("tickets/{id}/")))
        .await
        .expect(200);
    assert_eq!(wait(&read), promised, "GET tickets/{{id}}/: {read}");

    let token = printed["tracking_token"].as_str().unwrap();
    let tracked = admin
        .get(&format!(
            "{}/api/v1/public/tenants/bank/tickets/{token}/",
            server.url()
        ))
        .await
        .expect(200);
    assert_eq!(wait(&tracked), promised, "tracking: {tracked}");

    // The next customer is told the wait behind this one, the same way everywhere.
    let stats = admin
        .get(&admin.t(&format!("queues/{}/stats/", q["id"].as_str().unwrap())))
        .await
        .expect(200);
    let display = admin
        .pair(
            "displays",
            &json!({"site_id": site["id"], "name": "Hall", "queue_ids": [q["id"]]}),
        )
        .await;
    let board = display
        .api
        .get(&display.api.t(&format!(
            "displays/{}/board/",
            display.doc["id"].as_str().unwrap()
        )))
        .await
        .expect(200);
    let menu = kiosk
        .api
        .get(&kiosk.api.t(&format!("kiosks/{kiosk_id}/menu/")))
        .await
        .expect(200);
    assert_eq!(stats["eta_next_seconds"], 2100, "stats: {stats}");
    assert_eq!(
        board["queues"][0]["eta_next_seconds"],
        stats["eta_next_seconds"]
    );
    assert_eq!(
        menu["queues"][0]["eta_next_seconds"],
        stats["eta_next_seconds"]
    );
    assert_eq!(
        menu["queues"][0]["eta_next_p90_seconds"],
        stats["eta_next_p90_seconds"]
    );
}
