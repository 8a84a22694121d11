//! The PostgreSQL writer's sent writes (statements it does not wait for): a job whose sent write
//! fails is told so — never a success whose write was lost — and the jobs committed with it keep
//! theirs.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use smartqueue_server::Store;
use smartqueue_server::store::postgres::PgStore;
use smartqueue_server::store::tx::transact;
use smartqueue_server::store::{Kind, StoreError};
use smartqueue_tests::pg::PgDatabase;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sent_write_fails_its_job_alone() {
    let db = PgDatabase::create().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&db.url).await.unwrap());
    let tenant = smartqueue_server::service::tenants::create(&*store, "T", "t", Utc::now())
        .await
        .unwrap();
    for round in 0..5 {
        let (good, bad) = (Uuid::new_v4(), Uuid::new_v4());
        let doc = json!({"round": round});
        let (d1, d2, d3) = (doc.clone(), doc.clone(), doc.clone());
        // The same batch: a document of the tenant, and documents of a tenant that does not
        // exist (the foreign key fails, in a write the job does not wait for) — the job ending
        // right after that write, and a job reading after it.
        let (ok, refused, refused_then_read) = tokio::join!(
            transact(&*store, move |tx| tx.put_entity(
                tenant.id,
                Kind::Site,
                good,
                &d1,
                Utc::now()
            )),
            transact(&*store, move |tx| tx.put_entity(
                Uuid::new_v4(),
                Kind::Site,
                bad,
                &d2,
                Utc::now()
            )),
            transact(&*store, move |tx| {
                tx.put_entity(Uuid::new_v4(), Kind::Site, bad, &d3, Utc::now())?;
                tx.tenant_slug(tenant.id).map(drop)
            })
        );
        ok.unwrap();
        for r in [&refused, &refused_then_read] {
            assert!(
                matches!(r, Err(StoreError::Backend(m)) if m.contains("foreign key")),
                "round {round}: {r:?}"
            );
        }
        assert_eq!(
            store.get_entity(tenant.id, Kind::Site, good).await.unwrap(),
            Some(doc),
            "round {round}: the other job's write is kept"
        );
    }
}

/// The writer's connection dies between two writes (the database restarted, a network cut, an
/// operator's `pg_terminate_backend`): the writes waiting then are told they failed — none is
/// reported done and lost — and the next ones go through a new connection, starting from what
/// the database holds (the writer forgets what it remembered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_reconnects_after_its_connection_is_killed() {
    use smartqueue_server::store::postgres::WRITER_NAME;
    let db = PgDatabase::create().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&db.url).await.unwrap());
    let tenant = smartqueue_server::service::tenants::create(&*store, "T", "t", Utc::now())
        .await
        .unwrap();
    let put = |round: u32| {
        let store = store.clone();
        async move {
            let id = Uuid::new_v4();
            let doc = json!({"round": round});
            let d = doc.clone();
            let r = transact(&*store, move |tx| {
                tx.put_entity(tenant.id, Kind::Site, id, &d, Utc::now())
            })
            .await;
            (id, doc, r)
        }
    };
    let (id, doc, r) = put(0).await;
    r.unwrap();
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let killed = client
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = $1",
            &[&WRITER_NAME],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(killed, 1, "one writer connection");
    // Until the writer is back, a write may fail; it must then not be there.
    let mut landed = None;
    for round in 1..50 {
        let (id, doc, r) = put(round).await;
        let stored = store.get_entity(tenant.id, Kind::Site, id).await.unwrap();
        match r {
            Ok(()) => {
                assert_eq!(stored, Some(doc));
                landed = Some(round);
                break;
            }
            Err(_) => assert_eq!(stored, None, "a failed write left nothing"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(landed.is_some(), "the writer came back");
    assert_eq!(
        store.get_entity(tenant.id, Kind::Site, id).await.unwrap(),
        Some(doc),
        "what was written before is kept"
    );
    // A new connection, named again.
    let writers = client
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            &[&WRITER_NAME],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(writers, 1);
}
