package router

import (
	"context"
	"log/slog"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// Remote sends a stanza to a domain this server does not serve (package
// s2s). Without one, or when it refuses the stanza, the router answers it
// with remote-server-not-found (RFC 6120 §10.4.3).
type Remote interface {
	RouteRemote(ctx context.Context, st *module.Stanza) error
}

// Router implements module.Router.
type Router struct {
	Registry *module.Registry
	Dir      module.Directory
	Accounts storage.Accounts
	Hosts    func(domain string) bool
	Remote   Remote // nil: no federation
	Log      *slog.Logger
	// Observer hears what became of routed stanzas; nil: nobody.
	Observer Observer
}

// Result is what became of a routed stanza, for Observer.
type Result uint8

const (
	Delivered Result = iota // handed to a local session
	Offline                 // stored for later (a module took it)
	Bounced                 // answered with a stanza error
	NumResults
)

func (r Result) String() string {
	return [...]string{"delivered", "offline", "error"}[r]
}

// Observer hears routing outcomes; it runs once per stanza, so it must be
// cheap (internal/metrics: one atomic add). The router depends only on this
// interface.
type Observer interface {
	Routed(Result)
	StorageError()
}

func (r *Router) observe(res Result) {
	if r.Observer != nil {
		r.Observer.Routed(res)
	}
}

var _ module.Router = (*Router)(nil)

// Route delivers st. st.From must already be trustworthy (stamped by the
// session layer or set by a module).
func (r *Router) Route(ctx context.Context, st *module.Stanza) {
	// RunHook is a snapshot load and a range over an empty slice when
	// no module hooks routing: no allocation on this path.
	if r.Registry.RunHook(ctx, module.HookRoute, st) {
		return
	}
	to := st.To
	if to.IsZero() {
		// RFC 6120 §10.3: no 'to' means the sender's own account.
		r.toAccount(ctx, st, st.From.Bare())
		return
	}
	if c := r.Registry.Component(to.Domain()); c != nil {
		c.Handle(ctx, st)
		return
	}
	if !r.Hosts(to.Domain()) {
		if r.Remote != nil {
			if err := r.Remote.RouteRemote(ctx, st); err == nil {
				return
			}
		}
		r.bounce(ctx, st, stanza.RemoteServerNotFound)
		return
	}
	if to.Local() == "" {
		r.toServer(ctx, st)
		return
	}
	if to.IsFull() {
		r.toFull(ctx, st)
		return
	}
	r.toAccount(ctx, st, to)
}

// toServer: stanzas addressed to a domain (or domain/resource) we serve.
func (r *Router) toServer(ctx context.Context, st *module.Stanza) {
	switch st.Kind() {
	case "iq":
		r.iq(ctx, st, module.TargetServer)
	case "message":
		// RFC 6121 §8.5.1 leaves server-addressed messages to the server;
		// nothing here consumes them, so say so rather than drop silently.
		switch st.Type() {
		case "error", "headline", "groupchat":
		default:
			r.bounce(ctx, st, stanza.ServiceUnavailable)
		}
	}
	// Presence to the server itself carries nothing the core acts on.
}

// deliver hands el to s, into the routing reader's batch when there is one
// (module.Batch: written when that reader has handled its input).
func deliver(ctx context.Context, s module.Session, el *xml.Element) bool {
	if b := module.BatchFrom(ctx); b != nil {
		if bd, ok := s.(module.BatchDeliverer); ok {
			return bd.DeliverBatch(el, b)
		}
	}
	return s.Deliver(el)
}

// toFull: RFC 6121 §8.5.3.
func (r *Router) toFull(ctx context.Context, st *module.Stanza) {
	if s := r.Dir.Session(st.To); s != nil {
		// An IQ result/error, a message or a presence for a bound resource
		// goes to it as is (§8.5.3.1).
		ok := deliver(ctx, s, st.El)
		if ok {
			r.observe(Delivered)
		}
		if ok && st.Kind() == "message" {
			r.Registry.RunHook(ctx, module.HookMessageDelivered, st)
		}
		return
	}
	switch st.Kind() {
	case "message":
		// §8.5.3.2.1: only a chat message is treated as addressed to the
		// bare JID (a conversation moves to another device); normal and
		// groupchat are answered with service-unavailable (the RFC's
		// other choice is to drop them silently, which hides the loss
		// from the sender); headline and error are dropped.
		switch st.Type() {
		case "chat":
			r.toAccount(ctx, st, st.To.Bare())
		case "normal", "groupchat":
			r.bounce(ctx, st, stanza.ServiceUnavailable)
		}
	case "presence":
		switch st.Type() {
		case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
			r.toAccount(ctx, st, st.To.Bare()) // §8.5.3.2.2
		}
	case "iq":
		if t := st.Type(); t == "get" || t == "set" {
			r.bounce(ctx, st, stanza.ServiceUnavailable) // §8.5.3.2.3
		}
	}
}

// toAccount: stanzas for a local bare JID (RFC 6121 §8.5.1, §8.5.2).
func (r *Router) toAccount(ctx context.Context, st *module.Stanza, bare jid.JID) {
	sessions := r.Dir.Sessions(bare)
	if len(sessions) == 0 {
		ok, err := r.Accounts.AccountExists(ctx, bare.Domain(), bare.Local())
		if err != nil {
			r.Log.Error("account lookup failed", "jid", bare.String(), "err", err)
			if r.Observer != nil {
				r.Observer.StorageError()
			}
			r.bounce(ctx, st, stanza.InternalServerError)
			return
		}
		if !ok {
			// §8.5.1: no such account.
			switch st.Kind() {
			case "iq":
				if t := st.Type(); t == "get" || t == "set" {
					r.bounce(ctx, st, stanza.ServiceUnavailable)
				}
			case "message":
				switch st.Type() {
				case "error", "headline":
				default:
					r.bounce(ctx, st, stanza.ServiceUnavailable)
				}
			}
			return
		}
	}
	switch st.Kind() {
	case "iq":
		r.iq(ctx, st, module.TargetAccount)
	case "message":
		r.message(ctx, st, sessions)
	case "presence":
		if r.Registry.RunHook(ctx, module.HookAccountPresence, st) {
			return
		}
		// §8.5.2.1.1 / §8.5.2.2.1: available and unavailable presence to a
		// bare JID go to every available resource; other types are the IM
		// module's (subscriptions, probes) and are dropped without it.
		if t := st.Type(); t == "" || t == "unavailable" {
			for _, s := range sessions {
				if s.Available() {
					deliver(ctx, s, st.El)
				}
			}
		}
	}
}

// message implements §8.5.2.1.1 (available resources) and §8.5.2.2.1 (none).
func (r *Router) message(ctx context.Context, st *module.Stanza, sessions []module.Session) {
	typ := st.Type()
	switch typ {
	case "error":
		// §8.5.2.1.1, §8.5.2.2.1: an error message to a bare JID is
		// silently ignored, whether or not a resource is available.
		return
	case "groupchat":
		r.bounce(ctx, st, stanza.ServiceUnavailable)
		return
	}
	best := -1 << 31
	for _, s := range sessions {
		if s.Available() && s.Priority() >= 0 && s.Priority() > best {
			best = s.Priority()
		}
	}
	delivered := false
	for _, s := range sessions {
		if !s.Available() || s.Priority() < 0 {
			continue
		}
		// headline goes to every non-negative resource; normal/chat to those
		// with the highest priority (all of them when tied).
		if typ == "headline" || s.Priority() == best {
			if deliver(ctx, s, st.El) {
				delivered = true
			}
		}
	}
	if delivered {
		r.observe(Delivered)
		r.Registry.RunHook(ctx, module.HookMessageDelivered, st)
		return
	}
	if typ == "headline" {
		// §8.5.2.1.1, §8.5.2.2.1: a headline nobody non-negative can take
		// is silently ignored, never stored offline.
		return
	}
	if r.Registry.RunHook(ctx, module.HookAccountMessage, st) {
		r.observe(Offline)
		return
	}
	if typ == "normal" || typ == "chat" {
		// §8.5.2.2.1: no offline storage took it.
		r.bounce(ctx, st, stanza.ServiceUnavailable)
	}
}

func (r *Router) iq(ctx context.Context, st *module.Stanza, target module.Target) {
	typ := st.Type()
	if typ != "get" && typ != "set" {
		// Results and errors addressed to the server or an account end
		// here, unless a module is waiting for them (Handle.SendIQ).
		r.Registry.IQResponse(st)
		return
	}
	iq := &module.IQ{Stanza: st, ID: st.El.Attr("id"), Type: typ, Payload: st.El.FirstChild()}
	reply := r.Registry.HandleIQ(ctx, target, iq, r.Log)
	r.reply(ctx, st, reply)
	if iq.After != nil {
		iq.After()
	}
}

// bounce answers st with a stanza error, never answering an error with one
// (RFC 6120 §8.3.1).
func (r *Router) bounce(ctx context.Context, st *module.Stanza, condition string) {
	if stanza.IsError(st.El) {
		return
	}
	r.observe(Bounced)
	r.reply(ctx, st, stanza.NewError(condition, "").Reply(st.El))
}

// reply sends a server-generated answer back to st's sender.
func (r *Router) reply(ctx context.Context, st *module.Stanza, el *xml.Element) {
	if st.Origin != nil {
		st.Origin.Deliver(el)
		return
	}
	from := st.To
	if from.IsZero() {
		from = st.From.Bare()
	}
	r.Route(ctx, &module.Stanza{El: el, From: from, To: st.From})
}
