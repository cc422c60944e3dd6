-- Offline messages (RFC 6121 §8.5.2.2.1, XEP-0160).

-- +goose Up
-- id orders an account's messages (AUTOINCREMENT: never reused, so an id
-- handed out by a fetch is never given to a newer message).
CREATE TABLE offline_messages (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    domain   TEXT    NOT NULL,
    username TEXT    NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    stamp_ms INTEGER NOT NULL,
    stanza   BLOB    NOT NULL,
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

CREATE INDEX offline_messages_owner ON offline_messages (domain, username, id);

-- +goose Down
DROP TABLE offline_messages;
