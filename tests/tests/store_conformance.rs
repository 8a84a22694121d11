//! Conformance suite of the storage interface. Every backend runs the same tests through the
//! `conformance!` macro; a backend only supplies how to open a fresh store.

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use smartqueue_core::lifecycle::Action;
use smartqueue_core::{
    AgentStatus, Channel, Priority, Queue, QueueAlgorithm, Role, Site, TicketStatus,
};
use smartqueue_server::store::{
    Actor, ClaimOutcome, DeviceKind, IdempotencyKey, Kind, NewPairing, NewTicket, NewUser,
    RefreshOutcome, RefreshRecord, Store, StoreError, TicketFilter,
};
use uuid::Uuid;

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
    let t = store.create_tenant(slug, slug, now).await.unwrap();
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
    store
        .create_entity(
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
    store
        .create_entity(
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
    store
        .update_entity(
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

pub async fn tenants_and_users(store: Arc<dyn Store>) {
    let now = Utc::now();
    let t = store.create_tenant("Acme", "acme", now).await.unwrap();
    assert!(matches!(
        store.create_tenant("Other", "acme", now).await,
        Err(StoreError::Conflict {
            code: "slug_taken",
            ..
        })
    ));
    assert_eq!(
        store.tenant_by_slug("acme").await.unwrap().unwrap().id,
        t.id
    );
    assert!(store.tenant_by_slug("nope").await.unwrap().is_none());
    let m = smartqueue_server::service::members::add(
        &*store,
        t.id,
        user("Ann@Acme.test"),
        Role::Manager,
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        m.user.email, "ann@acme.test",
        "e-mails are stored lower-case"
    );
    let (u, hash) = store
        .user_credentials("ANN@acme.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((u.id, hash.as_str()), (m.user.id, "x"));
    // A second tenant links the same user instead of creating another.
    let t2 = store.create_tenant("Beta", "beta", now).await.unwrap();
    let linked = smartqueue_server::service::members::add(
        &*store,
        t2.id,
        user("ann@acme.test"),
        Role::Agent,
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    assert!(linked.existing_user && linked.user.id == m.user.id && linked.agent.is_some());
    let ms = store.memberships(m.user.id).await.unwrap();
    assert_eq!(
        ms.iter()
            .map(|m| (m.tenant_slug.as_str(), m.role))
            .collect::<Vec<_>>(),
        vec![("acme", Role::Manager), ("beta", Role::Agent)]
    );
    assert!(ms[1].agent_id.is_some());
    assert!(matches!(
        smartqueue_server::service::members::add(
            &*store,
            t.id,
            user("ann@acme.test"),
            Role::Agent,
            &Actor::system(),
            now
        )
        .await,
        Err(StoreError::Conflict {
            code: "already_member",
            ..
        })
    ));
}

pub async fn refresh_tokens(store: Arc<dyn Store>) {
    let now = Utc::now();
    let u = smartqueue_server::service::members::create_user(&*store, user("r@x.test"), now)
        .await
        .unwrap();
    let rec = |hash: &str| RefreshRecord {
        token_hash: hash.into(),
        family_id: Uuid::new_v4(),
        user_id: u.id,
        tenant_id: None,
        expires_at: now + Duration::days(1),
    };
    store.save_refresh(rec("h1")).await.unwrap();
    assert_eq!(
        store.rotate_refresh("h1", rec("h2"), now).await.unwrap(),
        RefreshOutcome::Rotated {
            user_id: u.id,
            tenant_id: None
        }
    );
    assert_eq!(
        store.rotate_refresh("h1", rec("h3"), now).await.unwrap(),
        RefreshOutcome::Reused
    );
    assert_eq!(
        store.rotate_refresh("h2", rec("h4"), now).await.unwrap(),
        RefreshOutcome::Invalid,
        "family revoked"
    );
    assert_eq!(
        store
            .rotate_refresh("unknown", rec("h5"), now)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    let mut old = rec("h6");
    old.expires_at = now - Duration::seconds(1);
    store.save_refresh(old).await.unwrap();
    assert_eq!(
        store.rotate_refresh("h6", rec("h7"), now).await.unwrap(),
        RefreshOutcome::Invalid,
        "expired"
    );
}

pub async fn entities_are_tenant_scoped(store: Arc<dyn Store>) {
    let (a, qa) = setup(store.as_ref(), "a", QueueAlgorithm::Fifo).await;
    let (b, _) = setup(store.as_ref(), "b", QueueAlgorithm::Fifo).await;
    assert!(
        store
            .get_entity(a, Kind::Queue, qa.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_entity(b, Kind::Queue, qa.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store
            .delete_entity(b, Kind::Queue, qa.id, &Actor::system(), Utc::now())
            .await,
        Err(StoreError::NotFound(_))
    ));
    let page = store.list_entities(a, Kind::Queue, 10, 0).await.unwrap();
    assert_eq!((page.count, page.results.len()), (1, 1));
    // A site in use by a queue cannot be deleted; the queue can, then the site.
    assert!(matches!(
        store
            .delete_entity(a, Kind::Site, qa.site_id, &Actor::system(), Utc::now())
            .await,
        Err(StoreError::Conflict { code: "in_use", .. })
    ));
    store
        .delete_entity(a, Kind::Queue, qa.id, &Actor::system(), Utc::now())
        .await
        .unwrap();
    store
        .delete_entity(a, Kind::Site, qa.site_id, &Actor::system(), Utc::now())
        .await
        .unwrap();
    let audit = store.audit_logs(a, 100, 0).await.unwrap();
    let actions: Vec<&str> = audit.results.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"queue.delete") && actions.contains(&"site.create"),
        "{actions:?}"
    );
    assert!(
        store
            .audit_logs(b, 100, 0)
            .await
            .unwrap()
            .results
            .iter()
            .all(|e| e.tenant_id == b)
    );
}

pub async fn numbering_positions_and_calls(store: Arc<dyn Store>) {
    let (t, q) = setup(store.as_ref(), "t", QueueAlgorithm::Priority).await;
    let now = Utc::now();
    let normal = smartqueue_server::service::tickets::create(
        &*store,
        t,
        ticket(&q, Priority::Normal),
        None,
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    let vip = smartqueue_server::service::tickets::create(
        &*store,
        t,
        ticket(&q, Priority::Vip),
        None,
        &Actor::system(),
        now + Duration::seconds(5),
    )
    .await
    .unwrap();
    assert_eq!(
        (normal.ticket.number.as_str(), vip.ticket.number.as_str()),
        ("A001", "A002")
    );
    assert_eq!(
        (normal.position, vip.position),
        (Some(1), Some(1)),
        "the VIP goes ahead"
    );
    assert_eq!(
        store
            .ticket(t, normal.ticket.id)
            .await
            .unwrap()
            .unwrap()
            .position,
        Some(2)
    );
    let agent1 = agent(store.as_ref(), t, "a1@t.test", &q).await;
    let agent2 = agent(store.as_ref(), t, "a2@t.test", &q).await;
    let c1 = smartqueue_server::service::tickets::call_next(
        &*store,
        t,
        agent1,
        None,
        None,
        &Actor::system(),
        now,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(c1.ticket.number, "A002");
    assert!(matches!(
        smartqueue_server::service::tickets::call_next(
            &*store,
            t,
            agent1,
            None,
            None,
            &Actor::system(),
            now
        )
        .await,
        Err(StoreError::Conflict {
            code: "agent_busy",
            ..
        })
    ));
    let c2 = smartqueue_server::service::tickets::call_next(
        &*store,
        t,
        agent2,
        None,
        None,
        &Actor::system(),
        now,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(c2.ticket.number, "A001");
    act(store.as_ref(), t, c1.ticket.id, Action::StartService, now).await;
    let closed = act(
        store.as_ref(),
        t,
        c1.ticket.id,
        Action::Close,
        now + Duration::seconds(90),
    )
    .await;
    assert_eq!(closed.ticket.status, TicketStatus::Closed);
    assert_eq!(
        store.recent_service_times(t, q.id, 10).await.unwrap(),
        vec![90.0]
    );
    assert!(
        smartqueue_server::service::tickets::call_next(
            &*store,
            t,
            agent1,
            None,
            None,
            &Actor::system(),
            now
        )
        .await
        .unwrap()
        .is_none(),
        "line empty"
    );
    let counts = store
        .queue_counts(t, q.id, closed.ticket.business_day, now)
        .await
        .unwrap();
    assert_eq!(
        (
            counts.waiting,
            counts.active,
            counts.served_today,
            counts.active_agents
        ),
        (0, 1, 1, 2)
    );
    assert_eq!(store.serving_agents(t, q.id).await.unwrap(), 2);
    // The day's ended tickets are counted by status.
    let gone = smartqueue_server::service::tickets::create(
        &*store,
        t,
        ticket(&q, Priority::Normal),
        None,
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    act(store.as_ref(), t, gone.ticket.id, Action::Cancel, now).await;
    let counts = store
        .queue_counts(t, q.id, closed.ticket.business_day, now)
        .await
        .unwrap();
    assert_eq!(
        (
            counts.served_today,
            counts.cancelled_today,
            counts.no_show_today
        ),
        (1, 1, 0)
    );
    let next_day = closed.ticket.business_day.succ_opt().unwrap();
    let counts = store.queue_counts(t, q.id, next_day, now).await.unwrap();
    assert_eq!(
        (counts.served_today, counts.cancelled_today),
        (0, 0),
        "another day"
    );
    smartqueue_server::service::agents::set_status(
        &*store,
        t,
        agent1,
        AgentStatus::Break,
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        store.serving_agents(t, q.id).await.unwrap(),
        1,
        "an agent on break serves nobody"
    );
    let list = store
        .list_tickets(
            t,
            TicketFilter {
                status: Some(TicketStatus::Closed),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(list.count, 1);
}

pub async fn idempotent_writes(store: Arc<dyn Store>) {
    let (t, q) = setup(store.as_ref(), "t", QueueAlgorithm::Fifo).await;
    let key = |fp: &str| {
        Some(IdempotencyKey {
            actor: "kiosk-1".into(),
            key: "k1".into(),
            fingerprint: fp.into(),
        })
    };
    let now = Utc::now();
    let first = smartqueue_server::service::tickets::create(
        &*store,
        t,
        ticket(&q, Priority::Normal),
        key("f"),
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    let again = smartqueue_server::service::tickets::create(
        &*store,
        t,
        ticket(&q, Priority::Normal),
        key("f"),
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(first, again);
    assert!(matches!(
        smartqueue_server::service::tickets::create(
            &*store,
            t,
            ticket(&q, Priority::Normal),
            key("other"),
            &Actor::system(),
            now
        )
        .await,
        Err(StoreError::Conflict {
            code: "idempotency_key_reused",
            ..
        })
    ));
    let n = store
        .list_tickets(
            t,
            TicketFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .count;
    assert_eq!(n, 1);
}

pub async fn failed_writes_leave_nothing_behind(store: Arc<dyn Store>) {
    let (t, q) = setup(store.as_ref(), "t", QueueAlgorithm::Fifo).await;
    let now = Utc::now();
    let mut missing = ticket(&q, Priority::Normal);
    missing.customer_id = Some(Uuid::new_v4());
    assert!(matches!(
        smartqueue_server::service::tickets::create(
            &*store,
            t,
            missing,
            None,
            &Actor::system(),
            now
        )
        .await,
        Err(StoreError::NotFound("customer"))
    ));
    // The failed create did not consume a number.
    let ok = smartqueue_server::service::tickets::create(
        &*store,
        t,
        ticket(&q, Priority::Normal),
        None,
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(ok.ticket.number, "A001");
    let bad = smartqueue_server::service::tickets::act(
        &*store,
        t,
        ok.ticket.id,
        Action::Close,
        None,
        &Actor::system(),
        now,
    )
    .await;
    assert!(matches!(bad, Err(StoreError::Transition(_))));
    assert_eq!(
        store
            .ticket(t, ok.ticket.id)
            .await
            .unwrap()
            .unwrap()
            .ticket
            .status,
        TicketStatus::Waiting
    );
    let _ = json!(null);
}

pub async fn device_pairing_tokens_and_revocation(store: Arc<dyn Store>) {
    let now = Utc::now();
    let (tenant, q) = setup(&*store, "dev", QueueAlgorithm::Fifo).await;
    let display = smartqueue_core::Display {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        site_id: q.site_id,
        name: "Hall".into(),
        queue_ids: vec![q.id],
        language: "fr".into(),
        layout: "landscape".into(),
        message: String::new(),
        is_paired: false,
        last_seen_at: None,
        created_at: now,
    };
    let doc = serde_json::to_value(&display).unwrap();
    store
        .create_entity(
            tenant,
            Kind::Display,
            display.id,
            doc,
            &Actor::system(),
            now,
        )
        .await
        .unwrap();
    let pairing = NewPairing {
        id: Uuid::now_v7(),
        code: "ABCDEF".into(),
        secret_hash: "s".into(),
        mode: DeviceKind::Display,
        expires_at: now + Duration::minutes(10),
    };
    assert!(store.start_pairing(pairing.clone(), now).await.unwrap());
    // The same code cannot be handed out twice while it is live.
    let twin = NewPairing {
        id: Uuid::now_v7(),
        ..pairing.clone()
    };
    assert!(!store.start_pairing(twin, now).await.unwrap());
    let claim = |secret: &str, token: &str| {
        store.claim_pairing(pairing.id, secret.into(), token.into(), now)
    };
    assert_eq!(claim("s", "t1").await.unwrap(), ClaimOutcome::Pending);
    assert!(matches!(
        claim("wrong", "t1").await,
        Err(StoreError::NotFound(_))
    ));
    // A kiosk cannot take a display's code.
    let wrong = store
        .pair_device(
            tenant,
            DeviceKind::Kiosk,
            display.id,
            "ABCDEF".into(),
            &Actor::system(),
            now,
        )
        .await;
    assert!(
        matches!(wrong, Err(StoreError::NotFound(_))),
        "no such kiosk"
    );
    let paired = store
        .pair_device(
            tenant,
            DeviceKind::Display,
            display.id,
            "ABCDEF".into(),
            &Actor::system(),
            now,
        )
        .await
        .unwrap();
    assert_eq!(paired["is_paired"], true);
    let ClaimOutcome::Paired(auth) = claim("s", "t1").await.unwrap() else {
        panic!("paired");
    };
    assert_eq!(
        (auth.tenant_id, auth.device_id, auth.kind),
        (tenant, display.id, DeviceKind::Display)
    );
    // Given once: the pairing is gone.
    assert!(matches!(
        claim("s", "t2").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.device_by_token("t1".into()).await.unwrap(),
        Some(auth)
    );
    assert_eq!(store.device_by_token("t2".into()).await.unwrap(), None);
    let head = store.last_event_seq(tenant).await.unwrap();
    let revoked = store
        .revoke_device(
            tenant,
            DeviceKind::Display,
            display.id,
            &Actor::system(),
            now,
        )
        .await
        .unwrap();
    assert_eq!(revoked["is_paired"], false);
    assert_eq!(store.device_by_token("t1".into()).await.unwrap(), None);
    let events = store.events_since(tenant, head, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event().kind()).collect::<Vec<_>>(),
        ["display.revoked"]
    );
    // An expired code is unknown.
    let old = NewPairing {
        id: Uuid::now_v7(),
        code: "GHJKMN".into(),
        secret_hash: "s".into(),
        mode: DeviceKind::Display,
        expires_at: now - Duration::seconds(1),
    };
    assert!(store.start_pairing(old, now).await.unwrap());
    let late = store
        .pair_device(
            tenant,
            DeviceKind::Display,
            display.id,
            "GHJKMN".into(),
            &Actor::system(),
            now,
        )
        .await;
    assert!(matches!(late, Err(StoreError::NotFound("pairing code"))));
}

pub async fn online_numbers_skip_blocks_leased_to_kiosks(store: Arc<dyn Store>) {
    let now = Utc::now();
    let (tenant, q) = setup(&*store, "lease", QueueAlgorithm::Fifo).await;
    let kiosk = smartqueue_core::Kiosk {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        site_id: q.site_id,
        name: "Door".into(),
        queue_ids: vec![q.id],
        language: "fr".into(),
        printer: None,
        is_paired: false,
        last_seen_at: None,
        created_at: now,
    };
    let doc = serde_json::to_value(&kiosk).unwrap();
    store
        .create_entity(tenant, Kind::Kiosk, kiosk.id, doc, &Actor::system(), now)
        .await
        .unwrap();
    let day = smartqueue_core::numbering::business_day(now, chrono_tz::Europe::Paris);
    let lease = store
        .lease_numbers(tenant, kiosk.id, q.id, day, now)
        .await
        .unwrap();
    assert_eq!((lease.first, lease.last), (5001, 5050));
    // A very busy day: the server's own numbers reach the leased block and jump over it.
    let mut numbers = Vec::new();
    let system = Actor::system();
    for _ in 0..51 {
        let batch = (0..100).map(|_| {
            smartqueue_server::service::tickets::create(
                &*store,
                tenant,
                ticket(&q, Priority::Normal),
                None,
                &system,
                now,
            )
        });
        for t in futures::future::join_all(batch).await {
            numbers.push(t.unwrap().ticket.sequence);
        }
    }
    numbers.sort_unstable();
    assert_eq!(numbers[4999], 5000);
    assert_eq!(&numbers[5000..5003], [5051, 5052, 5053]);
    // The next lease starts above everything issued.
    let next = store
        .lease_numbers(tenant, kiosk.id, q.id, day, now)
        .await
        .unwrap();
    assert_eq!(next.first, numbers.last().unwrap() + 1);
}

/// Generates one `#[tokio::test]` per conformance case for a backend.
macro_rules! conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;
            async fn open() -> (Arc<dyn Store>, Option<tempfile::TempDir>) {
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
    (store, Some(dir))
});
