// Package vcard implements XEP-0054 vcard-temp: a user sets and reads its
// own vCard, and anyone reads a local user's vCard through the user's bare
// JID, answered by the server on the user's behalf.
package vcard

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const NS = "vcard-temp"

// Key is the storage.PrivateXML key of the vCard (storage.VCardKey).
// modules/private refuses the vcard-temp namespace, and its keys are
// "{ns}local", so the two never share a key.
const Key = storage.VCardKey

// MaxBytes bounds a stored vCard (serialized). XEP-0153 asks for avatars
// under 8 KiB, so this leaves room for a PHOTO and the rest. A larger set
// is refused with not-acceptable: the request does not meet the server's
// criteria (RFC 6120 §8.3.3.9); resource-constraint would tell the client
// to retry later, which does not help.
const MaxBytes = 64 << 10

func init() { module.Register("vcard", func() module.Module { return &mod{} }) }

// Service is the name under which the module provides what XEP-0398
// (modules/pubsub) needs of it, through a value with the methods
//
//	SetPhoto(ctx context.Context, own jid.JID, mime string, data []byte) error
//	OnPhoto(fn func(ctx context.Context, own jid.JID, mime string, data []byte)) (uninstall func())
const Service = "vcard"

type mod struct {
	h      *module.Handle
	store  storage.PrivateXML
	photos photos // XEP-0153, xupdate.go

	photoHook atomic.Pointer[PhotoHook]
}

// Deps implements module.Dependent.
func (m *mod) Deps() module.Deps { return module.Deps{Provides: []string{Service}} }

func (m *mod) Start(h *module.Handle) error {
	if h.Private == nil {
		return errors.New("no private XML storage")
	}
	m.h, m.store = h, h.Private
	m.photos.m = map[jid.JID]photo{}
	h.AddFeature(NS)
	h.HandleIQ(module.TargetAccount, "get", NS, m.get)
	h.HandleIQ(module.TargetAccount, "set", NS, m.set)
	h.Hook(module.HookOutbound, 10, m.outbound)
	h.OnSessionBound(m.warm)
	h.OnSessionClosed(m.forget)
	module.Provide(h, Service, m)
	return nil
}

// SetPhoto replaces the PHOTO of own's stored vCard with an image of
// type mime (nil data removes the PHOTO), keeping the rest of the vCard,
// and updates the XEP-0153 hash the server puts in own's presence. It is
// how XEP-0398 makes the vCard follow the avatar published over PEP
// (XEP-0084); modules/pubsub calls it.
func (m *mod) SetPhoto(ctx context.Context, own jid.JID, mime string, data []byte) error {
	old, err := m.store.GetPrivate(ctx, own.Domain(), own.Local(), Key)
	var cur *xml.Element
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return err
	default:
		els, err := xml.ParseFragments(old)
		if err != nil || len(els) != 1 {
			return fmt.Errorf("stored vCard of %s: %d elements, %v", own, len(els), err)
		}
		cur = els[0]
	}
	b := xml.NewBuilder("vCard", NS)
	n := 0
	if cur != nil {
		for c := range cur.Children() {
			if c.Name() != "PHOTO" {
				b.Append(c)
				n++
			}
		}
	}
	if data != nil {
		b.Start("PHOTO", "")
		if mime != "" {
			b.Start("TYPE", "").Text(mime).End()
		}
		b.Start("BINVAL", "").Text(base64.StdEncoding.EncodeToString(data)).End()
		b.End()
		n++
	}
	v := b.Element()
	var out []byte
	if n > 0 {
		out = v.Append(nil, "")
	}
	if err := m.store.SetPrivate(ctx, own.Domain(), own.Local(), Key, out); err != nil {
		return err
	}
	m.photos.set(own, photoOf(v))
	return nil
}

func empty() *xml.Element { return xml.NewBuilder("vCard", NS).Element() }

func (m *mod) get(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	if iq.Payload.Name() != "vCard" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	own := iq.To.IsZero()
	acct := iq.To
	if own {
		acct = iq.From.Bare()
	} else if !iq.From.IsZero() && iq.From.Bare().String() == acct.String() {
		own = true
	}
	data, err := m.store.GetPrivate(ctx, acct.Domain(), acct.Local(), Key)
	if errors.Is(err, storage.ErrNotFound) {
		if own {
			return empty(), nil // XEP-0054 §3.1: an empty vCard
		}
		// XEP-0054 §3.3: the same error as for a user that does not
		// exist (RFC 6121 §8.5.1), against directory harvesting.
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	if err != nil {
		return nil, err
	}
	els, err := xml.ParseFragments(data)
	if err != nil || len(els) != 1 {
		return nil, fmt.Errorf("stored vCard of %s: %d elements, %v", acct, len(els), err)
	}
	return els[0], nil
}

func (m *mod) set(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	own := iq.From.Bare()
	if iq.From.IsZero() || own.Local() == "" || (!iq.To.IsZero() && iq.To.String() != own.String()) {
		// XEP-0054 §3.2: forbidden for another user's vCard.
		return nil, stanza.NewError(stanza.Forbidden, "")
	}
	if iq.Payload.Name() != "vCard" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	var data []byte // nil deletes: an empty <vCard/> clears the vCard
	if iq.Payload.FirstChild() != nil {
		data = iq.Payload.Append(nil, "")
		if len(data) > MaxBytes {
			return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("vCard larger than %d bytes", MaxBytes))
		}
	}
	if err := m.store.SetPrivate(ctx, own.Domain(), own.Local(), Key, data); err != nil {
		return nil, err
	}
	if data == nil {
		m.photos.set(own, photoOf(nil))
	} else {
		m.photos.set(own, photoOf(iq.Payload))
		if fn := m.photoHook.Load(); fn != nil {
			if mime, img, ok := photoData(iq.Payload); ok {
				(*fn)(ctx, own, mime, img)
			}
		}
	}
	return nil, nil
}

// PhotoHook runs after a client stored a vCard with an inline photo,
// with the photo's type and bytes: XEP-0398 §3.2 (vCard to PEP), which
// modules/pubsub installs. SetPhoto does not run it.
type PhotoHook = func(ctx context.Context, own jid.JID, mime string, data []byte)

// OnPhoto installs fn (the last installed wins) and returns the function
// that uninstalls it, which does nothing once another replaced it.
func (m *mod) OnPhoto(fn PhotoHook) (uninstall func()) {
	p := &fn
	m.photoHook.Store(p)
	return func() { m.photoHook.CompareAndSwap(p, nil) }
}

// photoData returns the inline image of a vCard.
func photoData(v *xml.Element) (mime string, data []byte, ok bool) {
	p := v.Child("PHOTO", NS)
	if p == nil {
		return "", nil, false
	}
	bin := p.Child("BINVAL", NS)
	if bin == nil {
		return "", nil, false
	}
	data, err := binval(bin)
	if err != nil || len(data) == 0 {
		return "", nil, false
	}
	if t := p.Child("TYPE", NS); t != nil {
		mime = strings.TrimSpace(t.Text())
	}
	return mime, data, true
}

// binval decodes a PHOTO's <BINVAL/>: base64 that clients may wrap across
// lines, so white space is dropped first (XEP-0153 §5.6).
func binval(bin *xml.Element) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, bin.Text()))
}
