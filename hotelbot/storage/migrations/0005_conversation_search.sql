-- Trigram full-text indexes behind the attendants' conversation search: any
-- run of 3 or more characters of a message's text, or of a guest's name or
-- phone, matched without regard to case. Without them a search that matches
-- nothing read every conversation of the tenant (3.3 s on 100,000).
--
-- Both index their table by rowid, and VACUUM may renumber the rowids of a
-- table without an INTEGER PRIMARY KEY: after a VACUUM, run
-- INSERT INTO message_text_search (message_text_search) VALUES ('rebuild'),
-- and the same for contact_search.

CREATE VIRTUAL TABLE message_text_search USING fts5(
    content, content = 'messages', content_rowid = 'rowid', tokenize = 'trigram'
);

CREATE TRIGGER messages_text_search_insert AFTER INSERT ON messages WHEN new.content IS NOT NULL
BEGIN
    INSERT INTO message_text_search (rowid, content) VALUES (new.rowid, new.content);
END;

CREATE TRIGGER messages_text_search_delete AFTER DELETE ON messages WHEN old.content IS NOT NULL
BEGIN
    INSERT INTO message_text_search (message_text_search, rowid, content) VALUES ('delete', old.rowid, old.content);
END;

CREATE TRIGGER messages_text_search_update AFTER UPDATE OF content ON messages
BEGIN
    INSERT INTO message_text_search (message_text_search, rowid, content)
        SELECT 'delete', old.rowid, old.content WHERE old.content IS NOT NULL;
    INSERT INTO message_text_search (rowid, content)
        SELECT new.rowid, new.content WHERE new.content IS NOT NULL;
END;

INSERT INTO message_text_search (message_text_search) VALUES ('rebuild');

CREATE VIRTUAL TABLE contact_search USING fts5(
    name, phone, content = 'contacts', content_rowid = 'rowid', tokenize = 'trigram'
);

CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts
BEGIN
    INSERT INTO contact_search (rowid, name, phone) VALUES (new.rowid, new.name, new.phone);
END;

CREATE TRIGGER contacts_search_delete AFTER DELETE ON contacts
BEGIN
    INSERT INTO contact_search (contact_search, rowid, name, phone) VALUES ('delete', old.rowid, old.name, old.phone);
END;

CREATE TRIGGER contacts_search_update AFTER UPDATE OF name, phone ON contacts
    WHEN old.name IS NOT new.name OR old.phone IS NOT new.phone
BEGIN
    INSERT INTO contact_search (contact_search, rowid, name, phone) VALUES ('delete', old.rowid, old.name, old.phone);
    INSERT INTO contact_search (rowid, name, phone) VALUES (new.rowid, new.name, new.phone);
END;

INSERT INTO contact_search (contact_search) VALUES ('rebuild');
