-- SmartQueue initial schema (SQLite). Append-only: never edit a shipped migration.
--
-- Every tenant-owned table has tenant_id first in its primary key, and foreign keys between
-- tenant-owned tables include tenant_id, so rows can never point across tenants (and a
-- tenant-sharded PostgreSQL can distribute by tenant_id). Entities are stored as their API JSON
-- in `doc`, next to the columns that queries filter, sort or constrain on.

-- Server-wide settings (e.g. the generated JWT signing secret).
CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    last_event_seq INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE memberships (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships(user_id);

-- Refresh tokens: opaque, stored as SHA-256. A family is one sign-in; reusing a rotated token
-- revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    tenant_id TEXT,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

-- Generic tenant-owned configuration entities (sites, services, queues, counters, customers,
-- agents, displays, kiosks, …): kind + id, the JSON document, and the references that must stay
-- inside the tenant.
CREATE TABLE entities (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
);
CREATE INDEX entities_by_kind ON entities(tenant_id, kind, created_at);

-- Per queue, per business day: the last number issued. Bumped inside the ticket's transaction,
-- so numbers are gap-free and unique whatever the concurrency.
CREATE TABLE queue_counters (
    tenant_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    business_day TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, queue_id, business_day)
);

CREATE TABLE tickets (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    -- the queue that issued the number (a transfer changes queue_id, never the number)
    origin_queue_id TEXT NOT NULL,
    business_day TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    status TEXT NOT NULL,
    tracking_token TEXT NOT NULL UNIQUE,
    agent_id TEXT,
    -- selection order within the queue (core::selection::SelectionKey)
    lane INTEGER NOT NULL,
    deadline_us INTEGER NOT NULL,
    queued_at_us INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, origin_queue_id, business_day, sequence)
);
CREATE INDEX tickets_waiting_order ON tickets(tenant_id, queue_id, lane, deadline_us, queued_at_us, sequence)
    WHERE status = 'waiting';
CREATE INDEX tickets_by_queue_status ON tickets(tenant_id, queue_id, status, created_at);
CREATE INDEX tickets_by_created ON tickets(tenant_id, created_at);
CREATE INDEX tickets_active_by_agent ON tickets(tenant_id, agent_id)
    WHERE status IN ('called', 'in_service', 'paused');

-- Service durations of closed tickets, for ETA.
CREATE TABLE service_times (
    tenant_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    closed_at_us INTEGER NOT NULL,
    seconds INTEGER NOT NULL
);
CREATE INDEX service_times_recent ON service_times(tenant_id, queue_id, closed_at_us);

-- Results of retried writes: a retry with the same key returns the stored answer.
CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, actor, key)
);

-- The tenant's event log (real-time fan-out reads from here; seq per tenant).
CREATE TABLE events (
    tenant_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE audit_logs (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_logs_recent ON audit_logs(tenant_id, created_at);
