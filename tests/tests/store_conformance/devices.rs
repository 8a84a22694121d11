//! Device pairing, tokens, revocation and number leases.

use super::*;

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
    service::entities::create(
        &*store,
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
    assert!(
        service::devices::start_pairing(&*store, pairing.clone(), now)
            .await
            .unwrap()
    );
    // The same code cannot be handed out twice while it is live.
    let twin = NewPairing {
        id: Uuid::now_v7(),
        ..pairing.clone()
    };
    assert!(
        !service::devices::start_pairing(&*store, twin, now)
            .await
            .unwrap()
    );
    let claim = |secret: &str, token: &str| {
        service::devices::claim(&*store, pairing.id, secret.into(), token.into(), now)
    };
    assert_eq!(claim("s", "t1").await.unwrap(), ClaimOutcome::Pending);
    assert!(matches!(
        claim("wrong", "t1").await,
        Err(StoreError::NotFound(_))
    ));
    // A kiosk cannot take a display's code.
    let wrong = service::devices::pair(
        &*store,
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
    let paired = service::devices::pair(
        &*store,
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
    let revoked = service::devices::revoke(
        &*store,
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
    assert!(
        service::devices::start_pairing(&*store, old, now)
            .await
            .unwrap()
    );
    let late = service::devices::pair(
        &*store,
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
    service::entities::create(
        &*store,
        tenant,
        Kind::Kiosk,
        kiosk.id,
        doc,
        &Actor::system(),
        now,
    )
    .await
    .unwrap();
    let day = smartqueue_core::numbering::business_day(now, chrono_tz::Europe::Paris);
    let lease = service::devices::lease_numbers(&*store, tenant, kiosk.id, q.id, day, now)
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
    let next = service::devices::lease_numbers(&*store, tenant, kiosk.id, q.id, day, now)
        .await
        .unwrap();
    assert_eq!(next.first, numbers.last().unwrap() + 1);
}
