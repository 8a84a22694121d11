-- Waiting tickets per queue, maintained in the same transaction as every change of a ticket's
-- waiting status, so queue length and positions cost O(1) instead of a count over the line.
CREATE TABLE queue_waiting (
    tenant_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    waiting INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, queue_id)
);

INSERT INTO queue_waiting (tenant_id, queue_id, waiting)
    SELECT tenant_id, queue_id, COUNT(*) FROM tickets WHERE status = 'waiting' GROUP BY tenant_id, queue_id;
