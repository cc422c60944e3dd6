-- ACME data (internal/acme.PostgresStorage, [acme] storage_backend =
-- "database"): the account, certificates and keys the nodes of a cluster
-- share, as certmagic's key/value storage (the SQLite twin is unused: a
-- single SQLite node keeps them in files). Locks are advisory locks, not
-- rows.

-- +goose Up
CREATE TABLE acme_storage (
    key         TEXT COLLATE "C" PRIMARY KEY,
    value       BYTEA NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    modified_ms BIGINT NOT NULL
);

-- +goose Down
DROP TABLE acme_storage;
