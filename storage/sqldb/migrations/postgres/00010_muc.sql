-- Persistent multi-user chat rooms (XEP-0045) and their affiliations.

-- +goose Up
CREATE TABLE muc_rooms (
    service TEXT COLLATE "C" NOT NULL,
    name    TEXT COLLATE "C" NOT NULL,
    -- The room's configuration and subject, in the MUC module's encoding.
    config  BYTEA NOT NULL,
    -- The room's vcard-temp element, NULL for none.
    vcard   BYTEA,
    PRIMARY KEY (service, name)
);

CREATE TABLE muc_affiliations (
    service     TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    jid         TEXT COLLATE "C" NOT NULL,
    affiliation TEXT NOT NULL,
    nick        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (service, name, jid),
    FOREIGN KEY (service, name) REFERENCES muc_rooms (service, name) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE muc_affiliations;
DROP TABLE muc_rooms;
