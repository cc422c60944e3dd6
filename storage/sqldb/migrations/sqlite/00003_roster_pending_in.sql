-- Stored inbound subscription requests (RFC 6121 §3.1.3, the "Pending In"
-- states of Appendix A).

-- +goose Up
ALTER TABLE roster_items ADD COLUMN pending_in INTEGER NOT NULL DEFAULT 0 CHECK (pending_in IN (0, 1));

-- +goose Down
ALTER TABLE roster_items DROP COLUMN pending_in;
