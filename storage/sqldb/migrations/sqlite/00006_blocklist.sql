-- XEP-0191 block lists: one row per blocked JID of an account.

-- +goose Up
CREATE TABLE blocklist (
    domain   TEXT NOT NULL,
    username TEXT NOT NULL,
    -- Canonical JID string: full, bare, domain/resource or domain.
    jid      TEXT NOT NULL,
    PRIMARY KEY (domain, username, jid),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
) WITHOUT ROWID;

-- +goose Down
DROP TABLE blocklist;
