-- SmartQueue on PostgreSQL: the same tables and columns as on SQLite (ids, days and instants as
-- the same text), so that a deployment moves over row for row. `tenant_id` leads the primary
-- key of every tenant table (distribution by tenant, docs/scale-out.md).

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    last_event_seq BIGINT NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    doc TEXT NOT NULL
);
-- E-mails are unique whatever their case (SQLite: COLLATE NOCASE).
CREATE UNIQUE INDEX users_email ON users (lower(email));

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

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    tenant_id TEXT,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

CREATE TABLE entities (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
);
CREATE INDEX entities_by_kind ON entities(tenant_id, kind, created_at);

CREATE TABLE queue_counters (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    queue_id TEXT NOT NULL,
    business_day TEXT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, queue_id, business_day)
);

CREATE TABLE tickets (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    -- the queue that issued the number (a transfer changes queue_id, never the number)
    origin_queue_id TEXT NOT NULL,
    business_day TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    status TEXT NOT NULL,
    tracking_token TEXT NOT NULL UNIQUE,
    agent_id TEXT,
    -- selection order within the queue (core::selection::SelectionKey)
    lane BIGINT NOT NULL,
    deadline_us BIGINT NOT NULL,
    queued_at_us BIGINT NOT NULL,
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

CREATE TABLE service_times (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    queue_id TEXT NOT NULL,
    closed_at_us BIGINT NOT NULL,
    seconds BIGINT NOT NULL
);
CREATE INDEX service_times_recent ON service_times(tenant_id, queue_id, closed_at_us);

CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    actor TEXT NOT NULL,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, actor, key)
);

CREATE TABLE events (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE audit_logs (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_logs_recent ON audit_logs(tenant_id, created_at);

CREATE TABLE queue_waiting (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    queue_id TEXT NOT NULL,
    waiting BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, queue_id)
);

CREATE TABLE device_pairings (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    -- `display` or `kiosk`: what the device offered to be
    mode TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    tenant_id TEXT,
    device_id TEXT
);

CREATE TABLE device_tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX device_tokens_by_device ON device_tokens(tenant_id, kind, device_id);

CREATE TABLE number_leases (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    queue_id TEXT NOT NULL,
    business_day TEXT NOT NULL,
    kiosk_id TEXT NOT NULL,
    first BIGINT NOT NULL,
    last BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, queue_id, business_day, first)
);
CREATE INDEX number_leases_by_kiosk ON number_leases(tenant_id, kiosk_id, business_day);

CREATE TABLE queue_day_counts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    queue_id TEXT NOT NULL,
    business_day TEXT NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, queue_id, business_day, status)
);
