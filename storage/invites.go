package storage

import (
	"context"
	"time"
)

// Invite is an invitation (XEP-0379 pre-authenticated roster
// subscription, XEP-0401 easy onboarding): a secret token that lets its
// holder create an account on Domain, even where open registration is off,
// and become a contact of Creator. Only a hash of the token is stored, so
// a copy of the database hands out no account.
type Invite struct {
	// ID names the invite for listing and revoking; it is not the token
	// and does not let anyone in.
	ID string
	// TokenHash is the SHA-256 of the token (tokens are 128 random bits:
	// a plain hash is enough, no salt or stretching).
	TokenHash []byte
	// Domain is the host the account is made on.
	Domain string
	// Creator is the inviter's bare JID, whose roster the new account
	// joins (mutual subscription); "" for an invite the operator made
	// without one.
	Creator string
	// Username, when not "", is the only username the invite creates
	// (XEP-0401 create-account with a name reserved by the admin).
	Username string
	// Admin: the account made with it becomes an admin of Domain, as
	// Snikket's "invite create --admin" does.
	Admin bool
	// UsesLeft counts the accounts the invite can still create (≥ 1 while
	// it is stored: the last use deletes it).
	UsesLeft int
	// Created and Expires, UTC, to the millisecond.
	Created, Expires time.Time
}

// Invites stores invitations and the admin role an invite can give.
type Invites interface {
	// CreateInvite stores inv; ErrExists when its ID or token hash is
	// taken.
	CreateInvite(ctx context.Context, inv Invite) error
	// Invite returns the invite with that token hash if it is still
	// usable at now; ErrNotFound when there is none, or it expired.
	Invite(ctx context.Context, tokenHash []byte, now time.Time) (Invite, error)
	// RedeemInvite creates the account domain/username (the invite's
	// domain) with creds and spends one use of the invite, in one
	// transaction: either both happen or neither. ErrNotFound when the
	// invite is gone, expired or used up; ErrExists when the account
	// exists (the invite keeps its use). An Admin invite gives the account
	// the admin role. It returns the invite as it was before the use.
	RedeemInvite(ctx context.Context, tokenHash []byte, now time.Time, username string, creds []Credential) (Invite, error)
	// UseInvite spends one use of the invite without creating an account
	// (XEP-0379: a contact's subscription request carried the token) and
	// returns the invite as it was before. ErrNotFound when it is gone,
	// expired or used up.
	UseInvite(ctx context.Context, tokenHash []byte, now time.Time) (Invite, error)
	// ListInvites returns the invites of domain ("" = every domain) that
	// have not expired at now, oldest first.
	ListInvites(ctx context.Context, domain string, now time.Time) ([]Invite, error)
	// RevokeInvite deletes the invite id of domain; ErrNotFound when
	// there is none.
	RevokeInvite(ctx context.Context, domain, id string) error
	// DeleteExpiredInvites deletes the invites expired at now and returns
	// how many.
	DeleteExpiredInvites(ctx context.Context, now time.Time) (int, error)
	// AccountAdmin reports whether the account holds the admin role an
	// admin invite gave it (deleted with the account).
	AccountAdmin(ctx context.Context, domain, username string) (bool, error)
}
