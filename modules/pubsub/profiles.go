package pubsub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/modules/pubsub/engine"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// The profiles of PEP the server takes part in. Plain PEP already serves
// XEP-0084 avatars, XEP-0402 bookmarks, XEP-0223 private storage and
// OMEMO; what is here is the server's own work on top:
//
//   - XEP-0398: an avatar published to urn:xmpp:avatar:metadata is copied
//     into the vCard's PHOTO (the vcard module's SetPhoto), so XEP-0153 clients and the
//     presence hash follow.
//   - XEP-0402 §5.3 "#compat": XEP-0049 private storage of
//     storage:bookmarks is read from and written to the PEP bookmarks
//     (urn:xmpp:bookmarks:1), so old and new clients see one list.

const (
	nsAvatarData     = "urn:xmpp:avatar:data"
	nsAvatarMetadata = "urn:xmpp:avatar:metadata"
	nsVCardConv      = "urn:xmpp:pep-vcard-conversion:0"
	nsBookmarks2     = "urn:xmpp:bookmarks:1"
	nsBookmarks1     = "storage:bookmarks"
	nsBookmarksConv  = "urn:xmpp:bookmarks-conversion:0" // XEP-0411
)

// syncing marks a context in which the server itself converts bookmarks
// from one form to another: what it publishes then is not converted back.
type syncing struct{}

func isSyncing(ctx context.Context) bool { return ctx.Value(syncing{}) != nil }

// privateService is what the profiles use of the private module's
// service "private": XEP-0049 storage:bookmarks served from PEP.
type privateService interface {
	Intercept(ns, local string,
		get func(ctx context.Context, own jid.JID) ([]*xml.Element, error),
		set func(ctx context.Context, own jid.JID, els []*xml.Element) error,
	) (uninstall func())
}

// vcardService is what the profiles use of the vcard module's service
// "vcard": XEP-0398 both ways.
type vcardService interface {
	SetPhoto(ctx context.Context, own jid.JID, mime string, data []byte) error
	OnPhoto(fn func(ctx context.Context, own jid.JID, mime string, data []byte)) (uninstall func())
}

// Deps implements module.Dependent: without the private or the vcard
// module, the profile that joins it to PEP is left out.
func (m *mod) Deps() module.Deps { return module.Deps{Uses: []string{"private", "vcard"}} }

// profiles holds what the profiles installed.
type profiles struct {
	vcard                     vcardService // nil without the vcard module
	uninstall, uninstallPhoto func()
}

func (m *mod) startProfiles() error {
	m.h.AddAccountFeature(nsVCardConv)
	m.h.AddAccountFeature(nsBookmarks2 + "#compat")
	m.h.AddAccountFeature(nsBookmarks2 + "#compat-pep")
	m.h.AddAccountFeature(nsBookmarksConv)
	ps, err := module.Require[privateService](m.h, "private")
	if err != nil && !errors.Is(err, module.ErrNoService) {
		return err
	}
	vs, err := module.Require[vcardService](m.h, "vcard")
	if err != nil && !errors.Is(err, module.ErrNoService) {
		return err
	}
	if ps != nil {
		m.profiles.uninstall = ps.Intercept(nsBookmarks1, "storage", m.privateBookmarks, m.setPrivateBookmarks)
	}
	if vs != nil {
		m.profiles.vcard = vs
		m.profiles.uninstallPhoto = vs.OnPhoto(m.vcardToAvatar)
	}
	return nil
}

// setPhoto has the vcard module follow the PEP avatar.
func (m *mod) setPhoto(ctx context.Context, own jid.JID, mime string, data []byte) error {
	if m.profiles.vcard == nil {
		return errors.New("no vcard module")
	}
	return m.profiles.vcard.SetPhoto(ctx, own, mime, data)
}

func (m *mod) stopProfiles() {
	if m.profiles.uninstall != nil {
		m.profiles.uninstall()
	}
	if m.profiles.uninstallPhoto != nil {
		m.profiles.uninstallPhoto()
	}
}

// vcardToAvatar: XEP-0398 §3.2. A vCard stored with an inline photo is
// published as the PEP avatar: the data item (id = the image's SHA-1),
// then metadata with one info, which notifies the contacts. Nothing is
// published when the metadata already names that image.
func (m *mod) vcardToAvatar(ctx context.Context, own jid.JID, mime string, data []byte) {
	ctx = context.WithValue(ctx, syncing{}, true) // the vCard has it already
	sum := sha1.Sum(data)
	id := hex.EncodeToString(sum[:])
	if items, err := m.h.PubSub.Items(ctx, own.String(), nsAvatarMetadata, nil, 1); err == nil && len(items) == 1 && items[0].ID == id {
		return
	}
	if mime == "" {
		mime = "image/png"
	}
	svc := pep(own)
	payload := xml.NewBuilder("data", nsAvatarData).Text(base64.StdEncoding.EncodeToString(data)).Element()
	if _, err := m.eng.Publish(ctx, svc, own, nsAvatarData, id, payload, nil); err != nil {
		m.h.Logger.Warn("XEP-0398 vCard to PEP avatar data", "jid", own.String(), "err", err)
		return
	}
	meta := xml.NewBuilder("metadata", nsAvatarMetadata).Start("info", "").Attr("id", id).
		Attr("bytes", strconv.Itoa(len(data))).Attr("type", mime).End().Element()
	if _, err := m.eng.Publish(ctx, svc, own, nsAvatarMetadata, id, meta, nil); err != nil {
		m.h.Logger.Warn("XEP-0398 vCard to PEP avatar metadata", "jid", own.String(), "err", err)
	}
}

// published runs after every publish on either service.
func (m *mod) published(ctx context.Context, svc engine.Service, node string, it storage.PubSubItem, payload *xml.Element) {
	if !svc.PEP {
		return
	}
	switch node {
	case nsAvatarMetadata:
		if isSyncing(ctx) {
			return
		}
		if err := m.avatarToVCard(ctx, svc.JID, payload); err != nil {
			m.h.Logger.Warn("XEP-0398 avatar to vCard", "jid", svc.JID.String(), "err", err)
		}
	case nsBookmarks2:
		m.bookmarksChanged(ctx, svc.JID)
	case nsBookmarks1:
		// XEP-0048 over PEP (XEP-0411, XEP-0402 #compat-pep): the
		// legacy item "current" holds the whole list.
		if isSyncing(ctx) || payload == nil || payload.Name() != "storage" || payload.NS() != nsBookmarks1 {
			return
		}
		if err := m.syncBookmarks2(context.WithValue(ctx, syncing{}, true), svc.JID, payload); err != nil {
			m.h.Logger.Warn("XEP-0411 bookmarks from PEP storage:bookmarks", "jid", svc.JID.String(), "err", err)
		}
	}
}

// retracted runs after every retraction.
func (m *mod) retracted(ctx context.Context, svc engine.Service, node, id string) {
	if svc.PEP && node == nsBookmarks2 {
		m.bookmarksChanged(ctx, svc.JID)
	}
}

// bookmarksChanged follows a change of the XEP-0402 bookmarks made by a
// client with the XEP-0048 PEP item (storage:bookmarks, item "current",
// whitelist), which XEP-0048 clients read and are notified of.
func (m *mod) bookmarksChanged(ctx context.Context, own jid.JID) {
	if isSyncing(ctx) {
		return
	}
	if err := m.publishLegacyBookmarks(context.WithValue(ctx, syncing{}, true), own); err != nil {
		m.h.Logger.Warn("XEP-0411 bookmarks to PEP storage:bookmarks", "jid", own.String(), "err", err)
	}
}

func (m *mod) publishLegacyBookmarks(ctx context.Context, own jid.JID) error {
	els, err := m.privateBookmarks(ctx, own)
	if err != nil || len(els) == 0 {
		return err
	}
	opts := map[string][]string{engine.FieldPersistItems: {"true"}, engine.FieldAccessModel: {"whitelist"}}
	_, err = m.eng.Publish(ctx, pep(own), own, nsBookmarks1, "current", els[0], opts)
	return err
}

// avatarToVCard: XEP-0398 §3.1. The metadata's first info without a url
// (an avatar stored in the data node) names the data item by its SHA-1;
// empty metadata (XEP-0084 §4.5, avatar disabled) removes the photo.
func (m *mod) avatarToVCard(ctx context.Context, own jid.JID, meta *xml.Element) error {
	if meta == nil || meta.Name() != "metadata" || meta.NS() != nsAvatarMetadata {
		return nil
	}
	var info *xml.Element
	for c := range meta.Children() {
		if c.Name() == "info" && c.Attr("url") == "" {
			info = c
			break
		}
	}
	if info == nil {
		if meta.FirstChild() == nil {
			return m.setPhoto(ctx, own, "", nil)
		}
		return nil // only external avatars: nothing to copy
	}
	id := strings.ToLower(info.Attr("id"))
	items, err := m.h.PubSub.Items(ctx, own.String(), nsAvatarData, []string{info.Attr("id")}, 0)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return errors.New("no data item " + id)
	}
	data, err := engine.Parse(items[0].Payload)
	if err != nil || data == nil {
		return errors.New("data item does not parse")
	}
	img, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, data.Text()))
	if err != nil {
		return err
	}
	sum := sha1.Sum(img)
	if hex.EncodeToString(sum[:]) != id {
		return errors.New("data item's SHA-1 is not its id")
	}
	return m.setPhoto(ctx, own, info.Attr("type"), img)
}

// bookmarkOptions are the publish-options XEP-0402 §5 asks for.
var bookmarkOptions = map[string][]string{
	engine.FieldPersistItems: {"true"},
	engine.FieldMaxItems:     {"max"},
	engine.FieldSendLast:     {"never"},
	engine.FieldAccessModel:  {"whitelist"},
}

func pep(own jid.JID) engine.Service { return engine.Service{JID: own, PEP: true} }

// privateBookmarks answers a XEP-0049 get of storage:bookmarks from the
// PEP bookmarks (XEP-0402 §5.3), with the <url/> bookmarks XEP-0402
// cannot hold kept from what the last private set stored. Without a PEP
// bookmarks node the stored private copy answers as before.
func (m *mod) privateBookmarks(ctx context.Context, own jid.JID) ([]*xml.Element, error) {
	stored, err := m.storedPrivate(ctx, own)
	if err != nil {
		return nil, err
	}
	items, err := m.eng.Items(ctx, pep(own), nsBookmarks2)
	if errors.Is(err, storage.ErrNotFound) {
		if stored == nil {
			return nil, nil
		}
		return []*xml.Element{stored}, nil
	}
	if err != nil {
		return nil, err
	}
	b := xml.NewBuilder("storage", nsBookmarks1)
	for i := len(items) - 1; i >= 0; i-- {
		c, err := engine.Parse(items[i].Payload)
		if err != nil || c == nil || c.Name() != "conference" || c.NS() != nsBookmarks2 {
			continue
		}
		b.Start("conference", "").Attr("jid", items[i].ID)
		if v := c.Attr("name"); v != "" {
			b.Attr("name", v)
		}
		if v := c.Attr("autojoin"); v == "true" || v == "1" {
			b.Attr("autojoin", "true")
		}
		for _, child := range []string{"nick", "password"} {
			if e := c.Child(child, nsBookmarks2); e != nil {
				b.Start(child, "").Text(e.Text()).End()
			}
		}
		b.End()
	}
	if stored != nil {
		for c := range stored.Children() {
			if c.Name() == "url" {
				b.Append(c)
			}
		}
	}
	return []*xml.Element{b.Element()}, nil
}

func (m *mod) storedPrivate(ctx context.Context, own jid.JID) (*xml.Element, error) {
	if m.h.Private == nil {
		return nil, nil
	}
	data, err := m.h.Private.GetPrivate(ctx, own.Domain(), own.Local(), storage.PrivateKey(nsBookmarks1, "storage"))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	els, err := xml.ParseFragments(data)
	if err != nil || len(els) == 0 {
		return nil, err
	}
	return els[0], nil
}

// setPrivateBookmarks takes a XEP-0049 set of storage:bookmarks: each
// conference becomes (or stays) an item of the PEP bookmarks, items not in
// the set are retracted, with notifications to the user's resources; the
// set is also kept as the private copy (for its <url/>s).
func (m *mod) setPrivateBookmarks(ctx context.Context, own jid.JID, els []*xml.Element) error {
	if len(els) != 1 {
		return stanza.NewError(stanza.BadRequest, "one storage:bookmarks element")
	}
	ctx = context.WithValue(ctx, syncing{}, true)
	if err := m.syncBookmarks2(ctx, own, els[0]); err != nil {
		return err
	}
	return m.publishLegacyBookmarks(ctx, own)
}

// syncBookmarks2 makes the XEP-0402 bookmarks hold the conferences of a
// XEP-0048 <storage/>, and keeps that as the private copy.
func (m *mod) syncBookmarks2(ctx context.Context, own jid.JID, st *xml.Element) error {
	if m.h.Private != nil {
		if err := m.h.Private.SetPrivate(ctx, own.Domain(), own.Local(), storage.PrivateKey(nsBookmarks1, "storage"), st.Append(nil, "")); err != nil {
			return err
		}
	}
	want := map[string]*xml.Element{}
	var order []string
	for c := range st.Children() {
		if c.Name() != "conference" {
			continue
		}
		room, err := jid.Parse(c.Attr("jid"))
		if err != nil || room.IsFull() {
			continue
		}
		b := xml.NewBuilder("conference", nsBookmarks2)
		if v := c.Attr("name"); v != "" {
			b.Attr("name", v)
		}
		if v := c.Attr("autojoin"); v == "true" || v == "1" {
			b.Attr("autojoin", "true")
		}
		for _, child := range []string{"nick", "password"} {
			if e := c.Child(child, ""); e != nil && e.Text() != "" {
				b.Start(child, "").Text(e.Text()).End()
			}
		}
		if _, dup := want[room.String()]; !dup {
			order = append(order, room.String())
		}
		want[room.String()] = b.Element()
	}
	svc := pep(own)
	have := map[string][]byte{}
	items, err := m.eng.Items(ctx, svc, nsBookmarks2)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	for _, it := range items {
		have[it.ID] = it.Payload
	}
	for _, id := range order {
		payload := want[id]
		if old, ok := have[id]; ok && bytes.Equal(old, payload.Append(nil, "")) {
			continue // unchanged: no notification
		}
		if _, err := m.eng.Publish(ctx, svc, own, nsBookmarks2, id, payload, bookmarkOptions); err != nil {
			return err
		}
	}
	for id := range have {
		if want[id] == nil {
			if err := m.eng.Retract(ctx, svc, own, nsBookmarks2, id, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
