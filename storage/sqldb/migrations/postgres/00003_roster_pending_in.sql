-- Stored inbound subscription requests (RFC 6121 §3.1.3, the "Pending In"
-- states of Appendix A).

-- +goose Up
ALTER TABLE roster_items ADD COLUMN pending_in BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE roster_items DROP COLUMN pending_in;
