-- Blocks of ticket numbers leased to a kiosk in advance, so it can keep issuing while the server
-- is unreachable. Offline numbers come from their own range (5001 up, see
-- smartqueue_core::numbering::OFFLINE_FIRST), so they never collide with the numbers the server
-- issues (1 up), and the online series stays gap-free.
CREATE TABLE number_leases (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    queue_id TEXT NOT NULL,
    business_day TEXT NOT NULL,
    kiosk_id TEXT NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, queue_id, business_day, first)
);
CREATE INDEX number_leases_by_kiosk ON number_leases(tenant_id, kiosk_id, business_day);
