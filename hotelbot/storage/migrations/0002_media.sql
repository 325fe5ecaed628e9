-- Files of the media store: guests' downloads and attendants' uploads.
-- A file lives at <data dir>/media/{tenant_id}/{id}; the id is random and
-- ends in an extension chosen from the content type, never from a guest.

CREATE TABLE media_files (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    message_id TEXT REFERENCES messages(id),
    -- The message type the file belongs to: IMAGE, AUDIO, VIDEO, DOCUMENT or STICKER.
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    -- The original file name as people see it; never used to build a path.
    file_name TEXT,
    size INTEGER NOT NULL,
    -- Lower-case hex SHA-256 of the content, also the file's ETag.
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- Set when retention removed the file; the row and its message stay.
    deleted_at TEXT
);
CREATE INDEX media_files_message ON media_files (message_id);
CREATE INDEX media_files_live ON media_files (created_at) WHERE deleted_at IS NULL;

-- Downloads still to do, queued again at start.
CREATE INDEX messages_media_pending ON messages (created_at) WHERE media_status = 'PENDING';

-- Retention finds the messages of a removed file by their mediaUrl.
CREATE INDEX messages_media_url ON messages (tenant_id, media_url) WHERE media_url IS NOT NULL;
