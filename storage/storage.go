// Package storage defines the small, per-concern interfaces xmppd persists
// through. Backends (storage/sqldb for SQLite and PostgreSQL) implement them
// and must pass the conformance suite in storage/storagetest.
//
// CONTRACT: the exported API below is what the rest of xmppd codes against.
package storage

import (
	"context"
	"errors"
	"time"
)

var (
	ErrNotFound = errors.New("storage: not found")
	ErrExists   = errors.New("storage: already exists")
)

// Credential is one SCRAM credential set (one per hash) for an account.
// Mirrors auth.Credential field by field; storage does not import auth.
type Credential struct {
	Hash       string // "SHA-1", "SHA-256", "SHA-512"
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Accounts stores accounts and their SCRAM credentials. Accounts are keyed
// by (domain, username), both already normalized (RFC 7622) by the caller.
type Accounts interface {
	// CreateAccount fails with ErrExists if the account exists.
	CreateAccount(ctx context.Context, domain, username string, creds []Credential) error
	// SetCredentials replaces all credentials; ErrNotFound if no account.
	SetCredentials(ctx context.Context, domain, username string, creds []Credential) error
	// DeleteAccount removes the account and its credentials; ErrNotFound if none.
	DeleteAccount(ctx context.Context, domain, username string) error
	// Credential returns the credential for one hash; ErrNotFound if the
	// account or that hash is missing.
	Credential(ctx context.Context, domain, username, hash string) (Credential, error)
	// AccountExists reports whether the account exists.
	AccountExists(ctx context.Context, domain, username string) (bool, error)
	// ListAccounts returns the usernames of a domain in ascending order
	// ("" domain: all domains, as "username@domain").
	ListAccounts(ctx context.Context, domain string) ([]string, error)
}

// RosterItem is one contact in a user's roster (RFC 6121 §2.1.2).
type RosterItem struct {
	// JID is the contact's bare JID, normalized by the caller. It is the
	// key: one item per JID per roster.
	JID string
	// Name is the user's handle for the contact ("" when none).
	Name string
	// Subscription is "none", "to", "from" or "both" ("remove" only ever
	// appears in roster pushes, never in storage).
	Subscription string
	// Ask is a pending outbound subscription request (ask='subscribe').
	Ask bool
	// Approved is a subscription pre-approval (RFC 6121 §3.4).
	Approved bool
	// PendingIn is a stored inbound subscription request from the contact
	// awaiting the user's answer (RFC 6121 §3.1.3, "Pending In" in
	// Appendix A). Roster pushes and results never show it.
	PendingIn bool
	// Placeholder marks an item that is not in the user's roster: it only
	// holds a PendingIn request from an entity the user never added
	// (RFC 6121 Appendix A.1: no roster item is created for it). Roster
	// results and pushes never show it.
	Placeholder bool
	// Groups in the order the client gave them; no duplicates.
	Groups []string
}

// Rosters stores each account's roster with a version (XEP-0237, RFC 6121
// §2.6) that increases by at least one with every change. Versions are
// opaque strings to callers; the empty roster of a user that never had an
// item has version "0". Keys are (domain, username) of the account, as in
// Accounts.
type Rosters interface {
	// Roster returns every item, ordered by JID (bytes), and the version
	// they belong to (read together, never a mix of two versions).
	Roster(ctx context.Context, domain, username string) ([]RosterItem, string, error)
	// SetRosterItem adds the item or replaces the one with the same JID
	// and returns the new version. ErrNotFound if the account does not
	// exist.
	SetRosterItem(ctx context.Context, domain, username string, item RosterItem) (version string, err error)
	// DeleteRosterItem removes the item with that JID and returns the new
	// version; ErrNotFound (and no new version) if there is none.
	DeleteRosterItem(ctx context.Context, domain, username, jid string) (version string, err error)
}

// ErrFull is returned by Offline.StoreOffline when the account already
// holds as many messages as the caller's limit allows.
var ErrFull = errors.New("storage: full")

// OfflineMessage is one stored message (RFC 6121 §8.5.2.2.1, XEP-0160).
type OfflineMessage struct {
	// ID increases with every stored message of the store (not only of
	// the account): messages of one account come back in ID order, which
	// is the order they were stored in.
	ID int64
	// Stanza is the serialized <message/>, opaque to the store.
	Stanza []byte
	// Stamp is when the message was stored (millisecond precision, UTC).
	Stamp time.Time
}

// Offline stores messages for accounts that had no available resource.
// Keys are (domain, username) of the account, as in Accounts; deleting the
// account deletes its messages.
type Offline interface {
	// StoreOffline appends a message. It fails with ErrFull (storing
	// nothing) when the account already holds limit messages or more
	// (limit <= 0: no limit), and with ErrNotFound when the account does
	// not exist. The check and the insert are atomic.
	StoreOffline(ctx context.Context, domain, username string, stanza []byte, stamp time.Time, limit int) error
	// OfflineMessages returns the account's messages, oldest first.
	OfflineMessages(ctx context.Context, domain, username string) ([]OfflineMessage, error)
	// DeleteOffline deletes the account's messages with ID <= upTo (those
	// a previous OfflineMessages returned and the caller delivered) and
	// reports how many it deleted.
	DeleteOffline(ctx context.Context, domain, username string, upTo int64) (int, error)
	// CountOffline reports how many messages the account holds.
	CountOffline(ctx context.Context, domain, username string) (int, error)
}

// PrivateXML stores opaque XML fragments per account and key: XEP-0049
// private XML storage and XEP-0054 vCards. Keys are chosen by the caller
// (e.g. "jabber:iq:private storage:bookmarks"); data is opaque bytes. Keys
// of the account are (domain, username) as in Accounts; deleting the
// account deletes its data.
type PrivateXML interface {
	// GetPrivate returns the data stored under key, ErrNotFound if none
	// (also when the account does not exist).
	GetPrivate(ctx context.Context, domain, username, key string) ([]byte, error)
	// SetPrivate stores data under key, replacing what was there. nil data
	// deletes the key (no error if it was absent). Storing for an account
	// that does not exist fails with ErrNotFound.
	SetPrivate(ctx context.Context, domain, username, key string, data []byte) error
}

// BlockLists stores each account's XEP-0191 block list: a set of JIDs,
// each the canonical string of a full JID, a bare JID, a domain/resource
// or a domain (XEP-0191 §7), normalized by the caller. Keys are (domain,
// username) of the account, as in Accounts; deleting the account deletes
// its list.
type BlockLists interface {
	// BlockList returns the blocked JIDs ordered by JID (bytes); empty
	// when none (also when the account does not exist).
	BlockList(ctx context.Context, domain, username string) ([]string, error)
	// Block adds jids to the list in one transaction; JIDs already on it
	// (or repeated in jids) are no error. ErrNotFound (and nothing added)
	// if the account does not exist.
	Block(ctx context.Context, domain, username string, jids []string) error
	// Unblock removes jids from the list; JIDs not on it are ignored.
	Unblock(ctx context.Context, domain, username string, jids []string) error
	// UnblockAll empties the list.
	UnblockAll(ctx context.Context, domain, username string) error
}

// LastActivity stores, per account, when it last logged out and the status
// text of its last unavailable presence (XEP-0012 §3, "Offline User
// Query"). Keys are (domain, username) of the account, as in Accounts;
// deleting the account deletes the record.
type LastActivity interface {
	// SetLastActivity records a logout at 'at' (kept to the millisecond)
	// with status ("" for none), replacing the previous record.
	// ErrNotFound if the account does not exist.
	SetLastActivity(ctx context.Context, domain, username string, at time.Time, status string) error
	// LastActivity returns the record (at in UTC); ErrNotFound if the
	// account never logged out or does not exist.
	LastActivity(ctx context.Context, domain, username string) (at time.Time, status string, err error)
}

// MUCRoom is a persistent multi-user chat room (XEP-0045 §10.1.3): one
// row per room of a MUC service, keyed by (Service, Name), both
// normalized by the caller (Service is the service's domain, Name the
// room's localpart). Temporary rooms are never stored.
type MUCRoom struct {
	Service string
	Name    string
	// Config is the room's configuration and subject, opaque to the store
	// (the MUC module's own encoding).
	Config []byte
	// VCard is the room's vcard-temp element, serialized; nil for none.
	VCard []byte
	// Affiliations are filled by MUCRooms (ordered by JID) and ignored by
	// SaveMUCRoom: SetMUCAffiliation changes them one at a time.
	Affiliations []MUCAffiliation
}

// MUCAffiliation is one entry of a room's affiliation lists (XEP-0045
// §5.2): owner, admin, member or outcast. "none" is not stored.
type MUCAffiliation struct {
	JID         string // bare JID or domain, normalized by the caller; the key within a room
	Affiliation string // "owner", "admin", "member", "outcast"
	Nick        string // reserved nickname (§7.10 registration), "" for none
	Reason      string // why it was granted (bans carry one, §9.1), "" for none
}

// MUCRooms stores the persistent rooms of MUC services, their
// configuration and affiliations, so that they survive a restart. Nothing
// here is on the message path: rooms are read once at start and written
// when an owner or admin changes them.
type MUCRooms interface {
	// SaveMUCRoom creates the room or replaces its Config and VCard; its
	// affiliations are kept.
	SaveMUCRoom(ctx context.Context, room MUCRoom) error
	// DeleteMUCRoom removes the room and its affiliations; ErrNotFound if
	// there is no such room.
	DeleteMUCRoom(ctx context.Context, service, name string) error
	// SetMUCAffiliation adds or replaces the entry for a.JID; an
	// Affiliation of "" or "none" removes it (no error if absent).
	// ErrNotFound if the room is not stored.
	SetMUCAffiliation(ctx context.Context, service, name string, a MUCAffiliation) error
	// MUCRooms returns the rooms of a service, ordered by name, with
	// their affiliations.
	MUCRooms(ctx context.Context, service string) ([]MUCRoom, error)
}
