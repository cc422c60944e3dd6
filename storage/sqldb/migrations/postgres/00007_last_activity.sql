-- When each account last logged out, and the status of its last
-- unavailable presence (XEP-0012 last activity).

-- +goose Up
CREATE TABLE last_activity (
    domain   TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    -- Milliseconds since the Unix epoch, UTC.
    at_ms    BIGINT NOT NULL,
    status   TEXT NOT NULL,
    PRIMARY KEY (domain, username),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE last_activity;
