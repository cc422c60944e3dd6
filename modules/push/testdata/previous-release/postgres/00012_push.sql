-- XEP-0357 push services each account enabled: the app server's push
-- service JID and node, with the publish options sent along.

-- +goose Up
CREATE TABLE push_registrations (
    domain       TEXT COLLATE "C" NOT NULL,
    username     TEXT COLLATE "C" NOT NULL,
    service      TEXT COLLATE "C" NOT NULL,
    node         TEXT COLLATE "C" NOT NULL,
    -- The publish-options data form as XML, '' for none.
    options      TEXT NOT NULL,
    include_body BOOLEAN NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    created_ms   BIGINT NOT NULL,
    PRIMARY KEY (domain, username, service, node),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE push_registrations;
