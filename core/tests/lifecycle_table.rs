//! Walks the whole (status × action) table of the ticket state machine.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use smartqueue_core::lifecycle::{
    Action, ActionKind, HOP_HISTORY, MAX_TRANSFERS, TicketEventKind, Transfer, TransitionError,
    apply,
};
use smartqueue_core::{Lane, Placement, Ticket, TicketStatus};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

fn ticket(status: TicketStatus) -> Ticket {
    let mut t = Ticket::waiting(
        Uuid::new_v4(),
        Uuid::new_v4(),
        "A042".into(),
        42,
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        t0(),
    );
    t.tracking_token = "secret".into();
    t.status = status;
    if status.is_active() {
        t.agent_id = Some(Uuid::new_v4());
        t.called_at = Some(t0() + Duration::minutes(5));
    }
    if status == TicketStatus::Paused {
        t.paused_at = Some(t0() + Duration::minutes(7));
    }
    t
}

fn action(kind: ActionKind, target: Uuid) -> Action {
    match kind {
        ActionKind::Call => Action::Call {
            agent_id: Uuid::new_v4(),
            counter_id: Some(Uuid::new_v4()),
        },
        ActionKind::Recall => Action::Recall,
        ActionKind::StartService => Action::StartService,
        ActionKind::Close => Action::Close,
        ActionKind::Pause => Action::Pause,
        ActionKind::Resume => Action::Resume,
        ActionKind::Transfer => Action::Transfer(Transfer {
            to_queue_id: target,
            limit: MAX_TRANSFERS,
            placement: Placement::End,
            reason: Some("needs a specialist".into()),
            by_agent_id: None,
        }),
        ActionKind::MarkNoShow => Action::MarkNoShow,
        ActionKind::Cancel => Action::Cancel,
    }
}

/// The expected table, written out independently of the implementation.
fn expected(status: TicketStatus, kind: ActionKind) -> Option<(TicketStatus, TicketEventKind)> {
    use ActionKind as A;
    use TicketEventKind as E;
    use TicketStatus as S;
    Some(match (status, kind) {
        (S::Waiting, A::Call) => (S::Called, E::Called),
        (S::Waiting, A::Transfer) => (S::Waiting, E::Transferred),
        (S::Waiting, A::Cancel) => (S::Cancelled, E::Cancelled),
        (S::Called, A::Recall) => (S::Called, E::Recalled),
        (S::Called, A::StartService) => (S::InService, E::Started),
        (S::Called, A::Transfer) => (S::Waiting, E::Transferred),
        (S::Called, A::MarkNoShow) => (S::NoShow, E::NoShow),
        (S::InService, A::Close) => (S::Closed, E::Closed),
        (S::InService, A::Pause) => (S::Paused, E::Paused),
        (S::InService, A::Transfer) => (S::Waiting, E::Transferred),
        (S::Paused, A::Resume) => (S::InService, E::Resumed),
        _ => return None,
    })
}

#[test]
fn every_status_action_pair_is_allowed_or_refused_as_specified() {
    let mut allowed = 0;
    let mut refused = 0;
    for &status in TicketStatus::ALL {
        for kind in ActionKind::ALL {
            let before = ticket(status);
            let target = Uuid::new_v4();
            let now = t0() + Duration::minutes(10);
            let result = apply(&before, action(kind, target), now);
            match (expected(status, kind), result) {
                (Some((to, event)), Ok(tr)) => {
                    allowed += 1;
                    assert_eq!(tr.from, status);
                    assert_eq!(tr.ticket.status, to, "{status} --{kind}-->");
                    assert_eq!(tr.event, event, "{status} --{kind}-->");
                    assert_eq!(
                        tr.ticket.id, before.id,
                        "an action never changes the ticket's identity"
                    );
                    assert_eq!(tr.ticket.number, before.number);
                    assert_eq!(tr.ticket.tracking_token, before.tracking_token);
                    assert_eq!(tr.ticket.updated_at, now);
                }
                (None, Err(e)) => {
                    refused += 1;
                    assert_eq!(
                        e,
                        TransitionError::NotAllowed {
                            action: kind,
                            status
                        }
                    );
                    assert_eq!(e.code(), "invalid_transition");
                    assert!(
                        e.to_string().contains(status.as_str()),
                        "message names the status: {e}"
                    );
                }
                (exp, got) => panic!("{status} --{kind}--> expected {exp:?}, got {got:?}"),
            }
        }
    }
    assert_eq!((allowed, refused), (11, 52), "7 statuses x 9 actions");
}

#[test]
fn terminal_statuses_refuse_everything() {
    for status in [
        TicketStatus::Closed,
        TicketStatus::NoShow,
        TicketStatus::Cancelled,
    ] {
        assert!(status.is_terminal());
        for kind in ActionKind::ALL {
            assert!(apply(&ticket(status), action(kind, Uuid::new_v4()), t0()).is_err());
        }
    }
}

#[test]
fn call_records_agent_counter_and_time() {
    let agent = Uuid::new_v4();
    let counter = Uuid::new_v4();
    let now = t0() + Duration::minutes(3);
    let tr = apply(
        &ticket(TicketStatus::Waiting),
        Action::Call {
            agent_id: agent,
            counter_id: Some(counter),
        },
        now,
    )
    .unwrap();
    assert_eq!(tr.ticket.agent_id, Some(agent));
    assert_eq!(tr.ticket.counter_id, Some(counter));
    assert_eq!(tr.ticket.called_at, Some(now));
    assert_eq!(tr.ticket.waited_seconds(now), 180);
}

#[test]
fn recall_counts_and_keeps_first_call_time() {
    let t = ticket(TicketStatus::Called);
    let first = t.called_at;
    let r1 = apply(&t, Action::Recall, t0() + Duration::minutes(6))
        .unwrap()
        .ticket;
    let r2 = apply(&r1, Action::Recall, t0() + Duration::minutes(7))
        .unwrap()
        .ticket;
    assert_eq!(r2.recall_count, 2);
    assert_eq!(r2.called_at, first);
    assert_eq!(r2.last_called_at, Some(t0() + Duration::minutes(7)));
}

#[test]
fn pauses_are_excluded_from_service_time() {
    let t = ticket(TicketStatus::Called);
    let s = apply(&t, Action::StartService, t0() + Duration::minutes(6))
        .unwrap()
        .ticket;
    let p = apply(&s, Action::Pause, t0() + Duration::minutes(8))
        .unwrap()
        .ticket;
    let r = apply(&p, Action::Resume, t0() + Duration::minutes(11))
        .unwrap()
        .ticket;
    let c = apply(&r, Action::Close, t0() + Duration::minutes(12))
        .unwrap()
        .ticket;
    assert_eq!(c.paused_seconds, 180);
    assert_eq!(c.service_seconds(), Some(180), "6 minutes open, 3 paused");
}

#[test]
fn transfer_keeps_the_ticket_and_places_it_by_policy() {
    let mut t = ticket(TicketStatus::InService);
    t.service_started_at = Some(t0() + Duration::minutes(6));
    let origin = t.queue_id;
    let target = Uuid::new_v4();
    let agent = Uuid::new_v4();
    let now = t0() + Duration::minutes(20);
    let transfer = |placement| {
        Action::Transfer(Transfer {
            to_queue_id: target,
            limit: MAX_TRANSFERS,
            placement,
            reason: Some("wrong desk".into()),
            by_agent_id: Some(agent),
        })
    };

    let end = apply(&t, transfer(Placement::End), now).unwrap().ticket;
    assert_eq!(
        (end.id, end.number.as_str(), end.tracking_token.as_str()),
        (t.id, "A042", "secret")
    );
    assert_eq!(end.queue_id, target);
    assert_eq!(end.status, TicketStatus::Waiting);
    assert_eq!((end.lane, end.queued_at), (Lane::Normal, now));
    assert_eq!(
        (end.agent_id, end.called_at, end.service_started_at),
        (None, None, None)
    );
    assert_eq!(end.arrived_at, t.arrived_at, "original arrival is kept");
    let hop = &end.transfers[0];
    assert_eq!(
        (hop.from_queue_id, hop.to_queue_id, hop.from_status),
        (origin, target, TicketStatus::InService)
    );
    assert_eq!(
        (hop.by_agent_id, hop.reason.as_deref(), hop.at),
        (Some(agent), Some("wrong desk"), now)
    );

    let front = apply(&t, transfer(Placement::Front), now).unwrap().ticket;
    assert_eq!(front.lane, Lane::Front);

    let by_arrival = apply(&t, transfer(Placement::ByArrival), now)
        .unwrap()
        .ticket;
    assert_eq!(
        (by_arrival.lane, by_arrival.queued_at),
        (Lane::Normal, t.arrived_at)
    );

    // A second hop is recorded after the first.
    let back = apply(
        &end,
        Action::Transfer(Transfer {
            to_queue_id: origin,
            limit: MAX_TRANSFERS,
            placement: Placement::End,
            reason: None,
            by_agent_id: None,
        }),
        now + Duration::minutes(1),
    )
    .unwrap()
    .ticket;
    assert_eq!(back.transfers.len(), 2);
    assert_eq!(back.transfers[1].from_queue_id, target);
}

/// A ticket bounced between queues is refused at the limit, and keeps only its latest hops
/// while counting them all.
#[test]
fn transfers_are_bounded_and_the_history_keeps_the_latest_hops() {
    let now = Utc::now();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut t = Ticket::waiting(Uuid::new_v4(), a, "A001".into(), 1, now.date_naive(), now);
    for i in 0..MAX_TRANSFERS {
        let to = if i % 2 == 0 { b } else { a };
        let action = Action::Transfer(Transfer {
            to_queue_id: to,
            limit: MAX_TRANSFERS,
            placement: Placement::End,
            reason: Some(format!("hop {i}")),
            by_agent_id: None,
        });
        t = apply(&t, action, now).unwrap().ticket;
        assert!(t.transfers.len() <= HOP_HISTORY);
    }
    assert_eq!(t.transfer_count, MAX_TRANSFERS);
    assert_eq!(t.transfers.len(), HOP_HISTORY);
    assert_eq!(
        t.transfers.last().unwrap().reason.as_deref(),
        Some(format!("hop {}", MAX_TRANSFERS - 1).as_str()),
        "the latest hop is kept"
    );
    let again = Action::Transfer(Transfer {
        to_queue_id: b,
        limit: MAX_TRANSFERS,
        placement: Placement::End,
        reason: None,
        by_agent_id: None,
    });
    let refused = apply(&t, again, now).unwrap_err();
    assert_eq!(refused.code(), "too_many_transfers");
}
