-- XEP-0357 push services each account enabled: the app server's push
-- service JID and node, with the publish options sent along.

-- +goose Up
CREATE TABLE push_registrations (
    domain       TEXT NOT NULL,
    username     TEXT NOT NULL,
    service      TEXT NOT NULL,
    node         TEXT NOT NULL,
    -- The publish-options data form as XML, '' for none.
    options      TEXT NOT NULL,
    include_body INTEGER NOT NULL CHECK (include_body IN (0, 1)),
    -- Milliseconds since the Unix epoch, UTC.
    created_ms   INTEGER NOT NULL,
    PRIMARY KEY (domain, username, service, node),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
) WITHOUT ROWID;

-- +goose Down
DROP TABLE push_registrations;
