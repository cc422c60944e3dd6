package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// Message archives (XEP-0313) in XEP-0227 documents.
//
// XEP-0227 1.1 §5.4: a user's archive is an <archive
// xmlns='urn:xmpp:pie:0#mam'/> holding XEP-0313 <result/> elements, oldest
// first. What Debian's Prosody 0.12.3 writes (prosody-migrator, output
// store type "xep0227", input store "archive-archive", i.e. mod_mam's
// archive) is exactly that shape, one <result/> per message:
//
//	<archive xmlns='urn:xmpp:pie:0#mam'>
//	  <result xmlns='urn:xmpp:mam:2' id='a1b2c3d4-0001'>
//	    <forwarded xmlns='urn:xmpp:forward:0'>
//	      <delay xmlns='urn:xmpp:delay' stamp='2026-01-02T03:04:05Z'/>
//	      <message xmlns='jabber:client' type='chat' from='peter@localhost/phone' to='paula@localhost' id='m1'><body>hello paula</body></message>
//	    </forwarded>
//	  </result>
//	</archive>
//
// The id is Prosody's archive id (a UUID), the stamp its time to the
// second; nothing says the direction or the peer: Prosody, reading the
// file back, takes the peer from the message (the 'from' when the 'to'
// is the user, else the 'to'), and so does this import, as the mam
// module does when it archives. Prosody 0.12 cannot write a room's
// archive (its xep0227 store refuses the muc_log store:
// "unsupported-datastore"); xmppd writes a room's the same way, inside
// its <room/> (xep0227_muc.go), the peer being the message's 'from' (the
// occupant's nick JID, what the MUC module archives under).
//
// Ids are kept, so that clients that synced before the move page on from
// where they were; they are also what makes a second import of the same
// file harmless: a message whose id the archive holds already is not
// stored twice. xmppd's ids are letters, digits, '-' and '_' (at most 64):
// another id gets a new one, said so.

const (
	nsPIEMAM  = "urn:xmpp:pie:0#mam"
	nsMAM     = "urn:xmpp:mam:2"
	nsForward = "urn:xmpp:forward:0"
	nsDelay   = "urn:xmpp:delay"
)

// archiveImportBatch is how many messages one transaction stores.
const archiveImportBatch = 500

// validArchiveID is what storage.ArchivedMessage.ID allows.
func validArchiveID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// importArchive stores the messages of an <archive/> element in the
// archive named key: an account's (owner its bare JID) or a room's (room
// set). Malformed items are reported and left out.
func (im *pieImport) importArchive(ctx context.Context, key string, owner jid.JID, room bool, el *xml.Element) error {
	var batch []storage.ArchiveEntry
	i := 0
	for r := range el.Children() {
		i++
		where := fmt.Sprintf("%s archive, <result/> %d (id %q)", key, i, r.Attr("id"))
		if r.Name() != "result" {
			im.badf("%s archive, element %d: <%s/> is not a <result/>", key, i, r.Name())
			continue
		}
		m, err := archivedMessage(r, owner, room)
		if err != nil {
			im.badf("%s: %v", where, err)
			continue
		}
		if !validArchiveID(m.ID) {
			if m.ID != "" {
				im.warnf("%s: xmppd's archive ids are letters, digits, '-' and '_' (at most 64): it gets a new id", where)
			}
			m.ID = storage.NewArchiveID(m.Time)
		}
		batch = append(batch, storage.ArchiveEntry{Archive: key, Message: m})
		if len(batch) == archiveImportBatch {
			if err := im.storeArchived(ctx, key, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return im.storeArchived(ctx, key, batch)
}

// archivedMessage reads one <result/>.
func archivedMessage(r *xml.Element, owner jid.JID, room bool) (storage.ArchivedMessage, error) {
	var m storage.ArchivedMessage
	if ns := r.NS(); ns != nsMAM && ns != "urn:xmpp:mam:1" && ns != "urn:xmpp:mam:0" {
		return m, fmt.Errorf("<result/> in namespace %q, not %s", ns, nsMAM)
	}
	fwd := r.Child("forwarded", nsForward)
	if fwd == nil {
		return m, fmt.Errorf("no <forwarded xmlns='%s'/>", nsForward)
	}
	d := fwd.Child("delay", nsDelay)
	if d == nil {
		return m, fmt.Errorf("no <delay xmlns='%s'/> in <forwarded/>", nsDelay)
	}
	t, err := time.Parse(time.RFC3339, d.Attr("stamp"))
	if err != nil {
		return m, fmt.Errorf("<delay stamp=%q/> is not an XEP-0082 date and time", d.Attr("stamp"))
	}
	msg := fwd.Child("message", xml.NSClient)
	if msg == nil {
		return m, errors.New("no <message xmlns='jabber:client'/> in <forwarded/>")
	}
	parse := func(attr string) (jid.JID, error) {
		j, err := jid.Parse(msg.Attr(attr))
		if err != nil {
			return jid.JID{}, fmt.Errorf("message %s=%q: %w", attr, msg.Attr(attr), err)
		}
		return j, nil
	}
	var with jid.JID
	if room {
		// The MUC module archives under the occupant's nick JID.
		if msg.Attr("from") != "" {
			if with, err = parse("from"); err != nil {
				return m, err
			}
		}
	} else {
		from, err := parse("from")
		if err != nil {
			return m, err
		}
		to, err := parse("to")
		if err != nil {
			return m, err
		}
		with = to.Bare()
		if with == owner.Bare() {
			with = from.Bare()
		}
	}
	m = storage.ArchivedMessage{ID: r.Attr("id"), Time: t, Stanza: msg.Append(nil, xml.NSClient)}
	if !with.IsZero() {
		m.With = with.String()
	}
	return m, nil
}

// storeArchived stores a batch, leaving out the messages whose id the
// archive holds already. A message whose id another archive holds gets a
// new id.
func (im *pieImport) storeArchived(ctx context.Context, key string, batch []storage.ArchiveEntry) error {
	if len(batch) == 0 {
		return nil
	}
	ids := make([]string, len(batch))
	for i, e := range batch {
		ids[i] = e.Message.ID
	}
	there, err := im.archivedIDs(ctx, key, ids)
	if err != nil {
		return err
	}
	fresh := make([]storage.ArchiveEntry, 0, len(batch))
	seen := map[string]bool{}
	for _, e := range batch {
		if there[e.Message.ID] || seen[e.Message.ID] {
			im.n.archivedThere++
			continue
		}
		seen[e.Message.ID] = true
		fresh = append(fresh, e)
	}
	if err := im.db.AppendBatch(ctx, fresh); err == nil {
		im.n.archived += len(fresh)
		return nil
	} else if !errors.Is(err, storage.ErrExists) {
		return err
	}
	// An id of this batch is another archive's (ids are unique in the
	// whole store): one at a time, to find it.
	for _, e := range fresh {
		_, err := im.db.Append(ctx, key, e.Message)
		if errors.Is(err, storage.ErrExists) {
			im.warnf("%s archive: id %q is another archive's already: the message gets a new id", key, e.Message.ID)
			e.Message.ID = ""
			_, err = im.db.Append(ctx, key, e.Message)
		}
		if err != nil {
			return err
		}
		im.n.archived++
	}
	return nil
}

// archivedIDs returns which of ids archive key holds.
func (im *pieImport) archivedIDs(ctx context.Context, key string, ids []string) (map[string]bool, error) {
	page, err := im.db.QueryArchive(ctx, key, storage.ArchiveQuery{IDs: ids, Max: len(ids)})
	if err != nil {
		return nil, err
	}
	there := make(map[string]bool, len(page.Items))
	for _, it := range page.Items {
		there[it.ID] = true
	}
	return there, nil
}

// archiveExportPage is how many messages one query reads.
const archiveExportPage = 500

// archive writes archive key as an <archive/> element (nothing when it
// is empty), a page at a time, oldest first.
func (ex *pieExport) archive(ctx context.Context, key string) error {
	q := storage.ArchiveQuery{Max: archiveExportPage}
	started := false
	for {
		page, err := ex.db.QueryArchive(ctx, key, q)
		if err != nil {
			return err
		}
		if len(page.Items) > 0 && !started {
			ex.buf = append(ex.buf, "<archive xmlns='"+nsPIEMAM+"'>"...)
			started = true
		}
		for _, it := range page.Items {
			msg, err := xml.ParseFragment(it.Stanza)
			if err != nil {
				ex.warnf("%s: archived message %s cannot be read: left out: %v", key, it.ID, err)
				continue
			}
			b := xml.NewBuilder("result", nsMAM).Attr("id", it.ID).
				Start("forwarded", nsForward).
				Start("delay", nsDelay).Attr("stamp", it.Time.UTC().Format("2006-01-02T15:04:05.000Z")).End().
				Append(msg).End()
			ex.buf = b.Element().Append(ex.buf, nsPIEMAM)
			ex.n.archived++
		}
		if err := ex.flush(false); err != nil {
			return err
		}
		if page.Complete || len(page.Items) == 0 {
			break
		}
		q.AfterID = page.Items[len(page.Items)-1].ID
	}
	if started {
		ex.buf = append(ex.buf, "</archive>"...)
	}
	return nil
}
