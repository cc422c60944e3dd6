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
// new state ("" for no state change), and whether the stanza is routed
// (A.2) or delivered (A.3).
type row struct {
	typ, from, to string
	pass          bool
}

// RFC 6121 Appendix A.2: the user's server, outbound stanzas from the user.
var appendixA2 = []row{
	// A.2.1 Outbound Subscription Request
	{"subscribe", "None", "None + Pending Out", true},
	{"subscribe", "None + Pending Out", "", true},
	{"subscribe", "None + Pending In", "None + Pending Out+In", true},
	{"subscribe", "None + Pending Out+In", "", true},
	{"subscribe", "To", "", true},
	{"subscribe", "To + Pending In", "", true},
	{"subscribe", "From", "From + Pending Out", true},
	{"subscribe", "From + Pending Out", "", true},
	{"subscribe", "Both", "", true},
	// A.2.2 Outbound Subscription Approval (pre-approval, §3.4, is
	// checked separately: it sets a flag, not a state).
	{"subscribed", "None", "", false},
	{"subscribed", "None + Pending Out", "", false},
	{"subscribed", "None + Pending In", "From", true},
	{"subscribed", "None + Pending Out+In", "From + Pending Out", true},
	{"subscribed", "To", "", false},
	{"subscribed", "To + Pending In", "Both", true},
	{"subscribed", "From", "", false},
	{"subscribed", "From + Pending Out", "", false},
	{"subscribed", "Both", "", false},
	// A.2.3 Outbound Unsubscribe
	{"unsubscribe", "None", "", true},
	{"unsubscribe", "None + Pending Out", "None", true},
	{"unsubscribe", "None + Pending In", "", true},
	{"unsubscribe", "None + Pending Out+In", "None + Pending In", true},
	{"unsubscribe", "To", "None", true},
	{"unsubscribe", "To + Pending In", "None + Pending In", true},
	{"unsubscribe", "From", "", true},
	{"unsubscribe", "From + Pending Out", "From", true},
	{"unsubscribe", "Both", "From", true},
	// A.2.4 Outbound Unsubscribed
	{"unsubscribed", "None", "", true},
	{"unsubscribed", "None + Pending Out", "", true},
	{"unsubscribed", "None + Pending In", "None", true},
	{"unsubscribed", "None + Pending Out+In", "None + Pending Out", true},
	{"unsubscribed", "To", "", true},
	{"unsubscribed", "To + Pending In", "To", true},
	{"unsubscribed", "From", "None", true},
	{"unsubscribed", "From + Pending Out", "None + Pending Out", true},
	{"unsubscribed", "Both", "To", true},
}

// RFC 6121 Appendix A.3: the contact's server, inbound stanzas for the
// contact (the state is the contact's item for the sender).
var appendixA3 = []row{
	// A.3.1 Inbound Subscription Request (From, From + Pending Out, Both:
	// auto-reply, checked below)
	{"subscribe", "None", "None + Pending In", true},
	{"subscribe", "None + Pending Out", "None + Pending Out+In", true},
	{"subscribe", "None + Pending In", "", false},
	{"subscribe", "None + Pending Out+In", "", false},
	{"subscribe", "To", "To + Pending In", true},
	{"subscribe", "To + Pending In", "", false},
	{"subscribe", "From", "", false},
	{"subscribe", "From + Pending Out", "", false},
	{"subscribe", "Both", "", false},
	// A.3.2 Inbound Subscription Approval
	{"subscribed", "None", "", false},
	{"subscribed", "None + Pending Out", "To", true},
	{"subscribed", "None + Pending In", "", false},
	{"subscribed", "None + Pending Out+In", "To + Pending In", true},
	{"subscribed", "To", "", false},
	{"subscribed", "To + Pending In", "", false},
	{"subscribed", "From", "", false},
	{"subscribed", "From + Pending Out", "Both", true},
	{"subscribed", "Both", "", false},
	// A.3.3 Inbound Unsubscribe
	{"unsubscribe", "None", "", false},
	{"unsubscribe", "None + Pending Out", "", false},
	{"unsubscribe", "None + Pending In", "None", true},
	{"unsubscribe", "None + Pending Out+In", "None + Pending Out", true},
	{"unsubscribe", "To", "", false},
	{"unsubscribe", "To + Pending In", "To", true},
	{"unsubscribe", "From", "None", true},
	{"unsubscribe", "From + Pending Out", "None + Pending Out", true},
	{"unsubscribe", "Both", "To", true},
	// A.3.4 Inbound Unsubscribed
	{"unsubscribed", "None", "", false},
	{"unsubscribed", "None + Pending Out", "None", true},
	{"unsubscribed", "None + Pending In", "", false},
	{"unsubscribed", "None + Pending Out+In", "None + Pending In", true},
	{"unsubscribed", "To", "None", true},
	{"unsubscribed", "To + Pending In", "None + Pending In", true},
	{"unsubscribed", "From", "", false},
	{"unsubscribed", "From + Pending Out", "From", true},
	{"unsubscribed", "Both", "From", true},
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
			it, route := outboundSub(r.typ, states[r.from])
			if got := stateName(t, it); got != want || route != r.pass {
				t.Errorf("%s in %q: %q route=%v, want %q route=%v", r.typ, r.from, got, route, want, r.pass)
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
			it, deliver, auto := inboundSub(r.typ, states[r.from])
			if got := stateName(t, it); got != want || deliver != r.pass {
				t.Errorf("%s in %q: %q deliver=%v, want %q deliver=%v", r.typ, r.from, got, deliver, want, r.pass)
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
// (A.2.2 None, None + Pending Out, To) sets the approved flag, and a later
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
