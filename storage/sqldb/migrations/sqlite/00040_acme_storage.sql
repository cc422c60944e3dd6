-- ACME data (internal/acme.PostgresStorage, [acme] storage_backend =
-- "database"). Used on PostgreSQL only (a single SQLite node keeps its
-- ACME data in files); here so both engines have the same schema
-- versions, as every migration is.

-- +goose Up
CREATE TABLE acme_storage (
    key         TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    modified_ms INTEGER NOT NULL
);

-- +goose Down
DROP TABLE acme_storage;
