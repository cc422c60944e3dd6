-- Created XEP-0357's push_registrations until modules/push owned its
-- schema (modules/push/migrations, version table goose_db_version_push).
-- The file stays, empty, because databases record version 12 as applied
-- and goose's history cannot be rewritten; the module's first migration
-- takes over the table such a database has.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
