//! Tenants, users, sessions and tenant-scoped configuration.

use super::*;

pub async fn tenants_and_users(store: Arc<dyn Store>) {
    let now = Utc::now();
    let t = service::tenants::create(&*store, "Acme", "acme", now)
        .await
        .unwrap();
    assert!(matches!(
        service::tenants::create(&*store, "Other", "acme", now).await,
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
    let t2 = service::tenants::create(&*store, "Beta", "beta", now)
        .await
        .unwrap();
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
    service::sessions::start(&*store, rec("h1")).await.unwrap();
    assert_eq!(
        service::sessions::rotate(&*store, "h1", rec("h2"), now)
            .await
            .unwrap(),
        RefreshOutcome::Rotated {
            user_id: u.id,
            tenant_id: None
        }
    );
    assert_eq!(
        service::sessions::rotate(&*store, "h1", rec("h3"), now)
            .await
            .unwrap(),
        RefreshOutcome::Reused
    );
    assert_eq!(
        service::sessions::rotate(&*store, "h2", rec("h4"), now)
            .await
            .unwrap(),
        RefreshOutcome::Invalid,
        "family revoked"
    );
    assert_eq!(
        service::sessions::rotate(&*store, "unknown", rec("h5"), now)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    let mut old = rec("h6");
    old.expires_at = now - Duration::seconds(1);
    service::sessions::start(&*store, old).await.unwrap();
    assert_eq!(
        service::sessions::rotate(&*store, "h6", rec("h7"), now)
            .await
            .unwrap(),
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
        service::entities::delete(&*store, b, Kind::Queue, qa.id, &Actor::system(), Utc::now())
            .await,
        Err(StoreError::NotFound(_))
    ));
    let page = store.list_entities(a, Kind::Queue, 10, 0).await.unwrap();
    assert_eq!((page.count, page.results.len()), (1, 1));
    // A site in use by a queue cannot be deleted; the queue can, then the site.
    assert!(matches!(
        service::entities::delete(
            &*store,
            a,
            Kind::Site,
            qa.site_id,
            &Actor::system(),
            Utc::now()
        )
        .await,
        Err(StoreError::Conflict { code: "in_use", .. })
    ));
    service::entities::delete(&*store, a, Kind::Queue, qa.id, &Actor::system(), Utc::now())
        .await
        .unwrap();
    service::entities::delete(
        &*store,
        a,
        Kind::Site,
        qa.site_id,
        &Actor::system(),
        Utc::now(),
    )
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
