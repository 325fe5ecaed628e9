-- Meta's timestamps have whole seconds: messages of the same second are ordered by arrival.
DROP INDEX messages_conversation;
CREATE INDEX messages_conversation ON messages (conversation_id, created_at DESC, received_at DESC, id DESC);
