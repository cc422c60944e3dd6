-- An item that exists only to hold a stored inbound subscription request
-- from someone not in the user's roster: RFC 6121 Appendix A.1 forbids
-- creating a roster item for it, so such rows are never shown to clients.

-- +goose Up
ALTER TABLE roster_items ADD COLUMN placeholder BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE roster_items DROP COLUMN placeholder;
