-- Per-account XML fragments: XEP-0049 private XML storage, XEP-0054 vCards.

-- +goose Up
CREATE TABLE private_xml (
    domain   TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    -- Chosen by the module, e.g. "jabber:iq:private storage:bookmarks".
    key      TEXT COLLATE "C" NOT NULL,
    data     BYTEA NOT NULL,
    PRIMARY KEY (domain, username, key),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE private_xml;
