//! The repository: what a service may do inside one write transaction, whatever the backend.
//!
//! A backend implements [`Tx`] over its open transaction (SQLite: the writer thread's
//! connection; PostgreSQL: a pooled connection) and runs [`TxJob`]s submitted through
//! [`Store::submit`]. Every method loads, saves, counts or appends — none decides anything:
//! the decisions are the services' (`crate::service`), which run their rules between these
//! calls. [`transact`] and [`transact_idempotent`] are how a service runs its work.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use smartqueue_core::event::Event;
use smartqueue_core::selection::QueuePolicy;
use smartqueue_core::{
    AgentProfile, Counter, Id, Queue, Site, Tenant, TenantMembership, Ticket, User,
};
use tokio::sync::oneshot;

use super::shared::{AuditEntry, audit_created_entry, audit_entry};
use super::{
    Actor, DeviceKind, IdempotencyKey, Kind, LeaseRef, Member, NewPairing, Pairing, RefreshRecord,
    RefreshToken, Store, StoreError, StoreResult,
};

/// One open write transaction. Writes become visible (and events are published) only when the
/// job that made them succeeded and the transaction committed; a failed job's writes are undone.
pub trait Tx {
    /// An entity document of the tenant.
    fn entity(&mut self, tenant: Id, kind: Kind, id: Id) -> StoreResult<Option<Value>>;
    /// A queue of the tenant, parsed.
    fn queue(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Queue>>;
    fn site(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Site>>;
    fn counter(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Counter>>;
    fn agent(&mut self, tenant: Id, id: Id) -> StoreResult<Option<AgentProfile>>;
    /// Stores an agent profile as it is.
    fn save_agent(&mut self, agent: &AgentProfile, now: DateTime<Utc>) -> StoreResult<()>;

    fn ticket(&mut self, tenant: Id, id: Id) -> StoreResult<Option<Ticket>>;
    /// The first waiting ticket of a queue in its stored calling order (`policy`'s keys).
    fn queue_head(&mut self, tenant: Id, queue: Id) -> StoreResult<Option<Ticket>>;
    /// How many tickets wait in a queue.
    fn waiting_count(&mut self, tenant: Id, queue: Id) -> StoreResult<u32>;
    /// 1-based place of a waiting ticket in its queue's calling order (None when not waiting).
    fn position(&mut self, t: &Ticket, policy: &QueuePolicy) -> StoreResult<Option<u32>>;
    /// Inserts a new ticket, keyed for its queue's calling order. A taken number is
    /// [`StoreError::Unique`].
    fn insert_ticket(&mut self, t: &Ticket, policy: &QueuePolicy) -> StoreResult<()>;
    fn update_ticket(&mut self, t: &Ticket, policy: &QueuePolicy) -> StoreResult<()>;
    /// Keeps the per-queue figures (waiting lengths, the day's ended tickets) in step with a
    /// ticket's change from `before` (None: new) to `after`; returns the new lengths of the
    /// queues whose line changed.
    fn track_counts(
        &mut self,
        before: Option<&Ticket>,
        after: &Ticket,
    ) -> StoreResult<Vec<(Id, i64)>>;
    /// Advances a queue's day counter by one and returns it (1 for the day's first ticket).
    fn bump_number(&mut self, tenant: Id, queue: Id, day: NaiveDate) -> StoreResult<u32>;
    /// Sets a queue's day counter (it only ever moves forward).
    fn set_number(&mut self, tenant: Id, queue: Id, day: NaiveDate, last: u32) -> StoreResult<()>;
    /// The highest number of a queue's day that was issued or leased to a kiosk (0: none).
    fn top_number(&mut self, tenant: Id, queue: Id, day: NaiveDate) -> StoreResult<u32>;
    /// The last number of the lease holding `n` on that queue's day, by any kiosk.
    fn lease_holding(
        &mut self,
        tenant: Id,
        queue: Id,
        day: NaiveDate,
        n: u32,
    ) -> StoreResult<Option<u32>>;
    /// When the lease of this kiosk holding `n` (for the queue's day) was made; None when `n`
    /// was not leased to it.
    fn leased_at(
        &mut self,
        tenant: Id,
        lease: &LeaseRef,
        n: u32,
    ) -> StoreResult<Option<DateTime<Utc>>>;
    /// Records numbers `first..=last` leased to a kiosk.
    fn insert_lease(
        &mut self,
        tenant: Id,
        lease: &LeaseRef,
        first: u32,
        last: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Records the service time of a closed ticket (the ETA's history).
    fn record_service_time(
        &mut self,
        tenant: Id,
        queue: Id,
        at: DateTime<Utc>,
        seconds: u32,
    ) -> StoreResult<()>;

    /// Appends an event to the tenant's log with the next seq; returns the seq and the payload
    /// JSON as stored.
    fn emit(&mut self, tenant: Id, event: Event, now: DateTime<Utc>) -> StoreResult<(i64, String)>;
    /// Appends an audit entry as made by [`super::shared`].
    fn insert_audit(&mut self, entry: &AuditEntry) -> StoreResult<()>;
    /// Appends an audit entry (only the changed fields of before/after are kept).
    #[allow(clippy::too_many_arguments)]
    fn audit(
        &mut self,
        tenant: Id,
        actor: &Actor,
        action: &str,
        entity_type: &str,
        entity_id: Id,
        before: Option<Value>,
        after: Option<&Value>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let e = audit_entry(
            tenant,
            actor,
            action,
            entity_type,
            entity_id,
            before,
            after,
            now,
        )?;
        self.insert_audit(&e)
    }
    /// Appends the audit entry of a creation whose document is already serialized.
    #[allow(clippy::too_many_arguments)]
    fn audit_created(
        &mut self,
        tenant: Id,
        actor: &Actor,
        action: &str,
        entity_type: &str,
        entity_id: Id,
        after_json: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let e = audit_created_entry(
            tenant,
            actor,
            action,
            entity_type,
            entity_id,
            after_json,
            now,
        )?;
        self.insert_audit(&e)
    }

    /// Stores an entity document (inserting or replacing it).
    fn put_entity(
        &mut self,
        tenant: Id,
        kind: Kind,
        id: Id,
        doc: &Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    fn delete_entity(&mut self, tenant: Id, kind: Kind, id: Id) -> StoreResult<()>;
    /// How many entities of `kinds` have `id` in their field `field`.
    fn count_referencing(
        &mut self,
        tenant: Id,
        kinds: &[Kind],
        field: &str,
        id: Id,
    ) -> StoreResult<u32>;
    /// How many tickets of a queue are waiting or with an agent.
    fn live_tickets(&mut self, tenant: Id, queue: Id) -> StoreResult<u32>;
    /// Re-keys a queue's waiting tickets for its (changed) calling order.
    fn rekey_waiting(&mut self, tenant: Id, queue: &Queue) -> StoreResult<()>;

    fn tenant_by_slug(&mut self, slug: &str) -> StoreResult<Option<Tenant>>;
    /// The slug of a tenant (None: no such tenant).
    fn tenant_slug(&mut self, tenant: Id) -> StoreResult<Option<String>>;
    /// Inserts a tenant (a taken slug is [`StoreError::Unique`]).
    fn insert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()>;
    /// A platform setting.
    fn setting(&mut self, key: &str) -> StoreResult<Option<String>>;
    /// Stores a platform setting unless it is already set.
    fn insert_setting(&mut self, key: &str, value: &str) -> StoreResult<()>;

    /// A refresh token by its hash.
    fn refresh_token(&mut self, hash: &str) -> StoreResult<Option<RefreshToken>>;
    fn insert_refresh(&mut self, record: &RefreshRecord) -> StoreResult<()>;
    fn mark_refresh_used(&mut self, hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Revokes every token of a session (family).
    fn revoke_refresh_family(&mut self, family: Id) -> StoreResult<()>;

    /// Forgets pairing codes that expired before `now`.
    fn delete_expired_pairings(&mut self, now: DateTime<Utc>) -> StoreResult<()>;
    /// Stores a pairing code; `false` (nothing stored) when the code is taken.
    fn insert_pairing(&mut self, p: &NewPairing, now: DateTime<Utc>) -> StoreResult<bool>;
    /// The unexpired pairing showing this code.
    fn pairing_by_code(&mut self, code: &str, now: DateTime<Utc>) -> StoreResult<Option<Pairing>>;
    /// An unexpired pairing by id.
    fn pairing(&mut self, id: Id, now: DateTime<Utc>) -> StoreResult<Option<Pairing>>;
    /// Records the device an admin entered the pairing's code for.
    fn bind_pairing(&mut self, id: Id, tenant: Id, device: Id) -> StoreResult<()>;
    fn delete_pairing(&mut self, id: Id) -> StoreResult<()>;
    /// Revokes a device's live tokens.
    fn revoke_device_tokens(
        &mut self,
        tenant: Id,
        kind: DeviceKind,
        device: Id,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Stores a device token (by its hash).
    fn insert_device_token(
        &mut self,
        token_hash: &str,
        tenant: Id,
        kind: DeviceKind,
        device: Id,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// The user with this e-mail (already normalized: trimmed, lower case).
    fn user_by_email(&mut self, email: &str) -> StoreResult<Option<User>>;
    /// Inserts a user with its password hash (a taken e-mail is [`StoreError::Unique`]).
    fn insert_user(&mut self, user: &User, password_hash: &str) -> StoreResult<()>;
    /// A member of the tenant: user, membership and agent profile.
    fn member(&mut self, tenant: Id, user: Id) -> StoreResult<Option<Member>>;
    /// How many admins the tenant has.
    fn admin_count(&mut self, tenant: Id) -> StoreResult<u32>;
    /// Inserts or replaces a membership.
    fn save_membership(&mut self, m: &TenantMembership) -> StoreResult<()>;
    fn delete_membership(&mut self, tenant: Id, user: Id) -> StoreResult<()>;
    fn delete_agent(&mut self, tenant: Id, agent: Id) -> StoreResult<()>;

    /// The recorded request fingerprint and result of an idempotency key.
    fn idempotency_record(
        &mut self,
        tenant: Id,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<(String, String)>>;
    /// Records the result of a retryable write under its key.
    fn save_idempotency_record(
        &mut self,
        tenant: Id,
        key: &IdempotencyKey,
        result_json: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// Work for one transaction, as a backend runs it.
pub trait TxJob: Send {
    /// Runs the work inside the open transaction and keeps its result; `true` if it succeeded.
    /// It may run more than once (a backend may replay a batch), so it decides from what it
    /// reads, never from what it did before.
    fn run(&mut self, tx: &mut dyn Tx) -> bool;
    /// Answers the caller once the transaction's fate is known (`Err` = not committed).
    fn answer(self: Box<Self>, committed: Result<(), String>);
    /// The backend found, after the job returned, that one of its writes failed (a statement
    /// sent without waiting for its answer): the job failed with `error`.
    fn fail(&mut self, error: StoreError);
}

/// A closure and the channel its caller waits on.
struct Pending<T, F> {
    f: F,
    reply: oneshot::Sender<StoreResult<T>>,
    result: Option<StoreResult<T>>,
}

impl<T, F> TxJob for Pending<T, F>
where
    T: Send,
    F: Fn(&mut dyn Tx) -> StoreResult<T> + Send,
{
    fn run(&mut self, tx: &mut dyn Tx) -> bool {
        let result = run_caught(|| (self.f)(tx));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let _ = self.reply.send(settle(self.result, committed));
    }

    fn fail(&mut self, error: StoreError) {
        self.result = Some(Err(error));
    }
}

/// A job's answer from its own result (None: it never ran) and its transaction's fate.
pub fn settle<T>(result: Option<StoreResult<T>>, committed: Result<(), String>) -> StoreResult<T> {
    match (result, committed) {
        (Some(Ok(v)), Ok(())) => Ok(v),
        // A failed job's own error says more than the transaction's.
        (Some(Err(e)), _) => Err(e),
        (_, Err(e)) => Err(StoreError::Commit(e)),
        (None, Ok(())) => Err(StoreError::Closed),
    }
}

/// Runs a job's closure, a panic becoming [`StoreError::Internal`].
pub fn run_caught<T>(f: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(StoreError::Internal("a write panicked".into())))
}

/// Runs `f` in one write transaction of `store` and answers after the commit.
pub async fn transact<T, F>(store: &dyn Store, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: Fn(&mut dyn Tx) -> StoreResult<T> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    store.submit(Box::new(Pending {
        f,
        reply,
        result: None,
    }))?;
    answer.await.map_err(|_| StoreError::Closed)?
}

/// [`transact`] for a retryable write: a retry with the same idempotency key returns the first
/// result (recorded in the same transaction as the write) without running `f` again; the same
/// key with another request is refused (`idempotency_key_reused`).
pub async fn transact_idempotent<T, F>(
    store: &dyn Store,
    tenant: Id,
    idem: Option<IdempotencyKey>,
    now: DateTime<Utc>,
    f: F,
) -> StoreResult<T>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    F: Fn(&mut dyn Tx) -> StoreResult<T> + Send + 'static,
{
    transact(store, move |tx| {
        let Some(key) = &idem else { return f(tx) };
        match tx.idempotency_record(tenant, key)? {
            Some((fingerprint, _)) if fingerprint != key.fingerprint => {
                return Err(StoreError::conflict(
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used for a different request",
                ));
            }
            Some((_, body)) => return Ok(serde_json::from_str(&body)?),
            None => {}
        }
        let out = f(tx)?;
        tx.save_idempotency_record(tenant, key, &serde_json::to_string(&out)?, now)?;
        Ok(out)
    })
    .await
}
