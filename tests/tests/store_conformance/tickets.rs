//! Numbering, calling order, calls, idempotency and failed writes.

use super::*;

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
    let c1 = call_next(store.as_ref(), t, agent1, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c1.ticket.number, "A002");
    assert!(matches!(
        call_next(store.as_ref(), t, agent1, now).await,
        Err(StoreError::Conflict {
            code: "agent_busy",
            ..
        })
    ));
    let c2 = call_next(store.as_ref(), t, agent2, now)
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
        call_next(store.as_ref(), t, agent1, now)
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

/// A system actor's call-next for `agent`.
async fn call_next(
    store: &dyn Store,
    tenant: Uuid,
    agent: Uuid,
    at: chrono::DateTime<Utc>,
) -> Result<Option<smartqueue_server::store::PlacedTicket>, StoreError> {
    service::tickets::call_next(store, tenant, agent, None, None, &Actor::system(), at).await
}
