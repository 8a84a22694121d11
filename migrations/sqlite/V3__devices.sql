-- Displays and kiosks (issue 6): pairing codes and device tokens.

-- A code a fresh device shows until an admin enters it. The device polls with its secret (only
-- the hash is kept); once an admin has bound the code to a display or kiosk, the device's next
-- poll receives a device token and the row is deleted. Rows expire after a few minutes.
CREATE TABLE device_pairings (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    -- `display` or `kiosk`: what the device offered to be
    mode TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    tenant_id TEXT,
    device_id TEXT
);

-- Device tokens (only their hash). Revoking a device revokes all of its tokens.
CREATE TABLE device_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX device_tokens_by_device ON device_tokens(tenant_id, kind, device_id);
