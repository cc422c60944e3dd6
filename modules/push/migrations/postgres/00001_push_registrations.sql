-- XEP-0357 push services each account enabled: the app server's push
-- service JID and node, with the publish options sent along.
--
-- IF NOT EXISTS: until the module owned its schema, the core's migration
-- 00012_push.sql (storage/sqldb/migrations) created this same table. A
-- database made by that release has it, with its rows, and this
-- migration takes it over as it is; on a new database the core's 00012
-- is now empty and this creates it.

-- +goose Up
CREATE TABLE IF NOT EXISTS push_registrations (
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
    -- Deleting the account deletes its registrations.
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE push_registrations;
