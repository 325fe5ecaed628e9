-- The row the health check rewrites to prove the database file takes writes,
-- and the index behind its search for sends Meta rejected.

-- One row, rewritten by every health check. A temporary table would not do:
-- it lives outside the database file, so it is writable even when the file is not.
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL
);

CREATE INDEX messages_outbound_failed ON messages (tenant_id, updated_at)
    WHERE direction = 'OUTBOUND' AND status = 'FAILED';
