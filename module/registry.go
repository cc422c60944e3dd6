package module

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// Target says which entity an IQ handler answers for.
type Target int

const (
	// TargetServer: IQs addressed to a domain we serve.
	TargetServer Target = iota
	// TargetAccount: IQs addressed to an account's bare JID, or sent
	// without 'to' (RFC 6120 §10.3.3: handled on behalf of the account).
	TargetAccount
	// TargetPreAuth: IQs a client sends before it has authenticated, on
	// a stream where it may (under TLS when the listener requires TLS).
	// RFC 6120 §6.4.1 lets nothing but SASL through there, so the core
	// dispatches only the namespaces registered for this target (XEP-0077
	// registration) and closes the stream with not-authorized for
	// anything else. The handler sees the stream in iq.Stream; iq.From is
	// zero.
	TargetPreAuth
)

// IQ is a request handed to an IQ handler.
type IQ struct {
	*Stanza
	ID      string
	Type    string // "get" or "set"
	Payload *xml.Element
	// After, when a handler sets it, runs once the reply has been sent
	// (the router sends it): for what must follow the result on the
	// wire, such as the last published item of a node just subscribed to
	// (XEP-0060 §6.1.7).
	After func()
}

// IQHandler answers a request. It returns the payload of the result (nil
// for an empty result) or an error; a *stanza.Error is sent as is, any
// other error is logged and answered with internal-server-error.
type IQHandler func(ctx context.Context, iq *IQ) (*xml.Element, error)

type iqKey struct {
	target Target
	typ    string
	ns     string
}

// Identity is a XEP-0030 identity.
type Identity struct {
	Category, Type, Name string
}

// StreamFeature is offered in post-authentication stream features
// (e.g. stream management). Element renders it for a session's stream s
// (its virtual host is s.Domain(): a host may disable modules), or
// returns nil to leave it out there.
type StreamFeature struct {
	Name    string
	Element func(s Stream) *xml.Element
}

// PreAuthFeature is offered in the stream features before authentication
// (e.g. XEP-0077's iq-register). Element renders it for a stream, or
// returns nil to leave it out there (a feature only some vhosts enable).
type PreAuthFeature struct {
	Name    string
	Element func(s Stream) *xml.Element
}

// Hook points. A hook returns true when it fully handled the stanza, which
// stops the chain and the default processing.
type Hook int

const (
	// HookOutbound runs for every stanza a local session sends, after 'from'
	// is stamped and before routing (blocking, carbons, archive).
	HookOutbound Hook = iota
	// HookPresenceBroadcast runs for presence without 'to' from a session
	// (RFC 6121 §4.2, §4.4: broadcast to contacts, probes).
	HookPresenceBroadcast
	// HookAccountMessage runs for a normal or chat message (RFC 6121
	// §8.5.2.2.1; headline and error are never stored) to an existing local
	// account's bare JID when no resource is available to take it (offline
	// storage).
	HookAccountMessage
	// HookAccountPresence runs for presence to a local account's bare JID
	// (subscription handling, RFC 6121 §3) before default delivery.
	HookAccountPresence
	// HookMessageDelivered runs after the router handed a message to local
	// sessions: to the session bound to st.To when it is a full JID, else
	// (bare st.To) to the account's available resources of highest
	// non-negative priority (headline: all non-negative ones). For copies
	// to the account's other resources (carbons, XEP-0280 §7). The
	// stanza is already delivered; returning true only stops the chain.
	HookMessageDelivered
	// HookRoute runs at the very start of Router.Route for every routed
	// stanza: local or remote destination, from sessions or from modules
	// (including the server's own broadcasts on a user's behalf and the
	// router's error replies). Returning true means the hook handled the
	// stanza (dropped it or answered it) and the router does nothing more
	// with it (blocking, XEP-0191). It runs on the hottest path: hooks
	// must be cheap for stanzas they do not act on.
	HookRoute
	// HookHeld runs for a message delivered to a session whose connection
	// broke and which waits for XEP-0198 resumption (it stays bound and
	// available, so HookAccountMessage does not run): the message waits
	// among the session's unacknowledged stanzas. st.To is the session's
	// full JID, st.From the message's 'from'. For XEP-0357 push
	// notifications. The message is already queued; the return value only
	// stops the chain. It runs on the delivering goroutine with no lock
	// held: hooks must not block.
	HookHeld
	hookCount
)

// StanzaHook is one hook function.
type StanzaHook func(ctx context.Context, st *Stanza) bool

// SessionHook runs when a session is bound or closed.
type SessionHook func(ctx context.Context, s Session)

type hookEntry struct {
	prio int
	seq  int
	fn   StanzaHook
}

// Registry holds everything modules registered. The core reads it on every
// stanza, so reads are lock-free snapshots; writes (module start/stop) are
// rare.
type Registry struct {
	mu         sync.Mutex
	seq        int
	iq         map[iqKey]IQHandler
	iqOwner    map[iqKey]string // the module that registered each handler
	features   map[string]int   // refcounted: two modules may announce one feature
	featOwner  map[string]map[string]int
	off        map[string]map[string]bool // host → modules disabled there (perhost.go)
	identities []Identity
	streamFeat []StreamFeature
	preAuth    []PreAuthFeature
	hooks      [hookCount][]hookEntry
	bound      []SessionHook
	closed     []SessionHook
	components map[string]*Component
	acctFeat   map[string]int // refcounted, as features
	acctItems  []entry[AccountItemsFunc]
	acctNode   []entry[AccountNodeInfoFunc]
	srvNode    []entry[ServerNodeFunc]
	boundExt   []entry[BoundFunc]
	services   map[string]*provided // by name (services.go)
	carry      carriers             // carry.go

	snap atomic.Pointer[snapshot]

	// pending holds the IQ requests modules sent with SendIQ, by id,
	// until their result or error arrives (iqtrack.go).
	pmu     sync.Mutex
	pending map[string]*pendingIQ
	cluster Cluster // where answers to other nodes' requests go (nil: none)
}

// entry is a provider in registration order, seq telling it apart for
// removal.
type entry[T any] struct {
	seq int
	fn  T
}

// addEntry appends fn to *list under a new seq and records its removal
// in h's undo list.
func addEntry[T any](h *Handle, list *[]entry[T], fn T) {
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	seq := r.seq
	*list = append(*list, entry[T]{seq, fn})
	r.publish()
	h.undo = append(h.undo, func() {
		*list = slices.DeleteFunc(*list, func(e entry[T]) bool { return e.seq == seq })
	})
}

type snapshot struct {
	iq         map[iqKey]IQHandler
	iqOwner    map[iqKey]string
	off        map[string]map[string]bool
	hostFeat   map[string][]string // features of the hosts that disable modules
	features   []string
	identities []Identity
	streamFeat []StreamFeature
	preAuth    []PreAuthFeature
	hooks      [hookCount][]StanzaHook
	bound      []SessionHook
	closed     []SessionHook
	components map[string]*Component
	acctFeat   []string
	acctItems  []AccountItemsFunc
	acctNode   []AccountNodeInfoFunc
	srvNode    []ServerNodeFunc
	boundExt   []BoundFunc
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{iq: map[iqKey]IQHandler{}, iqOwner: map[iqKey]string{}, featOwner: map[string]map[string]int{}, features: map[string]int{}, components: map[string]*Component{}, acctFeat: map[string]int{}, services: map[string]*provided{}, pending: map[string]*pendingIQ{}}
	r.publish()
	return r
}

// publish rebuilds the read snapshot; caller holds r.mu.
func (r *Registry) publish() {
	var s snapshot
	s.iq = make(map[iqKey]IQHandler, len(r.iq))
	for k, v := range r.iq {
		s.iq[k] = v
	}
	for f := range r.features {
		s.features = append(s.features, f)
	}
	sort.Strings(s.features)
	s.iqOwner = make(map[iqKey]string, len(r.iqOwner))
	for k, v := range r.iqOwner {
		s.iqOwner[k] = v
	}
	s.off = r.off
	s.hostFeat = r.hostFeatures(s.features)
	s.identities = slices.Clone(r.identities)
	s.streamFeat = slices.Clone(r.streamFeat)
	s.preAuth = slices.Clone(r.preAuth)
	for i := range r.hooks {
		hs := slices.Clone(r.hooks[i])
		sort.SliceStable(hs, func(a, b int) bool {
			if hs[a].prio != hs[b].prio {
				return hs[a].prio > hs[b].prio
			}
			return hs[a].seq < hs[b].seq
		})
		for _, h := range hs {
			s.hooks[i] = append(s.hooks[i], h.fn)
		}
	}
	s.bound = slices.Clone(r.bound)
	s.closed = slices.Clone(r.closed)
	s.components = make(map[string]*Component, len(r.components))
	for k, v := range r.components {
		s.components[k] = v
	}
	for f := range r.acctFeat {
		s.acctFeat = append(s.acctFeat, f)
	}
	sort.Strings(s.acctFeat)
	for _, e := range r.acctItems {
		s.acctItems = append(s.acctItems, e.fn)
	}
	for _, e := range r.srvNode {
		s.srvNode = append(s.srvNode, e.fn)
	}
	for _, e := range r.boundExt {
		s.boundExt = append(s.boundExt, e.fn)
	}
	for _, e := range r.acctNode {
		s.acctNode = append(s.acctNode, e.fn)
	}
	r.snap.Store(&s)
}

func (r *Registry) read() *snapshot { return r.snap.Load() }

// Features lists the disco#info features of the server, sorted.
func (r *Registry) Features() []string { return r.read().features }

// AccountFeatures lists the disco#info features the server announces on
// every local account's bare JID (XEP-0030 §3.1 on behalf of the account:
// PEP, MAM), sorted.
func (r *Registry) AccountFeatures() []string { return r.read().acctFeat }

// AccountItems collects the disco#items modules list on an account's bare
// JID (PEP nodes) for requester.
func (r *Registry) AccountItems(ctx context.Context, owner, requester jid.JID) []DiscoItem {
	var out []DiscoItem
	for _, fn := range r.read().acctItems {
		out = append(out, fn(ctx, owner, requester)...)
	}
	return out
}

// AccountNodeInfo asks the modules for the disco#info <query/> of node on
// owner's bare JID (a PEP node, XEP-0060 §5.3) as requester may see it;
// nil when none knows the node.
func (r *Registry) AccountNodeInfo(ctx context.Context, owner, requester jid.JID, node string) *xml.Element {
	for _, fn := range r.read().acctNode {
		if q := fn(ctx, owner, requester, node); q != nil {
			return q
		}
	}
	return nil
}

// ServerNode asks the modules for the disco#info (items false) or
// disco#items (items true) <query/> of node on the served domain host, as
// requester may see it (XEP-0050's command list and commands); nil when
// none knows the node.
func (r *Registry) ServerNode(ctx context.Context, host string, requester jid.JID, node string, items bool) *xml.Element {
	for _, fn := range r.read().srvNode {
		if q := fn(ctx, host, requester, node, items); q != nil {
			return q
		}
	}
	return nil
}

// BoundExtensions asks the modules for what XEP-0386 <bound/> carries for a
// session binding full (XEP-0313 archive metadata), in registration order.
func (r *Registry) BoundExtensions(ctx context.Context, full jid.JID) []*xml.Element {
	var out []*xml.Element
	for _, fn := range r.read().boundExt {
		if el := fn(ctx, full); el != nil {
			out = append(out, el)
		}
	}
	return out
}

// Component returns the component serving domain, or nil. The router
// calls it for every stanza with a 'to': a map read on a snapshot.
func (r *Registry) Component(domain string) *Component {
	return r.read().components[domain]
}

// Components lists the components whose parent is host (for the host's
// disco#items, XEP-0030 §4), sorted by domain.
func (r *Registry) Components(host string) []*Component {
	var out []*Component
	for _, c := range r.read().components {
		if c.Parent == host {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Domain < out[j].Domain })
	return out
}

// Identities lists the server's disco identities.
func (r *Registry) Identities() []Identity { return r.read().identities }

// StreamFeatures lists post-authentication stream features from modules.
func (r *Registry) StreamFeatures() []StreamFeature { return r.read().streamFeat }

// PreAuthFeatures lists pre-authentication stream features from modules.
func (r *Registry) PreAuthFeatures() []PreAuthFeature { return r.read().preAuth }

// Handles reports whether a module answers IQs of type typ in namespace ns
// for target (without the TargetAccount → TargetServer fallback).
func (r *Registry) Handles(target Target, typ, ns string) bool {
	return r.read().iq[iqKey{target, typ, ns}] != nil
}

// RunHook runs the chain for a hook point; true if a hook handled it.
func (r *Registry) RunHook(ctx context.Context, h Hook, st *Stanza) bool {
	for _, fn := range r.read().hooks[h] {
		if fn(ctx, st) {
			return true
		}
	}
	return false
}

// SessionBound / SessionClosed run the session hooks.
func (r *Registry) SessionBound(ctx context.Context, s Session) {
	for _, fn := range r.read().bound {
		fn(ctx, s)
	}
}

func (r *Registry) SessionClosed(ctx context.Context, s Session) {
	for _, fn := range r.read().closed {
		fn(ctx, s)
	}
}

// HandleIQ answers a get/set IQ for target. It returns the complete reply
// stanza. IQs nobody handles get service-unavailable (RFC 6120 §8.4).
// For TargetAccount a namespace only the server handles falls back to the
// server handler, so that e.g. a ping without 'to' is answered.
func (r *Registry) HandleIQ(ctx context.Context, target Target, iq *IQ, log *slog.Logger) *xml.Element {
	s := r.read()
	var h IQHandler
	ns := ""
	if iq.Payload != nil {
		ns = iq.Payload.NS()
		k := iqKey{target, iq.Type, ns}
		h = s.iq[k]
		if h == nil && target == TargetAccount && iq.To.IsZero() {
			k.target = TargetServer
			h = s.iq[k]
		}
		if h != nil && len(s.off) > 0 && s.off[iqHost(iq)][s.iqOwner[k]] {
			h = nil // the module is disabled on this host
		}
	}
	if h == nil {
		return stanza.NewError(stanza.ServiceUnavailable, "").Reply(iq.El)
	}
	payload, err := h(ctx, iq)
	if err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			if ctx.Err() != nil {
				// The session (or the server) ended under the
				// handler: nobody to answer, and no fault.
				log.Debug("iq handler ended with its context", "ns", ns, "type", iq.Type, "from", iq.From.String(), "err", err)
			} else {
				log.Error("iq handler failed", "ns", ns, "type", iq.Type, "from", iq.From.String(), "err", err)
			}
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		return se.Reply(iq.El)
	}
	return Result(iq, payload)
}

// Result builds the result reply to iq with an optional payload.
func Result(iq *IQ, payload *xml.Element) *xml.Element {
	b := xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", iq.ID)
	if v := iq.El.Attr("to"); v != "" {
		b.Attr("from", v)
	} else if !iq.To.IsZero() {
		b.Attr("from", iq.To.String())
	}
	if !iq.From.IsZero() {
		b.Attr("to", iq.From.String())
	}
	if payload != nil {
		b.Append(payload)
	}
	return b.Element()
}

// Component is an entity at a domain of its own, such as the multi-user
// chat service at conference.example.org, served by a module inside the
// server (what XEP-0114 components do from outside). It receives every
// stanza addressed to its domain, st.From already trustworthy, and answers
// through Services.Router itself: nothing is answered on its behalf.
type Component struct {
	Domain string // normalized (RFC 7622)
	Parent string // the virtual host whose disco#items list it
	Name   string // its name in those items
	Handle func(ctx context.Context, st *Stanza)
}

// DiscoItem is one XEP-0030 disco#items entry.
type DiscoItem struct {
	JID, Node, Name string
}

// AccountItemsFunc lists the items a module shows on owner's bare JID to
// requester.
type AccountItemsFunc func(ctx context.Context, owner, requester jid.JID) []DiscoItem

// AccountNodeInfoFunc answers disco#info for a node on owner's bare JID:
// the whole <query/>, or nil when the module does not know the node (or
// requester may not see it).
type AccountNodeInfoFunc func(ctx context.Context, owner, requester jid.JID, node string) *xml.Element

// ServerNodeFunc answers disco#info (items false) or disco#items (items
// true) for a node of the served domain host: the whole <query/>, or nil
// when the module does not know the node.
type ServerNodeFunc func(ctx context.Context, host string, requester jid.JID, node string, items bool) *xml.Element

// BoundFunc gives a child for XEP-0386's <bound/> of a session about to be
// bound to full, or nil.
type BoundFunc func(ctx context.Context, full jid.JID) *xml.Element

// Handle is a module's view of the registry; it remembers what the module
// registered so Close can undo it.
type Handle struct {
	Services
	Name string
	reg  *Registry
	undo []func()
	// deps are what the module declared, when Registry.Start started it
	// (nil for handles made by hand, which skip the checks).
	deps *Deps

	// global names the first registration that acts on every host (a
	// hook, a component...), which a module disabled on some host must
	// not make (perhost.go); "" when there is none.
	global string

	// ctx lives as long as the module: StopAll cancels it, then waits for
	// the goroutines Go started (wg, counted in running) before the
	// module's own Stop runs.
	ctx     context.Context
	cancel  context.CancelFunc
	goMu    sync.Mutex // orders Go's wg.Add against stop's Wait
	stopped bool
	wg      sync.WaitGroup
	running atomic.Int64
}

// NewHandle is used by the server to start a module.
func (r *Registry) NewHandle(name string, svc Services) *Handle {
	if svc.Logger != nil {
		svc.Logger = svc.Logger.With("module", name)
	}
	if svc.Cluster != nil {
		r.pmu.Lock()
		r.cluster = svc.Cluster
		r.pmu.Unlock()
	}
	if f, ok := svc.SQL.(SQLFor); ok {
		svc.SQL = f.For(name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Handle{Services: svc, Name: name, reg: r, ctx: ctx, cancel: cancel}
}

// Context is cancelled when the module stops (before its Stop runs), for
// work the module does outside a request: background loops, deliveries
// that outlive the stanza that started them.
func (h *Handle) Context() context.Context { return h.ctx }

// Go runs fn on a goroutine of the module's own: fn gets Context and must
// return soon after it is cancelled. Stopping the module waits for every
// such goroutine before it calls the module's Stop, so Stop may release
// what they use. Once the module is stopping, Go starts nothing and
// reports false.
func (h *Handle) Go(fn func(ctx context.Context)) bool {
	h.goMu.Lock()
	if h.stopped {
		h.goMu.Unlock()
		return false
	}
	h.wg.Add(1)
	h.running.Add(1)
	h.goMu.Unlock()
	go func() {
		defer h.wg.Done()
		defer h.running.Add(-1)
		fn(h.ctx)
	}()
	return true
}

// Running is how many goroutines started by Go have not returned yet.
func (h *Handle) Running() int { return int(h.running.Load()) }

// stopGoroutines cancels Context and waits for the goroutines Go started,
// until ctx ends: those still running then are reported by name, not
// waited for.
func (h *Handle) stopGoroutines(ctx context.Context) error {
	h.goMu.Lock()
	h.stopped = true
	h.goMu.Unlock()
	h.cancel()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done: // both ready: they did finish
			return nil
		default:
		}
		return fmt.Errorf("module %s: %d goroutines still running after %w", h.Name, h.running.Load(), context.Cause(ctx))
	}
}

// Registry exposes the registry to modules that need to read it (disco).
func (h *Handle) Registry() *Registry { return h.reg }

// HandleIQ registers fn for IQs of type typ ("get"/"set") whose payload is
// in namespace ns, addressed to target. Registering a key twice is a
// programming error.
func (h *Handle) HandleIQ(target Target, typ, ns string, fn IQHandler) {
	k := iqKey{target, typ, ns}
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.iq[k]; dup {
		panic(fmt.Sprintf("module %s: IQ handler for %s %s already registered", h.Name, typ, ns))
	}
	r.iq[k] = fn
	r.iqOwner[k] = h.Name
	r.publish()
	h.undo = append(h.undo, func() { delete(r.iq, k); delete(r.iqOwner, k) })
}

// AddFeature announces a disco#info feature of the server.
func (h *Handle) AddFeature(ns string) {
	h.addCounted(h.reg.features, ns)
	h.addFeatureOwner(ns)
}

// addCounted adds one reference to ns in a refcounted feature set (two
// modules may announce one feature); Close takes it away again.
func (h *Handle) addCounted(set map[string]int, ns string) {
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	set[ns]++
	r.publish()
	h.undo = append(h.undo, func() {
		if set[ns]--; set[ns] <= 0 {
			delete(set, ns)
		}
	})
}

// AddIdentity announces a disco#info identity of the server.
func (h *Handle) AddIdentity(id Identity) {
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	r.identities = append(r.identities, id)
	r.publish()
	h.undo = append(h.undo, func() {
		if i := slices.Index(r.identities, id); i >= 0 {
			r.identities = slices.Delete(r.identities, i, i+1)
		}
	})
}

// AddStreamFeature offers a feature after authentication. Two modules
// offering the same feature is a programming error, like two handlers for
// one IQ namespace: it panics.
func (h *Handle) AddStreamFeature(f StreamFeature) {
	h.markGlobal("a stream feature")
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.streamFeat {
		if s.Name == f.Name {
			panic(fmt.Sprintf("module %s: stream feature %q is already offered", h.Name, f.Name))
		}
	}
	r.streamFeat = append(r.streamFeat, f)
	r.publish()
	h.undo = append(h.undo, func() {
		r.streamFeat = slices.DeleteFunc(r.streamFeat, func(s StreamFeature) bool { return s.Name == f.Name })
	})
}

// AddPreAuthFeature offers a feature before authentication; like
// AddStreamFeature, offering one name twice panics.
func (h *Handle) AddPreAuthFeature(f PreAuthFeature) {
	h.markGlobal("a stream feature")
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.preAuth {
		if s.Name == f.Name {
			panic(fmt.Sprintf("module %s: pre-auth stream feature %q is already offered", h.Name, f.Name))
		}
	}
	r.preAuth = append(r.preAuth, f)
	r.publish()
	h.undo = append(h.undo, func() {
		r.preAuth = slices.DeleteFunc(r.preAuth, func(s PreAuthFeature) bool { return s.Name == f.Name })
	})
}

// AddAccountFeature announces a disco#info feature on every local
// account's bare JID.
func (h *Handle) AddAccountFeature(ns string) {
	h.markGlobal("an account feature")
	h.addCounted(h.reg.acctFeat, ns)
}

// AddAccountItems adds fn to the providers of disco#items on accounts'
// bare JIDs.
func (h *Handle) AddAccountItems(fn AccountItemsFunc) {
	h.markGlobal("account disco items")
	addEntry(h, &h.reg.acctItems, fn)
}

// AddAccountNodeInfo adds fn to the providers of disco#info for nodes on
// accounts' bare JIDs.
func (h *Handle) AddAccountNodeInfo(fn AccountNodeInfoFunc) {
	h.markGlobal("account disco nodes")
	addEntry(h, &h.reg.acctNode, fn)
}

// AddServerNode adds fn to the providers of disco#info and disco#items for
// nodes of the served domains.
func (h *Handle) AddServerNode(fn ServerNodeFunc) { addEntry(h, &h.reg.srvNode, fn) }

// AddBoundExtension adds fn to what a Bind 2 <bound/> carries.
func (h *Handle) AddBoundExtension(fn BoundFunc) {
	h.markGlobal("a Bind 2 extension")
	addEntry(h, &h.reg.boundExt, fn)
}

// AddComponent serves c.Domain in-process: from now on the router hands
// every stanza addressed to that domain (or to a JID at it) to c.Handle,
// whatever its kind or type, instead of routing it. A domain served twice,
// or one that is also a virtual host, is a programming error: it panics.
func (h *Handle) AddComponent(c Component) {
	h.markGlobal("a component")
	if c.Domain == "" || c.Handle == nil {
		panic(fmt.Sprintf("module %s: component without domain or handler", h.Name))
	}
	if h.Hosts != nil && h.Hosts(c.Domain) {
		panic(fmt.Sprintf("module %s: component domain %s is a virtual host", h.Name, c.Domain))
	}
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.components[c.Domain]; dup {
		panic(fmt.Sprintf("module %s: component domain %s is already served", h.Name, c.Domain))
	}
	cc := c
	r.components[c.Domain] = &cc
	r.publish()
	h.undo = append(h.undo, func() { delete(r.components, c.Domain) })
}

// Hook adds fn at hook point p; higher prio runs first.
func (h *Handle) Hook(p Hook, prio int, fn StanzaHook) {
	h.markGlobal("a stanza hook")
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	seq := r.seq
	r.hooks[p] = append(r.hooks[p], hookEntry{prio: prio, seq: seq, fn: fn})
	r.publish()
	h.undo = append(h.undo, func() {
		r.hooks[p] = slices.DeleteFunc(r.hooks[p], func(e hookEntry) bool { return e.seq == seq })
	})
}

// OnSessionBound / OnSessionClosed add session lifecycle hooks.
func (h *Handle) OnSessionBound(fn SessionHook) {
	h.markGlobal("a session hook")
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bound = append(r.bound, fn)
	n := len(r.bound) - 1
	r.publish()
	h.undo = append(h.undo, func() { r.bound[n] = func(context.Context, Session) {} })
}

func (h *Handle) OnSessionClosed(fn SessionHook) {
	h.markGlobal("a session hook")
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = append(r.closed, fn)
	n := len(r.closed) - 1
	r.publish()
	h.undo = append(h.undo, func() { r.closed[n] = func(context.Context, Session) {} })
}

// Close undoes every registration, newest first.
func (h *Handle) Close() {
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(h.undo) - 1; i >= 0; i-- {
		h.undo[i]()
	}
	h.undo = nil
	r.publish()
}

// Started is a module started by Start, for stopping it later.
type Started struct {
	Name   string
	Module Module
	Handle *Handle
}

// Start instantiates and starts the named modules: each after the
// providers of the services it requires or uses (Deps), otherwise in the
// order given. On error the ones already started are stopped again.
func (r *Registry) Start(names []string, svc Services) ([]Started, error) {
	mods := make([]Module, len(names))
	for i, n := range names {
		m, err := newModule(n)
		if err != nil {
			return nil, err
		}
		mods[i] = m
	}
	idx, err := order(names, mods)
	if err != nil {
		return nil, err
	}
	if err := r.disable(names, svc.VHosts); err != nil {
		return nil, err
	}
	var out []Started
	for _, i := range idx {
		n, m := names[i], mods[i]
		h := r.NewHandle(n, svc)
		h.deps = &Deps{}
		if d, ok := m.(Dependent); ok {
			*h.deps = d.Deps()
		}
		if err = m.Start(h); err == nil {
			out = append(out, Started{n, m, h})
			if err = r.checkPerHost(h); err == nil {
				continue
			}
			// Started, so stopped like the others (Stop included).
			return nil, errors.Join(fmt.Errorf("start module %s: %w", n, err), StopAll(context.Background(), out))
		}
		// What the failed module started is undone too; the error that
		// matters is the start error, stop errors are joined to it.
		serr := h.stopGoroutines(context.Background())
		h.Close()
		return nil, errors.Join(fmt.Errorf("start module %s: %w", n, err), serr, StopAll(context.Background(), out))
	}
	return out, nil
}

// StopAll stops modules in reverse start order. For each it cancels the
// Handle's Context, waits (until ctx ends) for the goroutines its Go
// started, then calls the module's Stop and undoes its registrations. It
// returns every error on the way, each naming its module: goroutines
// still running when ctx ended, and what Stop returned.
func StopAll(ctx context.Context, ms []Started) error {
	var errs []error
	for i := len(ms) - 1; i >= 0; i-- {
		s := ms[i]
		if err := s.Handle.stopGoroutines(ctx); err != nil {
			errs = append(errs, err)
		}
		if st, ok := s.Module.(Stopper); ok {
			if err := st.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop module %s: %w", s.Name, err))
			}
		}
		s.Handle.Close()
	}
	return errors.Join(errs...)
}
