//! `queue.eta` events: when a queue's estimated wait changes noticeably, every screen following
//! the queue hears it (design §5: "queue length and ETA changes").
//!
//! Queue lengths travel inside the ticket events themselves; an estimate depends on more (the
//! service-time history, the agents at work) and is costlier to compute, so a background task
//! watches the committed events, marks the queues they touch, and every [`EVERY`] recomputes
//! those queues' estimates off the hot path. It emits `queue.eta` `{queue_id, waiting,
//! eta_next_seconds, eta_next_p90_seconds, active_agents}` only when the estimate moved by at
//! least [`MIN_CHANGE`] (or 10 %), or the queue's agents changed — so a busy queue costs at most
//! one extra event per queue per [`EVERY`], and a quiet one none.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use smartqueue_core::Id;
use smartqueue_core::event::{Event, QueueEta};
use tokio::sync::broadcast::error::RecvError;

use crate::service::{self, queues};
use crate::state::AppState;

/// How often touched queues are re-estimated.
pub const EVERY: Duration = Duration::from_secs(2);
/// Smallest change of the median estimate (seconds) worth telling screens about.
pub const MIN_CHANGE: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Told {
    eta: Option<u32>,
    agents: u32,
}

fn worth_telling(before: Option<Told>, now: Told) -> bool {
    let Some(b) = before else { return true };
    if b.agents != now.agents {
        return true;
    }
    match (b.eta, now.eta) {
        (Some(x), Some(y)) => x.abs_diff(y) >= MIN_CHANGE.max(x / 10),
        (x, y) => x != y,
    }
}

/// Starts the watcher; it ends when the server closes.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = state.store.subscribe();
        let mut closing = state.closing.subscribe();
        let mut tick = tokio::time::interval(EVERY);
        // Several instances on one database: only the elected one emits.
        let leader = state.store.leadership();
        let mut dirty: HashSet<(Id, Id)> = HashSet::new();
        let mut told: HashMap<(Id, Id), Told> = HashMap::new();
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(e) => {
                        let (tenant, event) = (e.event.tenant_id, e.event.event());
                        if event.ticket().is_some() || matches!(event, Event::AgentStatus(_)) {
                            for q in event.queue_ids() {
                                dirty.insert((tenant, q));
                            }
                        }
                    }
                    // Missed some: re-estimate everything already known.
                    Err(RecvError::Lagged(_)) => dirty.extend(told.keys().copied()),
                    Err(RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    if !*leader.borrow() {
                        dirty.clear();
                        continue;
                    }
                    for (tenant, queue) in std::mem::take(&mut dirty) {
                        let Ok(q) = queues::load(&state, tenant, queue).await else { continue };
                        let Ok(f) = queues::figures(&state, tenant, &q).await else { continue };
                        let now = Told {
                            eta: Some(f.next_eta.p50_seconds),
                            agents: f.counts.active_agents,
                        };
                        if !worth_telling(told.get(&(tenant, queue)).copied(), now) {
                            continue;
                        }
                        let event = Event::QueueEta(QueueEta {
                            queue_id: queue,
                            waiting: f.counts.waiting,
                            eta_next_seconds: now.eta,
                            eta_next_p90_seconds: Some(f.next_eta.p90_seconds),
                            active_agents: now.agents,
                        });
                        if service::eta::publish(&*state.store, tenant, event, Utc::now()).await.is_ok() {
                            told.insert((tenant, queue), now);
                        }
                    }
                }
                _ = closing.changed() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_noticeable_changes_are_told() {
        let t = |eta, agents| Told { eta, agents };
        assert!(worth_telling(None, t(Some(300), 1)));
        assert!(
            !worth_telling(Some(t(Some(300), 1)), t(Some(320), 1)),
            "20 s is noise"
        );
        assert!(worth_telling(Some(t(Some(300), 1)), t(Some(330), 1)));
        assert!(
            !worth_telling(Some(t(Some(3000), 2)), t(Some(3200), 2)),
            "under 10 %"
        );
        assert!(
            worth_telling(Some(t(Some(3000), 2)), t(Some(3000), 3)),
            "an agent came"
        );
        assert!(worth_telling(Some(t(None, 0)), t(Some(60), 0)));
    }
}
