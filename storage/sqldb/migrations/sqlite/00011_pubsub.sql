-- XEP-0060 publish-subscribe nodes, shared by PEP (XEP-0163; service =
-- the account's bare JID) and the pubsub service component (service = its
-- domain).

-- +goose Up
CREATE TABLE pubsub_nodes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    service        TEXT NOT NULL,
    node           TEXT NOT NULL,
    -- The account a PEP service belongs to (both NULL for a component's
    -- nodes, which no foreign key then checks): deleting the account
    -- deletes its nodes and, by cascade, their items.
    account_domain TEXT,
    account_user   TEXT,
    -- XEP-0004 field values as a JSON object of string arrays.
    config         TEXT NOT NULL,
    UNIQUE (service, node),
    FOREIGN KEY (account_domain, account_user) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE INDEX pubsub_nodes_account ON pubsub_nodes (account_domain, account_user);

CREATE TABLE pubsub_affiliations (
    node_id     INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
    jid         TEXT    NOT NULL,
    affiliation TEXT    NOT NULL,
    PRIMARY KEY (node_id, jid)
) WITHOUT ROWID;

CREATE TABLE pubsub_subscriptions (
    node_id INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
    jid     TEXT    NOT NULL,
    subid   TEXT    NOT NULL,
    state   TEXT    NOT NULL,
    PRIMARY KEY (node_id, jid, subid)
) WITHOUT ROWID;

-- seq orders a node's items by publication (AUTOINCREMENT: never reused,
-- and a republished item is deleted and inserted again, so it becomes the
-- newest).
CREATE TABLE pubsub_items (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id      INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
    item_id      TEXT    NOT NULL,
    publisher    TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    published_ms INTEGER NOT NULL,
    UNIQUE (node_id, item_id)
);
CREATE INDEX pubsub_items_order ON pubsub_items (node_id, seq);

-- +goose Down
DROP TABLE pubsub_items;
DROP TABLE pubsub_subscriptions;
DROP TABLE pubsub_affiliations;
DROP TABLE pubsub_nodes;
