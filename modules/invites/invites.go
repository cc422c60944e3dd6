// Package invites implements invitations the way Snikket does them:
// XEP-0401 (easy user onboarding) over XEP-0379 (pre-authenticated roster
// subscription). An invite is a secret token, stored hashed, that creates
// an account on its host even where open registration is off, and makes
// the new account and its inviter contacts of each other (mutual
// subscription). Tokens are redeemed through in-band registration (the
// register module asks this one, service "invites") and through the web
// page at /invite/<token> on the http listener (web.go); the ad-hoc
// commands (modules/adhoc) and `xmppd invite create` make them.
package invites

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/invite"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
)

// Service is the name other modules find this one under, through an
// interface of their own with the methods they use:
//
//	CheckInvite(ctx context.Context, domain, token string) error
//	RedeemInvite(ctx context.Context, domain, token, username, password string) (account string, err error)
//	CreateInvite(ctx context.Context, domain, creator, username string, admin bool) (uri, link string, expires time.Time, err error)
//	ApproveSubscription(ctx context.Context, own, contact jid.JID, token string) bool
//	UsersMayInvite() bool // [invites] users
//
// Errors are *stanza.Error with the condition a client should see.
const Service = "invites"

// sweepEvery is how often expired invites are deleted.
const sweepEvery = time.Hour

func init() { module.Register("invites", func() module.Module { return &mod{} }) }

// rosterService is what the roster module provides (modules/roster
// Service): a roster push to the interested resources of an account.
type rosterService interface {
	Push(own jid.JID, item storage.RosterItem, ver string)
}

type mod struct {
	h           *module.Handle
	store       storage.Invites
	roster      rosterService // nil without the roster module
	cfg         Config
	minPassword int
	now         func() time.Time
	csrfKey     []byte
	stop        chan struct{}
}

// Deps implements module.Dependent.
func (m *mod) Deps() module.Deps {
	return module.Deps{Provides: []string{Service}, Uses: []string{"roster"}}
}

func (m *mod) Start(h *module.Handle) error {
	m.h = h
	if h.Invites == nil || h.Accounts == nil {
		// Servers built by hand in tests without the store: no invites.
		h.Logger.Debug("invites: no invite storage, invitations off")
		return nil
	}
	m.store, m.cfg = h.Invites, *module.ConfigOf[*Config](h)
	m.minPassword = max(h.Registration.MinPasswordLength, 1)
	m.now = time.Now
	if r, err := module.Require[rosterService](h, "roster"); err == nil {
		m.roster = r
	}
	if h.Secret != nil {
		m.csrfKey = h.Secret("invites csrf")
	} else {
		m.csrfKey = []byte(invite.NewID() + invite.NewID())
	}
	if h.HTTP != nil {
		m.routes(h.HTTP)
	}
	m.stop = make(chan struct{})
	go m.sweep()
	module.Provide(h, Service, m)
	return nil
}

// Stop implements module.Stopper.
func (m *mod) Stop() error {
	if m.stop != nil {
		close(m.stop)
	}
	return nil
}

// sweep deletes expired invites now and then: they can no longer be used,
// and the list should not grow with links nobody followed.
func (m *mod) sweep() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			n, err := m.store.DeleteExpiredInvites(context.Background(), m.now())
			if err != nil {
				m.h.Logger.Warn("invites: delete expired", "err", err)
			} else if n > 0 {
				m.h.Logger.Info("invites: expired invites deleted", "count", n)
			}
		}
	}
}

var errInvalid = stanza.NewError(stanza.Forbidden, "the invite is invalid or has expired")

// lookup returns the invite of token on domain ("" = whichever), usable
// now.
func (m *mod) lookup(ctx context.Context, domain, token string) (storage.Invite, error) {
	if token == "" || len(token) > 256 {
		return storage.Invite{}, errInvalid
	}
	inv, err := m.store.Invite(ctx, invite.Hash(token), m.now())
	if errors.Is(err, storage.ErrNotFound) || err == nil && domain != "" && inv.Domain != domain {
		return storage.Invite{}, errInvalid
	}
	if err != nil {
		return storage.Invite{}, fmt.Errorf("invites: look up: %w", err)
	}
	return inv, nil
}

// CheckInvite reports whether token is an invite of domain usable now
// (XEP-0401: the preauth IQ before registration).
func (m *mod) CheckInvite(ctx context.Context, domain, token string) error {
	_, err := m.lookup(ctx, domain, token)
	return err
}

// RedeemInvite creates the account username@domain with password through
// the invite token and subscribes it and the inviter to each other. The
// account and the spent use are one transaction in storage: a failure
// leaves the invite as it was.
func (m *mod) RedeemInvite(ctx context.Context, domain, token, username, password string) (string, error) {
	inv, err := m.lookup(ctx, domain, token)
	if err != nil {
		return "", err
	}
	if username == "" || password == "" {
		return "", stanza.NewError(stanza.NotAcceptable, "username and password are required")
	}
	acct, err := jid.New(username, domain, "")
	if err != nil || acct.Local() == "" {
		return "", stanza.NewError(stanza.NotAcceptable, "the requested username is invalid")
	}
	if inv.Username != "" && acct.Local() != inv.Username {
		return "", stanza.NewError(stanza.NotAllowed, "this invite is for the username "+inv.Username)
	}
	if utf8.RuneCountInString(password) < m.minPassword {
		return "", stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("the password must have at least %d characters", m.minPassword))
	}
	creds, err := auth.DeriveCredentials(password, auth.DefaultIterations)
	if err != nil {
		return "", stanza.NewError(stanza.NotAcceptable, "the password contains characters that are not allowed")
	}
	sc := make([]storage.Credential, len(creds))
	for i, c := range creds {
		sc[i] = storage.Credential(c)
	}
	inv, err = m.store.RedeemInvite(ctx, invite.Hash(token), m.now(), acct.Local(), sc)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", errInvalid // used up or revoked since the look-up
	case errors.Is(err, storage.ErrExists):
		return "", stanza.NewError(stanza.Conflict, "the username is taken")
	case err != nil:
		return "", fmt.Errorf("invites: redeem for %s: %w", acct, err)
	}
	m.h.Logger.Info("account created through an invite", "jid", acct.String(), "invite", inv.ID, "inviter", inv.Creator, "admin", inv.Admin)
	if inv.Creator != "" {
		if inviter, err := jid.Parse(inv.Creator); err == nil {
			m.befriend(ctx, inviter.Bare(), acct)
		}
	}
	return acct.String(), nil
}

// befriend makes a and b contacts with subscription both in each other's
// roster, as if each had asked and the other approved (RFC 6121 §3.1),
// and pushes the change to the interested resources (the inviter may be
// online; the new account is not yet). The account exists by now, so a
// failure here is logged, not returned: the invitee still has the
// account it was promised, and can add the inviter by hand.
func (m *mod) befriend(ctx context.Context, inviter, invitee jid.JID) {
	for _, p := range [][2]jid.JID{{inviter, invitee}, {invitee, inviter}} {
		own, contact := p[0], p[1]
		if m.h.Rosters == nil {
			return
		}
		item, err := m.h.Rosters.RosterItem(ctx, own.Domain(), own.Local(), contact.String())
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			m.h.Logger.Warn("invites: roster subscription", "own", own.String(), "contact", contact.String(), "err", err)
			continue
		}
		item.JID = contact.String()
		if item.Name == "" && own == inviter {
			item.Name = contact.Local()
		}
		item.Subscription, item.Ask, item.Approved, item.PendingIn, item.Placeholder = "both", false, false, false, false
		ver, err := m.h.Rosters.SetRosterItem(ctx, own.Domain(), own.Local(), item)
		if err != nil {
			// ErrNotFound: the inviter's account is gone meanwhile.
			m.h.Logger.Warn("invites: roster subscription", "own", own.String(), "contact", contact.String(), "err", err)
			continue
		}
		if m.roster != nil {
			m.roster.Push(own, item, ver)
		}
	}
}

// ApproveSubscription is XEP-0379 at the inviter's server: a subscription
// request from contact to own carried token. It reports whether the token
// is an invite own made (own is its inviter) and still usable, and then
// spends a use of it: the caller approves the request for own.
func (m *mod) ApproveSubscription(ctx context.Context, own, contact jid.JID, token string) bool {
	inv, err := m.lookup(ctx, own.Domain(), token)
	if err != nil || inv.Creator != own.Bare().String() {
		if err != nil && !errors.Is(err, errInvalid) {
			m.h.Logger.Warn("invites: subscription token", "own", own.String(), "err", err)
		}
		return false
	}
	if _, err := m.store.UseInvite(ctx, invite.Hash(token), m.now()); err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			m.h.Logger.Warn("invites: subscription token", "own", own.String(), "err", err)
		}
		return false
	}
	m.h.Logger.Info("subscription approved through an invite", "own", own.String(), "contact", contact.String(), "invite", inv.ID)
	return true
}

// CreateInvite makes a single-use invite on domain valid for
// [invites] expire_after. creator ("" for none) is the inviter the new
// account is subscribed to; username ("" for any) the only name it
// creates; admin makes the account an admin of domain.
func (m *mod) CreateInvite(ctx context.Context, domain, creator, username string, admin bool) (uri, link string, expires time.Time, err error) {
	if username != "" {
		j, err := jid.New(username, domain, "")
		if err != nil || j.Local() == "" {
			return "", "", time.Time{}, stanza.NewError(stanza.NotAcceptable, "the username is invalid")
		}
		username = j.Local()
		// An invite for a name that is taken could never be used.
		if ok, err := m.h.Accounts.AccountExists(ctx, domain, username); err != nil {
			return "", "", time.Time{}, fmt.Errorf("invites: create on %s: %w", domain, err)
		} else if ok {
			return "", "", time.Time{}, stanza.NewError(stanza.Conflict, j.String()+" exists already")
		}
	}
	token, hash := invite.NewToken()
	now := m.now().UTC().Truncate(time.Millisecond)
	inv := storage.Invite{
		ID: invite.NewID(), TokenHash: hash, Domain: domain, Creator: creator, Username: username,
		Admin: admin, UsesLeft: 1, Created: now, Expires: now.Add(m.cfg.ExpireAfter.Duration),
	}
	if err := m.store.CreateInvite(ctx, inv); err != nil {
		return "", "", time.Time{}, fmt.Errorf("invites: create on %s: %w", domain, err)
	}
	m.h.Logger.Info("invite created", "invite", inv.ID, "domain", domain, "creator", creator, "admin", admin)
	return invite.URI(domain, creator, token), invite.Link(m.base(domain), token), inv.Expires, nil
}

// base is the web base URL of links for domain.
func (m *mod) base(domain string) string {
	if m.cfg.URL != "" || m.h.HTTP == nil {
		return invite.Base(m.cfg.URL, invite.Listener{}, domain, 0)
	}
	return m.h.HTTP.BaseURL(domain)
}
