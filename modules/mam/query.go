package mam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// owner checks that iq comes from the account whose archive it addresses
// (no 'to' means the sender's own account, RFC 6120 §10.3.3) and returns
// that account. Nobody else may read or configure it (XEP-0313 §9.1).
func owner(iq *module.IQ) (jid.JID, error) {
	acct := iq.From.Bare()
	if !iq.To.IsZero() && iq.To.Bare() != acct {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "")
	}
	if acct.IsZero() || acct.Local() == "" {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "")
	}
	return acct, nil
}

func (m *mod) iqSet(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	acct, err := owner(iq)
	if err != nil {
		return nil, err
	}
	switch iq.Payload.Name() {
	case "query":
		return m.query(ctx, iq, acct)
	case "prefs":
		return m.setPrefs(ctx, acct, iq.Payload)
	}
	return nil, stanza.NewError(stanza.FeatureNotImplemented, "")
}

func (m *mod) iqGet(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	acct, err := owner(iq)
	if err != nil {
		return nil, err
	}
	switch iq.Payload.Name() {
	case "query":
		return queryForm(), nil
	case "prefs":
		return m.getPrefs(ctx, acct)
	case "metadata":
		return m.metadata(ctx, acct)
	}
	return nil, stanza.NewError(stanza.FeatureNotImplemented, "")
}

// queryForm is the form of supported fields (XEP-0313 §4.1.5).
func queryForm() *xml.Element {
	b := xml.NewBuilder("query", NS).Start("x", NSData).Attr("type", "form")
	b.Start("field", "").Attr("type", "hidden").Attr("var", "FORM_TYPE").Start("value", "").Text(NS).End().End()
	b.Start("field", "").Attr("type", "jid-single").Attr("var", "with").End()
	b.Start("field", "").Attr("type", "text-single").Attr("var", "start").End()
	b.Start("field", "").Attr("type", "text-single").Attr("var", "end").End()
	b.Start("field", "").Attr("type", "text-single").Attr("var", "before-id").End()
	b.Start("field", "").Attr("type", "text-single").Attr("var", "after-id").End()
	// §4.1.5: the ids list is open, said with a XEP-0122 <validate/>.
	b.Start("field", "").Attr("type", "list-multi").Attr("var", "ids").
		Start("validate", "http://jabber.org/protocol/xdata-validate").Attr("datatype", "xs:string").
		Start("open", "").End().End().End()
	return b.End().Element()
}

// metadata answers <metadata/> (XEP-0313 §5): the first and last message
// of the archive, or nothing when it is empty.
func (m *mod) metadata(ctx context.Context, acct jid.JID) (*xml.Element, error) {
	if err := m.w.flush(ctx); err != nil {
		return nil, err
	}
	b := xml.NewBuilder("metadata", NS)
	for _, end := range []struct {
		name string
		last bool
	}{{"start", false}, {"end", true}} {
		p, err := m.store.QueryArchive(ctx, acct.String(), storage.ArchiveQuery{Max: 1, Last: end.last})
		if err != nil {
			return nil, err
		}
		if len(p.Items) == 0 {
			return xml.NewBuilder("metadata", NS).Element(), nil
		}
		it := p.Items[0]
		b.Start(end.name, "").Attr("id", it.ID).Attr("timestamp", it.Time.UTC().Format(StampFormat)).End()
	}
	return b.Element(), nil
}

// request is a parsed query: the storage query plus what shapes the reply.
type request struct {
	q       storage.ArchiveQuery
	queryID string
	flip    bool
	ids     int // distinct ids asked for (XEP-0313 §4.1.3)
}

func badRequest(format string, args ...any) error {
	return stanza.NewError(stanza.BadRequest, fmt.Sprintf(format, args...))
}

// parseQuery reads the data form (XEP-0313 §4.1) and the RSM set
// (XEP-0059 §2) of a <query/>.
func (m *mod) parseQuery(el *xml.Element) (request, error) {
	r := request{queryID: el.Attr("queryid")}
	if el.Attr("node") != "" {
		// Pubsub archives (XEP-0442) live elsewhere.
		return r, stanza.NewError(stanza.ItemNotFound, "")
	}
	var formAfter, formBefore string // after-id, before-id
	if x := el.Child("x", NSData); x != nil {
		if t := x.Attr("type"); t != "submit" && t != "" {
			return r, badRequest("the form must be of type submit")
		}
		seen := map[string]bool{}
		for f := range x.Children() {
			if f.Name() != "field" || f.NS() != NSData {
				continue
			}
			name := f.Attr("var")
			if seen[name] {
				return r, badRequest("field %q given twice", name)
			}
			seen[name] = true
			var values []string
			for v := range f.Children() {
				if v.Name() == "value" && v.NS() == NSData {
					values = append(values, v.Text())
				}
			}
			one := ""
			if len(values) > 0 {
				one = values[0]
			}
			if name != "ids" && len(values) > 1 {
				return r, badRequest("field %q has more than one value", name)
			}
			switch name {
			case "FORM_TYPE":
				if one != NS {
					return r, badRequest("FORM_TYPE must be %s", NS)
				}
			case "with":
				if one == "" {
					continue
				}
				j, err := jid.Parse(one)
				if err != nil {
					return r, badRequest("with: %v", err)
				}
				// The archive keeps the peer's bare JID, so a full JID
				// matches on its bare part (see README: deviation).
				r.q.With = j.Bare().String()
			case "start", "end":
				if one == "" {
					continue
				}
				ts, err := time.Parse(time.RFC3339, one)
				if err != nil {
					return r, badRequest("%s: not a XEP-0082 DateTime: %q", name, one)
				}
				if name == "start" {
					r.q.Start = ts
				} else {
					r.q.End = ts
				}
			case "after-id":
				formAfter = one
			case "before-id":
				formBefore = one
			case "ids":
				r.q.IDs = slices.Compact(slices.Sorted(slices.Values(values)))
				r.ids = len(r.q.IDs)
			default:
				// §4.1.5: unknown fields are feature-not-implemented.
				return r, stanza.NewError(stanza.FeatureNotImplemented, "unknown field "+name)
			}
		}
	}
	// §4.1.3: after-id and before-id restrict the result set (and so the
	// count); RSM after/before below only choose the page within it.
	r.q.FilterAfterID, r.q.FilterBeforeID = formAfter, formBefore

	r.q.Max = m.cfg.MaxPage
	if set := el.Child("set", NSRSM); set != nil {
		if mx := set.Child("max", NSRSM); mx != nil {
			n, err := strconv.Atoi(mx.Text())
			if err != nil || n < 0 {
				return r, badRequest("rsm max must be a non-negative integer")
			}
			r.q.Max = min(n, m.cfg.MaxPage)
		}
		if set.Child("index", NSRSM) != nil {
			// XEP-0059 §2.5 paging by index: optional, not offered
			// (our <first/> carries no index to page from either).
			return r, stanza.NewError(stanza.FeatureNotImplemented, "rsm index")
		}
		after, before := set.Child("after", NSRSM), set.Child("before", NSRSM)
		if after != nil && before != nil {
			// XEP-0313 §4.3.2: undefined; before-id/after-id do that.
			return r, badRequest("rsm after and before together; use after-id and before-id")
		}
		if after != nil {
			if after.Text() == "" {
				return r, badRequest("empty rsm after")
			}
			r.q.AfterID = after.Text()
		}
		if before != nil {
			// XEP-0059 §2.5: paging backwards; an empty <before/> asks
			// for the last page.
			r.q.Last = true
			if t := before.Text(); t != "" {
				r.q.BeforeID = t
			}
		}
	}
	r.flip = el.Child("flip-page", NS) != nil
	return r, nil
}

// query answers a MAM query: the result messages go to the requesting
// session first, then the handler returns the <fin/> for the IQ result
// (XEP-0313 §4.2: the IQ result after the last result message).
func (m *mod) query(ctx context.Context, iq *module.IQ, acct jid.JID) (*xml.Element, error) {
	r, err := m.parseQuery(iq.Payload)
	if err != nil {
		return nil, err
	}
	// What was archived before the query must be in it.
	if err := m.w.flush(ctx); err != nil {
		return nil, err
	}
	page, err := m.store.QueryArchive(ctx, acct.String(), r.q)
	if errors.Is(err, storage.ErrNotFound) {
		// §4.1.3, §4.3.2: an unknown after/before id.
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	if err != nil {
		return nil, err
	}
	if r.ids > 0 && page.Count < r.ids {
		return nil, stanza.NewError(stanza.ItemNotFound, "") // §4.1.3: unknown ids
	}
	els, err := parseStanzas(page.Items)
	if err != nil {
		return nil, fmt.Errorf("mam: archive %s: %w", acct, err)
	}
	order := make([]int, len(els))
	for i := range order {
		order[i] = i
	}
	if r.flip {
		// §4.3.5: the same page, sent newest first.
		slices.Reverse(order)
	}
	for _, i := range order {
		msg := resultMessage(iq, acct, r.queryID, page.Items[i], els[i])
		if iq.Origin != nil {
			if !iq.Origin.Deliver(msg) {
				return nil, nil // the session is closing: nobody reads the rest
			}
		} else {
			m.h.Router.Route(ctx, &module.Stanza{El: msg, From: acct, To: iq.From})
		}
	}
	return fin(r, page), nil
}

// fin builds <fin/> with the RSM set (XEP-0313 §4.3, XEP-0059 §2.6).
// <first/> and <last/> name the oldest and newest message of the page
// whether or not it was flipped: they are the cursors for the pages
// before and after it.
func fin(r request, page storage.ArchivePage) *xml.Element {
	b := xml.NewBuilder("fin", NS)
	if page.Complete {
		b.Attr("complete", "true")
	}
	b.Start("set", NSRSM)
	if n := len(page.Items); n > 0 {
		b.Start("first", "")
		// The index is free only for the first page of the set. Not
		// on the last page (count - n) either: slixmpp 1.8's RSM
		// iterator stops paging backwards when index + n == count,
		// which holds for the page it starts from.
		if !r.q.Last && r.q.AfterID == "" && r.q.BeforeID == "" {
			b.Attr("index", "0")
		}
		b.Text(page.Items[0].ID).End()
		b.Start("last", "").Text(page.Items[n-1].ID).End()
	}
	b.Start("count", "").Text(strconv.Itoa(page.Count)).End()
	return b.End().Element()
}

// resultMessage wraps one archived message (XEP-0313 §4.2, XEP-0297, with
// the XEP-0203 stamp of when it was archived).
func resultMessage(iq *module.IQ, acct jid.JID, queryID string, it storage.ArchivedMessage, el *xml.Element) *xml.Element {
	b := xml.NewBuilder("message", xml.NSClient).Attr("from", acct.String()).Attr("to", iq.From.String()).
		Attr("id", it.ID)
	b.Start("result", NS)
	if queryID != "" {
		b.Attr("queryid", queryID)
	}
	b.Attr("id", it.ID).
		Start("forwarded", NSForward).
		Start("delay", NSDelay).Attr("stamp", it.Time.UTC().Format(StampFormat)).End().
		Append(el).
		End().End()
	return b.Element()
}

// parseStanzas reads a page of stored messages back through one decoder;
// only when that fails are they read one by one, to name the bad one.
func parseStanzas(items []storage.ArchivedMessage) ([]*xml.Element, error) {
	if len(items) == 0 {
		return nil, nil
	}
	var n int
	for _, it := range items {
		n += len(it.Stanza)
	}
	data := make([]byte, 0, n)
	for _, it := range items {
		data = append(data, it.Stanza...)
	}
	if out, err := xml.ParseFragments(data); err == nil && len(out) == len(items) {
		return out, nil
	}
	for _, it := range items {
		if _, err := xml.ParseFragment(it.Stanza); err != nil {
			return nil, fmt.Errorf("message %s: %w", it.ID, err)
		}
	}
	return nil, errors.New("stored messages do not read back one element each")
}
