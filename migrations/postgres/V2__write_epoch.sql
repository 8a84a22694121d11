-- One row, bumped by every write transaction of every server instance right after it takes the
-- deployment's write lock: an instance that reads its own last value plus one knows nobody else
-- wrote in between, and may trust what it remembers (server/src/store/postgres/cache.rs).
-- Anything else that writes to this database while servers run must bump it too.
CREATE TABLE write_epoch (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    n BIGINT NOT NULL
);
INSERT INTO write_epoch (id, n) VALUES (TRUE, 0);
