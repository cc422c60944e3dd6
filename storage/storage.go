// Package storage defines the small, per-concern interfaces xmppd persists
// through. Backends (storage/sqldb for SQLite and PostgreSQL) implement them
// and must pass the conformance suite in storage/storagetest.
//
// CONTRACT: the exported API below is what the rest of xmppd codes against.
package storage

import (
	"context"
	"errors"
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
