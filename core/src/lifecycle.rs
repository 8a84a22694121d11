//! The ticket state machine (design §3): the one place that decides whether an action is allowed
//! from a status and what it results in.
//!
//! Effects are values: [`apply`] takes a ticket, an [`Action`] and `now`, and returns the updated
//! ticket plus the [`TicketEventKind`] to emit — or a typed [`TransitionError`]. Storage performs
//! the write, the audit entry and the event atomically; nothing here does I/O.
//!
//! ```text
//! waiting ──call──▶ called ──start_service──▶ in_service ──close──▶ closed
//!    │                │  ▲                     │    ▲
//!    │cancel          │  └─recall              │pause│resume
//!    ▼                ▼                        ▼    │
//! cancelled        no_show (mark_no_show)     paused
//! transfer: waiting | called | in_service ──▶ waiting (target queue, same ticket)
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Id, Lane, Placement, Ticket, TicketStatus, TransferHop};

/// The kind of an action, without its arguments (for tables, errors and audit entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Call,
    Recall,
    StartService,
    Close,
    Pause,
    Resume,
    Transfer,
    MarkNoShow,
    Cancel,
}

impl ActionKind {
    /// Every action, in a stable order.
    pub const ALL: [ActionKind; 9] = [
        ActionKind::Call,
        ActionKind::Recall,
        ActionKind::StartService,
        ActionKind::Close,
        ActionKind::Pause,
        ActionKind::Resume,
        ActionKind::Transfer,
        ActionKind::MarkNoShow,
        ActionKind::Cancel,
    ];

    /// The API spelling (also the last path segment of the action's REST route).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Call => "call",
            ActionKind::Recall => "recall",
            ActionKind::StartService => "start_service",
            ActionKind::Close => "close",
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
            ActionKind::Transfer => "transfer",
            ActionKind::MarkNoShow => "mark_no_show",
            ActionKind::Cancel => "cancel",
        }
    }

    /// Human verb phrase for error messages ("cannot start serving a ticket that is waiting").
    fn verb(self) -> &'static str {
        match self {
            ActionKind::Call => "call",
            ActionKind::Recall => "recall",
            ActionKind::StartService => "start serving",
            ActionKind::Close => "close",
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
            ActionKind::Transfer => "transfer",
            ActionKind::MarkNoShow => "mark as no-show",
            ActionKind::Cancel => "cancel",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Transfers a ticket may go through by default: a ticket bounced between queues without end
/// would grow its document and the event log without bound.
pub const MAX_TRANSFERS: u32 = 20;
/// Hops a ticket keeps in its history (the latest; [`Ticket::transfer_count`] counts them all).
pub const HOP_HISTORY: usize = 10;

fn default_transfer_limit() -> u32 {
    MAX_TRANSFERS
}

/// Arguments of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub to_queue_id: Id,
    /// Transfers the ticket may have had before this one is refused (the server's setting).
    #[serde(default = "default_transfer_limit")]
    pub limit: u32,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub reason: Option<String>,
    /// The agent who transferred, if any (recorded in the hop).
    #[serde(default)]
    pub by_agent_id: Option<Id>,
}

/// An action on a ticket, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// An agent calls the ticket to a counter.
    Call {
        agent_id: Id,
        counter_id: Option<Id>,
    },
    Recall,
    StartService,
    Close,
    Pause,
    Resume,
    Transfer(Transfer),
    MarkNoShow,
    Cancel,
}

impl Action {
    /// The kind of this action.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Call { .. } => ActionKind::Call,
            Action::Recall => ActionKind::Recall,
            Action::StartService => ActionKind::StartService,
            Action::Close => ActionKind::Close,
            Action::Pause => ActionKind::Pause,
            Action::Resume => ActionKind::Resume,
            Action::Transfer(_) => ActionKind::Transfer,
            Action::MarkNoShow => ActionKind::MarkNoShow,
            Action::Cancel => ActionKind::Cancel,
        }
    }
}

/// The event a successful transition emits (exactly one per change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketEventKind {
    #[serde(rename = "ticket.called")]
    Called,
    #[serde(rename = "ticket.recalled")]
    Recalled,
    #[serde(rename = "ticket.started")]
    Started,
    #[serde(rename = "ticket.closed")]
    Closed,
    #[serde(rename = "ticket.paused")]
    Paused,
    #[serde(rename = "ticket.resumed")]
    Resumed,
    #[serde(rename = "ticket.transferred")]
    Transferred,
    #[serde(rename = "ticket.no_show")]
    NoShow,
    #[serde(rename = "ticket.cancelled")]
    Cancelled,
}

impl TicketEventKind {
    /// The event type string of the real-time envelope.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketEventKind::Called => "ticket.called",
            TicketEventKind::Recalled => "ticket.recalled",
            TicketEventKind::Started => "ticket.started",
            TicketEventKind::Closed => "ticket.closed",
            TicketEventKind::Paused => "ticket.paused",
            TicketEventKind::Resumed => "ticket.resumed",
            TicketEventKind::Transferred => "ticket.transferred",
            TicketEventKind::NoShow => "ticket.no_show",
            TicketEventKind::Cancelled => "ticket.cancelled",
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The action is not allowed from the ticket's current status.
    #[error("cannot {} a ticket that is {status}", .action.verb())]
    NotAllowed {
        action: ActionKind,
        status: TicketStatus,
    },
    /// The ticket was already transferred as often as allowed.
    #[error("this ticket was already transferred {limit} times; serve it or close it")]
    TooManyTransfers { limit: u32 },
}

impl TransitionError {
    /// Machine-readable code for the API's `{code, detail}` error body.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::NotAllowed { .. } => "invalid_transition",
            TransitionError::TooManyTransfers { .. } => "too_many_transfers",
        }
    }
}

/// The result of a successful transition.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Status before the action.
    pub from: TicketStatus,
    /// The ticket after the action.
    pub ticket: Ticket,
    /// The one event to emit once the change is committed.
    pub event: TicketEventKind,
}

/// The transition table: the status an action leads to from `status`, or `None` when refused.
pub fn target_status(status: TicketStatus, action: ActionKind) -> Option<TicketStatus> {
    use ActionKind as A;
    use TicketStatus as S;
    match (status, action) {
        (S::Waiting, A::Call) => Some(S::Called),
        (S::Waiting, A::Cancel) => Some(S::Cancelled),
        (S::Called, A::Recall) => Some(S::Called),
        (S::Called, A::StartService) => Some(S::InService),
        (S::Called, A::MarkNoShow) => Some(S::NoShow),
        (S::InService, A::Close) => Some(S::Closed),
        (S::InService, A::Pause) => Some(S::Paused),
        (S::Paused, A::Resume) => Some(S::InService),
        (S::Waiting | S::Called | S::InService, A::Transfer) => Some(S::Waiting),
        _ => None,
    }
}

/// Applies `action` to `ticket` at `now`.
pub fn apply(
    ticket: &Ticket,
    action: Action,
    now: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    let kind = action.kind();
    let from = ticket.status;
    let to = target_status(from, kind).ok_or(TransitionError::NotAllowed {
        action: kind,
        status: from,
    })?;

    if let Action::Transfer(tr) = &action {
        // Tickets stored before the count existed count their hops.
        let done = ticket.transfer_count.max(ticket.transfers.len() as u32);
        if done >= tr.limit {
            return Err(TransitionError::TooManyTransfers { limit: tr.limit });
        }
    }
    let mut t = ticket.clone();
    t.status = to;
    t.updated_at = now;
    let event = match action {
        Action::Call {
            agent_id,
            counter_id,
        } => {
            t.agent_id = Some(agent_id);
            t.counter_id = counter_id;
            t.called_at = Some(now);
            t.last_called_at = Some(now);
            TicketEventKind::Called
        }
        Action::Recall => {
            t.recall_count += 1;
            t.last_called_at = Some(now);
            TicketEventKind::Recalled
        }
        Action::StartService => {
            t.service_started_at = Some(now);
            TicketEventKind::Started
        }
        Action::Pause => {
            t.paused_at = Some(now);
            TicketEventKind::Paused
        }
        Action::Resume => {
            if let Some(p) = t.paused_at.take() {
                let secs = (now - p).num_seconds().max(0) as u32;
                t.paused_seconds = t.paused_seconds.saturating_add(secs);
            }
            TicketEventKind::Resumed
        }
        Action::Close => {
            t.closed_at = Some(now);
            TicketEventKind::Closed
        }
        Action::MarkNoShow => {
            t.closed_at = Some(now);
            TicketEventKind::NoShow
        }
        Action::Cancel => {
            t.closed_at = Some(now);
            TicketEventKind::Cancelled
        }
        Action::Transfer(tr) => {
            t.transfers.push(TransferHop {
                from_queue_id: t.queue_id,
                to_queue_id: tr.to_queue_id,
                from_status: from,
                placement: tr.placement,
                reason: tr.reason,
                by_agent_id: tr.by_agent_id,
                at: now,
            });
            t.transfer_count = ticket.transfer_count.max(ticket.transfers.len() as u32) + 1;
            if t.transfers.len() > HOP_HISTORY {
                let excess = t.transfers.len() - HOP_HISTORY;
                t.transfers.drain(..excess);
            }
            t.queue_id = tr.to_queue_id;
            let (lane, queued_at) = match tr.placement {
                Placement::Front => (Lane::Front, now),
                Placement::End => (Lane::Normal, now),
                Placement::ByArrival => (Lane::Normal, t.arrived_at),
            };
            t.lane = lane;
            t.queued_at = queued_at;
            // Back to waiting: the ticket is no longer held by anyone.
            t.agent_id = None;
            t.counter_id = None;
            t.called_at = None;
            t.last_called_at = None;
            t.service_started_at = None;
            t.paused_at = None;
            t.paused_seconds = 0;
            TicketEventKind::Transferred
        }
    };
    Ok(Transition {
        from,
        ticket: t,
        event,
    })
}
