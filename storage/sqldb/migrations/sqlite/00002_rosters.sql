-- Rosters (RFC 6121 §2) with a per-account version (XEP-0237).

-- +goose Up
-- One row per account that ever had a roster change; version increases
-- by one with every change. No row means version 0.
CREATE TABLE roster_versions (
    domain   TEXT    NOT NULL,
    username TEXT    NOT NULL,
    version  INTEGER NOT NULL CHECK (version > 0),
    PRIMARY KEY (domain, username),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE roster_items (
    domain       TEXT    NOT NULL,
    username     TEXT    NOT NULL,
    jid          TEXT    NOT NULL,
    name         TEXT    NOT NULL DEFAULT '',
    subscription TEXT    NOT NULL DEFAULT 'none'
                 CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask          INTEGER NOT NULL DEFAULT 0 CHECK (ask IN (0, 1)),
    approved     INTEGER NOT NULL DEFAULT 0 CHECK (approved IN (0, 1)),
    -- JSON array of strings, in the client's order.
    item_groups  TEXT    NOT NULL DEFAULT '[]',
    PRIMARY KEY (domain, username, jid),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
) WITHOUT ROWID;

-- +goose Down
DROP TABLE roster_items;
DROP TABLE roster_versions;
