package module

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// pendingIQ is one request sent by SendIQ awaiting its answer.
type pendingIQ struct {
	to jid.JID // whom it was sent to: only that entity may answer
	ch chan *xml.Element
}

// ErrIQError is wrapped by the error SendIQ returns for an answer of type
// error; the error's text carries the stanza error condition.
var ErrIQError = errors.New("module: iq error")

// SendIQ sends an IQ get or set from 'from' (the server's domain or a local
// account's bare JID, on whose behalf the server asks) to 'to' and waits
// for the answer (RFC 6120 §8.2.3: exactly one result or error) until ctx
// ends; give ctx a deadline. el's id, from and to are set here (the id is
// random, so nobody can answer in advance). It returns the result stanza,
// or an error wrapping ErrIQError (and the *stanza.Error condition) for an
// error reply, or ctx's error.
//
// It exists because the server itself must ask clients things (XEP-0115:
// disco#info of the caps node of a resource whose features it does not
// know yet). Without it results addressed to the server or to an account's
// bare JID end in the router.
func (h *Handle) SendIQ(ctx context.Context, el *xml.Element, from, to jid.JID) (*xml.Element, error) {
	id := "xmppd-" + randid.Hex(12)
	if name := nodeName(h.Cluster); name != "" {
		// The answer may arrive on another node (the addressee's
		// session is there): the id says where to send it on.
		id += "." + name
	}
	p := &pendingIQ{to: to, ch: make(chan *xml.Element, 1)}
	r := h.reg
	r.pmu.Lock()
	r.pending[id] = p
	r.pmu.Unlock()
	defer func() {
		r.pmu.Lock()
		delete(r.pending, id)
		r.pmu.Unlock()
	}()
	el = el.WithAttrs(xml.Attr{Name: "id", Value: id}, xml.Attr{Name: "from", Value: from.String()}, xml.Attr{Name: "to", Value: to.String()})
	h.Router.Route(ctx, &Stanza{El: el, From: from, To: to})
	select {
	case res := <-p.ch:
		if res.Attr("type") == "error" {
			cond := stanza.UndefinedCondition
			if e := res.Child("error", ""); e != nil {
				if c := e.FirstChild(); c != nil {
					cond = c.Name()
				}
			}
			return res, fmt.Errorf("%w from %s: %s", ErrIQError, to, cond)
		}
		return res, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("iq to %s: %w", to, ctx.Err())
	}
}

// IQResponse hands an IQ result or error addressed to the server or to an
// account's bare JID to the SendIQ call waiting for it, and reports whether
// one was. On a cluster node, an answer to another node's request (its
// id names the node) is forwarded there, and reported as taken. Only the entity the request went to can answer it (its full JID,
// or any JID with the same bare JID when the request went to a bare JID).
// The router calls it; it costs a map lookup for results nobody awaits.
func (r *Registry) IQResponse(st *Stanza) bool {
	id := st.El.Attr("id")
	if id == "" {
		return false
	}
	r.pmu.Lock()
	p := r.pending[id]
	ok := p != nil && (st.From == p.to || (!p.to.IsFull() && st.From.Bare() == p.to))
	if ok {
		delete(r.pending, id)
	}
	cl := r.cluster
	r.pmu.Unlock()
	if !ok {
		return p == nil && forwardIQResponse(cl, id, st)
	}
	p.ch <- st.El // buffered: never blocks, and each id is answered once
	return true
}

// nodeName is the name of this cluster node, "" on a single server.
func nodeName(cl Cluster) string {
	if n, ok := cl.(interface{ Name() string }); ok {
		return n.Name()
	}
	return ""
}

// forwardIQResponse sends an answer to a request that another node's
// module sent with SendIQ (its id ends in ".<node>") to that node, whose
// router hands it to the waiting call. The addressee's session is on this
// node, so its answer arrives here. An id naming this node is not sent
// anywhere (the call ended), so nothing is forwarded twice.
func forwardIQResponse(cl Cluster, id string, st *Stanza) bool {
	if cl == nil || !strings.HasPrefix(id, "xmppd-") {
		return false
	}
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return false
	}
	node := id[i+1:]
	if node == "" || node == nodeName(cl) {
		return false
	}
	return cl.Forward(node, st)
}
