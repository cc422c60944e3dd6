-- archive_counts is kept by the code that inserts archive messages (one
-- upsert per archive per batch, storage/sqldb/archive.go) instead of a
-- trigger per row: under load the per-row upsert (and the statement
-- journal the trigger forces on every INSERT) was a fifth of the archive
-- writer's cost. Deletes still go through the delete trigger.

-- +goose Up
DROP TRIGGER archive_messages_count_insert;

-- +goose Down
-- +goose StatementBegin
CREATE TRIGGER archive_messages_count_insert AFTER INSERT ON archive_messages
BEGIN
    INSERT INTO archive_counts (archive, n) VALUES (NEW.archive, 1)
        ON CONFLICT (archive) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd
