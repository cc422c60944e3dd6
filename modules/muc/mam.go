package muc

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0313 message archive management on room JIDs (§5 "MUC archives"),
// over storage.Archive keyed by the room's bare JID. Every groupchat
// message with a body is archived under its XEP-0359 stanza-id; the
// in-memory history is the cache the join path reads.

const (
	nsMAM     = "urn:xmpp:mam:2"
	nsRSM     = "http://jabber.org/protocol/rsm"
	nsForward = "urn:xmpp:forward:0"
	// maxMAMPage bounds one page (XEP-0313 §4.3: the server chooses).
	maxMAMPage = 100
)

// archiver is what the module needs of storage.Archive.
type archiver interface {
	Append(ctx context.Context, archive string, m storage.ArchivedMessage) (string, error)
	AppendBatch(ctx context.Context, entries []storage.ArchiveEntry) error
	QueryArchive(ctx context.Context, archive string, q storage.ArchiveQuery) (storage.ArchivePage, error)
	ReplaceArchived(ctx context.Context, archive, id string, stanza []byte) error
	DeleteArchive(ctx context.Context, archive string) error
}

// archiveJob is one write for the archive writer: an append, a delete
// (drop) or a barrier (done closed once everything before it is written).
type archiveJob struct {
	room string
	msg  storage.ArchivedMessage
	drop bool
	done chan struct{}
}

const (
	// archiveQueue bounds the writes waiting for the database; a full
	// queue makes the rooms wait (backpressure), nothing is dropped.
	archiveQueue = 4096
	// archiveInterval is the default least time between two commits of
	// room messages ([muc] archive_interval): what arrives meanwhile is
	// committed together. The same as the account archive's default
	// write_interval ([archive], modules/mam), so a crash loses at most
	// the same window of room messages (docs/reliability.md). At 250
	// messages/s in a room (50 occupants sending 5/s each) a commit per
	// message was a fifth of the server's CPU (docs/performance.md,
	// "Room mailboxes"); the commit's fixed cost is still most of the
	// writer's (docs/performance.md, "MUC delivery CPU").
	archiveInterval = 25 * time.Millisecond
	// archiveBatch is the most messages one commit takes.
	archiveBatch = 1024
)

// archiveLoop writes the archive in the order rooms asked, off the
// room's lock: the fan-out of the next message does not wait for the
// database. Appends are committed in batches, at most one commit per
// m.archInterval (an idle server writes a message at once); a delete or
// a barrier first commits the appends queued before it, so order holds.
func (m *mod) archiveLoop() {
	defer close(m.archStopped)
	ctx := context.Background()
	var (
		batch = make([]storage.ArchiveEntry, 0, 64)
		last  time.Time // end of the last commit
		timer = time.NewTimer(0)
		open  = true
	)
	<-timer.C
	// add takes j into the batch, or (a delete or a barrier) commits the
	// batch and then does j. False for the latter.
	add := func(j archiveJob) bool {
		if j.done == nil && !j.drop {
			batch = append(batch, storage.ArchiveEntry{Archive: j.room, Message: j.msg})
			return true
		}
		m.writeBatch(ctx, batch)
		batch = batch[:0]
		m.writeArchive(ctx, j)
		return false
	}
	for open {
		j, ok := <-m.archQ
		if !ok {
			break
		}
		if !add(j) {
			last = time.Now()
			continue
		}
		// Until archInterval has passed since the last commit, gather
		// what arrives; a full batch, a delete or a barrier ends it.
		if wait := m.archInterval - time.Since(last); wait > 0 {
			timer.Reset(wait)
		gather:
			for len(batch) < archiveBatch {
				select {
				case j, ok := <-m.archQ:
					if !ok {
						open = false
						break gather
					}
					if !add(j) {
						break gather
					}
				case <-timer.C:
					break gather
				}
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		m.writeBatch(ctx, batch)
		clear(batch) // the stanzas, for the collector
		batch = batch[:0]
		last = time.Now()
	}
	// Closed while gathering: what is left in the channel.
	for j := range m.archQ {
		add(j)
	}
	m.writeBatch(ctx, batch)
}

// writeBatch commits batch; if that fails (a database error), each
// message is tried alone, so one bad entry does not lose the others.
func (m *mod) writeBatch(ctx context.Context, batch []storage.ArchiveEntry) {
	switch len(batch) {
	case 0:
		return
	case 1:
		m.writeArchive(ctx, archiveJob{room: batch[0].Archive, msg: batch[0].Message})
		return
	}
	err := m.archive.AppendBatch(ctx, batch)
	if err == nil {
		return
	}
	m.log.Warn("room archive batch failed, writing one by one", "messages", len(batch), "err", err)
	for _, e := range batch {
		m.writeArchive(ctx, archiveJob{room: e.Archive, msg: e.Message})
	}
}

func (m *mod) writeArchive(ctx context.Context, j archiveJob) {
	switch {
	case j.done != nil:
		close(j.done)
	case j.drop:
		if err := m.archive.DeleteArchive(ctx, j.room); err != nil {
			m.log.Error("delete room archive", "room", j.room, "err", err)
		}
	default:
		if _, err := m.archive.Append(ctx, j.room, j.msg); err != nil {
			m.log.Error("archive room message", "room", j.room, "err", err)
		}
	}
}

// enqueue hands j to the writer, or writes it here once the module is
// stopping (the writer is gone).
func (m *mod) enqueue(ctx context.Context, j archiveJob) {
	m.archMu.RLock()
	if !m.archClosed {
		m.archQ <- j
		m.archMu.RUnlock()
		return
	}
	m.archMu.RUnlock()
	m.writeArchive(ctx, j)
}

// flushArchive waits until every write queued before it is done, so that
// a MAM query sees the messages its sender already saw echoed.
func (m *mod) flushArchive(ctx context.Context) {
	done := make(chan struct{})
	m.enqueue(ctx, archiveJob{done: done})
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (m *mod) stopArchive() {
	if m.archQ == nil {
		return
	}
	m.archMu.Lock()
	if !m.archClosed {
		m.archClosed = true
		close(m.archQ)
	}
	m.archMu.Unlock()
	<-m.archStopped
}

// archive stores a broadcast groupchat message (no 'to') under id.
func (r *room) archive(ctx context.Context, id string, el *xml.Element, with jid.JID, at time.Time) {
	if r.svc.m.archive == nil {
		return
	}
	r.svc.m.enqueue(ctx, archiveJob{room: r.jid.String(), msg: storage.ArchivedMessage{ID: id, With: with.String(), Time: at, Stanza: el.Append(nil, "")}})
}

// warmHistory fills the in-memory history of a room loaded from storage
// from its archive, once, so that a restart does not lose what
// newcomers are shown.
func (r *room) warmHistory(ctx context.Context) {
	if r.historyLoaded {
		return
	}
	r.historyLoaded = true
	a, max := r.svc.m.archive, r.svc.m.cfg.HistoryMessages
	if a == nil || max <= 0 || len(r.history) > 0 {
		return
	}
	page, err := a.QueryArchive(ctx, r.jid.String(), storage.ArchiveQuery{Max: max, Last: true})
	if err != nil {
		r.svc.m.log.Error("room history from the archive", "room", r.jid.String(), "err", err)
		return
	}
	for _, it := range page.Items {
		els, err := xml.ParseFragments(it.Stanza)
		if err != nil || len(els) != 1 {
			continue
		}
		r.remember(els[0], it.Time)
	}
}

// mamQuery answers an XEP-0313 query on the room: the page of messages
// as <result/> messages, then the <fin/> result.
func (r *room) mamQuery(ctx context.Context, st *module.Stanza, q *xml.Element) *stanza.Error {
	m := r.svc.m
	if m.archive == nil {
		return errOf(stanza.ServiceUnavailable, "")
	}
	// §5.1.2: only who may enter may read; occupants of a members-only
	// room are members already.
	ae := r.affiliationOf(st.From)
	if !mayEnter(&r.cfg, ae.aff) {
		return errOf(stanza.Forbidden, "")
	}
	var aq storage.ArchiveQuery
	if f := parseForm(q); f != nil {
		if ft := f.formType(); ft != "" && ft != nsMAM {
			return errOf(stanza.BadRequest, "unexpected FORM_TYPE "+ft)
		}
		aq.With = f.one("with")
		if aq.With != "" {
			j, err := jid.Parse(aq.With)
			if err != nil {
				return errOf(stanza.JIDMalformed, "with")
			}
			aq.With = j.String()
		}
		for v, dst := range map[string]*time.Time{"start": &aq.Start, "end": &aq.End} {
			if s := f.one(v); s != "" {
				t, err := time.Parse(time.RFC3339, s)
				if err != nil {
					return errOf(stanza.BadRequest, "bad "+v)
				}
				*dst = t
			}
		}
		aq.AfterID, aq.BeforeID = f.one("after-id"), f.one("before-id")
		aq.IDs = f.fields["ids"]
	}
	aq.Max = maxMAMPage
	if set := q.Child("set", nsRSM); set != nil {
		if mx := set.Child("max", nsRSM); mx != nil {
			n, err := strconv.Atoi(mx.Text())
			if err != nil || n < 0 {
				return errOf(stanza.BadRequest, "bad max")
			}
			aq.Max = min(n, maxMAMPage)
		}
		if a := set.Child("after", nsRSM); a != nil && a.Text() != "" {
			aq.AfterID = a.Text()
		}
		if b := set.Child("before", nsRSM); b != nil {
			aq.Last = true // an empty <before/> asks for the last page
			if b.Text() != "" {
				aq.BeforeID = b.Text()
			}
		}
	}
	m.flushArchive(ctx)
	page, err := m.archive.QueryArchive(ctx, r.jid.String(), aq)
	if errors.Is(err, storage.ErrNotFound) {
		return errOf(stanza.ItemNotFound, "no such message in the archive")
	}
	if err != nil {
		m.log.Error("query room archive", "room", r.jid.String(), "err", err)
		return errOf(stanza.InternalServerError, "")
	}
	queryID := q.Attr("queryid")
	for _, it := range page.Items {
		els, err := xml.ParseFragments(it.Stanza)
		if err != nil || len(els) != 1 {
			m.log.Error("stored room message", "room", r.jid.String(), "id", it.ID, "err", err)
			continue
		}
		b := xml.NewBuilder("message", xml.NSClient).Attr("from", r.jid.String()).Attr("to", st.From.String())
		b.Start("result", nsMAM).Attr("id", it.ID)
		if queryID != "" {
			b.Attr("queryid", queryID)
		}
		b.Start("forwarded", nsForward).Start("delay", nsDelay).Attr("stamp", stamp(it.Time)).End()
		b.Append(els[0]).End().End()
		m.send(ctx, b.Element(), r.jid, st.From)
	}
	fin := xml.NewBuilder("fin", nsMAM)
	if page.Complete {
		fin.Attr("complete", "true")
	}
	fin.Start("set", nsRSM)
	if len(page.Items) > 0 {
		fin.Start("first", "").Text(page.Items[0].ID).End()
		fin.Start("last", "").Text(page.Items[len(page.Items)-1].ID).End()
	}
	fin.Start("count", "").Text(strconv.Itoa(page.Count)).End()
	fin.End()
	m.result(ctx, st, fin.Element())
	return errDone
}

// errDone tells the IQ dispatcher the answer was already sent.
var errDone = &stanza.Error{Condition: "done"}

// mamForm is the query form's fields (XEP-0313 §4.1.1).
func mamForm() *xml.Element {
	return xml.NewBuilder("query", nsMAM).Append(formEl("form", "", nsMAM, []field{
		{v: "with", typ: "jid-single"},
		{v: "start", typ: "text-single"},
		{v: "end", typ: "text-single"},
		{v: "before-id", typ: "text-single"},
		{v: "after-id", typ: "text-single"},
		{v: "ids", typ: "text-multi"},
	})).Element()
}

// dropArchive deletes a destroyed room's archive: a new room of the same
// name must not show the old one's messages.
func (r *room) dropArchive(ctx context.Context) {
	if r.svc.m.archive != nil {
		r.svc.m.enqueue(ctx, archiveJob{room: r.jid.String(), drop: true})
	}
}
