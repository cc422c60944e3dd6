-- An item that exists only to hold a stored inbound subscription request
-- from someone not in the user's roster: RFC 6121 Appendix A.1 forbids
-- creating a roster item for it, so such rows are never shown to clients.

-- +goose Up
ALTER TABLE roster_items ADD COLUMN placeholder INTEGER NOT NULL DEFAULT 0 CHECK (placeholder IN (0, 1));

-- +goose Down
ALTER TABLE roster_items DROP COLUMN placeholder;
