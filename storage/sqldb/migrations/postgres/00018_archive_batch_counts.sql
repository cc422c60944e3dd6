-- archive_counts is kept by the code that inserts archive messages (one
-- upsert per archive per batch, storage/sqldb/archive.go) instead of a
-- trigger per row. Deletes still go through the trigger.

-- +goose Up
DROP TRIGGER archive_messages_count ON archive_messages;
CREATE TRIGGER archive_messages_count AFTER DELETE ON archive_messages
    FOR EACH ROW EXECUTE FUNCTION archive_messages_count();

-- +goose Down
DROP TRIGGER archive_messages_count ON archive_messages;
CREATE TRIGGER archive_messages_count AFTER INSERT OR DELETE ON archive_messages
    FOR EACH ROW EXECUTE FUNCTION archive_messages_count();
