-- Accounts and their SCRAM credentials (one row per hash).
-- goose runs this file in one transaction together with its version row,
-- so a failure leaves the database exactly as it was.

-- +goose Up
-- COLLATE "C" makes ORDER BY compare bytes, as SQLite's BINARY collation
-- does, so ListAccounts returns the same order on both engines whatever
-- locale the cluster was initialised with.
CREATE TABLE accounts (
    domain     TEXT COLLATE "C" NOT NULL,
    username   TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (domain, username)
);

CREATE TABLE credentials (
    domain     TEXT COLLATE "C" NOT NULL,
    username   TEXT COLLATE "C" NOT NULL,
    hash       TEXT COLLATE "C" NOT NULL,
    salt       BYTEA   NOT NULL,
    iterations INTEGER NOT NULL CHECK (iterations > 0),
    stored_key BYTEA   NOT NULL,
    server_key BYTEA   NOT NULL,
    PRIMARY KEY (domain, username, hash),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE credentials;
DROP TABLE accounts;
