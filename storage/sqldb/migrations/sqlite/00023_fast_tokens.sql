-- XEP-0484 FAST tokens: per account and client (<user-agent id/>), two
-- slots, 'new' (issued, not yet used) and 'current' (XEP-0484 §5.1). Only
-- the SHA-256 of a token is stored.

-- +goose Up
CREATE TABLE fast_tokens (
    domain     TEXT NOT NULL,
    username   TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    slot       TEXT NOT NULL CHECK (slot IN ('new', 'current')),
    mechanism  TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    label      TEXT NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    created_ms INTEGER NOT NULL,
    expiry_ms  INTEGER NOT NULL,
    PRIMARY KEY (domain, username, agent_id, slot),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
) WITHOUT ROWID;

-- +goose Down
DROP TABLE fast_tokens;
