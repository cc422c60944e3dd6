// Package jid implements XMPP addresses (RFC 7622) as a small comparable
// value type usable as a map key.
//
// CONTRACT: the exported API below is what the rest of xmppd codes against.
// Bodies are to be implemented; signatures stay.
package jid

import "errors"

// ErrMalformed is wrapped by every parse/validation error (stanza error
// <jid-malformed/>).
var ErrMalformed = errors.New("jid: malformed address")

// JID is a normalized address: localpart (UsernameCaseMapped profile),
// domainpart (IDNA/lowercased, no trailing dot), resourcepart (OpaqueString).
// The zero JID is "no address". Two JIDs for the same entity compare ==.
type JID struct {
	// implementation-defined, must stay comparable
}

// Parse parses and normalizes s per RFC 7622 §3 (with §3.2 domain rules:
// IP literals allowed, trailing dot stripped). Each part at most 1023 bytes
// after normalization; empty localpart/resource after '@'/'/' is an error.
func Parse(s string) (JID, error)

// New builds a JID from parts (local and resource may be ""), normalizing each.
func New(local, domain, resource string) (JID, error)

// MustParse panics on error; for tests and constants.
func MustParse(s string) JID

func (j JID) Local() string
func (j JID) Domain() string
func (j JID) Resource() string

// Bare drops the resource. Domain returns the domain-only JID.
func (j JID) Bare() JID
func (j JID) DomainJID() JID

// WithResource returns j's bare JID with resource r (normalized).
func (j JID) WithResource(r string) (JID, error)

func (j JID) IsZero() bool
func (j JID) IsBare() bool // no resource
func (j JID) IsFull() bool // has a resource

// String returns the canonical form "local@domain/resource"; must not
// allocate (precomputed).
func (j JID) String() string
