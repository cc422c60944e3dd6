-- Accounts and their SCRAM credentials (one row per hash).
-- goose runs this file in one transaction together with its version row,
-- so a failure leaves the database exactly as it was.

-- +goose Up
CREATE TABLE accounts (
    domain     TEXT NOT NULL,
    username   TEXT NOT NULL,
    -- UTC, RFC 3339 with milliseconds; set by the database so callers
    -- need no clock and both engines agree on who stamps it.
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (domain, username)
) WITHOUT ROWID;

CREATE TABLE credentials (
    domain     TEXT    NOT NULL,
    username   TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    salt       BLOB    NOT NULL,
    iterations INTEGER NOT NULL CHECK (iterations > 0),
    stored_key BLOB    NOT NULL,
    server_key BLOB    NOT NULL,
    PRIMARY KEY (domain, username, hash),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
) WITHOUT ROWID;

-- +goose Down
DROP TABLE credentials;
DROP TABLE accounts;
