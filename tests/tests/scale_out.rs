//! Several `smartqueue-server` processes on one PostgreSQL database, as behind a load balancer:
//! a call made through one instance reaches a screen connected to the other exactly once and in
//! order; call-next split across both never gives a ticket twice; numbers stay gap-free; the
//! instance running the scheduled jobs killed with SIGKILL hands them over.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use smartqueue_tests::Api;
use smartqueue_tests::load::{ServerProcess, create_tenant, server_bin};
use smartqueue_tests::pg::PgDatabase;
use tokio_tungstenite::tungstenite::Message;

/// Two instances on a fresh database with tenant `scale`.
async fn two_instances() -> (PgDatabase, ServerProcess, ServerProcess) {
    let db = PgDatabase::create().await;
    let bin = server_bin();
    create_tenant(&bin, &db.url, "scale");
    let a = ServerProcess::serve(&bin, &db.url, "scale").await;
    let b = ServerProcess::serve(&bin, &db.url, "scale").await;
    (db, a, b)
}

/// The same caller, talking to another instance.
fn via(api: &Api, server: &ServerProcess) -> Api {
    Api {
        base: server.base.clone(),
        ..api.clone()
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn socket(server: &ServerProcess, path: &str) -> Ws {
    let url = format!("ws://{}/ws/tenants/{path}", server.addr);
    tokio_tungstenite::connect_async(url).await.expect("ws").0
}

/// The next event (skipping `live` and pings), or None when nothing comes within `wait`.
async fn event(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("JSON frame");
                if v["type"] != "live" {
                    return Some(v);
                }
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_one_instance_reaches_a_screen_on_the_other_once_and_in_order() {
    let (_db, a, b) = two_instances().await;
    let admin = a.admin().await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@scale.test", &[&q]).await;
    let qid = q["id"].as_str().unwrap();
    // A waiting-room display paired through A, its socket on the other instance.
    let display = admin
        .pair(
            "displays",
            &json!({"site_id": q["site_id"], "name": "Hall", "queue_ids": [qid]}),
        )
        .await;
    let did = display.doc["id"].as_str().unwrap();
    let mut screen = socket(
        &b,
        &format!("scale/displays/{did}/?token={}", display.api.token),
    )
    .await;
    let mut staff = socket(&b, &format!("scale/?token={}", admin.token)).await;
    let mut latencies = Vec::new();
    for i in 0..10 {
        // Half the tickets through B, half through A: the log interleaves both instances.
        let issuer = if i % 2 == 0 {
            via(&admin, &b)
        } else {
            admin.clone()
        };
        issuer
            .post(&issuer.t("tickets/"), &json!({"queue_id": qid}))
            .await
            .expect(201);
    }
    for _ in 0..10 {
        let sent = Instant::now();
        let called = agent
            .post(&agent.t("agents/call-next/"), &json!({}))
            .await
            .expect(200);
        loop {
            let Some(e) = event(&mut screen, Duration::from_secs(5)).await else {
                let mut got = Vec::new();
                while let Some(e) = event(&mut staff, Duration::from_millis(300)).await {
                    got.push(format!("{} {}", e["seq"], e["type"]));
                }
                panic!(
                    "the call did not reach the screen on the other instance; B's staff socket had: {got:?}"
                );
            };
            if e["type"] == "ticket.called" {
                latencies.push(sent.elapsed());
                assert_eq!(e["data"]["display"]["number"], called["ticket"]["number"]);
                break;
            }
        }
        let id = called["ticket"]["id"].as_str().unwrap();
        agent.serve_and_close(id).await;
    }
    // The staff socket on B saw every event of the tenant once, in seq order without a gap.
    let mut seqs = Vec::new();
    // Until the log is quiet (the other instance's events come through the database).
    while let Some(e) = event(&mut staff, Duration::from_secs(2)).await {
        if e["type"] != "hello" {
            seqs.push(e["seq"].as_i64().unwrap());
        }
    }
    assert!(
        seqs.len() >= 40,
        "10 created, 10 called, started, closed: {seqs:?}"
    );
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "once each, in order, no gap: {seqs:?}"
    );
    // And resuming from any instance replays the same log.
    let mut resumed = socket(
        &a,
        &format!("scale/?token={}&since={}", admin.token, seqs[0] - 1),
    )
    .await;
    let mut replayed = Vec::new();
    while replayed.len() < seqs.len() {
        let e = event(&mut resumed, Duration::from_secs(5))
            .await
            .expect("replay");
        if e["type"] != "hello" {
            replayed.push(e["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(replayed, seqs);
    latencies.sort();
    println!(
        "call on A → screen on B: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies.last().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_and_calls_split_across_two_instances_stay_unique_and_gap_free() {
    let (_db, a, b) = two_instances().await;
    let admin = a.admin().await;
    let q = admin.queue("A", "fifo").await;
    let qid = q["id"].as_str().unwrap().to_owned();
    // 60 tickets issued at once, through both instances.
    let creates = (0..60).map(|i| {
        let api = if i % 2 == 0 {
            admin.clone()
        } else {
            via(&admin, &b)
        };
        let qid = qid.clone();
        async move {
            api.post(&api.t("tickets/"), &json!({"queue_id": qid}))
                .await
                .expect(201)
        }
    });
    let created = futures::future::join_all(creates).await;
    let mut numbers: Vec<i64> = created
        .iter()
        .map(|t| t["sequence"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=60).collect::<Vec<_>>(), "unique and gap-free");
    // Six agents, three calling through each instance, all at once until the queue is empty.
    let mut agents = Vec::new();
    for i in 0..6 {
        let agent = admin.agent(&format!("a{i}@scale.test"), &[&q]).await;
        agents.push(if i % 2 == 0 { agent } else { via(&agent, &b) });
    }
    let calls = agents.into_iter().map(|agent| async move {
        let mut mine = Vec::new();
        loop {
            let r = agent.post(&agent.t("agents/call-next/"), &json!({})).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            if r.body["ticket"].is_null() {
                return mine; // nothing left waiting
            }
            let id = r.body["ticket"]["id"].as_str().unwrap().to_owned();
            agent.serve_and_close(&id).await;
            mine.push(id);
        }
    });
    let served: Vec<Vec<String>> = futures::future::join_all(calls).await;
    let all: Vec<&String> = served.iter().flatten().collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        60,
        "every ticket served: {:?}",
        served.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(distinct.len(), 60, "no ticket given to two agents");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_leader_killed_hands_over_to_the_other_instance() {
    let (_db, a, b) = two_instances().await;
    async fn jobs(s: &ServerProcess) -> String {
        let url = format!("{}/api/v1/health/", s.base);
        match reqwest::get(url).await {
            Ok(r) => r.json::<Value>().await.unwrap_or_default()["jobs"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            Err(_) => String::new(),
        }
    }
    let mut servers = vec![a, b];
    // One leader, the other on standby.
    let deadline = Instant::now() + Duration::from_secs(15);
    let leader = loop {
        let (x, y) = (jobs(&servers[0]).await, jobs(&servers[1]).await);
        match (x.as_str(), y.as_str()) {
            ("leader", "standby") => break 0,
            ("standby", "leader") => break 1,
            _ => {}
        }
        assert!(Instant::now() < deadline, "no single leader: {x} / {y}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut killed = servers.remove(leader);
    killed.kill();
    let at = Instant::now();
    let standby = &servers[0];
    while jobs(standby).await != "leader" {
        assert!(
            at.elapsed() < Duration::from_secs(30),
            "the jobs were not taken over within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("jobs taken over {:?} after SIGKILL", at.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_sent_to_both_instances_at_once_makes_one_ticket() {
    let (_db, a, b) = two_instances().await;
    let admin = a.admin().await;
    let q = admin.queue("A", "fifo").await;
    let on_b = via(&admin, &b);
    for round in 0..10 {
        let key = format!("kiosk-retry-{round}");
        let body = json!({"queue_id": q["id"]});
        let (url_a, url_b) = (admin.t("tickets/"), on_b.t("tickets/"));
        let (x, y) = tokio::join!(
            admin.post_idem(&url_a, &body, &key),
            on_b.post_idem(&url_b, &body, &key)
        );
        assert_eq!(
            (x.status.as_u16(), y.status.as_u16()),
            (201, 201),
            "{:?} / {:?}",
            x.body,
            y.body
        );
        assert_eq!(x.body["id"], y.body["id"], "round {round}: the same ticket");
    }
    let list = admin.get(&admin.t("tickets/?limit=100")).await.expect(200);
    assert_eq!(list["count"], 10, "one ticket per key");
}

/// Each instance's writer remembers what it wrote (queue settings, counters, line lengths,
/// tickets) and trusts it only while nobody else wrote: whatever one instance changes, the
/// other's next write starts from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_instance_changes_the_other_writes_on() {
    let (_db, a, b) = two_instances().await;
    let on_a = a.admin().await;
    let on_b = via(&on_a, &b);
    let q = on_a.queue("A", "fifo").await;
    let qid = q["id"].as_str().unwrap().to_owned();
    let queue_url = format!("queues/{qid}/");
    let create = |api: &Api| {
        let (api, qid) = (api.clone(), qid.clone());
        async move {
            api.post(&api.t("tickets/"), &json!({"queue_id": qid}))
                .await
        }
    };
    // A remembers the open queue; B closes it: A refuses the next ticket.
    let first = create(&on_a).await.expect(201);
    on_b.patch(&on_b.t(&queue_url), &json!({"is_active": false}))
        .await
        .expect(200);
    let refused = create(&on_a).await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "queue_closed");
    on_b.patch(&on_b.t(&queue_url), &json!({"is_active": true}))
        .await
        .expect(200);
    // Numbers and positions follow whichever instance issued the last one.
    let mut tickets = vec![first];
    for api in [&on_a, &on_b, &on_a, &on_b] {
        tickets.push(create(api).await.expect(201));
    }
    let seqs: Vec<i64> = tickets
        .iter()
        .map(|t| t["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "gap-free across instances");
    let positions: Vec<i64> = tickets
        .iter()
        .map(|t| t["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
    // B calls the first and cancels the last; A's next ticket stands behind the three left.
    let agent = on_a.agent("agent@scale.test", &[&q]).await;
    let called = via(&agent, &b)
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    assert_eq!(called["ticket"]["sequence"], 1);
    on_b.act(tickets[4]["id"].as_str().unwrap(), "cancel").await;
    let next = create(&on_a).await.expect(201);
    assert_eq!(next["sequence"], 6);
    assert_eq!(next["position"], 4, "behind tickets 2, 3 and 4: {next}");
    // A starts serving the ticket B called: it must see it called, by this agent (a ticket A
    // still remembered waiting could not start).
    let serving = agent
        .act(called["ticket"]["id"].as_str().unwrap(), "start_service")
        .await;
    assert_eq!(serving["status"], "in_service", "{serving}");
}
