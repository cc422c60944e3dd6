-- Message archives (XEP-0313) for accounts and rooms, and their
-- preferences. An archive is named by a caller's key (an account's bare
-- JID or a room JID), so there is no foreign key to accounts; a trigger
-- deletes an account's archive with the account instead.

-- +goose Up
-- seq orders messages inserted in the same millisecond and is the
-- cheapest key to delete by; id is the public stanza-id (XEP-0359).
CREATE TABLE archive_messages (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    archive  TEXT    NOT NULL,
    id       TEXT    NOT NULL UNIQUE,
    with_jid TEXT    NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    time_ms  INTEGER NOT NULL,
    stanza   BLOB    NOT NULL
);

-- A page is a range scan in archive order on one of these, with or
-- without the 'with' filter; count(*) of a filter is an index-only scan.
CREATE INDEX archive_messages_order ON archive_messages (archive, time_ms, seq);
CREATE INDEX archive_messages_with ON archive_messages (archive, with_jid, time_ms, seq);
-- No index on time_ms alone: retention by age walks archive_counts and
-- probes archive_messages_order per archive, and a time_ms index would
-- tempt the planner into scanning it for a page of one archive that owns
-- most of the table.

-- How many messages each archive holds, kept by triggers: the RSM count of
-- an unfiltered query (XEP-0059 §2.6) read from here is one row instead of
-- an index scan over the whole archive.
CREATE TABLE archive_counts (
    archive TEXT    NOT NULL PRIMARY KEY,
    n       INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose StatementBegin
CREATE TRIGGER archive_messages_count_insert AFTER INSERT ON archive_messages
BEGIN
    INSERT INTO archive_counts (archive, n) VALUES (NEW.archive, 1)
        ON CONFLICT (archive) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER archive_messages_count_delete AFTER DELETE ON archive_messages
BEGIN
    UPDATE archive_counts SET n = n - 1 WHERE archive = OLD.archive;
END;
-- +goose StatementEnd

CREATE TABLE archive_prefs (
    archive      TEXT NOT NULL PRIMARY KEY,
    default_mode TEXT NOT NULL CHECK (default_mode IN ('always', 'never', 'roster'))
) WITHOUT ROWID;

CREATE TABLE archive_pref_jids (
    archive TEXT NOT NULL,
    jid     TEXT NOT NULL,
    mode    TEXT NOT NULL CHECK (mode IN ('always', 'never')),
    PRIMARY KEY (archive, jid),
    FOREIGN KEY (archive) REFERENCES archive_prefs (archive) ON DELETE CASCADE
) WITHOUT ROWID;

-- +goose StatementBegin
CREATE TRIGGER accounts_delete_archive AFTER DELETE ON accounts
BEGIN
    DELETE FROM archive_messages WHERE archive = OLD.username || '@' || OLD.domain;
    DELETE FROM archive_prefs WHERE archive = OLD.username || '@' || OLD.domain;
    DELETE FROM archive_counts WHERE archive = OLD.username || '@' || OLD.domain;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER accounts_delete_archive;
DROP TRIGGER archive_messages_count_delete;
DROP TRIGGER archive_messages_count_insert;
DROP TABLE archive_counts;
DROP TABLE archive_pref_jids;
DROP TABLE archive_prefs;
DROP TABLE archive_messages;
