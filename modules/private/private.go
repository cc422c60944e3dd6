// Package private implements XEP-0049 private XML storage: a client stores
// XML fragments on its own account, keyed by the fragment's root element
// (namespace and local name), and reads them back.
package private

import (
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

// Service is the name under which the module provides interception of
// one key (root element) of private XML storage: XEP-0411 / XEP-0402 §5.3
// keep the bookmarks (storage:bookmarks) in PEP, and the pubsub module
// answers for them. The value has the method
//
//	Intercept(ns, local string,
//		get func(ctx context.Context, own jid.JID) ([]*xml.Element, error),
//		set func(ctx context.Context, own jid.JID, els []*xml.Element) error) (uninstall func())
//
// get returns the elements to answer a get with (none: as if nothing
// were stored; the query comes back as sent); set takes the elements of
// that key from a set. uninstall does nothing once another interceptor
// replaced this one.
const Service = "private"

// interceptor serves one key from elsewhere than the store.
type interceptor struct {
	get func(ctx context.Context, own jid.JID) ([]*xml.Element, error)
	set func(ctx context.Context, own jid.JID, els []*xml.Element) error
}

type mod struct {
	store        storage.PrivateXML
	interceptors sync.Map // Key(ns, local) → *interceptor
}

// Deps implements module.Dependent.
func (m *mod) Deps() module.Deps { return module.Deps{Provides: []string{Service}} }

// Intercept implements the service (see Service).
func (m *mod) Intercept(ns, local string,
	get func(ctx context.Context, own jid.JID) ([]*xml.Element, error),
	set func(ctx context.Context, own jid.JID, els []*xml.Element) error,
) (uninstall func()) {
	k := Key(ns, local)
	p := &interceptor{get, set}
	m.interceptors.Store(k, p)
	return func() { m.interceptors.CompareAndDelete(k, p) }
}

func (m *mod) interceptor(k string) *interceptor {
	if v, ok := m.interceptors.Load(k); ok {
		return v.(*interceptor)
	}
	return nil
}

func (m *mod) Start(h *module.Handle) error {
	if h.Private == nil {
		return errors.New("no private XML storage")
	}
	m.store = h.Private
	h.HandleIQ(module.TargetAccount, "get", NS, m.get)
	h.HandleIQ(module.TargetAccount, "set", NS, m.set)
	module.Provide(h, Service, m)
	return nil
}

// Key is the storage key of fragments with this root element
// (storage.PrivateKey).
func Key(ns, local string) string { return storage.PrivateKey(ns, local) }

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

// request checks a get or set: the account's own storage, and the
// children of <query/> it names.
func request(iq *module.IQ) (jid.JID, []*xml.Element, error) {
	own, err := owner(iq)
	if err != nil {
		return jid.JID{}, nil, err
	}
	var out []*xml.Element
	for c := range iq.Payload.Children() {
		if reserved(c.NS()) {
			return jid.JID{}, nil, stanza.NewError(stanza.NotAcceptable, "reserved namespace")
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		// XEP-0049 §2.3: "At least one child element with a proper
		// namespace MUST be included; otherwise ... Not Acceptable".
		return jid.JID{}, nil, stanza.NewError(stanza.NotAcceptable, "no child element")
	}
	return own, out, nil
}

func (m *mod) get(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	own, cs, err := request(iq)
	if err != nil {
		return nil, err
	}
	if len(cs) != 1 {
		return nil, stanza.NewError(stanza.BadRequest, "query for exactly one namespace")
	}
	if ic := m.interceptor(Key(cs[0].NS(), cs[0].Name())); ic != nil {
		els, err := ic.get(ctx, own)
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
	own, cs, err := request(iq)
	if err != nil {
		return nil, err
	}
	var keys []string
	data := map[string][]byte{}
	intercepted := map[string][]*xml.Element{}
	for _, c := range cs {
		k := Key(c.NS(), c.Name())
		if m.interceptor(k) != nil {
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
		if ic := m.interceptor(k); ic != nil {
			if err := ic.set(ctx, own, els); err != nil {
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

// Parse reads back elements serialized with xml.Element.Append(buf, "").
//
// Deprecated: modules do not import each other; use xml.ParseFragments.
func Parse(data []byte) ([]*xml.Element, error) { return xml.ParseFragments(data) }
