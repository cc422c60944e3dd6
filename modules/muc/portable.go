package muc

import (
	"errors"
	"fmt"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/xml"
)

// Moving rooms between servers (`xmppd export` / `xmppd import`): the
// stored configuration (storage.MUCRoom.Config, this module's own JSON)
// goes out as the muc#roomconfig form an owner would submit (XEP-0045
// §10.2, the fields of §16.5.3), which any MUC implementation reads, and
// comes back through the same code that applies an owner's form.

// PortableRoom is a room's configuration in portable form.
type PortableRoom struct {
	// Form is a submitted muc#roomconfig data form (jabber:x:data). The
	// owner and admin lists are not in it: they travel with the other
	// affiliations.
	Form *xml.Element
	// Subject and SubjectNick are the room's subject and who set it
	// (XEP-0045 §8.1); SubjectSet tells an empty subject set on purpose
	// from none.
	Subject, SubjectNick string
	SubjectSet           bool
}

// portableRoom is a room detached from any service, for the conversions.
func portableRoom(maxOccupants int) *room {
	svc := &service{m: &mod{cfg: Config{MaxOccupants: maxOccupants}}}
	return newRoom(svc, jid.MustParse("room@muc.invalid"), defaultConfig(maxOccupants))
}

// ExportRoomConfig turns a stored configuration into its portable form.
func ExportRoomConfig(stored []byte) (PortableRoom, error) {
	r := portableRoom(0)
	if err := r.decode(stored); err != nil {
		return PortableRoom{}, err
	}
	q := r.configForm()
	x := q.Child("x", nsData)
	b := xml.NewBuilder("x", nsData).Attr("type", "submit")
	for f := range x.Children() {
		switch v := f.Attr("var"); {
		case f.Name() != "field" || v == "muc#roomconfig_roomowners" || v == "muc#roomconfig_roomadmins":
			continue
		default:
			b.Start("field", "").Attr("var", v)
			if v == "FORM_TYPE" {
				b.Attr("type", "hidden")
			}
			for val := range f.Children() {
				if val.Name() == "value" {
					b.Start("value", "").Text(val.Text()).End()
				}
			}
			b.End()
		}
	}
	return PortableRoom{Form: b.Element(), Subject: r.subject, SubjectNick: r.subjectNick, SubjectSet: r.subjectSet}, nil
}

// ImportRoomConfig reads a portable configuration over the defaults a new
// room has, as an owner's submitted form would be applied (so the same
// values are refused: a password-protected room without a password, an
// unknown whois), and returns what the store keeps. Fields the form names
// that xmppd does not know are ignored (XEP-0227 asks importers to). The
// room is persistent whatever the form says: only persistent rooms are
// stored. maxOccupants is [muc] max_occupants.
func ImportRoomConfig(p PortableRoom, maxOccupants int) ([]byte, error) {
	r := portableRoom(maxOccupants)
	if p.Form != nil {
		f := parseForm(xml.NewBuilder("query", NSOwner).Append(p.Form).Element())
		if ft := f.formType(); ft != "" && ft != nsRoomConfig {
			return nil, errors.New("FORM_TYPE is " + ft + ", not " + nsRoomConfig)
		}
		c, e := r.applyForm(r.cfg, f)
		if e != nil {
			return nil, fmt.Errorf("%s: %s", e.Condition, e.Text)
		}
		r.cfg = c
	}
	r.cfg.Persistent = true
	r.subject, r.subjectNick, r.subjectSet = p.Subject, p.SubjectNick, p.SubjectSet || p.Subject != ""
	return r.encode(), nil
}
