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
