-- The dashboard's version per tenant, the triggers that change it, and the
-- indexes behind the stats and the attendants' hot queries.
--
-- The stats cache key contains the tenant's version, and these triggers change
-- it in the same transaction as any change to a number the stats count. So a
-- code path that writes conversations or escalations cannot forget to drop the
-- cache: the old key is simply never read again.

CREATE TABLE stats_versions (
    tenant_id TEXT PRIMARY KEY,
    -- A random number that changes on every counted change. It is random rather
    -- than a counter so that a database restored from a backup never matches
    -- an answer cached from a different state under the same number.
    version INTEGER NOT NULL DEFAULT 0,
    -- Start of the tenant's current day (UTC, ISO 8601), written by the stats
    -- service. A guest writing for the first time that day changes the day's
    -- active conversations, so it changes the version too.
    day_start TEXT
) WITHOUT ROWID;

CREATE TRIGGER stats_conversation_inserted AFTER INSERT ON conversations
BEGIN
    INSERT INTO stats_versions (tenant_id, version) VALUES (NEW.tenant_id, random())
        ON CONFLICT (tenant_id) DO UPDATE SET version = random();
END;

CREATE TRIGGER stats_conversation_changed
AFTER UPDATE OF status, priority, hotel_unit, assigned_to_id ON conversations
WHEN NEW.status IS NOT OLD.status
  OR NEW.priority IS NOT OLD.priority
  OR NEW.hotel_unit IS NOT OLD.hotel_unit
  OR NEW.assigned_to_id IS NOT OLD.assigned_to_id
BEGIN
    INSERT INTO stats_versions (tenant_id, version) VALUES (NEW.tenant_id, random())
        ON CONFLICT (tenant_id) DO UPDATE SET version = random();
END;

-- The first guest message of the tenant's day makes the conversation active today.
CREATE TRIGGER stats_conversation_active_today
AFTER UPDATE OF last_inbound_at ON conversations
WHEN NEW.last_inbound_at >= (SELECT day_start FROM stats_versions WHERE tenant_id = NEW.tenant_id)
 AND (OLD.last_inbound_at IS NULL
      OR OLD.last_inbound_at < (SELECT day_start FROM stats_versions WHERE tenant_id = NEW.tenant_id))
BEGIN
    UPDATE stats_versions SET version = random() WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER stats_conversation_deleted AFTER DELETE ON conversations
BEGIN
    INSERT INTO stats_versions (tenant_id, version) VALUES (OLD.tenant_id, random())
        ON CONFLICT (tenant_id) DO UPDATE SET version = random();
END;

CREATE TRIGGER stats_escalation_inserted AFTER INSERT ON escalations
BEGIN
    INSERT INTO stats_versions (tenant_id, version) VALUES (NEW.tenant_id, random())
        ON CONFLICT (tenant_id) DO UPDATE SET version = random();
END;

CREATE TRIGGER stats_escalation_changed
AFTER UPDATE OF status, priority, hotel_unit, first_response_at, resolved_at ON escalations
WHEN NEW.status IS NOT OLD.status
  OR NEW.priority IS NOT OLD.priority
  OR NEW.hotel_unit IS NOT OLD.hotel_unit
  OR NEW.first_response_at IS NOT OLD.first_response_at
  OR NEW.resolved_at IS NOT OLD.resolved_at
BEGIN
    INSERT INTO stats_versions (tenant_id, version) VALUES (NEW.tenant_id, random())
        ON CONFLICT (tenant_id) DO UPDATE SET version = random();
END;

CREATE TRIGGER stats_escalation_deleted AFTER DELETE ON escalations
BEGIN
    INSERT INTO stats_versions (tenant_id, version) VALUES (OLD.tenant_id, random())
        ON CONFLICT (tenant_id) DO UPDATE SET version = random();
END;

-- Counts by unit, status and priority read this index alone.
CREATE INDEX conversations_stats ON conversations (tenant_id, hotel_unit, status, priority);

-- Conversations a guest wrote to in a period, found by their latest guest message
-- (and their creation, which bounds the earliest).
CREATE INDEX conversations_inbound
    ON conversations (tenant_id, last_inbound_at, hotel_unit, assigned_to_id, created_at, id);

-- Open escalations by priority, and whether an escalation of a conversation was open in a period.
CREATE INDEX escalations_open_priority ON escalations (tenant_id, priority, hotel_unit)
    WHERE status != 'RESOLVED';
CREATE INDEX escalations_conversation ON escalations (conversation_id, created_at, resolved_at);

-- Escalations resolved in a period; those created in one, by priority and with their first response.
CREATE INDEX escalations_resolved ON escalations (tenant_id, resolved_at, hotel_unit)
    WHERE resolved_at IS NOT NULL;
CREATE INDEX escalations_created ON escalations (tenant_id, created_at, hotel_unit, priority, first_response_at);

-- A guest's conversation is found by joining from the contact (N8N calls by phone);
-- without this index that join read the whole conversations table.
CREATE INDEX conversations_contact ON conversations (contact_id);
