package presence

import (
	"testing"

	"github.com/xmppd/xmppd/storage"
)

// The nine states of RFC 6121 Appendix A.1, as stored roster items.
var states = map[string]storage.RosterItem{
	"None":                  {Subscription: "none"},
	"None + Pending Out":    {Subscription: "none", Ask: true},
	"None + Pending In":     {Subscription: "none", PendingIn: true},
	"None + Pending Out+In": {Subscription: "none", Ask: true, PendingIn: true},
	"To":                    {Subscription: "to"},
	"To + Pending In":       {Subscription: "to", PendingIn: true},
	"From":                  {Subscription: "from"},
	"From + Pending Out":    {Subscription: "from", Ask: true},
	"Both":                  {Subscription: "both"},
}

func stateName(t *testing.T, it storage.RosterItem) string {
	t.Helper()
	for name, s := range states {
		if s.Subscription == it.Subscription && s.Ask == it.Ask && s.PendingIn == it.PendingIn {
			return name
		}
	}
	t.Fatalf("%+v is not an Appendix A.1 state", it)
	return ""
}

// One row of an Appendix A table: the stanza type, the existing state, the
// new state ("" for "no state change"), whether the stanza is routed (A.2)
// or delivered (A.3), and whether the user's interested resources get a
// roster push (a change of subscription, ask or approved; "Pending In" is
// never shown to clients, so a change of it alone pushes nothing).
type row struct {
	typ, from, to string
	pass, push    bool
}

// RFC 6121 Appendix A.2: the user's server, outbound stanzas from the user.
// Sections as in the RFC: A.2.1 subscribe, A.2.2 unsubscribe, A.2.3
// subscribed, A.2.4 unsubscribed. Checked against the RFC's tables (the
// earlier version of this file had the order of A.2.2/A.2.3 swapped and
// routed A.2.4 in every state).
var appendixA2 = []row{
	// A.2.1 Subscribe (§3.1.2): routed in every state.
	{"subscribe", "None", "None + Pending Out", true, true},
	{"subscribe", "None + Pending Out", "", true, false},
	{"subscribe", "None + Pending In", "None + Pending Out+In", true, true},
	{"subscribe", "None + Pending Out+In", "", true, false},
	{"subscribe", "To", "", true, false},
	{"subscribe", "To + Pending In", "", true, false},
	{"subscribe", "From", "From + Pending Out", true, true},
	{"subscribe", "From + Pending Out", "", true, false},
	{"subscribe", "Both", "", true, false},
	// A.2.2 Unsubscribe (§3.3.2): routed in every state.
	{"unsubscribe", "None", "", true, false},
	{"unsubscribe", "None + Pending Out", "None", true, true},
	{"unsubscribe", "None + Pending In", "", true, false},
	{"unsubscribe", "None + Pending Out+In", "None + Pending In", true, true},
	{"unsubscribe", "To", "None", true, true},
	{"unsubscribe", "To + Pending In", "None + Pending In", true, true},
	{"unsubscribe", "From", "", true, false},
	{"unsubscribe", "From + Pending Out", "From", true, true},
	{"unsubscribe", "Both", "From", true, true},
	// A.2.3 Subscribed (§3.1.5). "None", "None + Pending Out" and "To"
	// are a pre-approval (§3.4): not routed, no state change, the item
	// is marked approved and pushed (see TestPreApproval).
	{"subscribed", "None", "", false, true},
	{"subscribed", "None + Pending Out", "", false, true},
	{"subscribed", "None + Pending In", "From", true, true},
	{"subscribed", "None + Pending Out+In", "From + Pending Out", true, true},
	{"subscribed", "To", "", false, true},
	{"subscribed", "To + Pending In", "Both", true, true},
	{"subscribed", "From", "", false, false},
	{"subscribed", "From + Pending Out", "", false, false},
	{"subscribed", "Both", "", false, false},
	// A.2.4 Unsubscribed (§3.2.2): only routed where there is a
	// subscription or a request to cancel. In "None", "None + Pending
	// Out" and "To" it can still cancel a pre-approval (§3.4).
	{"unsubscribed", "None", "", false, false},
	{"unsubscribed", "None + Pending Out", "", false, false},
	{"unsubscribed", "None + Pending In", "None", true, false},
	{"unsubscribed", "None + Pending Out+In", "None + Pending Out", true, false},
	{"unsubscribed", "To", "", false, false},
	{"unsubscribed", "To + Pending In", "To", true, false},
	{"unsubscribed", "From", "None", true, true},
	{"unsubscribed", "From + Pending Out", "None + Pending Out", true, true},
	{"unsubscribed", "Both", "To", true, true},
}

// RFC 6121 Appendix A.3: the contact's server, inbound stanzas for the
// contact (the state is the contact's item for the sender). Sections as
// in the RFC: A.3.1 subscribe, A.3.2 unsubscribe, A.3.3 subscribed, A.3.4
// unsubscribed. Pushes assume the item exists (a request from someone not
// in the roster is noted without a visible item, A.1).
var appendixA3 = []row{
	// A.3.1 Subscribe (§3.1.3). "From", "From + Pending Out", "Both":
	// not delivered, the server answers "subscribed" (checked below).
	{"subscribe", "None", "None + Pending In", true, false},
	{"subscribe", "None + Pending Out", "None + Pending Out+In", true, false},
	{"subscribe", "None + Pending In", "", false, false},
	{"subscribe", "None + Pending Out+In", "", false, false},
	{"subscribe", "To", "To + Pending In", true, false},
	{"subscribe", "To + Pending In", "", false, false},
	{"subscribe", "From", "", false, false},
	{"subscribe", "From + Pending Out", "", false, false},
	{"subscribe", "Both", "", false, false},
	// A.3.2 Unsubscribe (§3.3.3).
	{"unsubscribe", "None", "", false, false},
	{"unsubscribe", "None + Pending Out", "", false, false},
	{"unsubscribe", "None + Pending In", "None", true, false},
	{"unsubscribe", "None + Pending Out+In", "None + Pending Out", true, false},
	{"unsubscribe", "To", "", false, false},
	{"unsubscribe", "To + Pending In", "To", true, false},
	{"unsubscribe", "From", "None", true, true},
	{"unsubscribe", "From + Pending Out", "None + Pending Out", true, true},
	{"unsubscribe", "Both", "To", true, true},
	// A.3.3 Subscribed (§3.1.6).
	{"subscribed", "None", "", false, false},
	{"subscribed", "None + Pending Out", "To", true, true},
	{"subscribed", "None + Pending In", "", false, false},
	{"subscribed", "None + Pending Out+In", "To + Pending In", true, true},
	{"subscribed", "To", "", false, false},
	{"subscribed", "To + Pending In", "", false, false},
	{"subscribed", "From", "", false, false},
	{"subscribed", "From + Pending Out", "Both", true, true},
	{"subscribed", "Both", "", false, false},
	// A.3.4 Unsubscribed (§3.2.3).
	{"unsubscribed", "None", "", false, false},
	{"unsubscribed", "None + Pending Out", "None", true, true},
	{"unsubscribed", "None + Pending In", "", false, false},
	{"unsubscribed", "None + Pending Out+In", "None + Pending In", true, true},
	{"unsubscribed", "To", "None", true, true},
	{"unsubscribed", "To + Pending In", "None + Pending In", true, true},
	{"unsubscribed", "From", "", false, false},
	{"unsubscribed", "From + Pending Out", "From", true, true},
	{"unsubscribed", "Both", "From", true, true},
}

func TestAppendixA2(t *testing.T) {
	if len(appendixA2) != 36 {
		t.Fatalf("%d rows", len(appendixA2))
	}
	for _, r := range appendixA2 {
		t.Run(r.typ+"/"+r.from, func(t *testing.T) {
			want := r.to
			if want == "" {
				want = r.from
			}
			old := states[r.from]
			it, route := outboundSub(r.typ, old)
			if got := stateName(t, it); got != want || route != r.pass {
				t.Errorf("%s in %q: %q route=%v, want %q route=%v", r.typ, r.from, got, route, want, r.pass)
			}
			if push := visible(old, it); push != r.push {
				t.Errorf("%s in %q: push=%v, want %v", r.typ, r.from, push, r.push)
			}
		})
	}
}

func TestAppendixA3(t *testing.T) {
	if len(appendixA3) != 36 {
		t.Fatalf("%d rows", len(appendixA3))
	}
	for _, r := range appendixA3 {
		t.Run(r.typ+"/"+r.from, func(t *testing.T) {
			want := r.to
			if want == "" {
				want = r.from
			}
			old := states[r.from]
			it, deliver, auto := inboundSub(r.typ, old)
			if got := stateName(t, it); got != want || deliver != r.pass {
				t.Errorf("%s in %q: %q deliver=%v, want %q deliver=%v", r.typ, r.from, got, deliver, want, r.pass)
			}
			if push := visible(old, it); push != r.push {
				t.Errorf("%s in %q: push=%v, want %v", r.typ, r.from, push, r.push)
			}
			// A.3.1: a request from a contact already subscribed is
			// answered by the server; nothing else is.
			wantAuto := r.typ == "subscribe" && subFrom(states[r.from].Subscription)
			if auto != wantAuto {
				t.Errorf("%s in %q: auto-reply %v, want %v", r.typ, r.from, auto, wantAuto)
			}
		})
	}
}

// §3.4 pre-approval: an outbound "subscribed" with no request to approve
// (A.2.3 None, None + Pending Out, To) sets the approved flag, and a later
// inbound "subscribe" (A.3.1) is approved by the server.
func TestPreApproval(t *testing.T) {
	for _, c := range []struct{ from, to string }{
		{"None", "From"},
		{"None + Pending Out", "From + Pending Out"},
		{"To", "Both"},
	} {
		it, route := outboundSub("subscribed", states[c.from])
		if !it.Approved || route || stateName(t, it) != c.from {
			t.Errorf("subscribed in %q: %+v route=%v, want approved, no route", c.from, it, route)
		}
		it, deliver, auto := inboundSub("subscribe", it)
		if it.Approved || deliver || !auto || stateName(t, it) != c.to {
			t.Errorf("pre-approved subscribe in %q: %+v deliver=%v auto=%v, want %q", c.from, it, deliver, auto, c.to)
		}
	}
	// Already approved: no flag.
	for _, name := range []string{"From", "From + Pending Out", "Both"} {
		if it, _ := outboundSub("subscribed", states[name]); it.Approved {
			t.Errorf("subscribed in %q set approved", name)
		}
	}
	// A.2.4: unsubscribed cancels a pre-approval.
	pre := states["None"]
	pre.Approved = true
	if it, _ := outboundSub("unsubscribed", pre); it.Approved {
		t.Error("unsubscribed kept the pre-approval")
	}
	// A pre-approval does not change a pending request into an approval:
	// with pending-in the stanza is a normal approval.
	if it, route := outboundSub("subscribed", states["None + Pending In"]); it.Approved || !route {
		t.Errorf("approval of a pending request: %+v route=%v", it, route)
	}
}
