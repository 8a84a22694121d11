//! The console's commands against a real server: sign-in kept in a secret store, restart
//! straight into work, silent refresh, sign-out, tenant choice, the agent's actions, and
//! errors as sentences.

use std::sync::Arc;

use serde_json::json;
use smartqueue_desktop::console::{Console, Keyring, MemorySecrets, SecretStore};
use smartqueue_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_a_restart_in_the_keyring_and_ends_with_sign_out() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    admin.agent("agent@bank.test", &[&q]).await;
    let secrets = Arc::new(MemorySecrets::default());
    let console = Console::new(Box::new(secrets.clone()));
    let wrong = console
        .sign_in(&server.url(), "agent@bank.test", "nope-nope", None)
        .await
        .unwrap_err();
    assert_eq!(wrong.message, "Wrong e-mail or password.");
    let bad_url = console
        .sign_in("localhost:1", "a@b.c", "x", None)
        .await
        .unwrap_err();
    assert_eq!(bad_url.field.as_deref(), Some("server"));
    let signed = console
        .sign_in(&server.url(), "agent@bank.test", "agentpass1", None)
        .await
        .unwrap();
    assert_eq!(
        (signed.tenant.as_deref(), signed.role.as_deref()),
        (Some("bank"), Some("agent"))
    );
    assert!(signed.agent_id.is_some());
    let kept = secrets.load().unwrap().expect("session kept");
    assert!(!kept.contains("agentpass1"), "the password is never stored");

    // "Restart": a new console with the same keyring goes straight to work.
    let again = Console::new(Box::new(secrets.clone()));
    let restored = again.restore().await.unwrap().expect("restored");
    assert_eq!(restored.email, "agent@bank.test");
    again.agent().await.unwrap();
    // The refresh token rotated: the first console's copy is spent, and presenting it
    // revokes the whole session (a stolen copy is useless).
    let rotated = secrets.load().unwrap().unwrap();
    assert_ne!(rotated, kept);

    again.sign_out().unwrap();
    assert_eq!(secrets.load().unwrap(), None);
    assert_eq!(
        Console::new(Box::new(secrets.clone()))
            .restore()
            .await
            .unwrap(),
        None
    );
    let gone = again.agent().await.unwrap_err();
    assert_eq!(gone.message, "Sign in first.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_calls_serves_and_is_told_plainly_what_went_wrong() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    admin.agent("agent@bank.test", &[&q]).await;
    let console = Console::new(Box::new(MemorySecrets::default()));
    console
        .sign_in(&server.url(), "agent@bank.test", "agentpass1", Some("bank"))
        .await
        .unwrap();
    assert_eq!(console.call_next().await.unwrap(), None, "nobody waiting");
    for _ in 0..2 {
        admin
            .post(
                &admin.t("tickets/"),
                &json!({"queue_id": q["id"], "customer_name": "Jeanne"}),
            )
            .await
            .expect(201);
    }
    let t = console.call_next().await.unwrap().expect("a ticket");
    assert_eq!(t["number"], "A001");
    let busy = console.call_next().await.unwrap_err();
    assert_eq!(busy.code, "agent_busy");
    assert!(
        busy.message.starts_with("You are already serving A001"),
        "{}",
        busy.message
    );
    let view = console.agent().await.unwrap();
    assert_eq!(view["ticket"]["number"], "A001");
    let id = t["id"].as_str().unwrap();
    let bad = console.act(id, "close", None).await.unwrap_err();
    assert_eq!(bad.code, "invalid_transition");
    assert!(
        bad.message
            .starts_with("Cannot close a ticket that is called"),
        "{}",
        bad.message
    );
    console.act(id, "start_service", None).await.unwrap();
    assert_eq!(
        console.act(id, "close", None).await.unwrap()["status"],
        "closed"
    );
    assert!(console.act(id, "explode", None).await.is_err());
    assert_eq!(
        console.set_status("break").await.unwrap()["status"],
        "break"
    );

    // Server unreachable: a sentence, not a code.
    drop(server);
    let down = console.agent().await.unwrap_err();
    assert_eq!(down.code, "network");
    assert!(down.message.starts_with("The server cannot be reached"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_of_two_tenants_chooses_and_switches() {
    let server = TestServer::start().await;
    let bank = server.tenant("bank").await;
    let clinic = server.tenant("clinic").await;
    // The bank's admin also becomes a manager of the clinic.
    let email = bank.user["email"].as_str().unwrap().to_owned();
    clinic
        .post(
            &clinic.t("members/"),
            &json!({"email": email, "password": "whatever12", "role": "manager"}),
        )
        .await
        .expect(201);
    let console = Console::new(Box::new(MemorySecrets::default()));
    let signed = console
        .sign_in(&server.url(), &email, "password123", None)
        .await
        .unwrap();
    let mut slugs: Vec<&str> = signed.tenants.iter().map(|t| t.slug.as_str()).collect();
    slugs.sort();
    assert_eq!(slugs, ["bank", "clinic"]);
    let switched = console.switch_tenant("clinic").await.unwrap();
    assert_eq!(
        (switched.tenant.as_deref(), switched.role.as_deref()),
        (Some("clinic"), Some("manager"))
    );
    let queues = console.request("GET", "queues/", None).await.unwrap();
    assert_eq!(queues["count"], 0, "now working in the clinic");
}

/// The real OS keyring (kernel keyutils here): set, read back, remove.
#[test]
fn the_system_keyring_keeps_and_forgets_the_session() {
    let k = Keyring::new(format!("test-{}", std::process::id()));
    k.save("{\"refresh\":\"r\"}").expect("keyring available");
    assert_eq!(k.load().unwrap().as_deref(), Some("{\"refresh\":\"r\"}"));
    k.clear().unwrap();
    assert_eq!(k.load().unwrap(), None);
    k.clear().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_pairs_a_screen_by_its_code_and_revokes_it_from_the_console() {
    use smartqueue_core::client::ApiClient;
    use smartqueue_core::device::{DeviceMode, PollOutcome};
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let console = Console::new(Box::new(MemorySecrets::default()));
    console
        .sign_in(&server.url(), "admin@bank.test", "password123", None)
        .await
        .unwrap();
    // The screen asks for a code, as the display app does.
    let device = ApiClient::new(server.url());
    let code = device.start_pairing(DeviceMode::Display).await.unwrap();
    let body = json!({"site_id": q["site_id"], "name": "Hall", "queue_ids": [q["id"]], "layout": "portrait"});
    let d = console
        .request("POST", "displays/", Some(body))
        .await
        .unwrap();
    let id = d["id"].as_str().unwrap();
    let wrong = console
        .request(
            "POST",
            &format!("displays/{id}/pair/"),
            Some(json!({"code": "ZZZ-ZZZ"})),
        )
        .await
        .unwrap_err();
    assert_eq!(wrong.code, "invalid_pairing_code");
    let blank = console
        .request(
            "POST",
            "displays/",
            Some(json!({"site_id": q["site_id"], "name": " ", "queue_ids": [q["id"]]})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        blank.field.as_deref(),
        Some("name"),
        "the form shows it next to the field"
    );
    let paired = console
        .request(
            "POST",
            &format!("displays/{id}/pair/"),
            Some(json!({"code": code.code.to_lowercase()})),
        )
        .await
        .unwrap();
    assert_eq!(paired["is_paired"], true);
    assert!(matches!(
        device.poll_pairing(&code).await.unwrap(),
        PollOutcome::Paired(_)
    ));
    let revoked = console
        .request("POST", &format!("displays/{id}/revoke/"), Some(json!({})))
        .await
        .unwrap();
    assert_eq!(revoked["is_paired"], false);
    // A deletion answers 204 with no body.
    assert_eq!(
        console
            .request("DELETE", &format!("displays/{id}/"), None)
            .await
            .unwrap(),
        serde_json::Value::Null
    );
}

/// The waiting list the console shows is the calling order: for a priority queue and an SLA
/// queue served by one agent, its first line is exactly the ticket call-next then gives, every
/// time, and each line's place and wait are the server's own (`position`, `eta_seconds`). The
/// floor comes in one request and shows the agent with the ticket they hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_list_is_the_order_call_next_follows_and_the_floor_is_one_request() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let p = admin.queue("P", "priority").await;
    let s = admin.queue("S", "sla").await;
    admin
        .patch(
            &admin.t(&format!("queues/{}/", s["id"].as_str().unwrap())),
            &json!({"sla_target_seconds": 60}),
        )
        .await
        .expect(200);
    admin.agent("agent@bank.test", &[&p, &s]).await;
    // Arrival order P001 P002 S001 P003(vip) P004(elderly); calling order differs.
    for (q, priority) in [
        (&p, "normal"),
        (&p, "normal"),
        (&s, "normal"),
        (&p, "vip"),
        (&p, "elderly"),
    ] {
        admin
            .post(
                &admin.t("tickets/"),
                &json!({"queue_id": q["id"], "priority": priority}),
            )
            .await
            .expect(201);
    }
    let console = Console::new(Box::new(MemorySecrets::default()));
    console
        .sign_in(&server.url(), "agent@bank.test", "agentpass1", None)
        .await
        .unwrap();
    let mut called = Vec::new();
    loop {
        let counter = console.counter().await.unwrap();
        let list = console.waiting_list(&counter).await.unwrap();
        for row in &list {
            let t = admin
                .get(&admin.t(&format!("tickets/{}/", row.id)))
                .await
                .expect(200);
            assert_eq!(Some(row.place), t["position"].as_u64().map(|n| n as u32));
            assert_eq!(
                row.wait_seconds,
                t["eta_seconds"].as_u64().map(|n| n as u32),
                "{}: the server's estimate",
                row.number
            );
        }
        let Some(next) = console.call_next().await.unwrap() else {
            assert!(list.is_empty(), "call-next found nobody: the list is empty");
            break;
        };
        assert_eq!(
            next["id"].as_str(),
            list.first().map(|r| r.id.to_string()).as_deref(),
            "the first line is what call-next gave"
        );
        let number = next["number"].as_str().unwrap().to_owned();
        if called.is_empty() {
            // The manager's floor: every queue, and the agent with the ticket they hold.
            let manager = Console::new(Box::new(MemorySecrets::default()));
            manager
                .sign_in(&server.url(), "admin@bank.test", "password123", None)
                .await
                .unwrap();
            let floor = manager.floor().await.unwrap();
            assert_eq!(floor.queues.len(), 2);
            let waiting: u32 = floor.queues.iter().map(|q| q.waiting).sum();
            assert_eq!(waiting, 4);
            let held: Vec<_> = floor
                .agents
                .iter()
                .filter_map(|a| a.ticket_number.as_deref())
                .collect();
            assert_eq!(held, [number.as_str()]);
        }
        called.push(number);
        let id = next["id"].as_str().unwrap();
        console.act(id, "start_service", None).await.unwrap();
        console.act(id, "close", None).await.unwrap();
    }
    // The VIP first, the SLA ticket by its 60 s deadline, the elderly within 10 min, then the
    // normal ones: not the arrival order.
    assert_eq!(called, ["P003", "S001", "P004", "P001", "P002"]);
}
