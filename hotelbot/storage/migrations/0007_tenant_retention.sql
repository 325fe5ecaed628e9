-- Each tenant's retention policy for guests' data. Messages and media files
-- older than retention_months are deleted, and closed conversations inactive
-- that long are anonymised, by the daily retention job. 0 keeps everything.
ALTER TABLE tenants ADD COLUMN retention_months INTEGER NOT NULL DEFAULT 0 CHECK (retention_months >= 0);
