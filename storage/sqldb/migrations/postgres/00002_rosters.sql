-- Rosters (RFC 6121 §2) with a per-account version (XEP-0237).

-- +goose Up
-- One row per account that ever had a roster change; version increases
-- by one with every change. No row means version 0.
CREATE TABLE roster_versions (
    domain   TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    version  BIGINT NOT NULL CHECK (version > 0),
    PRIMARY KEY (domain, username),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- COLLATE "C": items come back in byte order of jid, as on SQLite.
CREATE TABLE roster_items (
    domain       TEXT COLLATE "C" NOT NULL,
    username     TEXT COLLATE "C" NOT NULL,
    jid          TEXT COLLATE "C" NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    subscription TEXT NOT NULL DEFAULT 'none'
                 CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask          BOOLEAN NOT NULL DEFAULT false,
    approved     BOOLEAN NOT NULL DEFAULT false,
    -- JSON array of strings, in the client's order.
    item_groups  TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (domain, username, jid),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE roster_items;
DROP TABLE roster_versions;
