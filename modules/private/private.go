// Package private implements XEP-0049 private XML storage: a client stores
// XML fragments on its own account, keyed by the fragment's root element
// (namespace and local name), and reads them back.
package private

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const NS = "jabber:iq:private"

// MaxBytes bounds what one key may hold (the serialized fragments). A set
// above it is refused with not-acceptable and stores nothing.
const MaxBytes = 64 << 10

func init() { module.Register("private", func() module.Module { return &mod{} }) }

// Interceptor serves one key (root element) of private XML storage from
// elsewhere than the store: XEP-0411 / XEP-0402 §5.3 keep the bookmarks
// (storage:bookmarks) in PEP, and the pubsub module answers for them.
type Interceptor struct {
	// Get returns the elements to answer a get with; none: as if nothing
	// were stored (the query comes back as sent).
	Get func(ctx context.Context, own jid.JID) ([]*xml.Element, error)
	// Set takes the elements of that key from a set.
	Set func(ctx context.Context, own jid.JID, els []*xml.Element) error
}

var interceptors sync.Map // Key(ns, local) → *Interceptor

// Intercept installs ic for the elements ns/local and returns the function
// that uninstalls it (which does nothing once another replaced it).
func Intercept(ns, local string, ic Interceptor) (uninstall func()) {
	k := Key(ns, local)
	p := &ic
	interceptors.Store(k, p)
	return func() { interceptors.CompareAndDelete(k, p) }
}

func interceptor(k string) *Interceptor {
	if v, ok := interceptors.Load(k); ok {
		return v.(*Interceptor)
	}
	return nil
}

type mod struct{ store storage.PrivateXML }

func (m *mod) Start(h *module.Handle) error {
	if h.Private == nil {
		return errors.New("no private XML storage")
	}
	m.store = h.Private
	h.HandleIQ(module.TargetAccount, "get", NS, m.get)
	h.HandleIQ(module.TargetAccount, "set", NS, m.set)
	return nil
}

// Key is the storage key of fragments with this root element: Clark
// notation, "{namespace}local", so it never collides with keys of other
// modules (vCards use "vcard-temp").
func Key(ns, local string) string { return "{" + ns + "}" + local }

// owner is the account the IQ is about: only the sender's own (no 'to', or
// its own bare JID); XEP-0049 §2.3: anything else is forbidden.
func owner(iq *module.IQ) (jid.JID, error) {
	own := iq.From.Bare()
	if iq.From.IsZero() || iq.From.Local() == "" || (!iq.To.IsZero() && iq.To.String() != own.String()) {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "")
	}
	return own, nil
}

// reserved reports namespaces XEP-0049 §2.3 calls reserved ('jabber:',
// 'http://jabber.org/', 'vcard-temp'; jabber:iq:private itself is one of
// them) and the empty namespace, which is not "a proper namespace".
func reserved(ns string) bool {
	return ns == "" || ns == "vcard-temp" || strings.HasPrefix(ns, "jabber:") || strings.HasPrefix(ns, "http://jabber.org/")
}

func children(q *xml.Element) ([]*xml.Element, error) {
	var out []*xml.Element
	for c := range q.Children() {
		if reserved(c.NS()) {
			return nil, stanza.NewError(stanza.NotAcceptable, "reserved namespace")
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		// XEP-0049 §2.3: "At least one child element with a proper
		// namespace MUST be included; otherwise ... Not Acceptable".
		return nil, stanza.NewError(stanza.NotAcceptable, "no child element")
	}
	return out, nil
}

func (m *mod) get(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	own, err := owner(iq)
	if err != nil {
		return nil, err
	}
	cs, err := children(iq.Payload)
	if err != nil {
		return nil, err
	}
	if len(cs) != 1 {
		return nil, stanza.NewError(stanza.BadRequest, "query for exactly one namespace")
	}
	if ic := interceptor(Key(cs[0].NS(), cs[0].Name())); ic != nil {
		els, err := ic.Get(ctx, own)
		if err != nil {
			return nil, err
		}
		b := xml.NewBuilder("query", NS)
		if len(els) == 0 {
			b.Append(cs[0])
		}
		for _, el := range els {
			b.Append(el)
		}
		return b.Element(), nil
	}
	data, err := m.store.GetPrivate(ctx, own.Domain(), own.Local(), Key(cs[0].NS(), cs[0].Name()))
	if errors.Is(err, storage.ErrNotFound) {
		// Nothing stored: the query comes back as sent.
		return xml.NewBuilder("query", NS).Append(cs[0]).Element(), nil
	}
	if err != nil {
		return nil, err
	}
	els, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("stored private XML of %s: %w", own, err)
	}
	b := xml.NewBuilder("query", NS)
	for _, el := range els {
		b.Append(el)
	}
	return b.Element(), nil
}

// set stores every child under its key. An IQ set MAY carry several
// elements with the same root (XEP-0049 §2.3): those are kept together
// under one key, in order. All keys are checked before any is written.
func (m *mod) set(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	own, err := owner(iq)
	if err != nil {
		return nil, err
	}
	cs, err := children(iq.Payload)
	if err != nil {
		return nil, err
	}
	var keys []string
	data := map[string][]byte{}
	intercepted := map[string][]*xml.Element{}
	for _, c := range cs {
		k := Key(c.NS(), c.Name())
		if interceptor(k) != nil {
			intercepted[k] = append(intercepted[k], c)
			continue
		}
		if _, seen := data[k]; !seen {
			keys = append(keys, k)
		}
		data[k] = c.Append(data[k], "")
		if len(data[k]) > MaxBytes {
			return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("more than %d bytes for one element", MaxBytes))
		}
	}
	for k, els := range intercepted {
		if ic := interceptor(k); ic != nil {
			if err := ic.Set(ctx, own, els); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range keys {
		if err := m.store.SetPrivate(ctx, own.Domain(), own.Local(), k, data[k]); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

const (
	streamOpen  = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	streamClose = "</stream:stream>"
)

// Parse reads back elements serialized with xml.Element.Append(buf, ""),
// one after the other: they are wrapped in a stream header and read with
// the stream decoder.
func Parse(data []byte) ([]*xml.Element, error) {
	var buf bytes.Buffer
	buf.Grow(len(streamOpen) + len(data) + len(streamClose))
	buf.WriteString(streamOpen)
	buf.Write(data)
	buf.WriteString(streamClose)
	// The data passed the session's limits once; these only re-admit it.
	lim := xml.Limits{MaxStanzaBytes: len(data) + len(streamOpen) + 1, MaxDepth: 1000, MaxAttrs: 1000}
	d := xml.NewDecoder(&buf, lim)
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	var out []*xml.Element
	for {
		el, err := d.Next()
		if errors.Is(err, xml.ErrStreamEnd) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, el)
	}
}
