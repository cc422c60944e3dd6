-- Offline messages (RFC 6121 §8.5.2.2.1, XEP-0160).

-- +goose Up
-- id orders an account's messages; an identity is never reused.
CREATE TABLE offline_messages (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain   TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    stamp_ms BIGINT NOT NULL,
    stanza   BYTEA  NOT NULL,
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

CREATE INDEX offline_messages_owner ON offline_messages (domain, username, id);

-- +goose Down
DROP TABLE offline_messages;
