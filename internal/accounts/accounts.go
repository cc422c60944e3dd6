// Package accounts is what an administrator does to accounts, shared by
// every way of doing it (XEP-0133 commands in modules/adhoc, the admin web
// pages in web/adminweb): create one, set its password, delete it; and
// whether an account holds the admin role an admin invitation gave it.
// Passwords are never stored: only the SCRAM keys derived from them.
package accounts

import (
	"context"
	"errors"
	"fmt"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
)

// ErrBadPassword: the password is empty or has characters PRECIS
// OpaqueString (RFC 8265 §4.2) refuses.
var ErrBadPassword = errors.New("accounts: the password is empty or contains characters that are not allowed")

// Credentials derives the SCRAM keys (SHA-1, SHA-256, SHA-512) of a new
// password.
func Credentials(password string) ([]storage.Credential, error) {
	if password == "" {
		return nil, ErrBadPassword
	}
	creds, err := auth.DeriveCredentials(password, auth.DefaultIterations)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPassword, err)
	}
	sc := make([]storage.Credential, len(creds))
	for i, c := range creds {
		sc[i] = storage.Credential(c)
	}
	return sc, nil
}

// Create makes the account of acct's bare JID; the error wraps
// storage.ErrExists if there is one already.
func Create(ctx context.Context, store storage.Accounts, acct jid.JID, password string) error {
	creds, err := Credentials(password)
	if err != nil {
		return err
	}
	if err := store.CreateAccount(ctx, acct.Domain(), acct.Local(), creds); err != nil {
		return fmt.Errorf("create account %s: %w", acct.Bare(), err)
	}
	return nil
}

// SetPassword replaces the account's keys; the error wraps
// storage.ErrNotFound if there is no such account. Sessions already
// authenticated stay (as after a password change over XEP-0077).
func SetPassword(ctx context.Context, store storage.Accounts, acct jid.JID, password string) error {
	creds, err := Credentials(password)
	if err != nil {
		return err
	}
	if err := store.SetCredentials(ctx, acct.Domain(), acct.Local(), creds); err != nil {
		return fmt.Errorf("set password of %s: %w", acct.Bare(), err)
	}
	return nil
}

// Directory finds the sessions of an account (module.Directory has it).
type Directory interface {
	Sessions(bare jid.JID) []module.Session
}

// Delete removes the account with everything stored for it and then ends
// its sessions (<not-authorized/>: their credentials are gone); the error
// wraps storage.ErrNotFound if there is no such account. As with the
// CLI's user del, contacts' rosters keep their items for it.
func Delete(ctx context.Context, store storage.Accounts, dir Directory, acct jid.JID) error {
	if err := store.DeleteAccount(ctx, acct.Domain(), acct.Local()); err != nil {
		return fmt.Errorf("delete account %s: %w", acct.Bare(), err)
	}
	if dir != nil {
		for _, s := range dir.Sessions(acct.Bare()) {
			s.CloseStream(stanza.StreamNotAuthorized, "account removed")
		}
	}
	return nil
}

// Roles is where the admin role an admin invitation (XEP-0401, xmppd
// invite create --admin) gives an account is kept: storage.Invites.
type Roles interface {
	AccountAdmin(ctx context.Context, domain, username string) (bool, error)
}

// HasAdminRole reports whether who (an account's JID, any resource) holds
// the stored admin role of host: only an account of host itself can. The
// hosts' configured admins ([[host]] admins) are the callers' to check;
// nil roles (no invites store) gives none. On a store error it reports
// false with the error.
func HasAdminRole(ctx context.Context, roles Roles, host string, who jid.JID) (bool, error) {
	if roles == nil || who.Local() == "" || who.Domain() != host {
		return false, nil
	}
	ok, err := roles.AccountAdmin(ctx, host, who.Local())
	if err != nil {
		return false, fmt.Errorf("admin role of %s: %w", who.Bare(), err)
	}
	return ok, nil
}
