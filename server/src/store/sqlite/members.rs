//! Changing and removing tenant members on SQLite.

use super::*;

fn admins(conn: &Connection, tenant: Id) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM memberships WHERE tenant_id = ?1 AND role = 'admin'")?
        .query_row([tenant.to_string()], |r| r.get(0))?)
}

fn keep_an_admin(conn: &Connection, tenant: Id, m: &Member) -> StoreResult<()> {
    if m.membership.role == Role::Admin && admins(conn, tenant)? <= 1 {
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

/// A fresh agent profile for `user_id` (offline, no counter, no queues).
pub(super) fn new_agent(
    conn: &Connection,
    tenant: Id,
    user_id: Id,
    now: DateTime<Utc>,
) -> StoreResult<AgentProfile> {
    let agent = AgentProfile {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        user_id,
        counter_id: None,
        status: AgentStatus::Offline,
        queue_ids: Vec::new(),
        current_ticket_id: None,
        status_changed_at: now,
    };
    put_doc(conn, tenant, Kind::Agent, agent.id, &agent, now)?;
    Ok(agent)
}

pub(super) fn change_role(
    conn: &Connection,
    tenant: Id,
    user_id: Id,
    role: Role,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<Member> {
    let m = member_of_row(conn, tenant, user_id)?.ok_or(StoreError::NotFound("member"))?;
    if m.membership.role == role {
        return Ok(m);
    }
    if role != Role::Admin {
        keep_an_admin(conn, tenant, &m)?;
    }
    let before = serde_json::to_value(&m.membership)?;
    let mut membership = m.membership.clone();
    membership.role = role;
    conn.prepare_cached(
        "UPDATE memberships SET role = ?3, doc = ?4 WHERE tenant_id = ?1 AND user_id = ?2",
    )?
    .execute(params![
        tenant.to_string(),
        user_id.to_string(),
        role.as_str(),
        serde_json::to_string(&membership)?
    ])?;
    // An agent needs a profile; other roles keep theirs (a manager may still sit at a counter).
    if role == Role::Agent && m.agent.is_none() {
        new_agent(conn, tenant, user_id, now)?;
    }
    audit(
        conn,
        tenant,
        actor,
        "member.update",
        "membership",
        membership.id,
        Some(before),
        Some(&serde_json::to_value(&membership)?),
        now,
    )?;
    member_of_row(conn, tenant, user_id)?.ok_or(StoreError::NotFound("member"))
}

pub(super) fn remove(
    conn: &Connection,
    tenant: Id,
    user_id: Id,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let m = member_of_row(conn, tenant, user_id)?.ok_or(StoreError::NotFound("member"))?;
    keep_an_admin(conn, tenant, &m)?;
    if let Some(agent) = &m.agent {
        if let Some(t) = agent
            .current_ticket_id
            .and_then(|t| load_ticket(conn, tenant, t).ok().flatten())
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
        conn.prepare_cached(
            "DELETE FROM entities WHERE tenant_id = ?1 AND kind = 'agent' AND id = ?2",
        )?
        .execute(params![tenant.to_string(), agent.id.to_string()])?;
    }
    conn.prepare_cached("DELETE FROM memberships WHERE tenant_id = ?1 AND user_id = ?2")?
        .execute(params![tenant.to_string(), user_id.to_string()])?;
    // Their sessions in this organisation end at the next refresh (memberships are re-read).
    audit(
        conn,
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
