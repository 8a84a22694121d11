//! Moving a deployment from SQLite to PostgreSQL: `smartqueue-server migrate-data` copies every
//! table row for row, refuses a target that holds data, and the server carries on from the copy
//! where it stopped — the next number, the next event seq, the same tracking links and logins.

use serde_json::json;
use smartqueue_server::store::copy::{dump_postgres, dump_sqlite};
use smartqueue_tests::load::server_bin;
use smartqueue_tests::pg::PgDatabase;
use smartqueue_tests::{Api, Database, TestServer};

fn migrate_data(from: &str, to: &str) -> std::process::Output {
    std::process::Command::new(server_bin())
        .args(["migrate-data", "--from", from, "--to", to])
        .output()
        .expect("run migrate-data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_moves_to_postgres_and_carries_on_where_it_stopped() {
    // A day of work on SQLite: tickets served and waiting, an agent, a tracking link.
    let server = TestServer::start_on(Database::Sqlite(tempfile::tempdir().unwrap())).await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    for _ in 0..5 {
        admin
            .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
            .await
            .expect(201);
    }
    for _ in 0..2 {
        let called = agent
            .post(&agent.t("agents/call-next/"), &json!({}))
            .await
            .expect(200);
        agent
            .serve_and_close(called["ticket"]["id"].as_str().unwrap())
            .await;
    }
    let waiting = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    assert_eq!(waiting["number"], "A006");
    let token = waiting["tracking_token"].as_str().unwrap().to_owned();
    let tenant = server.store.tenant_by_slug("bank").await.unwrap().unwrap();
    let last_seq = server.store.last_event_seq(tenant.id).await.unwrap();
    assert!(last_seq > 10);
    let down = server.crash().await;
    let source = down.database().url();
    let path = source.trim_start_matches("sqlite://").to_owned();

    // The copy is equal to its source, every table row for row.
    let target = PgDatabase::create().await;
    let out = migrate_data(&source, &target.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (from, to) = (
        dump_sqlite(std::path::Path::new(&path)).unwrap(),
        dump_postgres(&target.url).await.unwrap(),
    );
    assert_eq!(
        from.keys().collect::<Vec<_>>(),
        to.keys().collect::<Vec<_>>()
    );
    for (table, rows) in &from {
        assert_eq!(rows, &to[table], "table {table}");
    }
    assert!(from["tickets"].len() == 6 && from["events"].len() as i64 == last_seq);

    // A second copy into the same database is refused, and changes nothing.
    let again = migrate_data(&source, &target.url);
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("already holds data"), "{said}");
    assert_eq!(dump_postgres(&target.url).await.unwrap(), to);

    // The server continues on PostgreSQL: same logins, next number, next seq, same link.
    let server = TestServer::start_on(Database::Postgres(target)).await;
    let admin = Api::login(&server.url(), "admin@bank.test", "password123").await;
    let agent = Api {
        tenant: "bank".into(),
        ..Api::login(&server.url(), "agent@bank.test", "agentpass1").await
    };
    let next = admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    assert_eq!(next["number"], "A007");
    assert_eq!(
        server.store.last_event_seq(tenant.id).await.unwrap(),
        last_seq + 1,
        "the event log goes on from the copied seq"
    );
    let tracked: serde_json::Value = reqwest::get(format!(
        "{}/api/v1/public/tenants/bank/tickets/{token}/",
        server.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(tracked["number"], "A006");
    let called = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    assert_eq!(
        called["ticket"]["number"], "A003",
        "the line kept its order"
    );
}
