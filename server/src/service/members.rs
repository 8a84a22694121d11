//! Members of a tenant: adding (creating or linking a user), changing a role, removing — the
//! tenant always keeps an admin, and an agent serving a ticket is not removed.

use chrono::{DateTime, Utc};
use smartqueue_core::{AgentProfile, AgentStatus, Id, Role, TenantMembership, User};
use uuid::Uuid;

use crate::store::tx::{Tx, transact};
use crate::store::{Actor, Member, NewUser, Store, StoreError, StoreResult};

/// Makes the user with this e-mail a member with `role` (creating the user when there is none);
/// an agent also gets a profile.
pub async fn add(
    store: &dyn Store,
    tenant: Id,
    new: NewUser,
    role: Role,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Member> {
    let actor = actor.clone();
    transact(store, move |tx| add_in(tx, tenant, &new, role, &actor, now)).await
}

/// Gives a member another role (an agent gets a profile); the last admin stays an admin.
pub async fn change_role(
    store: &dyn Store,
    tenant: Id,
    user: Id,
    role: Role,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Member> {
    let actor = actor.clone();
    transact(store, move |tx| {
        change_role_in(tx, tenant, user, role, &actor, now)
    })
    .await
}

/// Removes a member from the tenant (not the user account); refused for the last admin and for
/// an agent serving a ticket.
pub async fn remove(
    store: &dyn Store,
    tenant: Id,
    user: Id,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let actor = actor.clone();
    transact(store, move |tx| remove_in(tx, tenant, user, &actor, now)).await
}

/// Creates a user (with the password already hashed); a taken e-mail is `email_taken`.
pub fn create_user_in(tx: &mut dyn Tx, new: &NewUser, now: DateTime<Utc>) -> StoreResult<User> {
    let email = new.email.trim().to_lowercase();
    if tx.user_by_email(&email)?.is_some() {
        return Err(StoreError::conflict(
            "email_taken",
            format!("a user with e-mail {email} already exists"),
        ));
    }
    let user = User {
        id: Uuid::new_v4(),
        email,
        first_name: new.first_name.clone(),
        last_name: new.last_name.clone(),
        is_active: true,
        is_superuser: new.is_superuser,
        created_at: now,
    };
    tx.insert_user(&user, &new.password_hash)?;
    Ok(user)
}

fn add_in(
    tx: &mut dyn Tx,
    tenant: Id,
    new: &NewUser,
    role: Role,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Member> {
    let email = new.email.trim().to_lowercase();
    let (user, existing_user) = match tx.user_by_email(&email)? {
        Some(u) => (u, true),
        None => (create_user_in(tx, new, now)?, false),
    };
    if tx.member(tenant, user.id)?.is_some() {
        return Err(StoreError::conflict(
            "already_member",
            format!("{} is already a member of this tenant", user.email),
        ));
    }
    let membership = TenantMembership {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        user_id: user.id,
        role,
        created_at: now,
    };
    tx.save_membership(&membership)?;
    let agent = if role == Role::Agent {
        Some(new_agent(tx, tenant, user.id, now)?)
    } else {
        None
    };
    tx.audit(
        tenant,
        actor,
        "member.add",
        "membership",
        membership.id,
        None,
        Some(&serde_json::to_value(&membership)?),
        now,
    )?;
    Ok(Member {
        user,
        membership,
        agent,
        existing_user,
    })
}

fn change_role_in(
    tx: &mut dyn Tx,
    tenant: Id,
    user: Id,
    role: Role,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Member> {
    let m = tx
        .member(tenant, user)?
        .ok_or(StoreError::NotFound("member"))?;
    if m.membership.role == role {
        return Ok(m);
    }
    if role != Role::Admin {
        keep_an_admin(tx, tenant, &m)?;
    }
    let before = serde_json::to_value(&m.membership)?;
    let mut membership = m.membership.clone();
    membership.role = role;
    tx.save_membership(&membership)?;
    // An agent needs a profile; other roles keep theirs (a manager may still sit at a counter).
    if role == Role::Agent && m.agent.is_none() {
        new_agent(tx, tenant, user, now)?;
    }
    tx.audit(
        tenant,
        actor,
        "member.update",
        "membership",
        membership.id,
        Some(before),
        Some(&serde_json::to_value(&membership)?),
        now,
    )?;
    tx.member(tenant, user)?
        .ok_or(StoreError::NotFound("member"))
}

fn remove_in(
    tx: &mut dyn Tx,
    tenant: Id,
    user: Id,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let m = tx
        .member(tenant, user)?
        .ok_or(StoreError::NotFound("member"))?;
    keep_an_admin(tx, tenant, &m)?;
    if let Some(agent) = &m.agent {
        if let Some(current) = agent.current_ticket_id
            && let Some(t) = tx.ticket(tenant, current)?
            && t.status.is_active()
        {
            return Err(StoreError::conflict(
                "agent_busy",
                format!(
                    "{} is serving {}: close or transfer it first",
                    m.user.email, t.number
                ),
            ));
        }
        tx.delete_agent(tenant, agent.id)?;
    }
    tx.delete_membership(tenant, user)?;
    // Their sessions in this organisation end at the next refresh (memberships are re-read).
    tx.audit(
        tenant,
        actor,
        "member.remove",
        "membership",
        m.membership.id,
        Some(serde_json::to_value(&m.membership)?),
        None,
        now,
    )
}

/// Refuses to take the admin role from the tenant's last admin.
fn keep_an_admin(tx: &mut dyn Tx, tenant: Id, m: &Member) -> StoreResult<()> {
    if m.membership.role == Role::Admin && tx.admin_count(tenant)? <= 1 {
        return Err(StoreError::conflict(
            "last_admin",
            format!(
                "{} is the last admin of this organisation: appoint another admin first",
                m.user.email
            ),
        ));
    }
    Ok(())
}

/// A fresh agent profile for `user` (offline, no counter, no queues).
fn new_agent(
    tx: &mut dyn Tx,
    tenant: Id,
    user: Id,
    now: DateTime<Utc>,
) -> StoreResult<AgentProfile> {
    let agent = AgentProfile {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        user_id: user,
        counter_id: None,
        status: AgentStatus::Offline,
        queue_ids: Vec::new(),
        current_ticket_id: None,
        status_changed_at: now,
    };
    tx.save_agent(&agent, now)?;
    Ok(agent)
}

/// Creates a user outside any tenant (the CLI's first admin, the conformance suite).
pub async fn create_user(store: &dyn Store, new: NewUser, now: DateTime<Utc>) -> StoreResult<User> {
    transact(store, move |tx| create_user_in(tx, &new, now)).await
}
