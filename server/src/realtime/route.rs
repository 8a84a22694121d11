//! Which channel receives which event, and what each kind of listener may see of it: one pure
//! function, [`route`], tested below over every event type × channel kind.

use smartqueue_core::Id;
use smartqueue_core::event::Event;

/// What a connection listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Everything of the tenant (staff consoles).
    Tenant,
    Queue(Id),
    Ticket(Id),
    Agent(Id),
    /// A display's own feed: ticket events of its queues, and its configuration.
    Display(Id),
    /// A kiosk's own feed: ticket events of its queues (lengths, ETA), and its configuration.
    Kiosk(Id),
}

/// Who is listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// A member of the tenant's staff (any channel of the tenant).
    Staff,
    /// A display or kiosk in a public place (its own channel only).
    Device,
    /// A customer with a ticket's tracking token (that ticket's channel only).
    Customer,
}

/// A subscription: a channel, its listener, and — for a device — the queues it shows (kept
/// current from its `*.updated` events by [`observe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub channel: Channel,
    pub viewer: Viewer,
    pub queues: Vec<Id>,
}

/// What a subscriber gets of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Not on this channel.
    Skip,
    /// The event as it is.
    Full,
    /// [`Event::public`]: no customer's name, phone or id, no staff notes.
    Public,
}

/// Whether `event` goes to `sub`, and in which form.
pub fn route(event: &Event, sub: &Subscriber) -> Delivery {
    let on_channel = match sub.channel {
        Channel::Tenant => true,
        Channel::Queue(q) => on_queue(event, q),
        Channel::Ticket(t) => event.ticket().is_some_and(|e| e.ticket.id == t),
        Channel::Agent(a) => match event {
            Event::AgentStatus(agent) => agent.id == a,
            other => other.ticket().is_some_and(|e| e.ticket.agent_id == Some(a)),
        },
        Channel::Display(id) => match event {
            Event::DisplayPaired(d) | Event::DisplayUpdated(d) => d.id == id,
            Event::DisplayRevoked(d) => d.id == id,
            other => shows(other, &sub.queues),
        },
        Channel::Kiosk(id) => match event {
            Event::KioskPaired(k) | Event::KioskUpdated(k) => k.id == id,
            Event::KioskRevoked(k) => k.id == id,
            other => shows(other, &sub.queues),
        },
    };
    match (on_channel, sub.viewer) {
        (false, _) => Delivery::Skip,
        (true, Viewer::Staff) => Delivery::Full,
        (true, Viewer::Device | Viewer::Customer) => Delivery::Public,
    }
}

/// A queue's channel: its tickets (and a ticket transferred away from it) and its estimates.
fn on_queue(event: &Event, q: Id) -> bool {
    match event {
        Event::QueueEta(e) => e.queue_id == q,
        Event::TicketTransferred(e) => {
            e.ticket.queue_id == q
                || e.ticket
                    .transfers
                    .last()
                    .is_some_and(|h| h.from_queue_id == q)
        }
        other => other.ticket().is_some_and(|e| e.ticket.queue_id == q),
    }
}

/// What a device shows of its queues: their ticket events and estimates.
fn shows(event: &Event, queues: &[Id]) -> bool {
    (matches!(event, Event::QueueEta(_)) || event.ticket().is_some())
        && queues.iter().any(|q| on_queue(event, *q))
}

/// What an event delivered to `sub` means for the session itself: a device's own `*.updated`
/// changes the queues it follows; its own `*.revoked` ends the session (`true`).
pub fn observe(event: &Event, sub: &mut Subscriber) -> bool {
    match (sub.channel, event) {
        (Channel::Display(id), Event::DisplayUpdated(d)) if d.id == id => {
            sub.queues = d.queue_ids.clone();
            false
        }
        (Channel::Kiosk(id), Event::KioskUpdated(k)) if k.id == id => {
            sub.queues = k.queue_ids.clone();
            false
        }
        (Channel::Display(id), Event::DisplayRevoked(d)) => d.id == id,
        (Channel::Kiosk(id), Event::KioskRevoked(k)) => k.id == id,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use smartqueue_core::event::{DeviceRef, QueueEta, TicketEvent};
    use smartqueue_core::{
        AgentProfile, AgentStatus, Display, Kiosk, Placement, Ticket, TicketStatus, TransferHop,
    };
    use uuid::Uuid;

    fn id(n: u128) -> Id {
        Uuid::from_u128(n)
    }
    const TENANT: u128 = 1;
    const Q1: u128 = 11;
    const Q2: u128 = 12;
    const Q3: u128 = 13;
    const T1: u128 = 21;
    const A1: u128 = 31;
    const D1: u128 = 41;
    const K1: u128 = 51;

    fn ticket(agent: bool) -> TicketEvent {
        let now = Utc::now();
        let mut t = Ticket::waiting(id(TENANT), id(Q1), "A001".into(), 1, now.date_naive(), now);
        t.id = id(T1);
        t.customer_name = Some("Ada".into());
        t.customer_phone = Some("+33 6 00 00 00 01".into());
        t.customer_id = Some(id(99));
        if agent {
            t.agent_id = Some(id(A1));
        }
        TicketEvent::new(t, Some(1))
    }

    fn display() -> Display {
        Display {
            id: id(D1),
            tenant_id: id(TENANT),
            site_id: id(2),
            name: "Hall".into(),
            queue_ids: vec![id(Q1)],
            language: "fr".into(),
            layout: "landscape".into(),
            message: String::new(),
            is_paired: true,
            last_seen_at: None,
            created_at: Utc::now(),
        }
    }

    fn kiosk() -> Kiosk {
        Kiosk {
            id: id(K1),
            tenant_id: id(TENANT),
            site_id: id(2),
            name: "Door".into(),
            queue_ids: vec![id(Q1)],
            language: "fr".into(),
            printer: None,
            is_paired: true,
            last_seen_at: None,
            created_at: Utc::now(),
        }
    }

    /// One event of every type.
    fn every_event() -> Vec<Event> {
        let mut moved = ticket(true);
        moved.ticket.transfers.push(TransferHop {
            from_queue_id: id(Q2),
            to_queue_id: id(Q1),
            from_status: TicketStatus::InService,
            placement: Placement::Front,
            reason: Some("wrong desk".into()),
            by_agent_id: Some(id(A1)),
            at: Utc::now(),
        });
        let agent = AgentProfile {
            id: id(A1),
            tenant_id: id(TENANT),
            user_id: id(3),
            counter_id: None,
            status: AgentStatus::Available,
            queue_ids: vec![id(Q1)],
            current_ticket_id: None,
            status_changed_at: Utc::now(),
        };
        let served = ticket(true);
        vec![
            Event::TicketCreated(ticket(false)),
            Event::TicketCalled(served.clone()),
            Event::TicketRecalled(served.clone()),
            Event::TicketStarted(served.clone()),
            Event::TicketClosed(served.clone()),
            Event::TicketPaused(served.clone()),
            Event::TicketResumed(served.clone()),
            Event::TicketTransferred(moved),
            Event::TicketNoShow(served.clone()),
            Event::TicketCancelled(served),
            Event::AgentStatus(agent),
            Event::QueueEta(QueueEta {
                queue_id: id(Q1),
                waiting: 1,
                eta_next_seconds: Some(300),
                eta_next_p90_seconds: Some(500),
                active_agents: 1,
            }),
            Event::DisplayPaired(display()),
            Event::DisplayUpdated(display()),
            Event::DisplayRevoked(DeviceRef { id: id(D1) }),
            Event::KioskPaired(kiosk()),
            Event::KioskUpdated(kiosk()),
            Event::KioskRevoked(DeviceRef { id: id(K1) }),
        ]
    }

    /// The subscribers of the table's columns.
    fn subscribers() -> Vec<(&'static str, Subscriber)> {
        let sub = |channel, viewer, queues: &[u128]| Subscriber {
            channel,
            viewer,
            queues: queues.iter().map(|q| id(*q)).collect(),
        };
        use Viewer::*;
        vec![
            ("tenant", sub(Channel::Tenant, Staff, &[])),
            ("queue Q1", sub(Channel::Queue(id(Q1)), Staff, &[])),
            (
                "queue Q2 (transferred from)",
                sub(Channel::Queue(id(Q2)), Staff, &[]),
            ),
            ("queue Q3", sub(Channel::Queue(id(Q3)), Staff, &[])),
            ("ticket T1, staff", sub(Channel::Ticket(id(T1)), Staff, &[])),
            (
                "ticket T1, customer",
                sub(Channel::Ticket(id(T1)), Customer, &[]),
            ),
            ("another ticket", sub(Channel::Ticket(id(22)), Staff, &[])),
            ("agent A1", sub(Channel::Agent(id(A1)), Staff, &[])),
            ("another agent", sub(Channel::Agent(id(32)), Staff, &[])),
            (
                "display D1 of Q1",
                sub(Channel::Display(id(D1)), Device, &[Q1]),
            ),
            (
                "another display, of Q3",
                sub(Channel::Display(id(42)), Device, &[Q3]),
            ),
            ("kiosk K1 of Q1", sub(Channel::Kiosk(id(K1)), Device, &[Q1])),
            (
                "another kiosk, of Q3",
                sub(Channel::Kiosk(id(52)), Device, &[Q3]),
            ),
        ]
    }

    /// Every event type × every channel kind: F = full event, P = public view, - = not sent.
    #[test]
    fn every_event_type_reaches_exactly_its_channels_in_the_right_form() {
        //                         ten Q1 Q2 Q3 T1 T1c Tx A1 Ax D1 Dx K1 Kx
        let table: [(&str, &str); 18] = [
            ("ticket.created", "F  F  -  -  F  P   -  -  -  P  -  P  -"),
            ("ticket.called", "F  F  -  -  F  P   -  F  -  P  -  P  -"),
            ("ticket.recalled", "F  F  -  -  F  P   -  F  -  P  -  P  -"),
            ("ticket.started", "F  F  -  -  F  P   -  F  -  P  -  P  -"),
            ("ticket.closed", "F  F  -  -  F  P   -  F  -  P  -  P  -"),
            ("ticket.paused", "F  F  -  -  F  P   -  F  -  P  -  P  -"),
            ("ticket.resumed", "F  F  -  -  F  P   -  F  -  P  -  P  -"),
            (
                "ticket.transferred",
                "F  F  F  -  F  P   -  F  -  P  -  P  -",
            ),
            ("ticket.no_show", "F  F  -  -  F  P   -  F  -  P  -  P  -"),
            ("ticket.cancelled", "F  F  -  -  F  P   -  F  -  P  -  P  -"),
            ("agent.status", "F  -  -  -  -  -   -  F  -  -  -  -  -"),
            ("queue.eta", "F  F  -  -  -  -   -  -  -  P  -  P  -"),
            ("display.paired", "F  -  -  -  -  -   -  -  -  P  -  -  -"),
            ("display.updated", "F  -  -  -  -  -   -  -  -  P  -  -  -"),
            ("display.revoked", "F  -  -  -  -  -   -  -  -  P  -  -  -"),
            ("kiosk.paired", "F  -  -  -  -  -   -  -  -  -  -  P  -"),
            ("kiosk.updated", "F  -  -  -  -  -   -  -  -  -  -  P  -"),
            ("kiosk.revoked", "F  -  -  -  -  -   -  -  -  -  -  P  -"),
        ];
        let events = every_event();
        assert_eq!(events.len(), Event::KINDS.len(), "one event of every type");
        let subs = subscribers();
        for event in &events {
            let (_, row) = table
                .iter()
                .find(|(k, _)| *k == event.kind())
                .unwrap_or_else(|| panic!("{} is missing from the table", event.kind()));
            let want: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(want.len(), subs.len());
            for ((name, sub), want) in subs.iter().zip(want) {
                let got = match route(event, sub) {
                    Delivery::Skip => "-",
                    Delivery::Full => "F",
                    Delivery::Public => {
                        let sent: serde_json::Value =
                            serde_json::from_str(&event.public().data_json().unwrap()).unwrap();
                        for private in
                            ["customer_name", "customer_phone", "customer_id", "agent_id"]
                        {
                            assert!(
                                sent.get(private).is_none(),
                                "{} to {name}: {sent}",
                                event.kind()
                            );
                        }
                        for hop in sent["transfers"].as_array().into_iter().flatten() {
                            assert!(
                                hop["reason"].is_null() && hop["by_agent_id"].is_null(),
                                "{sent}"
                            );
                        }
                        "P"
                    }
                };
                assert_eq!(got, want, "{} on {name}", event.kind());
            }
        }
    }

    #[test]
    fn a_device_follows_its_own_configuration_and_ends_on_its_own_revocation() {
        let mut sub = Subscriber {
            channel: Channel::Display(id(D1)),
            viewer: Viewer::Device,
            queues: vec![id(Q1)],
        };
        let mut moved = display();
        moved.queue_ids = vec![id(Q3)];
        assert!(!observe(&Event::DisplayUpdated(moved), &mut sub));
        assert_eq!(sub.queues, vec![id(Q3)]);
        assert_eq!(
            route(&Event::TicketCreated(ticket(false)), &sub),
            Delivery::Skip
        );
        assert!(!observe(
            &Event::KioskRevoked(DeviceRef { id: id(D1) }),
            &mut sub
        ));
        assert!(!observe(
            &Event::DisplayRevoked(DeviceRef { id: id(42) }),
            &mut sub
        ));
        assert!(observe(
            &Event::DisplayRevoked(DeviceRef { id: id(D1) }),
            &mut sub
        ));
    }
}
