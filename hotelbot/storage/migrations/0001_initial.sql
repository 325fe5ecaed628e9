-- Tenants, people, guests, conversations, messages and the durable job state.
-- Times are ISO 8601 UTC strings with milliseconds, which sort in time order.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone_number_id TEXT NOT NULL UNIQUE,
    waba_id TEXT,
    time_zone TEXT NOT NULL DEFAULT 'America/Sao_Paulo',
    access_token_sealed TEXT NOT NULL,
    app_secret_sealed TEXT NOT NULL,
    verify_token_sealed TEXT NOT NULL,
    n8n_url TEXT,
    api_key_hash TEXT NOT NULL UNIQUE,
    forward_secret_sealed TEXT NOT NULL,
    read_receipts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE hotel_units (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (tenant_id, slug)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('ADMIN', 'SUPERVISOR', 'ATTENDANT')),
    hotel_unit TEXT,
    language TEXT NOT NULL DEFAULT 'pt-BR' CHECK (language IN ('pt-BR', 'en')),
    active INTEGER NOT NULL DEFAULT 1,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX users_tenant ON users (tenant_id, created_at);

-- One row per login; the refresh token's jti rotates inside it.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    refresh_jti TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Raw webhook bodies, stored before Meta gets its 200.
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    body BLOB NOT NULL,
    processed_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX inbox_unprocessed ON inbox (id) WHERE processed_at IS NULL;

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    phone TEXT,
    phone_key TEXT,
    user_id TEXT,
    name TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX contacts_phone ON contacts (tenant_id, phone_key) WHERE phone_key IS NOT NULL;
CREATE UNIQUE INDEX contacts_user ON contacts (tenant_id, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    status TEXT NOT NULL CHECK (status IN ('BOT', 'OPEN', 'IN_PROGRESS', 'CLOSED')),
    priority TEXT NOT NULL DEFAULT 'MEDIUM' CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
    hotel_unit TEXT,
    ia_locked INTEGER NOT NULL DEFAULT 0,
    ia_locked_by TEXT,
    ia_locked_at TEXT,
    assigned_to_id TEXT REFERENCES users(id),
    last_message_at TEXT,
    last_inbound_at TEXT,
    unread_count INTEGER NOT NULL DEFAULT 0,
    closed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, contact_id)
);
CREATE INDEX conversations_recent ON conversations (tenant_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_status ON conversations (tenant_id, status, last_message_at DESC);
CREATE INDEX conversations_unit ON conversations (tenant_id, hotel_unit, last_message_at DESC);
CREATE INDEX conversations_assignee ON conversations (tenant_id, assigned_to_id, last_message_at DESC);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    direction TEXT NOT NULL CHECK (direction IN ('INBOUND', 'OUTBOUND')),
    type TEXT NOT NULL,
    content TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    media_id TEXT,
    media_url TEXT,
    media_status TEXT CHECK (media_status IN ('PENDING', 'READY', 'FAILED', 'DELETED')),
    status TEXT NOT NULL,
    error TEXT,
    whatsapp_msg_id TEXT,
    sender TEXT NOT NULL,
    reply_to TEXT,
    reactions TEXT NOT NULL DEFAULT '[]',
    client_message_id TEXT,
    created_by TEXT,
    -- NONE (not for N8N), PENDING, WAITING_MEDIA, DONE or DEAD.
    forward_state TEXT NOT NULL DEFAULT 'NONE',
    created_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX messages_wamid ON messages (tenant_id, whatsapp_msg_id) WHERE whatsapp_msg_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (conversation_id, created_at DESC, id DESC);
CREATE INDEX messages_forward_pending ON messages (forward_state) WHERE forward_state IN ('PENDING', 'WAITING_MEDIA');
CREATE INDEX messages_outbound_pending ON messages (conversation_id, created_at) WHERE direction = 'OUTBOUND' AND status = 'PENDING';
CREATE UNIQUE INDEX messages_client_id ON messages (tenant_id, created_by, client_message_id) WHERE client_message_id IS NOT NULL;

-- Statuses that arrived before the message they describe was stored.
CREATE TABLE early_statuses (
    tenant_id TEXT NOT NULL,
    whatsapp_msg_id TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    received_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, whatsapp_msg_id, status)
);

CREATE TABLE escalations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    reason TEXT NOT NULL,
    hotel_unit TEXT,
    priority TEXT NOT NULL CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'IN_PROGRESS', 'RESOLVED')),
    created_at TEXT NOT NULL,
    first_response_at TEXT,
    resolved_at TEXT
);
-- At most one escalation open per conversation.
CREATE UNIQUE INDEX escalations_open ON escalations (conversation_id) WHERE status != 'RESOLVED';
CREATE INDEX escalations_tenant ON escalations (tenant_id, created_at);

-- Jobs whose attempts are spent, kept with their payload and last error.
CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    tenant_id TEXT,
    reference_id TEXT,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    retried_at TEXT
);
CREATE INDEX dead_letters_open ON dead_letters (created_at) WHERE retried_at IS NULL;

-- Account-level problems Meta reported in value.errors[], shown by the health check.
CREATE TABLE account_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT,
    code INTEGER,
    title TEXT,
    details TEXT,
    received_at TEXT NOT NULL
);
