//! The wire format of real-time events is pinned: `{seq, type, tenant, at, data}` with the same
//! payloads as before events were typed. A change here breaks every deployed display, kiosk and
//! console: it must be deliberate.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use smartqueue_core::announce::call_display;
use smartqueue_core::event::{DeviceRef, Envelope, Event, QueueEta, QueueLength, TicketEvent};
use smartqueue_core::{AgentProfile, AgentStatus, Display, Kiosk, Ticket};
use uuid::Uuid;

fn at() -> DateTime<Utc> {
    "2026-03-02T09:15:00Z".parse().unwrap()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn ticket() -> Ticket {
    let mut t = Ticket::waiting(
        id(1),
        id(2),
        "A042".into(),
        42,
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        at(),
    );
    t.id = id(3);
    t.tracking_token = "0123456789abcdef".into();
    t.customer_name = Some("Ada".into());
    t.customer_phone = Some("+33 6 00 00 00 01".into());
    t
}

/// The payload exactly as the untyped server built it: the ticket's JSON without its tracking
/// token, with `position`, then `queues` and `display` when present.
fn legacy_ticket_data(t: &Ticket, position: Option<u32>, extra: &[(&str, Value)]) -> Value {
    let mut v = serde_json::to_value(t).unwrap();
    let m = v.as_object_mut().unwrap();
    m.remove("tracking_token");
    m.insert("position".into(), json!(position));
    for (k, x) in extra {
        m.insert((*k).into(), x.clone());
    }
    v
}

fn envelope(event: Event) -> Envelope {
    Envelope {
        seq: 7,
        tenant: "bank".into(),
        at: at(),
        event,
    }
}

#[test]
fn the_envelope_keeps_its_fields_in_order() {
    let e = envelope(Event::QueueEta(QueueEta {
        queue_id: id(2),
        waiting: 3,
        eta_next_seconds: Some(450),
        eta_next_p90_seconds: Some(700),
        active_agents: 2,
    }));
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        concat!(
            r#"{"seq":7,"type":"queue.eta","tenant":"bank","at":"2026-03-02T09:15:00Z","#,
            r#""data":{"queue_id":"00000000-0000-0000-0000-000000000002","waiting":3,"#,
            r#""eta_next_seconds":450,"eta_next_p90_seconds":700,"active_agents":2}}"#
        )
    );
}

#[test]
fn every_event_type_has_its_legacy_payload_and_reads_back() {
    let t = ticket();
    let mut created = TicketEvent::new(t.clone(), Some(5));
    created.queues = vec![QueueLength {
        queue_id: id(2),
        waiting: 5,
    }];
    let mut called = TicketEvent::new(t.clone(), None);
    called.display = Some(call_display("A042", Some("Guichet 3"), "Accounts"));
    let agent = AgentProfile {
        id: id(4),
        tenant_id: id(1),
        user_id: id(5),
        counter_id: None,
        status: AgentStatus::Available,
        queue_ids: vec![id(2)],
        current_ticket_id: None,
        status_changed_at: at(),
    };
    let display = Display {
        id: id(6),
        tenant_id: id(1),
        site_id: id(7),
        name: "Hall".into(),
        queue_ids: vec![id(2)],
        language: "fr".into(),
        layout: "landscape".into(),
        message: String::new(),
        is_paired: true,
        last_seen_at: None,
        created_at: at(),
    };
    let kiosk = Kiosk {
        id: id(8),
        tenant_id: id(1),
        site_id: id(7),
        name: "Door".into(),
        queue_ids: vec![id(2)],
        language: "fr".into(),
        printer: None,
        is_paired: true,
        last_seen_at: None,
        created_at: at(),
    };
    let queues = json!([{"queue_id": id(2), "waiting": 5}]);
    let shown = serde_json::to_value(called.display.clone().unwrap()).unwrap();
    let cases: Vec<(Event, Value)> = vec![
        (
            Event::TicketCreated(created.clone()),
            legacy_ticket_data(&t, Some(5), &[("queues", queues.clone())]),
        ),
        (
            Event::TicketCalled(called.clone()),
            legacy_ticket_data(&t, None, &[("display", shown.clone())]),
        ),
        (
            Event::TicketRecalled(called),
            legacy_ticket_data(&t, None, &[("display", shown)]),
        ),
        (
            Event::TicketStarted(TicketEvent::new(t.clone(), None)),
            legacy_ticket_data(&t, None, &[]),
        ),
        (
            Event::TicketClosed(TicketEvent::new(t.clone(), None)),
            legacy_ticket_data(&t, None, &[]),
        ),
        (
            Event::TicketPaused(TicketEvent::new(t.clone(), None)),
            legacy_ticket_data(&t, None, &[]),
        ),
        (
            Event::TicketResumed(TicketEvent::new(t.clone(), None)),
            legacy_ticket_data(&t, None, &[]),
        ),
        (
            Event::TicketTransferred(created.clone()),
            legacy_ticket_data(&t, Some(5), &[("queues", queues.clone())]),
        ),
        (
            Event::TicketNoShow(TicketEvent::new(t.clone(), None)),
            legacy_ticket_data(&t, None, &[]),
        ),
        (
            Event::TicketCancelled(created),
            legacy_ticket_data(&t, Some(5), &[("queues", queues)]),
        ),
        (
            Event::AgentStatus(agent.clone()),
            serde_json::to_value(&agent).unwrap(),
        ),
        (
            Event::QueueEta(QueueEta {
                queue_id: id(2),
                waiting: 0,
                eta_next_seconds: None,
                eta_next_p90_seconds: None,
                active_agents: 0,
            }),
            json!({"queue_id": id(2), "waiting": 0, "eta_next_seconds": null,
                   "eta_next_p90_seconds": null, "active_agents": 0}),
        ),
        (
            Event::DisplayPaired(display.clone()),
            serde_json::to_value(&display).unwrap(),
        ),
        (
            Event::DisplayUpdated(display.clone()),
            serde_json::to_value(&display).unwrap(),
        ),
        (
            Event::DisplayRevoked(DeviceRef { id: id(6) }),
            json!({"id": id(6)}),
        ),
        (
            Event::KioskPaired(kiosk.clone()),
            serde_json::to_value(&kiosk).unwrap(),
        ),
        (
            Event::KioskUpdated(kiosk.clone()),
            serde_json::to_value(&kiosk).unwrap(),
        ),
        (
            Event::KioskRevoked(DeviceRef { id: id(8) }),
            json!({"id": id(8)}),
        ),
    ];
    let mut kinds: Vec<&str> = cases.iter().map(|(e, _)| e.kind()).collect();
    kinds.sort_unstable();
    let mut all = Event::KINDS.to_vec();
    all.sort_unstable();
    assert_eq!(kinds, all, "every event type is pinned here");
    for (event, data) in cases {
        let kind = event.kind();
        let wire: Value = serde_json::to_value(envelope(event.clone())).unwrap();
        assert_eq!(
            wire,
            json!({"seq": 7, "type": kind, "tenant": "bank", "at": "2026-03-02T09:15:00Z",
                   "data": data}),
            "{kind}"
        );
        assert!(
            wire["data"].get("tracking_token").is_none(),
            "{kind}: no tracking token on the wire"
        );
        let back: Envelope = serde_json::from_value(wire.clone()).unwrap();
        let mut expected = event;
        if let Some(t) = expected.ticket() {
            // The token never travels, so it does not come back.
            let mut t = t.clone();
            t.ticket.tracking_token = String::new();
            expected = Event::from_value(kind, serde_json::to_value(&t).unwrap()).unwrap();
        }
        assert_eq!(back.event, expected, "{kind} reads back");
        assert_eq!(
            Event::from_parts(kind, &expected.data_json().unwrap()).unwrap(),
            expected
        );
    }
}

#[test]
fn an_unknown_type_or_a_bad_payload_is_an_error_not_a_guess() {
    assert!(Event::from_parts("ticket.exploded", "{}").is_err());
    assert!(Event::from_parts("queue.eta", r#"{"queue_id": 3}"#).is_err());
}

#[test]
fn the_public_view_drops_customer_details_and_staff_notes() {
    let mut t = ticket();
    t.transfers.push(smartqueue_core::TransferHop {
        from_queue_id: id(9),
        to_queue_id: id(2),
        from_status: smartqueue_core::TicketStatus::InService,
        placement: smartqueue_core::Placement::Front,
        reason: Some("customer was rude".into()),
        by_agent_id: Some(id(4)),
        at: at(),
    });
    t.customer_id = Some(id(10));
    let e = Event::TicketTransferred(TicketEvent::new(t, Some(1)));
    let public = e.public();
    let data: Value = serde_json::from_str(&public.data_json().unwrap()).unwrap();
    for gone in ["customer_name", "customer_phone", "customer_id", "agent_id"] {
        assert!(data.get(gone).is_none(), "{gone}: {data}");
    }
    assert!(data["transfers"][0]["reason"].is_null());
    assert!(data["transfers"][0]["by_agent_id"].is_null());
    assert_eq!(data["number"], "A042");
    assert_eq!(
        e.queue_ids(),
        vec![id(2), id(9)],
        "a transfer concerns both queues"
    );
}
