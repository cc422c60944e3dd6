package main

import (
	"context"
	"fmt"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/modules/muc"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// Persistent MUC rooms in XEP-0227 documents.
//
// XEP-0227 (1.1, §1 "the contents of MUC, Pubsub and other services are
// out of scope") defines no element for rooms, and Debian's Prosody
// 0.12.3 cannot write them: its xep0227 store has no handler for the MUC
// component's "config" (rooms), "persistent" or "muc_log" stores, and
// prosody-migrator stops with "unsupported-datastore" (TestProsodyImport
// checks that this is still so). xmppd therefore writes rooms in a shape
// of its own, documented here and in the README, built from XEP-0045's
// own syntax so that another server's importer can read it with code it
// has already:
//
//	<host jid='conference.example.org'>
//	  <room xmlns='urn:xmppd:pie:muc:0' name='lobby'>
//	    <x xmlns='jabber:x:data' type='submit'>…muc#roomconfig fields (§16.5.3)…</x>
//	    <subject nick='alice'>Welcome</subject>
//	    <query xmlns='http://jabber.org/protocol/muc#admin'>
//	      <item affiliation='owner' jid='alice@example.org'/>
//	      <item affiliation='member' jid='bob@example.org' nick='bobby'/>
//	      <item affiliation='outcast' jid='troll@example.net'><reason>spam</reason></item>
//	    </query>
//	    <vCard xmlns='vcard-temp'>…</vCard>
//	    <archive xmlns='urn:xmpp:pie:0#mam'>…as a user's (xep0227_archive.go)…</archive>
//	  </room>
//	</host>
//
// The <host/> is the MUC service's domain, as a user's is the virtual
// host's; the configuration is the form an owner submits (§10.2), the
// affiliations are §9-§10's admin items (with the reserved nick, §7.10,
// and the reason), so nothing xmppd keeps of a room is lost. A room that
// exists already is left as it is; its archive is merged. A <room/> that
// holds only an <archive/> brings the archive alone: Prosody's rooms come
// that way, configuration and archive in two files, written by the
// prosody-migrator output store in contrib/prosody/mod_storage_xmppd_muc.lua.

const (
	nsPIEMUC   = "urn:xmppd:pie:muc:0"
	nsMUCAdmin = "http://jabber.org/protocol/muc#admin"
)

// importRooms imports the <room/> elements of a MUC service's <host/>.
func (im *pieImport) importRooms(ctx context.Context, service string, host *xml.Element) error {
	if im.rooms == nil {
		im.rooms = map[string]map[string]bool{}
	}
	if im.rooms[service] == nil {
		rooms, err := im.db.MUCRooms(ctx, service)
		if err != nil {
			return err
		}
		im.rooms[service] = map[string]bool{}
		for _, r := range rooms {
			im.rooms[service][r.Name] = true
		}
	}
	for el := range host.Children() {
		if el.Name() != "room" || el.NS() != nsPIEMUC {
			if el.Name() == "user" && el.NS() == nsPIE {
				im.badf("%s: <user name=%q/>: a MUC service has rooms, not accounts", service, el.Attr("name"))
			}
			continue
		}
		if err := im.importRoom(ctx, service, el); err != nil {
			return err
		}
	}
	return nil
}

func (im *pieImport) importRoom(ctx context.Context, service string, el *xml.Element) error {
	rj, err := jid.New(el.Attr("name"), service, "")
	if err != nil || rj.Local() == "" {
		im.badf("%s: <room name=%q/> is not a room name (%v)", service, el.Attr("name"), err)
		return nil
	}
	var archive *xml.Element
	onlyArchive := true
	for ch := range el.Children() {
		onlyArchive = onlyArchive && ch.Name() == "archive" && ch.NS() == nsPIEMAM
	}
	switch {
	case onlyArchive:
		// A room's archive alone (contrib/prosody/mod_storage_xmppd_muc.lua
		// writes it in a file of its own): the room comes with its
		// configuration, from another element or file.
	case im.rooms[service][rj.Local()]:
		im.n.roomsThere++
		im.warnf("room %s exists already: left as it is (its archive is merged)", rj)
	default:
		p := muc.PortableRoom{Form: el.Child("x", nsData)}
		if s := el.Child("subject", nsPIEMUC); s != nil {
			p.Subject, p.SubjectNick, p.SubjectSet = s.Text(), s.Attr("nick"), true
		}
		cfg, err := muc.ImportRoomConfig(p, mucConfig(im.cfg).MaxOccupants)
		if err != nil {
			im.badf("room %s: configuration: %v", rj, err)
			return nil
		}
		r := storage.MUCRoom{Service: service, Name: rj.Local(), Config: cfg}
		if v := el.Child("vCard", nsVCard); v != nil {
			r.VCard = v.Append(nil, "")
		}
		if err := im.db.SaveMUCRoom(ctx, r); err != nil {
			return fmt.Errorf("room %s: %w", rj, err)
		}
		im.rooms[service][rj.Local()] = true
		im.n.rooms++
		if q := el.Child("query", nsMUCAdmin); q != nil {
			for it := range q.Children() {
				if it.Name() != "item" {
					continue
				}
				if err := im.importAffiliation(ctx, rj, it); err != nil {
					return err
				}
			}
		}
	}
	if archive = el.Child("archive", nsPIEMAM); archive != nil {
		if err := im.importArchive(ctx, rj.String(), rj, true, archive); err != nil {
			return fmt.Errorf("room %s archive: %w", rj, err)
		}
	}
	return nil
}

// importAffiliation stores one muc#admin <item/>. A room's affiliations
// are keyed by bare JID, or by domain for a whole server (XEP-0045 §9.1).
func (im *pieImport) importAffiliation(ctx context.Context, room jid.JID, it *xml.Element) error {
	j, err := jid.Parse(it.Attr("jid"))
	aff := it.Attr("affiliation")
	switch {
	case err != nil:
		im.badf("room %s: <item jid=%q/>: %v", room, it.Attr("jid"), err)
		return nil
	case aff != "owner" && aff != "admin" && aff != "member" && aff != "outcast":
		im.badf("room %s: <item jid=%q affiliation=%q/>: not a stored XEP-0045 affiliation", room, it.Attr("jid"), aff)
		return nil
	}
	key := j.Bare().String()
	if j.Local() == "" {
		key = j.Domain()
	}
	a := storage.MUCAffiliation{JID: key, Affiliation: aff, Nick: it.Attr("nick")}
	if r := it.Child("reason", ""); r != nil {
		a.Reason = r.Text()
	}
	if err := im.db.SetMUCAffiliation(ctx, room.Domain(), room.Local(), a); err != nil {
		return fmt.Errorf("room %s: %w", room, err)
	}
	return nil
}

// rooms writes the persistent rooms of a MUC service as a <host/> of its
// own (nothing when it has none), each with its archive.
func (ex *pieExport) rooms(ctx context.Context, service string) error {
	rooms, err := ex.db.MUCRooms(ctx, service)
	if err != nil || len(rooms) == 0 {
		return err
	}
	ex.buf = append(ex.buf, "<host jid='"...)
	ex.buf = xml.EscapeAttr(ex.buf, service)
	ex.buf = append(ex.buf, "'>\n"...)
	for _, r := range rooms {
		p, err := muc.ExportRoomConfig(r.Config)
		if err != nil {
			ex.warnf("room %s@%s: its stored configuration cannot be read: left out: %v", r.Name, service, err)
			continue
		}
		b := xml.NewBuilder("room", nsPIEMUC).Attr("name", r.Name).Append(p.Form)
		if p.SubjectSet {
			b.Start("subject", "")
			if p.SubjectNick != "" {
				b.Attr("nick", p.SubjectNick)
			}
			b.Text(p.Subject).End()
		}
		if len(r.Affiliations) > 0 {
			b.Start("query", nsMUCAdmin)
			for _, a := range r.Affiliations {
				b.Start("item", "").Attr("affiliation", a.Affiliation).Attr("jid", a.JID)
				if a.Nick != "" {
					b.Attr("nick", a.Nick)
				}
				if a.Reason != "" {
					b.Start("reason", "").Text(a.Reason).End()
				}
				b.End()
			}
			b.End()
		}
		if len(r.VCard) > 0 {
			if v, err := xml.ParseFragment(r.VCard); err == nil {
				b.Append(v)
			} else {
				ex.warnf("room %s@%s: its vCard cannot be read: left out: %v", r.Name, service, err)
			}
		}
		ex.buf = reopen(b.Element().Append(ex.buf, nsPIE), "room")
		if err := ex.archive(ctx, r.Name+"@"+service); err != nil {
			return fmt.Errorf("room %s@%s archive: %w", r.Name, service, err)
		}
		ex.buf = append(ex.buf, "</room>\n"...)
		ex.n.rooms++
		if err := ex.flush(false); err != nil {
			return err
		}
	}
	ex.buf = append(ex.buf, "</host>\n"...)
	return nil
}
