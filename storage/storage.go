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
	// RosterItem returns the one item with that JID (placeholders too);
	// ErrNotFound if there is none. Presence probes and subscription checks
	// need one item, not the whole roster.
	RosterItem(ctx context.Context, domain, username, jid string) (RosterItem, error)
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
	// OfflinePage returns at most limit (> 0) of the account's messages
	// with ID > after, oldest first: a delivery reads a large backlog a
	// page at a time, at the pace its client takes it.
	OfflinePage(ctx context.Context, domain, username string, after int64, limit int) ([]OfflineMessage, error)
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
	// PrivateKeys lists the account's keys in ascending order (for
	// export, XEP-0227); none for an unknown account.
	PrivateKeys(ctx context.Context, domain, username string) ([]string, error)
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
	// SetLastActivities records many logouts as SetLastActivity would,
	// in one transaction (one commit for a burst of logouts); records of
	// accounts that do not exist are skipped. Nothing is written if it
	// fails.
	SetLastActivities(ctx context.Context, recs []LastActivityRecord) error
	// LastActivity returns the record (at in UTC); ErrNotFound if the
	// account never logged out or does not exist.
	LastActivity(ctx context.Context, domain, username string) (at time.Time, status string, err error)
}

// LastActivityRecord is one logout for LastActivity.SetLastActivities.
type LastActivityRecord struct {
	Domain, Username string
	At               time.Time
	Status           string
}

// PubSubNode is one XEP-0060 node of a pubsub service: a PEP service
// (XEP-0163; Service is the account's bare JID) or a service component
// (Service is its domain, e.g. "pubsub.example.org"). Service and Node are
// normalized by the caller; (Service, Node) is the key.
type PubSubNode struct {
	Service string
	Node    string
	// AccountDomain and AccountUser name the local account a PEP service
	// belongs to: deleting the account deletes its nodes (with their
	// items, affiliations and subscriptions). Both empty for the nodes of
	// a service component.
	AccountDomain, AccountUser string
	// Config is the node configuration as XEP-0004 form fields
	// (var → values, e.g. "pubsub#max_items" → ["10"]), opaque to the
	// store: it keeps what it is given.
	Config map[string][]string
}

// PubSubAffiliation is one entity's affiliation with a node (XEP-0060
// §4.1): "owner", "publisher", "publish-only", "member" or "outcast".
// "none" is never stored.
type PubSubAffiliation struct {
	JID         string // bare JID, normalized
	Affiliation string
}

// PubSubSubscription is one subscription to a node (XEP-0060 §4.2).
type PubSubSubscription struct {
	JID   string // the subscribed JID (bare or full), normalized
	SubID string // "" when the service gives none
	// State is "subscribed", "pending" or "unconfigured"; "none" is
	// never stored.
	State string
}

// PubSubItem is one published item.
type PubSubItem struct {
	ID        string
	Publisher string // the publisher's JID ("" unknown)
	// Payload is the serialized payload element (or empty for a
	// notification-only item), opaque to the store.
	Payload []byte
	// Published is when the item was last published (millisecond
	// precision, UTC).
	Published time.Time
}

// PubSub stores pubsub nodes and their items, affiliations and
// subscriptions. Items of a node are ordered by when they were last
// published: publishing an existing item ID replaces the item and makes it
// the newest.
type PubSub interface {
	// CreateNode creates n with owner (a bare JID, "" for none) as its
	// owner affiliation, in one transaction. ErrExists if (Service, Node)
	// exists; ErrNotFound if n names an account that does not exist.
	CreateNode(ctx context.Context, n PubSubNode, owner string) error
	// Node returns one node; ErrNotFound if there is none.
	Node(ctx context.Context, service, node string) (PubSubNode, error)
	// Nodes returns every node of a service ordered by node name (bytes).
	Nodes(ctx context.Context, service string) ([]PubSubNode, error)
	// SetNodeConfig replaces a node's configuration; ErrNotFound if the
	// node does not exist.
	SetNodeConfig(ctx context.Context, service, node string, config map[string][]string) error
	// DeleteNode deletes a node with its items, affiliations and
	// subscriptions; ErrNotFound if it does not exist.
	DeleteNode(ctx context.Context, service, node string) error

	// SetAffiliation sets jid's affiliation ("none" removes it);
	// ErrNotFound if the node does not exist.
	SetAffiliation(ctx context.Context, service, node, jid, affiliation string) error
	// Affiliations returns a node's affiliations ordered by JID.
	Affiliations(ctx context.Context, service, node string) ([]PubSubAffiliation, error)

	// SetSubscription adds or replaces the subscription of (JID, SubID)
	// (state "none" removes it); ErrNotFound if the node does not exist.
	SetSubscription(ctx context.Context, service, node string, sub PubSubSubscription) error
	// Subscriptions returns a node's subscriptions ordered by JID, SubID.
	Subscriptions(ctx context.Context, service, node string) ([]PubSubSubscription, error)

	// PublishItem stores it (replacing an item with the same ID, which
	// becomes the newest) and then, when maxItems > 0, deletes the oldest
	// items beyond maxItems, all in one transaction. It returns the IDs
	// it deleted that way. ErrNotFound if the node does not exist.
	PublishItem(ctx context.Context, service, node string, it PubSubItem, maxItems int) (evicted []string, err error)
	// Items returns items newest first: those with the given IDs when ids
	// is not empty (missing IDs are left out), else the newest max items
	// (max <= 0: all). ErrNotFound if the node does not exist.
	Items(ctx context.Context, service, node string, ids []string, max int) ([]PubSubItem, error)
	// DeleteItem deletes one item; ErrNotFound if the node or the item
	// does not exist.
	DeleteItem(ctx context.Context, service, node, id string) error
	// PurgeItems deletes every item of a node; ErrNotFound if the node
	// does not exist.
	PurgeItems(ctx context.Context, service, node string) error
	// TrimItems deletes the oldest items beyond max (max > 0) and returns
	// their IDs (a node whose pubsub#max_items was lowered).
	TrimItems(ctx context.Context, service, node string, max int) ([]string, error)
}

// ArchivedMessage is one message in an archive (XEP-0313 message archive
// management, for an account or a MUC room).
type ArchivedMessage struct {
	// ID is the archive id, used as the XEP-0359 stanza-id and as the RSM
	// cursor. It is unique in the whole store and URL-safe (letters,
	// digits, '-' and '_', at most 64 bytes). Append generates one when
	// it is empty.
	ID string
	// With is the peer's bare JID (for a room: the occupant's nick JID or
	// real bare JID, as the MUC module decides), normalized by the caller;
	// the ArchiveQuery.With filter matches it exactly.
	With string
	// Time is when the message was archived, kept to the millisecond.
	// Query returns it in UTC.
	Time time.Time
	// Stanza is the serialized <message/>, opaque to the store.
	Stanza []byte
}

// ArchiveQuery selects and pages messages of one archive. Messages are in
// archive order: by Time, then by insertion for equal Times.
type ArchiveQuery struct {
	// With keeps messages whose With equals it ("" = any).
	With string
	// Start and End keep messages with Start <= Time <= End (zero =
	// unbounded), inclusive as XEP-0313 §4.1.2 requires.
	Start, End time.Time
	// IDs, when non-empty, keeps only the messages with these IDs (XEP-0313
	// §4.1.3 'ids'); unknown IDs are ignored.
	IDs []string
	// FilterAfterID and FilterBeforeID keep messages strictly after /
	// before the message with that ID, as part of the selection that
	// Count counts (XEP-0313 'after-id' / 'before-id' form fields).
	FilterAfterID, FilterBeforeID string
	// AfterID and BeforeID are page cursors: the page holds messages of
	// the selection strictly after / before the message with that ID
	// (RSM <after/>/<before/>), and Count ignores them. An ID given here
	// or in the Filter fields that is not in the archive fails the query
	// with ErrNotFound (the caller answers item-not-found, XEP-0313 §4.1.3).
	AfterID, BeforeID string
	// Max is the page size. Max <= 0 returns no items, only Count.
	Max int
	// Last takes the page from the end of the selection instead of its
	// start (RSM <before/>: paging backwards, or the last page).
	Last bool
}

// ArchivePage is one page of an ArchiveQuery.
type ArchivePage struct {
	// Items are in archive order (oldest first) whether or not Last was set.
	Items []ArchivedMessage
	// Count is how many messages the selection holds (With, Start, End,
	// IDs, FilterAfterID, FilterBeforeID), ignoring the page cursors and
	// Max (RSM <count/>, XEP-0059 §2.6).
	Count int
	// Complete reports that no matching message lies beyond the page in
	// the paging direction: after it, or before it when Last is set
	// (XEP-0313 §4.3 complete='true').
	Complete bool
}

// Archive default preferences (XEP-0313 §6.1.1).
const (
	ArchiveAlways = "always"
	ArchiveNever  = "never"
	ArchiveRoster = "roster"
)

// ArchivePrefs are an archive's XEP-0313 preferences.
type ArchivePrefs struct {
	// Default is ArchiveAlways, ArchiveNever or ArchiveRoster.
	Default string
	// Always and Never are bare JIDs, normalized by the caller, that are
	// always / never archived whatever Default says; the store keeps them
	// sorted (bytes) and without duplicates.
	Always, Never []string
}

// ArchiveEntry is one message for AppendBatch and the archive it goes to.
type ArchiveEntry struct {
	Archive string
	Message ArchivedMessage
}

// Archive stores message archives. An archive is named by a key chosen by
// the caller: an account's bare JID ("alice@example.org") or a room's JID.
// Archives need no account: rooms have none. Deleting an account
// (Accounts.DeleteAccount) deletes the archive and preferences keyed by
// its bare JID ("username@domain").
type Archive interface {
	// Append stores m in archive and returns its ID (m.ID if set, else a
	// new one). A duplicate m.ID fails with ErrExists.
	Append(ctx context.Context, archive string, m ArchivedMessage) (id string, err error)
	// AppendBatch stores several messages, possibly of different
	// archives, in one transaction, in slice order: all or none. Entries
	// with an empty Message.ID get one (written back into the slice).
	// One commit per batch rather than per message is what makes
	// archiving cheap for a busy server (docs/performance.md).
	AppendBatch(ctx context.Context, entries []ArchiveEntry) error
	// QueryArchive returns one page of archive. An empty or unknown
	// archive gives an empty, complete page.
	QueryArchive(ctx context.Context, archive string, q ArchiveQuery) (ArchivePage, error)
	// ReplaceArchived replaces the stanza of message id of archive, keeping
	// its ID, With, Time and place in the order: a retracted message's
	// tombstone (XEP-0425 §5). ErrNotFound when archive holds no message
	// with that ID (one of another archive is not touched).
	ReplaceArchived(ctx context.Context, archive, id string, stanza []byte) error
	// DeleteArchive deletes every message and the preferences of archive.
	DeleteArchive(ctx context.Context, archive string) error
	// PruneArchives deletes messages of all archives with Time before
	// 'before', at most limit of them (the oldest) in one call, so that
	// a large prune does not hold the database for long; it reports how
	// many it deleted. Callers repeat it until it returns fewer than
	// limit.
	PruneArchives(ctx context.Context, before time.Time, limit int) (int, error)
	// TrimArchive deletes the oldest messages of archive beyond the newest
	// keep ones and reports how many it deleted.
	TrimArchive(ctx context.Context, archive string, keep int) (int, error)
	// ArchivePrefs returns the preferences of archive; ErrNotFound when
	// none were ever set.
	ArchivePrefs(ctx context.Context, archive string) (ArchivePrefs, error)
	// SetArchivePrefs replaces the preferences of archive.
	SetArchivePrefs(ctx context.Context, archive string, p ArchivePrefs) error
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

// FastToken is one XEP-0484 (FAST) token of one client of an account. The
// store never sees the token itself, only its SHA-256: c2s issues tokens
// long enough that HMAC keys them by that hash (RFC 2104 §2), see
// c2s/fast.go.
type FastToken struct {
	// AgentID is the client's XEP-0388 <user-agent id/>: tokens are per
	// client, each with two slots (XEP-0484 §5.1).
	AgentID string
	// New marks the 'new' slot (issued, never used); false is 'current'.
	New bool
	// Mechanism is the HT mechanism the token is pinned to (XEP-0484 §3.4).
	Mechanism string
	// Hash is the SHA-256 of the token.
	Hash []byte
	// Label names the client for people (its <software/> and <device/>),
	// "" when it gave none.
	Label string
	// Created and Expiry are kept to the millisecond, UTC.
	Created, Expiry time.Time
}

// FastTokens stores XEP-0484 tokens. Keys are (domain, username) of the
// account, as in Accounts, and the client's agent ID; deleting the account
// deletes its tokens. Callers revoke them when the password changes.
type FastTokens interface {
	// FastTokens returns the client's tokens that have not expired at
	// now, the 'new' slot first (XEP-0484 §5.1 checks it first).
	FastTokens(ctx context.Context, domain, username, agent string, now time.Time) ([]FastToken, error)
	// IssueFastToken puts tok into its client's 'new' slot, replacing a
	// token issued there and never used (§3.5), and drops the account's
	// expired tokens. ErrNotFound if the account does not exist.
	IssueFastToken(ctx context.Context, domain, username string, tok FastToken) error
	// UseFastToken records a login with the client's token whose hash
	// is given: a 'new' token becomes 'current', replacing the one there
	// (§3.5: a later token was used); a 'current' one stays. next, when
	// not nil, is then issued as by IssueFastToken, in the same
	// transaction (a rotation). ErrNotFound, and nothing changed, when
	// the client holds no such token (revoked meanwhile).
	UseFastToken(ctx context.Context, domain, username, agent string, hash []byte, next *FastToken) error
	// ListFastTokens returns all the account's tokens, expired or not,
	// ordered by agent ID, 'new' first.
	ListFastTokens(ctx context.Context, domain, username string) ([]FastToken, error)
	// RevokeFastTokens deletes the tokens of one client (agent != "") or
	// of all the account's clients, and reports how many went.
	RevokeFastTokens(ctx context.Context, domain, username, agent string) (int, error)
}
