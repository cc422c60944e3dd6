-- Per-account XML fragments: XEP-0049 private XML storage, XEP-0054 vCards.

-- +goose Up
CREATE TABLE private_xml (
    domain   TEXT NOT NULL,
    username TEXT NOT NULL,
    -- Chosen by the module, e.g. "jabber:iq:private storage:bookmarks".
    key      TEXT NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (domain, username, key),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
) WITHOUT ROWID;

-- +goose Down
DROP TABLE private_xml;
