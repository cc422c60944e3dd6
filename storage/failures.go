package storage

import (
	"context"
	"errors"
	"time"
)

// Backend is every store a backend implements (storage/sqldb's DB does).
type Backend interface {
	Accounts
	Rosters
	Offline
	PrivateXML
	BlockLists
	LastActivity
	PubSub
	Archive
	MUCRooms
	Invites
	FastTokens
}

// Failed reports whether err, returned by a storage call made under ctx,
// is a failure of the storage: not one of the answers a store gives
// (ErrNotFound, ErrExists, ErrFull), and not the caller giving up (a
// cancelled context: a session that ended, a server shutting down). A
// deadline that ran out is a failure: the database was too slow.
func Failed(ctx context.Context, err error) bool {
	switch {
	case err == nil,
		errors.Is(err, ErrNotFound), errors.Is(err, ErrExists), errors.Is(err, ErrFull),
		errors.Is(err, context.Canceled), errors.Is(context.Cause(ctx), context.Canceled):
		return false
	}
	return true
}

// CountFailures returns b with every call that Failed reported to failed,
// named after the method ("StoreOffline", "Append", "SetRosterItem", ...).
// failed runs on the caller's goroutine. A call that succeeds costs one
// more interface call and a nil check: nothing next to a query.
//
// One wrapper around the backend, rather than counting in each caller,
// so that no write path (offline storage, archiving, rosters, last
// activity, ...) can fail uncounted because its module forgot to.
func CountFailures(b Backend, failed func(op string)) Backend {
	return &counting{b: b, failed: failed}
}

type counting struct {
	b      Backend
	failed func(op string)
}

func (c *counting) check(ctx context.Context, op string, err error) error {
	if err != nil && Failed(ctx, err) {
		c.failed(op)
	}
	return err
}

func (c *counting) CreateAccount(ctx context.Context, domain, username string, creds []Credential) error {
	return c.check(ctx, "CreateAccount", c.b.CreateAccount(ctx, domain, username, creds))
}

func (c *counting) SetCredentials(ctx context.Context, domain, username string, creds []Credential) error {
	return c.check(ctx, "SetCredentials", c.b.SetCredentials(ctx, domain, username, creds))
}

func (c *counting) DeleteAccount(ctx context.Context, domain, username string) error {
	return c.check(ctx, "DeleteAccount", c.b.DeleteAccount(ctx, domain, username))
}

func (c *counting) Credential(ctx context.Context, domain, username, hash string) (Credential, error) {
	v, err := c.b.Credential(ctx, domain, username, hash)
	return v, c.check(ctx, "Credential", err)
}

func (c *counting) AccountExists(ctx context.Context, domain, username string) (bool, error) {
	v, err := c.b.AccountExists(ctx, domain, username)
	return v, c.check(ctx, "AccountExists", err)
}

func (c *counting) ListAccounts(ctx context.Context, domain string) ([]string, error) {
	v, err := c.b.ListAccounts(ctx, domain)
	return v, c.check(ctx, "ListAccounts", err)
}

func (c *counting) Roster(ctx context.Context, domain, username string) ([]RosterItem, string, error) {
	v, w, err := c.b.Roster(ctx, domain, username)
	return v, w, c.check(ctx, "Roster", err)
}

func (c *counting) RosterItem(ctx context.Context, domain, username, jid string) (RosterItem, error) {
	v, err := c.b.RosterItem(ctx, domain, username, jid)
	return v, c.check(ctx, "RosterItem", err)
}

func (c *counting) SetRosterItem(ctx context.Context, domain, username string, item RosterItem) (string, error) {
	v, err := c.b.SetRosterItem(ctx, domain, username, item)
	return v, c.check(ctx, "SetRosterItem", err)
}

func (c *counting) DeleteRosterItem(ctx context.Context, domain, username, jid string) (string, error) {
	v, err := c.b.DeleteRosterItem(ctx, domain, username, jid)
	return v, c.check(ctx, "DeleteRosterItem", err)
}

func (c *counting) StoreOffline(ctx context.Context, domain, username string, stanza []byte, stamp time.Time, limit int) error {
	return c.check(ctx, "StoreOffline", c.b.StoreOffline(ctx, domain, username, stanza, stamp, limit))
}

func (c *counting) OfflineMessages(ctx context.Context, domain, username string) ([]OfflineMessage, error) {
	v, err := c.b.OfflineMessages(ctx, domain, username)
	return v, c.check(ctx, "OfflineMessages", err)
}

func (c *counting) OfflinePage(ctx context.Context, domain, username string, after int64, limit int) ([]OfflineMessage, error) {
	v, err := c.b.OfflinePage(ctx, domain, username, after, limit)
	return v, c.check(ctx, "OfflinePage", err)
}

func (c *counting) DeleteOffline(ctx context.Context, domain, username string, upTo int64) (int, error) {
	v, err := c.b.DeleteOffline(ctx, domain, username, upTo)
	return v, c.check(ctx, "DeleteOffline", err)
}

func (c *counting) CountOffline(ctx context.Context, domain, username string) (int, error) {
	v, err := c.b.CountOffline(ctx, domain, username)
	return v, c.check(ctx, "CountOffline", err)
}

func (c *counting) GetPrivate(ctx context.Context, domain, username, key string) ([]byte, error) {
	v, err := c.b.GetPrivate(ctx, domain, username, key)
	return v, c.check(ctx, "GetPrivate", err)
}

func (c *counting) SetPrivate(ctx context.Context, domain, username, key string, data []byte) error {
	return c.check(ctx, "SetPrivate", c.b.SetPrivate(ctx, domain, username, key, data))
}

func (c *counting) PrivateKeys(ctx context.Context, domain, username string) ([]string, error) {
	v, err := c.b.PrivateKeys(ctx, domain, username)
	return v, c.check(ctx, "PrivateKeys", err)
}

func (c *counting) BlockList(ctx context.Context, domain, username string) ([]string, error) {
	v, err := c.b.BlockList(ctx, domain, username)
	return v, c.check(ctx, "BlockList", err)
}

func (c *counting) Block(ctx context.Context, domain, username string, jids []string) error {
	return c.check(ctx, "Block", c.b.Block(ctx, domain, username, jids))
}

func (c *counting) Unblock(ctx context.Context, domain, username string, jids []string) error {
	return c.check(ctx, "Unblock", c.b.Unblock(ctx, domain, username, jids))
}

func (c *counting) UnblockAll(ctx context.Context, domain, username string) error {
	return c.check(ctx, "UnblockAll", c.b.UnblockAll(ctx, domain, username))
}

func (c *counting) SetLastActivity(ctx context.Context, domain, username string, at time.Time, status string) error {
	return c.check(ctx, "SetLastActivity", c.b.SetLastActivity(ctx, domain, username, at, status))
}

func (c *counting) SetLastActivities(ctx context.Context, recs []LastActivityRecord) error {
	return c.check(ctx, "SetLastActivities", c.b.SetLastActivities(ctx, recs))
}

func (c *counting) LastActivity(ctx context.Context, domain, username string) (time.Time, string, error) {
	v, w, err := c.b.LastActivity(ctx, domain, username)
	return v, w, c.check(ctx, "LastActivity", err)
}

func (c *counting) CreateNode(ctx context.Context, n PubSubNode, owner string) error {
	return c.check(ctx, "CreateNode", c.b.CreateNode(ctx, n, owner))
}

func (c *counting) Node(ctx context.Context, service, node string) (PubSubNode, error) {
	v, err := c.b.Node(ctx, service, node)
	return v, c.check(ctx, "Node", err)
}

func (c *counting) Nodes(ctx context.Context, service string) ([]PubSubNode, error) {
	v, err := c.b.Nodes(ctx, service)
	return v, c.check(ctx, "Nodes", err)
}

func (c *counting) SetNodeConfig(ctx context.Context, service, node string, config map[string][]string) error {
	return c.check(ctx, "SetNodeConfig", c.b.SetNodeConfig(ctx, service, node, config))
}

func (c *counting) DeleteNode(ctx context.Context, service, node string) error {
	return c.check(ctx, "DeleteNode", c.b.DeleteNode(ctx, service, node))
}

func (c *counting) SetAffiliation(ctx context.Context, service, node, jid, affiliation string) error {
	return c.check(ctx, "SetAffiliation", c.b.SetAffiliation(ctx, service, node, jid, affiliation))
}

func (c *counting) Affiliations(ctx context.Context, service, node string) ([]PubSubAffiliation, error) {
	v, err := c.b.Affiliations(ctx, service, node)
	return v, c.check(ctx, "Affiliations", err)
}

func (c *counting) SetSubscription(ctx context.Context, service, node string, sub PubSubSubscription) error {
	return c.check(ctx, "SetSubscription", c.b.SetSubscription(ctx, service, node, sub))
}

func (c *counting) Subscriptions(ctx context.Context, service, node string) ([]PubSubSubscription, error) {
	v, err := c.b.Subscriptions(ctx, service, node)
	return v, c.check(ctx, "Subscriptions", err)
}

func (c *counting) PublishItem(ctx context.Context, service, node string, it PubSubItem, maxItems int) ([]string, error) {
	v, err := c.b.PublishItem(ctx, service, node, it, maxItems)
	return v, c.check(ctx, "PublishItem", err)
}

func (c *counting) Items(ctx context.Context, service, node string, ids []string, max int) ([]PubSubItem, error) {
	v, err := c.b.Items(ctx, service, node, ids, max)
	return v, c.check(ctx, "Items", err)
}

func (c *counting) DeleteItem(ctx context.Context, service, node, id string) error {
	return c.check(ctx, "DeleteItem", c.b.DeleteItem(ctx, service, node, id))
}

func (c *counting) PurgeItems(ctx context.Context, service, node string) error {
	return c.check(ctx, "PurgeItems", c.b.PurgeItems(ctx, service, node))
}

func (c *counting) TrimItems(ctx context.Context, service, node string, max int) ([]string, error) {
	v, err := c.b.TrimItems(ctx, service, node, max)
	return v, c.check(ctx, "TrimItems", err)
}

func (c *counting) Append(ctx context.Context, archive string, m ArchivedMessage) (string, error) {
	v, err := c.b.Append(ctx, archive, m)
	return v, c.check(ctx, "Append", err)
}

func (c *counting) AppendBatch(ctx context.Context, entries []ArchiveEntry) error {
	return c.check(ctx, "AppendBatch", c.b.AppendBatch(ctx, entries))
}

func (c *counting) QueryArchive(ctx context.Context, archive string, q ArchiveQuery) (ArchivePage, error) {
	v, err := c.b.QueryArchive(ctx, archive, q)
	return v, c.check(ctx, "QueryArchive", err)
}

func (c *counting) ReplaceArchived(ctx context.Context, archive, id string, stanza []byte) error {
	return c.check(ctx, "ReplaceArchived", c.b.ReplaceArchived(ctx, archive, id, stanza))
}

func (c *counting) DeleteArchive(ctx context.Context, archive string) error {
	return c.check(ctx, "DeleteArchive", c.b.DeleteArchive(ctx, archive))
}

func (c *counting) PruneArchives(ctx context.Context, before time.Time, limit int) (int, error) {
	v, err := c.b.PruneArchives(ctx, before, limit)
	return v, c.check(ctx, "PruneArchives", err)
}

func (c *counting) TrimArchive(ctx context.Context, archive string, keep int) (int, error) {
	v, err := c.b.TrimArchive(ctx, archive, keep)
	return v, c.check(ctx, "TrimArchive", err)
}

func (c *counting) ArchivePrefs(ctx context.Context, archive string) (ArchivePrefs, error) {
	v, err := c.b.ArchivePrefs(ctx, archive)
	return v, c.check(ctx, "ArchivePrefs", err)
}

func (c *counting) SetArchivePrefs(ctx context.Context, archive string, p ArchivePrefs) error {
	return c.check(ctx, "SetArchivePrefs", c.b.SetArchivePrefs(ctx, archive, p))
}

func (c *counting) SaveMUCRoom(ctx context.Context, room MUCRoom) error {
	return c.check(ctx, "SaveMUCRoom", c.b.SaveMUCRoom(ctx, room))
}

func (c *counting) DeleteMUCRoom(ctx context.Context, service, name string) error {
	return c.check(ctx, "DeleteMUCRoom", c.b.DeleteMUCRoom(ctx, service, name))
}

func (c *counting) SetMUCAffiliation(ctx context.Context, service, name string, a MUCAffiliation) error {
	return c.check(ctx, "SetMUCAffiliation", c.b.SetMUCAffiliation(ctx, service, name, a))
}

func (c *counting) MUCRooms(ctx context.Context, service string) ([]MUCRoom, error) {
	v, err := c.b.MUCRooms(ctx, service)
	return v, c.check(ctx, "MUCRooms", err)
}

func (c *counting) CreateInvite(ctx context.Context, inv Invite) error {
	return c.check(ctx, "CreateInvite", c.b.CreateInvite(ctx, inv))
}

func (c *counting) Invite(ctx context.Context, tokenHash []byte, now time.Time) (Invite, error) {
	v, err := c.b.Invite(ctx, tokenHash, now)
	return v, c.check(ctx, "Invite", err)
}

func (c *counting) RedeemInvite(ctx context.Context, tokenHash []byte, now time.Time, username string, creds []Credential) (Invite, error) {
	v, err := c.b.RedeemInvite(ctx, tokenHash, now, username, creds)
	return v, c.check(ctx, "RedeemInvite", err)
}

func (c *counting) UseInvite(ctx context.Context, tokenHash []byte, now time.Time) (Invite, error) {
	v, err := c.b.UseInvite(ctx, tokenHash, now)
	return v, c.check(ctx, "UseInvite", err)
}

func (c *counting) ListInvites(ctx context.Context, domain string, now time.Time) ([]Invite, error) {
	v, err := c.b.ListInvites(ctx, domain, now)
	return v, c.check(ctx, "ListInvites", err)
}

func (c *counting) RevokeInvite(ctx context.Context, domain, id string) error {
	return c.check(ctx, "RevokeInvite", c.b.RevokeInvite(ctx, domain, id))
}

func (c *counting) DeleteExpiredInvites(ctx context.Context, now time.Time) (int, error) {
	v, err := c.b.DeleteExpiredInvites(ctx, now)
	return v, c.check(ctx, "DeleteExpiredInvites", err)
}

func (c *counting) AccountAdmin(ctx context.Context, domain, username string) (bool, error) {
	v, err := c.b.AccountAdmin(ctx, domain, username)
	return v, c.check(ctx, "AccountAdmin", err)
}

func (c *counting) FastTokens(ctx context.Context, domain, username, agent string, now time.Time) ([]FastToken, error) {
	v, err := c.b.FastTokens(ctx, domain, username, agent, now)
	return v, c.check(ctx, "FastTokens", err)
}

func (c *counting) IssueFastToken(ctx context.Context, domain, username string, tok FastToken) error {
	return c.check(ctx, "IssueFastToken", c.b.IssueFastToken(ctx, domain, username, tok))
}

func (c *counting) UseFastToken(ctx context.Context, domain, username, agent string, hash []byte, next *FastToken) error {
	return c.check(ctx, "UseFastToken", c.b.UseFastToken(ctx, domain, username, agent, hash, next))
}

func (c *counting) ListFastTokens(ctx context.Context, domain, username string) ([]FastToken, error) {
	v, err := c.b.ListFastTokens(ctx, domain, username)
	return v, c.check(ctx, "ListFastTokens", err)
}

func (c *counting) RevokeFastTokens(ctx context.Context, domain, username, agent string) (int, error) {
	v, err := c.b.RevokeFastTokens(ctx, domain, username, agent)
	return v, c.check(ctx, "RevokeFastTokens", err)
}
