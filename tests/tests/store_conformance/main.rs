//! Conformance suite of the storage interface. Every backend runs the same tests through the
//! `conformance!` macro; a backend only supplies how to open a fresh store. The cases drive the
//! service layer over the backend's repository, so they also pin that a backend only has to
//! implement the repository.

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use smartqueue_core::lifecycle::Action;
use smartqueue_core::{
    AgentStatus, Channel, Priority, Queue, QueueAlgorithm, Role, Site, TicketStatus,
};
use smartqueue_server::service;
use smartqueue_server::store::{
    Actor, ClaimOutcome, DeviceKind, IdempotencyKey, Kind, NewPairing, NewTicket, NewUser,
    RefreshOutcome, RefreshRecord, Store, StoreError, TicketFilter,
};
use uuid::Uuid;

mod accounts;
mod devices;
mod tickets;

use accounts::*;
use devices::*;
use tickets::*;

fn user(email: &str) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: "x".into(),
        first_name: "F".into(),
        last_name: "L".into(),
        is_superuser: false,
    }
}

/// A tenant with one site and one queue of `algorithm`.
async fn setup(store: &dyn Store, slug: &str, algorithm: QueueAlgorithm) -> (Uuid, Queue) {
    let now = Utc::now();
    let t = service::tenants::create(store, slug, slug, now)
        .await
        .unwrap();
    let site = Site {
        id: Uuid::new_v4(),
        tenant_id: t.id,
        name: "S".into(),
        address: String::new(),
        latitude: None,
        longitude: None,
        timezone: "Europe/Paris".into(),
        opening_hours: vec![],
        created_at: now,
    };
    service::entities::create(
        store,
        t.id,
        Kind::Site,
        site.id,
        serde_json::to_value(&site).unwrap(),
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    let q = Queue {
        id: Uuid::new_v4(),
        tenant_id: t.id,
        site_id: site.id,
        service_id: Uuid::new_v4(),
        name: "Q".into(),
        prefix: "A".into(),
        algorithm,
        sla_target_seconds: 600,
        max_wait_seconds: 600,
        max_length: None,
        is_active: true,
        created_at: now,
    };
    service::entities::create(
        store,
        t.id,
        Kind::Queue,
        q.id,
        serde_json::to_value(&q).unwrap(),
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    (t.id, q)
}

fn ticket(q: &Queue, priority: Priority) -> NewTicket {
    NewTicket {
        queue_id: q.id,
        priority,
        channel: Channel::Kiosk,
        customer_id: None,
        customer_name: None,
        customer_phone: None,
        offline: None,
        issued_by: None,
    }
}

/// A system actor's ticket action that must succeed.
async fn act(
    store: &dyn Store,
    tenant: Uuid,
    id: Uuid,
    action: Action,
    at: chrono::DateTime<Utc>,
) -> smartqueue_server::store::PlacedTicket {
    smartqueue_server::service::tickets::act(store, tenant, id, action, None, &Actor::system(), at)
        .await
        .unwrap()
}

async fn agent(store: &dyn Store, tenant: Uuid, email: &str, q: &Queue) -> Uuid {
    let now = Utc::now();
    let m = smartqueue_server::service::members::add(
        store,
        tenant,
        user(email),
        Role::Agent,
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    let mut a = m.agent.unwrap();
    a.queue_ids = vec![q.id];
    let doc = serde_json::to_value(&a).unwrap();
    service::entities::update(
        store,
        tenant,
        Kind::Agent,
        a.id,
        std::sync::Arc::new(move |_| Ok(doc.clone())),
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    smartqueue_server::service::agents::set_status(
        store,
        tenant,
        a.id,
        AgentStatus::Available,
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    a.id
}

/// What keeps a test's database alive until the test ends.
#[allow(dead_code)]
enum Guard {
    Sqlite(tempfile::TempDir),
    Postgres(smartqueue_tests::pg::PgDatabase),
}

/// Generates one `#[tokio::test]` per conformance case for a backend.
macro_rules! conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;
            async fn open() -> (Arc<dyn Store>, Guard) {
                $open
            }
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        let (store, _guard) = open().await;
                        super::$name(store).await;
                    }
                };
            }
            case!(tenants_and_users);
            case!(refresh_tokens);
            case!(entities_are_tenant_scoped);
            case!(numbering_positions_and_calls);
            case!(idempotent_writes);
            case!(failed_writes_leave_nothing_behind);
            case!(device_pairing_tokens_and_revocation);
            case!(online_numbers_skip_blocks_leased_to_kiosks);
        }
    };
}

conformance!(sqlite, {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(smartqueue_server::SqliteStore::open(dir.path().join("c.db")).unwrap());
    (store, Guard::Sqlite(dir))
});

conformance!(postgres, {
    let db = smartqueue_tests::pg::PgDatabase::create().await;
    let store: Arc<dyn Store> = Arc::new(
        smartqueue_server::store::postgres::PgStore::open(&db.url)
            .await
            .unwrap(),
    );
    (store, Guard::Postgres(db))
});
