-- Tickets that ended (closed, no-show, cancelled) per queue, business day and status, maintained
-- in the same transaction as the change that ends a ticket. The queue figures (stats endpoint,
-- the queue.eta task every 2 s) read "served today" in O(1) instead of visiting every ticket the
-- queue ever closed to check its business day.
CREATE TABLE queue_day_counts (
    tenant_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    business_day TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, queue_id, business_day, status)
);

INSERT INTO queue_day_counts (tenant_id, queue_id, business_day, status, n)
    SELECT tenant_id, queue_id, business_day, status, COUNT(*) FROM tickets
    WHERE status IN ('closed', 'no_show', 'cancelled')
    GROUP BY tenant_id, queue_id, business_day, status;
