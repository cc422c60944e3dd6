-- Invitations (XEP-0379, XEP-0401): a token that creates an account even
-- where open registration is off. Only the token's SHA-256 is stored.
-- account_roles holds the admin role an admin invite gives.

-- +goose Up
CREATE TABLE invites (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    token_hash BYTEA   NOT NULL UNIQUE,
    domain     TEXT COLLATE "C" NOT NULL,
    -- The inviter's bare JID, '' when the operator made it.
    creator    TEXT COLLATE "C" NOT NULL,
    -- The only username it creates, '' = the invitee chooses.
    username   TEXT COLLATE "C" NOT NULL,
    admin      BOOLEAN NOT NULL,
    uses_left  INTEGER NOT NULL CHECK (uses_left >= 0),
    -- Milliseconds since the Unix epoch, UTC.
    created_ms BIGINT  NOT NULL,
    expires_ms BIGINT  NOT NULL
);
CREATE INDEX invites_domain ON invites (domain, created_ms);

CREATE TABLE account_roles (
    domain   TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    role     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (domain, username, role),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE account_roles;
DROP TABLE invites;
