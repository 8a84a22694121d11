//! Next-ticket selection: property tests and worked cases.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use smartqueue_core::selection::{QueueCandidates, QueuePolicy, select_next, waiting_order};
use smartqueue_core::{Lane, Priority, QueueAlgorithm, Ticket, TicketStatus};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}

fn policy(algorithm: QueueAlgorithm, sla: u32, max_wait: u32) -> QueuePolicy {
    QueuePolicy {
        queue_id: Uuid::new_v4(),
        algorithm,
        sla_target_seconds: sla,
        max_wait_seconds: max_wait,
    }
}

fn ticket(queue: &QueuePolicy, seq: u32, at: DateTime<Utc>, priority: Priority) -> Ticket {
    let mut t = Ticket::waiting(
        Uuid::new_v4(),
        queue.queue_id,
        format!("A{seq:03}"),
        seq,
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        at,
    );
    t.priority = priority;
    t
}

fn status_strategy() -> impl Strategy<Value = TicketStatus> {
    prop::sample::select(TicketStatus::ALL.to_vec())
}

fn priority_strategy() -> impl Strategy<Value = Priority> {
    prop::sample::select(vec![
        Priority::Normal,
        Priority::Appointment,
        Priority::Elderly,
        Priority::Vip,
    ])
}

fn algorithm_strategy() -> impl Strategy<Value = QueueAlgorithm> {
    prop::sample::select(vec![
        QueueAlgorithm::Fifo,
        QueueAlgorithm::Priority,
        QueueAlgorithm::Sla,
    ])
}

proptest! {
    #[test]
    fn only_waiting_tickets_of_served_queues_are_chosen(
        algos in prop::collection::vec(algorithm_strategy(), 1..4),
        specs in prop::collection::vec((0usize..4, status_strategy(), priority_strategy(), 0i64..7200), 0..60),
    ) {
        let policies: Vec<QueuePolicy> = algos.iter().map(|&a| policy(a, 600, 1200)).collect();
        let stranger = policy(QueueAlgorithm::Fifo, 600, 1200);
        let mut per_queue: Vec<Vec<Ticket>> = vec![Vec::new(); policies.len()];
        for (i, (q, status, prio, secs)) in specs.iter().enumerate() {
            // Index == len puts a ticket of an unserved queue into the first slice.
            let (slot, owner) = if *q < policies.len() { (*q, &policies[*q]) } else { (0, &stranger) };
            let mut t = ticket(owner, i as u32 + 1, t0() + Duration::seconds(*secs), *prio);
            t.status = *status;
            per_queue[slot].push(t);
        }
        let candidates: Vec<QueueCandidates<'_>> = policies
            .iter()
            .zip(&per_queue)
            .map(|(p, ts)| QueueCandidates { policy: *p, tickets: ts })
            .collect();
        let eligible = candidates
            .iter()
            .flat_map(|c| c.tickets.iter().filter(move |t| t.queue_id == c.policy.queue_id))
            .filter(|t| t.status == TicketStatus::Waiting)
            .count();
        match select_next(&candidates) {
            Some(t) => {
                prop_assert_eq!(t.status, TicketStatus::Waiting);
                prop_assert!(policies.iter().any(|p| p.queue_id == t.queue_id));
            }
            None => prop_assert_eq!(eligible, 0),
        }
        let order = waiting_order(&candidates);
        prop_assert_eq!(order.len(), eligible);
        // The fast path picks exactly the head of the full ordering.
        prop_assert_eq!(select_next(&candidates).map(|t| t.id), order.first().map(|t| t.id));
    }

    #[test]
    fn fifo_calls_in_arrival_order(gaps in prop::collection::vec(0i64..300, 1..80), prios in prop::collection::vec(priority_strategy(), 80)) {
        let q = policy(QueueAlgorithm::Fifo, 600, 1200);
        let mut at = t0();
        let mut tickets: Vec<Ticket> = gaps
            .iter()
            .enumerate()
            .map(|(i, g)| {
                at += Duration::seconds(*g);
                ticket(&q, i as u32 + 1, at, prios[i]) // priority is ignored by FIFO
            })
            .collect();
        let mut called = Vec::new();
        while let Some(next) = select_next(&[QueueCandidates { policy: q, tickets: &tickets }]) {
            let id = next.id;
            called.push(next.sequence);
            tickets.iter_mut().find(|t| t.id == id).unwrap().status = TicketStatus::Called;
        }
        let expected: Vec<u32> = (1..=gaps.len() as u32).collect();
        prop_assert_eq!(called, expected);
    }

    /// Priority with aging under a saturated stream: `agents` agents each serve one ticket per
    /// `SERVICE` seconds and exactly `agents` tickets arrive per slot, most of them VIPs, on top
    /// of an initial backlog. No ticket may wait longer than the aging bound plus the time to
    /// drain the largest backlog seen: `max_wait + (ceil(backlog / agents) + 2) · SERVICE`.
    #[test]
    fn aging_bounds_every_wait(
        agents in 1usize..4,
        max_wait in 60u32..1800,
        backlog in prop::collection::vec(priority_strategy(), 0..20),
        stream in prop::collection::vec(prop::sample::select(vec![Priority::Vip, Priority::Vip, Priority::Vip, Priority::Elderly, Priority::Normal]), 300),
    ) {
        let report = simulate(QueuePolicy { max_wait_seconds: max_wait, ..policy(QueueAlgorithm::Priority, 600, max_wait) }, agents, &backlog, &stream);
        prop_assert!(report.max_wait <= report.bound, "waited {}s, bound {}s", report.max_wait, report.bound);
    }
}

const SERVICE: i64 = 60;

struct SimReport {
    max_wait: i64,
    bound: i64,
}

/// Slot-by-slot simulation of one queue served by `agents` agents.
fn simulate(q: QueuePolicy, agents: usize, backlog: &[Priority], stream: &[Priority]) -> SimReport {
    let mut waiting: Vec<Ticket> = backlog
        .iter()
        .enumerate()
        .map(|(i, p)| ticket(&q, i as u32 + 1, t0(), *p))
        .collect();
    let mut seq = waiting.len() as u32;
    let mut max_backlog = waiting.len();
    let mut max_wait = 0i64;
    let slots = stream.len() / agents;
    for slot in 0..slots as i64 {
        let now = t0() + Duration::seconds(slot * SERVICE);
        for p in &stream[slot as usize * agents..(slot as usize + 1) * agents] {
            seq += 1;
            waiting.push(ticket(&q, seq, now, *p));
        }
        max_backlog = max_backlog.max(waiting.len());
        for _ in 0..agents {
            let Some(next) = select_next(&[QueueCandidates {
                policy: q,
                tickets: &waiting,
            }]) else {
                break;
            };
            let id = next.id;
            let pos = waiting.iter().position(|t| t.id == id).unwrap();
            let t = waiting.swap_remove(pos);
            max_wait = max_wait.max((now - t.queued_at).num_seconds());
        }
    }
    // Tickets still waiting at the end count with their wait so far.
    let end = t0() + Duration::seconds(slots as i64 * SERVICE);
    for t in &waiting {
        max_wait = max_wait.max((end - t.queued_at).num_seconds());
    }
    let drain_slots = max_backlog.div_ceil(agents) as i64 + 2;
    SimReport {
        max_wait,
        bound: i64::from(q.max_wait_seconds) + drain_slots * SERVICE,
    }
}

#[test]
fn without_aging_a_normal_ticket_starves_behind_vips() {
    // The same simulation with an aging bound far beyond the run: pure priority. One normal
    // ticket then waits for the whole run, past the bound the aging test enforces — so that
    // test can fail.
    let pure = policy(QueueAlgorithm::Priority, 600, 10_000_000);
    let stream = vec![Priority::Vip; 200];
    let r = simulate(pure, 1, &[Priority::Normal], &stream);
    let aged = simulate(
        QueuePolicy {
            max_wait_seconds: 600,
            ..pure
        },
        1,
        &[Priority::Normal],
        &stream,
    );
    assert!(
        r.max_wait >= 199 * SERVICE,
        "starved for the whole run: {}",
        r.max_wait
    );
    assert!(
        aged.max_wait <= aged.bound,
        "with aging: {} <= {}",
        aged.max_wait,
        aged.bound
    );
    assert!(aged.max_wait <= 600 + 3 * SERVICE);
}

#[test]
fn priority_lets_vip_overtake_only_within_the_aging_bound() {
    let q = policy(QueueAlgorithm::Priority, 600, 900);
    let normal = ticket(&q, 1, t0(), Priority::Normal);
    let vip_soon = ticket(&q, 2, t0() + Duration::seconds(899), Priority::Vip);
    let vip_late = ticket(&q, 3, t0() + Duration::seconds(901), Priority::Vip);
    let pick = |ts: &[Ticket]| {
        select_next(&[QueueCandidates {
            policy: q,
            tickets: ts,
        }])
        .unwrap()
        .sequence
    };
    assert_eq!(
        pick(&[normal.clone(), vip_soon]),
        2,
        "VIP arriving within 15 min goes first"
    );
    assert_eq!(
        pick(&[normal, vip_late]),
        1,
        "after 15 min the normal ticket is due first"
    );
}

#[test]
fn sla_picks_earliest_deadline_across_queues() {
    let tight = policy(QueueAlgorithm::Sla, 300, 0);
    let loose = policy(QueueAlgorithm::Sla, 1800, 0);
    // The loose queue's ticket arrived 20 minutes earlier but is due 5 minutes later.
    let a = ticket(&loose, 1, t0(), Priority::Normal); // due 08:30
    let b = ticket(&tight, 1, t0() + Duration::minutes(20), Priority::Normal); // due 08:25
    let got = select_next(&[
        QueueCandidates {
            policy: loose,
            tickets: std::slice::from_ref(&a),
        },
        QueueCandidates {
            policy: tight,
            tickets: std::slice::from_ref(&b),
        },
    ])
    .unwrap();
    assert_eq!(got.id, b.id);
}

#[test]
fn front_lane_transfers_come_first_then_ties_break_by_sequence() {
    let q = policy(QueueAlgorithm::Fifo, 600, 600);
    let old = ticket(&q, 1, t0(), Priority::Normal);
    let mut front = ticket(&q, 9, t0() + Duration::hours(1), Priority::Normal);
    front.lane = Lane::Front;
    let twin = ticket(&q, 2, t0(), Priority::Normal);
    let order: Vec<u32> = waiting_order(&[QueueCandidates {
        policy: q,
        tickets: &[twin, old, front],
    }])
    .iter()
    .map(|t| t.sequence)
    .collect();
    assert_eq!(order, vec![9, 1, 2]);
}

proptest! {
    /// The incremental index always names the same ticket as a full scan.
    #[test]
    fn waiting_index_agrees_with_select_next(
        algos in prop::collection::vec(algorithm_strategy(), 1..4),
        ops in prop::collection::vec((0usize..4, priority_strategy(), 0i64..3600, status_strategy()), 1..80),
    ) {
        use smartqueue_core::selection::WaitingIndex;
        let policies: Vec<QueuePolicy> = algos.iter().map(|&a| policy(a, 300, 900)).collect();
        let mut index = WaitingIndex::new();
        for p in &policies {
            index.set_policy(*p);
        }
        let mut tickets: Vec<Ticket> = Vec::new();
        for (i, (q, prio, secs, status)) in ops.into_iter().enumerate() {
            let p = &policies[q % policies.len()];
            if i % 3 == 2 && !tickets.is_empty() {
                // Change an existing ticket's status instead of adding one.
                let k = secs as usize % tickets.len();
                tickets[k].status = status;
                index.upsert(&tickets[k]);
            } else {
                let t = ticket(p, i as u32 + 1, t0() + Duration::seconds(secs), prio);
                index.upsert(&t);
                tickets.push(t);
            }
            let per_queue: Vec<Vec<Ticket>> = policies.iter().map(|p| tickets.iter().filter(|t| t.queue_id == p.queue_id).cloned().collect()).collect();
            let candidates: Vec<QueueCandidates<'_>> = policies.iter().zip(&per_queue).map(|(p, ts)| QueueCandidates { policy: *p, tickets: ts }).collect();
            let ids: Vec<uuid::Uuid> = policies.iter().map(|p| p.queue_id).collect();
            prop_assert_eq!(index.next(&ids), select_next(&candidates).map(|t| t.id));
        }
    }
}
