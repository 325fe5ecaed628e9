-- The audit trail: who did what to which conversation or account, and when.
-- Rows are append-only. Details hold ids, fields and counts, never a guest's
-- phone, name or message text, so the trail may outlive an erasure.

CREATE TABLE audit_events (
    -- Insertion order, which is time order: entries of one millisecond keep their sequence.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    -- USER (a person signed in), N8N (the tenant's API key), SYSTEM (the server) or CLI.
    actor_type TEXT NOT NULL CHECK (actor_type IN ('USER', 'N8N', 'SYSTEM', 'CLI')),
    actor_id TEXT,
    action TEXT NOT NULL,
    conversation_id TEXT,
    -- The id of what the action touched besides the conversation: a user, a file, a message.
    target TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, seq);
CREATE INDEX audit_events_conversation ON audit_events (conversation_id, seq) WHERE conversation_id IS NOT NULL;
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, seq);
CREATE INDEX audit_events_created ON audit_events (created_at);

-- Retention opens a window by inserting the cutoff here, deletes the older
-- rows and removes the window, all in one transaction. Nothing else may
-- delete an audit row, and nothing may change one.
CREATE TABLE audit_purge_window (
    before TEXT NOT NULL
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_window WHERE OLD.created_at < before)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
