-- XEP-0484 FAST tokens: per account and client (<user-agent id/>), two
-- slots, 'new' (issued, not yet used) and 'current' (XEP-0484 §5.1). Only
-- the SHA-256 of a token is stored.

-- +goose Up
CREATE TABLE fast_tokens (
    domain     TEXT COLLATE "C" NOT NULL,
    username   TEXT COLLATE "C" NOT NULL,
    agent_id   TEXT COLLATE "C" NOT NULL,
    slot       TEXT NOT NULL CHECK (slot IN ('new', 'current')),
    mechanism  TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    label      TEXT NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    created_ms BIGINT NOT NULL,
    expiry_ms  BIGINT NOT NULL,
    PRIMARY KEY (domain, username, agent_id, slot),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE fast_tokens;
