//! What the console's screens show, computed here from core's rules so that the window only
//! displays it (desktop/ui holds no queue rule):
//!
//! * [`waiting_list`] — the agent's waiting tickets in calling order, the order of
//!   `smartqueue_core::selection` (lane, then virtual deadline) across every queue the agent
//!   serves, so its first line is the ticket call-next gives; each line with its place in its own
//!   queue's line and the one wait estimate, [`EtaInputs::wait_at`] with the queue's inputs;
//! * [`current`] — the ticket the agent holds and the actions its status allows, from core's
//!   transition table ([`target_status`]);
//! * [`floor`] — the manager's figures per queue (SLA state, calls per hour) and per agent.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use smartqueue_core::eta::EtaInputs;
use smartqueue_core::lifecycle::{ActionKind, target_status};
use smartqueue_core::selection::QueuePolicy;
use smartqueue_core::{AgentStatus, Id, Lane, Priority, Queue, TicketStatus};

/// What the counter's views know of one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueLine {
    /// The queue's ordering rule (algorithm, SLA target, aging bound).
    pub policy: QueuePolicy,
    pub name: String,
    /// Inputs of the queue's wait estimate (`eta_inputs` of its stats); `None` until loaded.
    pub inputs: Option<EtaInputs>,
}

impl QueueLine {
    /// A queue as the API lists it, with the `eta_inputs` of its stats answer if known.
    /// `None` when `queue` is not a queue.
    pub fn from_api(queue: &Value, stats: Option<&Value>) -> Option<QueueLine> {
        let q: Queue = serde_json::from_value(queue.clone()).ok()?;
        Some(QueueLine {
            policy: QueuePolicy::from(&q),
            name: q.name,
            inputs: stats.and_then(|s| serde_json::from_value(s["eta_inputs"].clone()).ok()),
        })
    }
}

/// What the counter's views are computed from besides the live tickets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counter {
    /// The agent's profile as the server answered (`agents/me/`).
    pub agent: Value,
    /// The queues the agent calls from.
    pub served: Vec<Id>,
    /// The tenant's queues by id.
    pub queues: HashMap<Id, QueueLine>,
    /// The ticket the agent holds, as the server last answered it.
    pub current: Option<Value>,
}

/// One line of the waiting list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingRow {
    pub id: Id,
    pub number: String,
    pub queue_id: Id,
    pub queue_name: String,
    pub customer_name: Option<String>,
    /// When it entered its queue's order (its wait is counted from here).
    pub queued_at: DateTime<Utc>,
    /// 1-based place in its own queue's line.
    pub place: u32,
    /// Estimated wait, median and 90th percentile (seconds): `EtaInputs::wait_at(place)` with
    /// the queue's inputs; `None` until they are loaded.
    pub wait_seconds: Option<u32>,
    pub wait_p90_seconds: Option<u32>,
    /// When its wait passes the queue's SLA target.
    pub sla_due_at: DateTime<Utc>,
}

/// The fields of a ticket the waiting list needs (the feed's tickets are JSON objects, some
/// built from events without every field of a ticket).
#[derive(Deserialize)]
struct Waiting {
    id: Id,
    queue_id: Id,
    number: String,
    status: TicketStatus,
    #[serde(default)]
    lane: Lane,
    #[serde(default)]
    priority: Priority,
    queued_at: DateTime<Utc>,
    #[serde(default)]
    sequence: u32,
    #[serde(default)]
    customer_name: Option<String>,
}

/// The waiting tickets of the agent's queues among `tickets`, in the order call-next would give
/// them: core's selection key (front lane first, then the earliest virtual deadline of the
/// queue's algorithm, then arrival, sequence and id) across all served queues.
pub fn waiting_list<'a>(
    tickets: impl IntoIterator<Item = &'a Value>,
    counter: &Counter,
) -> Vec<WaitingRow> {
    let mut keyed: Vec<_> = tickets
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Waiting>(v.clone()).ok())
        .filter(|w| w.status == TicketStatus::Waiting && counter.served.contains(&w.queue_id))
        .filter_map(|w| {
            let line = counter.queues.get(&w.queue_id)?;
            let key = line
                .policy
                .key_of(w.id, w.lane, w.priority, w.queued_at, w.sequence);
            Some((key, w, line))
        })
        .collect();
    keyed.sort_by_key(|(key, _, _)| *key);
    let mut places: HashMap<Id, u32> = HashMap::new();
    keyed
        .into_iter()
        .map(|(_, w, line)| {
            let place = places.entry(w.queue_id).or_insert(0);
            *place += 1;
            let eta = line.inputs.map(|i| i.wait_at(*place));
            WaitingRow {
                id: w.id,
                queue_id: w.queue_id,
                queue_name: line.name.clone(),
                customer_name: w.customer_name,
                place: *place,
                wait_seconds: eta.map(|e| e.p50_seconds),
                wait_p90_seconds: eta.map(|e| e.p90_seconds),
                sla_due_at: w.queued_at
                    + chrono::Duration::seconds(i64::from(line.policy.sla_target_seconds)),
                queued_at: w.queued_at,
                number: w.number,
            }
        })
        .collect()
}

/// The actions an agent may take on a ticket in `status`: those core's transition table
/// allows, except `call` (that is the Call next button, not an action on a held ticket).
pub fn allowed_actions(status: TicketStatus) -> Vec<ActionKind> {
    ActionKind::ALL
        .into_iter()
        .filter(|a| *a != ActionKind::Call && target_status(status, *a).is_some())
        .collect()
}

/// The ticket the agent holds, as the counter shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurrentView {
    /// The ticket as the API shows it (number, customer, times…).
    pub ticket: Value,
    pub status: TicketStatus,
    pub queue_name: Option<String>,
    /// What its status allows ([`allowed_actions`]).
    pub actions: Vec<ActionKind>,
}

/// The held ticket (the server's last answer, updated by what the live feed has seen of it
/// since — never by an older copy), or `None` when the agent holds none that is called, in
/// service or paused.
pub fn current(counter: &Counter, live: &BTreeMap<String, Value>) -> Option<CurrentView> {
    let mut ticket = counter.current.clone()?;
    let updated = |t: &Value| serde_json::from_value::<DateTime<Utc>>(t["updated_at"].clone()).ok();
    let held_at = updated(&ticket);
    if let (Some(seen @ Value::Object(fields)), Value::Object(t)) = (
        ticket["id"].as_str().and_then(|id| live.get(id)),
        &mut ticket,
    ) && updated(seen) >= held_at
    {
        for (k, v) in fields {
            t.insert(k.clone(), v.clone());
        }
    }
    let status: TicketStatus = serde_json::from_value(ticket["status"].clone()).ok()?;
    if !status.is_active() {
        return None;
    }
    let queue_name = ticket["queue_id"]
        .as_str()
        .and_then(|q| q.parse::<Id>().ok())
        .and_then(|q| counter.queues.get(&q))
        .map(|l| l.name.clone());
    Some(CurrentView {
        ticket,
        status,
        queue_name,
        actions: allowed_actions(status),
    })
}

/// How a queue stands against its SLA target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// The longest wait is under [`SLA_WARN_SHARE`] of the target.
    Ok,
    /// Close to the target.
    Warn,
    /// The longest wait is past the target (the server's `sla_breached`).
    Breached,
}

/// Share of the SLA target from which a queue is shown as close to breaching it.
pub const SLA_WARN_SHARE: f64 = 0.8;

/// One queue of the floor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorQueue {
    pub id: Id,
    pub name: String,
    pub waiting: u32,
    pub longest_wait_seconds: u32,
    pub sla_target_seconds: u32,
    pub sla: SlaState,
    /// Agents serving it now (available or busy).
    pub agents: u32,
    pub served_today: u32,
    /// Tickets called today (served, no-show or still held) per hour since the business day
    /// began in the site's time zone (at least one hour), one decimal.
    pub called_per_hour: f64,
}

/// One agent of the floor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorAgent {
    pub id: Id,
    pub name: String,
    pub status: AgentStatus,
    /// The ticket they hold, if any.
    pub ticket_number: Option<String>,
    pub ticket_status: Option<TicketStatus>,
}

/// The manager's floor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorView {
    pub queues: Vec<FloorQueue>,
    pub agents: Vec<FloorAgent>,
}

#[derive(Deserialize)]
struct FloorIn {
    queues: Vec<FloorQueueIn>,
    agents: Vec<FloorAgentIn>,
}

#[derive(Deserialize)]
struct FloorQueueIn {
    queue_id: Id,
    name: String,
    waiting: u32,
    active: u32,
    served_today: u32,
    no_show_today: u32,
    longest_wait_seconds: u32,
    sla_target_seconds: u32,
    sla_breached: bool,
    active_agents: u32,
    day_started_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct FloorAgentIn {
    id: Id,
    name: String,
    status: AgentStatus,
    current_ticket: Option<HeldIn>,
}

#[derive(Deserialize)]
struct HeldIn {
    number: String,
    status: TicketStatus,
}

/// The floor from the server's `floor/` answer, at `now`.
pub fn floor(answer: &Value, now: DateTime<Utc>) -> Result<FloorView, serde_json::Error> {
    let a: FloorIn = serde_json::from_value(answer.clone())?;
    let queues = a
        .queues
        .into_iter()
        .map(|q| {
            let share = if q.sla_target_seconds == 0 {
                0.0
            } else {
                f64::from(q.longest_wait_seconds) / f64::from(q.sla_target_seconds)
            };
            let sla = if q.sla_breached {
                SlaState::Breached
            } else if share >= SLA_WARN_SHARE {
                SlaState::Warn
            } else {
                SlaState::Ok
            };
            let hours = ((now - q.day_started_at).num_seconds() as f64 / 3600.0).max(1.0);
            let called = f64::from(q.served_today + q.no_show_today + q.active);
            FloorQueue {
                id: q.queue_id,
                name: q.name,
                waiting: q.waiting,
                longest_wait_seconds: q.longest_wait_seconds,
                sla_target_seconds: q.sla_target_seconds,
                sla,
                agents: q.active_agents,
                served_today: q.served_today,
                called_per_hour: (called / hours * 10.0).round() / 10.0,
            }
        })
        .collect();
    let agents = a
        .agents
        .into_iter()
        .map(|g| FloorAgent {
            id: g.id,
            name: g.name,
            status: g.status,
            ticket_status: g.current_ticket.as_ref().map(|t| t.status),
            ticket_number: g.current_ticket.map(|t| t.number),
        })
        .collect();
    Ok(FloorView { queues, agents })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;
    use smartqueue_core::eta::ServiceTimeModel;
    use smartqueue_core::selection::{QueueCandidates, select_next, waiting_order};
    use smartqueue_core::{QueueAlgorithm, Ticket};

    fn line(algorithm: QueueAlgorithm, name: &str, agents: u32) -> QueueLine {
        QueueLine {
            policy: QueuePolicy {
                queue_id: Id::now_v7(),
                algorithm,
                sla_target_seconds: 600,
                max_wait_seconds: 1800,
            },
            name: name.into(),
            inputs: Some(EtaInputs {
                model: ServiceTimeModel {
                    mean_seconds: 240.0,
                    sd_seconds: 60.0,
                    samples: 12,
                },
                serving_agents: agents,
            }),
        }
    }

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + chrono::Duration::minutes(minute)
    }

    fn ticket(q: &QueueLine, seq: u32, minute: i64, priority: Priority, lane: Lane) -> Ticket {
        let mut t = Ticket::waiting(
            Id::now_v7(),
            q.policy.queue_id,
            format!("{}{seq:03}", &q.name[..1]),
            seq,
            at(0).date_naive(),
            at(minute),
        );
        t.priority = priority;
        t.lane = lane;
        t
    }

    /// As the feed holds them: JSON, without the tracking token (events leave it out).
    fn as_feed(tickets: &[Ticket]) -> Vec<Value> {
        tickets
            .iter()
            .map(|t| {
                let mut v = serde_json::to_value(t).unwrap();
                v.as_object_mut().unwrap().remove("tracking_token");
                v
            })
            .collect()
    }

    #[test]
    fn the_waiting_list_is_cores_calling_order_across_the_agents_queues() {
        let (p, s, other) = (
            line(QueueAlgorithm::Priority, "Priority", 2),
            line(QueueAlgorithm::Sla, "Sla", 1),
            line(QueueAlgorithm::Fifo, "Other", 1),
        );
        let tickets = vec![
            ticket(&p, 1, 0, Priority::Normal, Lane::Normal),
            ticket(&p, 2, 5, Priority::Vip, Lane::Normal),
            ticket(&p, 3, 6, Priority::Elderly, Lane::Normal),
            ticket(&s, 1, 1, Priority::Normal, Lane::Normal),
            ticket(&s, 2, 2, Priority::Normal, Lane::Front),
            ticket(&s, 3, 20, Priority::Normal, Lane::Normal),
            // Not served by this agent: never listed.
            ticket(&other, 1, -30, Priority::Normal, Lane::Normal),
        ];
        let counter = Counter {
            served: vec![p.policy.queue_id, s.policy.queue_id],
            queues: [&p, &s, &other]
                .into_iter()
                .map(|l| (l.policy.queue_id, l.clone()))
                .collect(),
            ..Counter::default()
        };
        let feed = as_feed(&tickets);
        let rows = waiting_list(&feed, &counter);

        let candidates: Vec<QueueCandidates<'_>> = [&p, &s]
            .iter()
            .map(|l| QueueCandidates {
                policy: l.policy,
                tickets: &tickets,
            })
            .collect();
        let core: Vec<Id> = waiting_order(&candidates).iter().map(|t| t.id).collect();
        let ours: Vec<Id> = rows.iter().map(|r| r.id).collect();
        assert_eq!(ours, core, "the same order as core's selection");
        assert_eq!(
            rows[0].id,
            select_next(&candidates).unwrap().id,
            "the first line is the ticket call-next gives"
        );
        assert_eq!(rows[0].number, "S002", "a front-lane transfer comes first");
        assert_eq!(rows.len(), 6);
        // Places count within each queue's own line; the wait is core's one estimate.
        for r in &rows {
            let l = counter.queues.get(&r.queue_id).unwrap();
            let before = rows
                .iter()
                .take_while(|x| x.id != r.id)
                .filter(|x| x.queue_id == r.queue_id)
                .count() as u32;
            assert_eq!(r.place, before + 1);
            let eta = l.inputs.unwrap().wait_at(r.place);
            assert_eq!(
                (r.wait_seconds, r.wait_p90_seconds),
                (Some(eta.p50_seconds), Some(eta.p90_seconds))
            );
            assert_eq!(r.sla_due_at - r.queued_at, chrono::Duration::seconds(600));
        }
    }

    #[test]
    fn without_eta_inputs_there_is_no_wait_and_odd_tickets_are_skipped() {
        let mut q = line(QueueAlgorithm::Fifo, "Fifo", 1);
        q.inputs = None;
        let t = ticket(&q, 1, 0, Priority::Normal, Lane::Normal);
        let counter = Counter {
            served: vec![q.policy.queue_id],
            queues: [(q.policy.queue_id, q)].into_iter().collect(),
            ..Counter::default()
        };
        let feed = [
            serde_json::to_value(&t).unwrap(),
            json!({"id": "not-a-ticket"}),
        ];
        let rows = waiting_list(&feed, &counter);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].place, rows[0].wait_seconds), (1, None));
    }

    #[test]
    fn the_held_tickets_actions_come_from_cores_transition_table() {
        use ActionKind as A;
        assert_eq!(
            allowed_actions(TicketStatus::Called),
            [A::Recall, A::StartService, A::Transfer, A::MarkNoShow]
        );
        assert_eq!(
            allowed_actions(TicketStatus::InService),
            [A::Close, A::Pause, A::Transfer]
        );
        assert_eq!(allowed_actions(TicketStatus::Paused), [A::Resume]);
        assert!(allowed_actions(TicketStatus::Closed).is_empty());
        for s in [
            TicketStatus::Called,
            TicketStatus::InService,
            TicketStatus::Paused,
        ] {
            for a in allowed_actions(s) {
                assert!(target_status(s, a).is_some());
            }
        }
    }

    #[test]
    fn the_current_ticket_follows_the_feed_and_ends_when_it_is_no_longer_held() {
        let q = line(QueueAlgorithm::Fifo, "Fifo", 1);
        let mut t = ticket(&q, 1, 0, Priority::Normal, Lane::Normal);
        t.status = TicketStatus::Called;
        let counter = Counter {
            queues: [(q.policy.queue_id, q.clone())].into_iter().collect(),
            current: Some(serde_json::to_value(&t).unwrap()),
            ..Counter::default()
        };
        let none = BTreeMap::new();
        let v = current(&counter, &none).unwrap();
        assert_eq!(v.status, TicketStatus::Called);
        assert_eq!(v.queue_name.as_deref(), Some("Fifo"));
        assert!(v.actions.contains(&ActionKind::StartService));
        // An older copy in the feed (the snapshot's, still waiting) does not undo the call.
        let mut live = BTreeMap::new();
        let older = t.updated_at - chrono::Duration::seconds(5);
        live.insert(
            t.id.to_string(),
            json!({"id": t.id, "status": "waiting", "updated_at": older}),
        );
        assert_eq!(
            current(&counter, &live).unwrap().status,
            TicketStatus::Called
        );
        // The feed saw it start: the view follows.
        let later = t.updated_at + chrono::Duration::seconds(5);
        live.insert(
            t.id.to_string(),
            json!({"id": t.id, "status": "in_service", "updated_at": later}),
        );
        let v = current(&counter, &live).unwrap();
        assert_eq!(v.status, TicketStatus::InService);
        assert!(v.actions.contains(&ActionKind::Close));
        live.insert(
            t.id.to_string(),
            json!({"id": t.id, "status": "closed", "updated_at": later}),
        );
        assert_eq!(current(&counter, &live), None);
        assert_eq!(current(&Counter::default(), &none), None);
    }

    #[test]
    fn floor_figures_sla_state_and_calls_per_hour() {
        let started = at(0);
        let q = |waiting: u32, longest: u32, breached: bool| {
            json!({"queue_id": Id::now_v7(), "name": "Q", "waiting": waiting, "active": 1,
                   "served_today": 4, "no_show_today": 1, "longest_wait_seconds": longest,
                   "sla_target_seconds": 600, "sla_breached": breached, "active_agents": 2,
                   "day_started_at": started, "eta_inputs": {}})
        };
        let answer = json!({
            "queues": [q(0, 0, false), q(3, 480, false), q(5, 700, true)],
            "agents": [
                {"id": Id::now_v7(), "name": "Ana", "status": "busy",
                 "current_ticket": {"id": Id::now_v7(), "number": "A007", "status": "in_service"}},
                {"id": Id::now_v7(), "name": "Bo", "status": "break", "current_ticket": null},
            ],
        });
        // Four hours into the day: 6 called / 4 h.
        let f = floor(&answer, started + chrono::Duration::hours(4)).unwrap();
        let states: Vec<SlaState> = f.queues.iter().map(|q| q.sla).collect();
        assert_eq!(states, [SlaState::Ok, SlaState::Warn, SlaState::Breached]);
        assert_eq!(f.queues[0].called_per_hour, 1.5);
        // Ten minutes in: counted over one hour at least.
        let early = floor(&answer, started + chrono::Duration::minutes(10)).unwrap();
        assert_eq!(early.queues[0].called_per_hour, 6.0);
        assert_eq!(f.agents[0].ticket_number.as_deref(), Some("A007"));
        assert_eq!(f.agents[0].ticket_status, Some(TicketStatus::InService));
        assert_eq!(f.agents[1].ticket_number, None);
        assert!(floor(&json!({"queues": 1}), started).is_err());
    }
}
