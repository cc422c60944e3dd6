-- XEP-0191 block lists: one row per blocked JID of an account.

-- +goose Up
CREATE TABLE blocklist (
    domain   TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    -- Canonical JID string: full, bare, domain/resource or domain. "C"
    -- collation: ordered by bytes, as the contract says.
    jid      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (domain, username, jid),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE blocklist;
