//! The demo tenant: two branches, four services and queues (one per algorithm, plus a second
//! FIFO), counters, a manager, three agents, customers, yesterday's served tickets (so
//! statistics and ETAs are meaningful) and a few customers waiting now.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use smartqueue_core::lifecycle::Action;
use smartqueue_core::{
    AgentStatus, Channel, Counter, Customer, Id, NotificationPreferences, Priority, Queue,
    QueueAlgorithm, Role, Service, Site,
};
use uuid::Uuid;

use crate::auth::hash_password;
use crate::service;
use crate::store::{Actor, Kind, NewTicket, NewUser, Store, StoreError, StoreResult};

/// A login printed at start-up.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub role: &'static str,
    pub email: String,
    pub password: &'static str,
}

fn hash(p: &str) -> StoreResult<String> {
    hash_password(p).map_err(|e| StoreError::Invalid(e.detail))
}

async fn put<T: serde::Serialize>(
    store: &dyn Store,
    tenant: Id,
    kind: Kind,
    id: Id,
    v: &T,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    service::entities::create(
        store,
        tenant,
        kind,
        id,
        serde_json::to_value(v)?,
        &Actor::system(),
        now,
    )
    .await
}

/// Creates tenant `slug` with its admin; with `demo`, fills it with the demo data. Returns the
/// logins to print.
pub async fn create_tenant(
    store: &dyn Store,
    name: &str,
    slug: &str,
    admin_email: &str,
    admin_password: &str,
    demo: bool,
) -> StoreResult<Vec<DemoLogin>> {
    let now = Utc::now();
    let tenant = service::tenants::create(store, name, slug, now).await?;
    let t = tenant.id;
    let sys = Actor::system();
    let user = |email: &str, pw: &str, first: &str, last: &str| -> StoreResult<NewUser> {
        Ok(NewUser {
            email: email.into(),
            password_hash: hash(pw)?,
            first_name: first.into(),
            last_name: last.into(),
            is_superuser: false,
        })
    };
    crate::service::members::add(
        store,
        t,
        user(admin_email, admin_password, "Admin", name)?,
        Role::Admin,
        &sys,
        now,
    )
    .await?;
    let mut logins = vec![DemoLogin {
        role: "admin",
        email: admin_email.into(),
        password: "(as given)",
    }];
    if !demo {
        return Ok(logins);
    }
    let domain = admin_email
        .split('@')
        .nth(1)
        .unwrap_or("example.com")
        .to_owned();

    let site = |name: &str, address: &str, tz: &str| Site {
        id: Uuid::new_v4(),
        tenant_id: t,
        name: name.into(),
        address: address.into(),
        latitude: None,
        longitude: None,
        timezone: tz.into(),
        opening_hours: Vec::new(),
        created_at: now,
    };
    let paris = site(
        "Paris Opéra",
        "12 boulevard Haussmann, 75009 Paris",
        "Europe/Paris",
    );
    let lyon = site(
        "Lyon Part-Dieu",
        "5 rue de la Villette, 69003 Lyon",
        "Europe/Paris",
    );
    for s in [&paris, &lyon] {
        put(store, t, Kind::Site, s.id, s, now).await?;
    }
    let service = |name: &str, desc: &str, secs: u32| Service {
        id: Uuid::new_v4(),
        tenant_id: t,
        name: name.into(),
        description: desc.into(),
        default_service_seconds: secs,
        is_active: true,
        created_at: now,
    };
    let services = [
        service("Accounts", "Open or change an account", 300),
        service("Loans", "Loan and mortgage advice", 900),
        service("Cash & cheques", "Deposits and withdrawals", 180),
        service("Cards", "Lost cards, PIN, limits", 240),
    ];
    for s in &services {
        put(store, t, Kind::Service, s.id, s, now).await?;
    }
    let queue =
        |site: &Site, svc: &Service, name: &str, prefix: &str, alg: QueueAlgorithm, sla: u32| {
            Queue {
                id: Uuid::new_v4(),
                tenant_id: t,
                site_id: site.id,
                service_id: svc.id,
                name: name.into(),
                prefix: prefix.into(),
                algorithm: alg,
                sla_target_seconds: sla,
                max_wait_seconds: 1800,
                max_length: Some(500),
                is_active: true,
                created_at: now,
            }
        };
    let queues = [
        queue(
            &paris,
            &services[0],
            "Accounts",
            "A",
            QueueAlgorithm::Fifo,
            900,
        ),
        queue(
            &paris,
            &services[1],
            "Loans",
            "L",
            QueueAlgorithm::Priority,
            1800,
        ),
        queue(
            &lyon,
            &services[2],
            "Cash & cheques",
            "C",
            QueueAlgorithm::Sla,
            600,
        ),
        queue(&lyon, &services[3], "Cards", "K", QueueAlgorithm::Fifo, 900),
    ];
    for q in &queues {
        put(store, t, Kind::Queue, q.id, q, now).await?;
    }
    let mut counters = Vec::new();
    for (site, n) in [(&paris, 3), (&lyon, 2)] {
        for i in 1..=n {
            let c = Counter {
                id: Uuid::new_v4(),
                tenant_id: t,
                site_id: site.id,
                name: format!("Guichet {i}"),
                number: Some(i),
                is_active: true,
                created_at: now,
            };
            put(store, t, Kind::Counter, c.id, &c, now).await?;
            counters.push(c);
        }
    }
    let customers = [
        ("Camille Martin", "+33 6 12 34 56 78"),
        ("Lucas Bernard", "+33 6 98 76 54 32"),
        ("Emma Petit", "+33 7 11 22 33 44"),
        ("Hugo Durand", "+33 6 55 44 33 22"),
        ("Léa Moreau", "+33 7 66 77 88 99"),
    ];
    for (name, phone) in customers {
        let c = Customer {
            id: Uuid::new_v4(),
            tenant_id: t,
            name: name.into(),
            phone: Some(phone.into()),
            email: None,
            language: "fr".into(),
            notification_preferences: NotificationPreferences {
                sms: true,
                ..Default::default()
            },
            created_at: now,
        };
        put(store, t, Kind::Customer, c.id, &c, now).await?;
    }

    let manager_email = format!("manager@{domain}");
    crate::service::members::add(
        store,
        t,
        user(&manager_email, "manager123", "Marie", "Lefèvre")?,
        Role::Manager,
        &sys,
        now,
    )
    .await?;
    logins.push(DemoLogin {
        role: "manager",
        email: manager_email,
        password: "manager123",
    });
    // Agent i sits at counter i and serves the queues of that site.
    let mut agents = Vec::new();
    for (i, (first, last, counter, qs)) in [
        (
            "Paul",
            "Girard",
            &counters[0],
            vec![queues[0].id, queues[1].id],
        ),
        (
            "Sophie",
            "Roux",
            &counters[1],
            vec![queues[0].id, queues[1].id],
        ),
        (
            "Karim",
            "Benali",
            &counters[3],
            vec![queues[2].id, queues[3].id],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("agent{}@{domain}", i + 1);
        let m = crate::service::members::add(
            store,
            t,
            user(&email, "agent123", first, last)?,
            Role::Agent,
            &sys,
            now,
        )
        .await?;
        let mut a = m.agent.ok_or(StoreError::NotFound("agent"))?;
        a.counter_id = Some(counter.id);
        a.queue_ids = qs;
        let doc = serde_json::to_value(&a)?;
        service::entities::update(
            store,
            t,
            Kind::Agent,
            a.id,
            Arc::new(move |_| Ok(doc.clone())),
            &sys,
            now,
        )
        .await?;
        agents.push(a);
        logins.push(DemoLogin {
            role: "agent",
            email,
            password: "agent123",
        });
    }

    // Yesterday 09:00–17:00 UTC: arrivals every few minutes, served by the agents.
    let yesterday = now - Duration::days(1);
    let day_start = yesterday
        .date_naive()
        .and_hms_opt(8, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(yesterday);
    let mut rng_state: u64 = 0x5eed;
    let mut rnd = move |lo: i64, hi: i64| {
        rng_state = rng_state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + ((rng_state >> 33) as i64) % (hi - lo + 1)
    };
    for agent in &agents {
        crate::service::agents::set_status(
            store,
            t,
            agent.id,
            AgentStatus::Available,
            &sys,
            day_start,
        )
        .await?;
    }
    for agent in &agents {
        let mut clock = day_start;
        for _ in 0..18 {
            let arrive = clock + Duration::seconds(rnd(0, 120));
            let qid = agent.queue_ids[rnd(0, agent.queue_ids.len() as i64 - 1) as usize];
            let prio = if rnd(0, 9) == 0 {
                Priority::Vip
            } else {
                Priority::Normal
            };
            let new = NewTicket {
                queue_id: qid,
                priority: prio,
                channel: Channel::Kiosk,
                customer_id: None,
                customer_name: None,
                customer_phone: None,
                offline: None,
                issued_by: None,
            };
            let placed = crate::service::tickets::create(store, t, new, None, &sys, arrive).await?;
            let call_at = arrive + Duration::seconds(rnd(60, 600));
            let Some(called) = crate::service::tickets::call_next(
                store,
                t,
                agent.id,
                Some(vec![qid]),
                None,
                &sys,
                call_at,
            )
            .await?
            else {
                continue;
            };
            let id = called.ticket.id;
            let start = call_at + Duration::seconds(rnd(20, 90));
            crate::service::tickets::act(store, t, id, Action::StartService, None, &sys, start)
                .await?;
            let service_secs = (queues
                .iter()
                .find(|q| q.id == qid)
                .map(|q| q.sla_target_seconds / 3)
                .unwrap_or(300)) as i64;
            let end = start + Duration::seconds(rnd(service_secs / 2, service_secs * 3 / 2));
            crate::service::tickets::act(store, t, id, Action::Close, None, &sys, end).await?;
            clock = end;
            let _ = placed;
        }
        crate::service::agents::set_status(store, t, agent.id, AgentStatus::Offline, &sys, clock)
            .await?;
    }
    // A few customers waiting right now.
    for q in &queues {
        for (k, (name, _)) in customers.iter().take(3).enumerate() {
            let new = NewTicket {
                queue_id: q.id,
                priority: if k == 2 && q.algorithm == QueueAlgorithm::Priority {
                    Priority::Elderly
                } else {
                    Priority::Normal
                },
                channel: if k % 2 == 0 {
                    Channel::Kiosk
                } else {
                    Channel::Web
                },
                customer_id: None,
                customer_name: Some((*name).into()),
                customer_phone: None,
                offline: None,
                issued_by: None,
            };
            crate::service::tickets::create(
                store,
                t,
                new,
                None,
                &sys,
                now - Duration::minutes(10 - 3 * k as i64),
            )
            .await?;
        }
    }
    Ok(logins)
}

/// The demo tenant's logins (fixed by [`create_tenant`] for `admin@demo-bank.com`).
pub fn standard_logins() -> Vec<DemoLogin> {
    vec![
        DemoLogin {
            role: "admin",
            email: "admin@demo-bank.com".into(),
            password: "admin123",
        },
        DemoLogin {
            role: "manager",
            email: "manager@demo-bank.com".into(),
            password: "manager123",
        },
        DemoLogin {
            role: "agent",
            email: "agent1@demo-bank.com".into(),
            password: "agent123",
        },
        DemoLogin {
            role: "agent",
            email: "agent2@demo-bank.com".into(),
            password: "agent123",
        },
        DemoLogin {
            role: "agent",
            email: "agent3@demo-bank.com".into(),
            password: "agent123",
        },
    ]
}
