-- An N8N send's Idempotency-Key is kept in client_message_id with no created_by:
-- one message per key and tenant, as messages_client_id does for each attendant.
CREATE UNIQUE INDEX messages_n8n_key ON messages (tenant_id, client_message_id)
    WHERE client_message_id IS NOT NULL AND created_by IS NULL;
