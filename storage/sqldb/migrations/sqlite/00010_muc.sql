-- Persistent multi-user chat rooms (XEP-0045) and their affiliations.

-- +goose Up
CREATE TABLE muc_rooms (
    service TEXT NOT NULL,
    name    TEXT NOT NULL,
    -- The room's configuration and subject, in the MUC module's encoding.
    config  BLOB NOT NULL,
    -- The room's vcard-temp element, NULL for none.
    vcard   BLOB,
    PRIMARY KEY (service, name)
) WITHOUT ROWID;

CREATE TABLE muc_affiliations (
    service     TEXT NOT NULL,
    name        TEXT NOT NULL,
    jid         TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    nick        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (service, name, jid),
    FOREIGN KEY (service, name) REFERENCES muc_rooms (service, name) ON DELETE CASCADE
) WITHOUT ROWID;

-- +goose Down
DROP TABLE muc_affiliations;
DROP TABLE muc_rooms;
