//! What several instances on one database share: the events each commits, and which of them
//! runs the scheduled jobs.
//!
//! **Events** (`PgBus`): the writer publishes its own committed events at once, and its
//! transaction also sends `NOTIFY smartqueue_events, '<tenant>:<last seq>'` (delivered by
//! PostgreSQL on commit, in commit order). Every instance LISTENs; a notification is only a hint:
//! the committed `events` table is the truth, read from the last seq this instance published up
//! to the notified one. One sequencer task per instance publishes every tenant's events exactly
//! once and in seq order, whichever path they came by (a local commit arriving before another
//! instance's earlier one is held back until the gap is read). After a lost listening connection
//! it reconnects and catches up from the table.
//!
//! **Jobs** (`leadership`): the instance holding a session advisory lock is the leader. Others
//! try again every [`ELECTION_EVERY`]; PostgreSQL releases the lock when the leader's
//! connection ends (a killed process's socket is closed by its kernel), so another instance takes
//! over within that period.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc as tmpsc, watch};
use tokio_postgres::AsyncMessage;

use super::*;

/// The channel of the notifications.
pub(super) const CHANNEL: &str = "smartqueue_events";
/// The advisory lock of the jobs' leader (any constant of our own).
const LEADER_LOCK: i64 = 0x5351_4a4f_4253; // "SQJOBS"
/// How often a follower tries to become the leader.
pub const ELECTION_EVERY: Duration = Duration::from_secs(5);
/// Events read at once when filling a gap.
const CATCH_UP: i64 = 1_000;

/// What the sequencer hears.
pub(super) enum Heard {
    /// Events this instance committed.
    Local(Vec<StoredEvent>),
    /// Another instance committed the tenant's events up to this seq.
    Notified { tenant: Id, seq: i64 },
    /// The listening connection was lost and is back: events may have been missed.
    Reconnected,
}

/// The bus of a PostgreSQL instance: local subscribers get every tenant's committed events,
/// from every instance, once each, in seq order.
pub(super) struct PgBus {
    local: InProcessBus,
    heard: tmpsc::UnboundedSender<Heard>,
}

impl EventBus for PgBus {
    fn publish(&self, events: Vec<StoredEvent>) {
        let _ = self.heard.send(Heard::Local(events));
    }

    fn subscribe(&self) -> Subscription {
        self.local.subscribe()
    }
}

/// Starts the bus — its sequencer and its listener, on the current runtime, until `stop`.
pub(super) fn start_bus(
    config: tokio_postgres::Config,
    pool: Pool,
    stop: watch::Receiver<bool>,
) -> Arc<PgBus> {
    let (heard, hearing) = tmpsc::unbounded_channel();
    let bus = Arc::new(PgBus {
        local: InProcessBus::new(),
        heard: heard.clone(),
    });
    tokio::spawn(until_stopped(stop.clone(), listen(config, heard)));
    tokio::spawn(until_stopped(stop, sequence(bus.clone(), pool, hearing)));
    bus
}

/// Runs `work` until the store is dropped.
async fn until_stopped(
    mut stop: watch::Receiver<bool>,
    work: impl std::future::Future<Output = ()>,
) {
    tokio::select! {
        _ = work => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}

/// Publishes what it hears in each tenant's seq order, reading gaps from the table.
async fn sequence(bus: Arc<PgBus>, pool: Pool, mut hearing: tmpsc::UnboundedReceiver<Heard>) {
    // The last seq published per tenant; a tenant first heard of starts where it is heard.
    let mut last: HashMap<Id, i64> = HashMap::new();
    while let Some(h) = hearing.recv().await {
        match h {
            Heard::Local(events) => {
                let mut out = Vec::with_capacity(events.len());
                for e in events {
                    let (tenant, seq) = (e.tenant_id, e.seq());
                    let done = *last.entry(tenant).or_insert(seq - 1);
                    if seq <= done {
                        continue; // already read from the table
                    }
                    if seq > done + 1 {
                        // Another instance committed in between: its events come first.
                        out.extend(read(&pool, tenant, done, seq - 1).await);
                    }
                    last.insert(tenant, seq);
                    out.push(e);
                }
                bus.local.publish(out);
            }
            Heard::Notified { tenant, seq } => {
                let Some(&done) = last.get(&tenant) else {
                    // First news of this tenant: nothing before it is owed.
                    let events = read(&pool, tenant, seq - 1, seq).await;
                    last.insert(tenant, seq);
                    bus.local.publish(events);
                    continue;
                };
                if seq > done {
                    let events = read(&pool, tenant, done, seq).await;
                    if let Some(e) = events.last() {
                        last.insert(tenant, e.seq());
                    }
                    bus.local.publish(events);
                }
            }
            Heard::Reconnected => {
                for (tenant, done) in last.iter_mut() {
                    let events = read(&pool, *tenant, *done, i64::MAX).await;
                    if let Some(e) = events.last() {
                        *done = e.seq();
                    }
                    bus.local.publish(events);
                }
            }
        }
    }
}

/// The tenant's committed events with `after < seq <= upto`, oldest first (read in pages of
/// [`CATCH_UP`], all of them).
async fn read(pool: &Pool, tenant: Id, after: i64, upto: i64) -> Vec<StoredEvent> {
    let result: StoreResult<Vec<StoredEvent>> = async {
        let client = pool.get().await?;
        let slug: String = client
            .query_one("SELECT slug FROM tenants WHERE id = $1", &[&tenant.to_string()])
            .await?
            .get(0);
        let mut out: Vec<StoredEvent> = Vec::new();
        let mut from = after;
        loop {
            let rows = client
                .query(
                    "SELECT seq, type, at, data FROM events WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
                    &[&tenant.to_string(), &from, &upto, &CATCH_UP],
                )
                .await?;
            let full = rows.len() as i64 == CATCH_UP;
            for r in &rows {
                out.push(stored_event(tenant, &slug, r)?);
            }
            match out.last() {
                Some(e) if full => from = e.seq(),
                _ => return Ok(out),
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read committed events");
        Vec::new()
    })
}

/// LISTENs on a connection of its own, reconnecting when it is lost.
async fn listen(config: tokio_postgres::Config, heard: tmpsc::UnboundedSender<Heard>) {
    let mut first = true;
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tmpsc::unbounded_channel::<AsyncMessage>();
                // Drives the connection and hands its notifications over.
                let driver = tokio::spawn(async move {
                    while let Some(Ok(m)) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        if tx.send(m).is_err() {
                            break;
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {CHANNEL}"))
                    .await
                    .is_ok()
                {
                    if !first && heard.send(Heard::Reconnected).is_err() {
                        return;
                    }
                    first = false;
                    while let Some(m) = rx.recv().await {
                        if let AsyncMessage::Notification(n) = m
                            && let Some((t, s)) = n.payload().split_once(':')
                            && let (Ok(tenant), Ok(seq)) = (t.parse(), s.parse())
                            && heard.send(Heard::Notified { tenant, seq }).is_err()
                        {
                            return;
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for events"),
        }
        if heard.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Keeps trying to become the jobs' leader (until `stop`); the receiver says whether this
/// instance is.
pub(super) fn elect(
    config: tokio_postgres::Config,
    stop: watch::Receiver<bool>,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(until_stopped(stop, async move {
        loop {
            let Ok((client, connection)) = config.connect(NoTls).await else {
                tokio::time::sleep(ELECTION_EVERY).await;
                continue;
            };
            let mut connection = tokio::spawn(connection);
            loop {
                let won = client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                    .await
                    .map(|r| r.get::<_, bool>(0));
                match won {
                    Ok(true) => {
                        let _ = tx.send(true);
                        // Leader while this connection lives.
                        let _ = (&mut connection).await;
                        let _ = tx.send(false);
                        break;
                    }
                    Ok(false) => {
                        tokio::select! {
                            _ = tokio::time::sleep(ELECTION_EVERY) => {}
                            _ = &mut connection => break,
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    }));
    rx
}
