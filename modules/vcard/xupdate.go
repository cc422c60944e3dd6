package vcard

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// NSUpdate is the XEP-0153 presence extension.
const NSUpdate = "vcard-temp:x:update"

// XEP-0153 gives the server no rules: clients put the avatar hash in their
// presence. Like ejabberd's mod_vcard_xupdate, the server helps clients
// that do not: an available broadcast presence without an
// <x xmlns='vcard-temp:x:update'/> gets one with the SHA-1 of the photo in
// the user's stored vCard (<photo/> empty when the vCard has no photo), so
// contacts learn about avatar changes whatever the client. A presence that
// carries the element is left as the client wrote it (§5.1: the client
// decides, e.g. an empty <x/> while it is "not yet ready").

// photo is what the server knows of an account's avatar.
type photo struct {
	hash string // lower-case hex SHA-1 of the image, "" for no photo
	ok   bool   // false: unknown (a PHOTO the server cannot hash)
}

// photoOf computes the avatar of a vCard (XEP-0153 §3.1: the SHA-1 of the
// image data, not of its base64; whitespace in BINVAL is ignored, §5.6).
func photoOf(v *xml.Element) photo {
	if v == nil {
		return photo{ok: true}
	}
	p := v.Child("PHOTO", NS)
	if p == nil {
		return photo{ok: true}
	}
	bin := p.Child("BINVAL", NS)
	if bin == nil {
		if p.Child("EXTVAL", NS) != nil {
			return photo{} // an external image: no hash to give
		}
		return photo{ok: true}
	}
	data, err := binval(bin)
	if err != nil {
		return photo{}
	}
	if len(data) == 0 {
		return photo{ok: true}
	}
	sum := sha1.Sum(data)
	return photo{hash: hex.EncodeToString(sum[:]), ok: true}
}

// photos caches the avatar of accounts with bound sessions.
type photos struct {
	mu sync.Mutex
	m  map[jid.JID]photo
}

// set records the avatar of a new vCard; it wins over a load in flight.
func (p *photos) set(own jid.JID, ph photo) {
	p.mu.Lock()
	p.m[own] = ph
	p.mu.Unlock()
}

// get returns own's avatar, reading the stored vCard the first time.
func (m *mod) photo(ctx context.Context, own jid.JID) (photo, error) {
	m.photos.mu.Lock()
	ph, ok := m.photos.m[own]
	m.photos.mu.Unlock()
	if ok {
		return ph, nil
	}
	data, err := m.store.GetPrivate(ctx, own.Domain(), own.Local(), Key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		ph = photo{ok: true}
	case err != nil:
		return photo{}, err
	default:
		els, err := xml.ParseFragments(data)
		if err != nil || len(els) != 1 {
			return photo{}, errors.New("stored vCard does not parse")
		}
		ph = photoOf(els[0])
	}
	m.photos.mu.Lock()
	if cur, ok := m.photos.m[own]; ok {
		ph = cur // a set since the read wins
	} else {
		m.photos.m[own] = ph
	}
	m.photos.mu.Unlock()
	return ph, nil
}

// outbound adds the update element to an available broadcast presence
// that lacks one. It changes st.El in place, before c2s records it as the
// session's presence, so probe answers carry it too; it never consumes
// the stanza.
func (m *mod) outbound(ctx context.Context, st *module.Stanza) bool {
	if st.Kind() != "presence" || !st.To.IsZero() || st.Type() != "" || st.Origin == nil {
		return false
	}
	if st.El.Child("x", NSUpdate) != nil {
		return false
	}
	own := st.From.Bare()
	ph, err := m.photo(ctx, own)
	if err != nil {
		m.h.Logger.Error("vcard avatar hash", "jid", own.String(), "err", err)
		return false
	}
	if !ph.ok {
		return false
	}
	b := xml.NewBuilder("presence", xml.NSClient)
	for _, a := range st.El.Attrs() {
		b.Attr(a.Name, a.Value)
	}
	for c := range st.El.Children() {
		b.Append(c)
	}
	b.Start("x", NSUpdate).Start("photo", "").Text(ph.hash).End().End()
	st.El = b.Element()
	return false
}

// warm reads the avatar of an account when a session binds, so that the
// stored vCard is not read on the presence path (where it would delay the
// session's initial presence behind a database read).
func (m *mod) warm(ctx context.Context, s module.Session) {
	if _, err := m.photo(ctx, s.JID().Bare()); err != nil {
		m.h.Logger.Error("vcard avatar hash", "jid", s.JID().Bare().String(), "err", err)
	}
}

// forget drops the cached avatar when an account's last session ends.
func (m *mod) forget(_ context.Context, s module.Session) {
	own := s.JID().Bare()
	if len(m.h.Directory.Sessions(own)) > 0 {
		return
	}
	m.photos.mu.Lock()
	delete(m.photos.m, own)
	m.photos.mu.Unlock()
}
