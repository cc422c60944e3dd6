-- Invitations (XEP-0379, XEP-0401): a token that creates an account even
-- where open registration is off. Only the token's SHA-256 is stored.
-- account_roles holds the admin role an admin invite gives.

-- +goose Up
CREATE TABLE invites (
    id         TEXT    NOT NULL PRIMARY KEY,
    token_hash BLOB    NOT NULL UNIQUE,
    domain     TEXT    NOT NULL,
    -- The inviter's bare JID, '' when the operator made it.
    creator    TEXT    NOT NULL,
    -- The only username it creates, '' = the invitee chooses.
    username   TEXT    NOT NULL,
    admin      INTEGER NOT NULL CHECK (admin IN (0, 1)),
    uses_left  INTEGER NOT NULL CHECK (uses_left >= 0),
    -- Milliseconds since the Unix epoch, UTC.
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX invites_domain ON invites (domain, created_ms);

CREATE TABLE account_roles (
    domain   TEXT NOT NULL,
    username TEXT NOT NULL,
    role     TEXT NOT NULL,
    PRIMARY KEY (domain, username, role),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
) WITHOUT ROWID;

-- +goose Down
DROP TABLE account_roles;
DROP TABLE invites;
