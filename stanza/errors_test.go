package stanza_test

import (
	"testing"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

func TestCondition(t *testing.T) {
	const ns = " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'"
	for _, tt := range []struct{ stanza, want string }{
		{"<iq type='error'><error type='cancel'><item-not-found" + ns + "/></error></iq>", "item-not-found"},
		// <text/> is not the condition, whatever its place (RFC 6120 §8.3.2).
		{"<message type='error'><error type='modify'><text" + ns + ">no</text><bad-request" + ns + "/></error></message>", "bad-request"},
		// An application condition is not the defined one.
		{"<iq type='error'><error type='cancel'><unsupported xmlns='http://jabber.org/protocol/pubsub#errors'/><feature-not-implemented" + ns + "/></error></iq>", "feature-not-implemented"},
		{"<iq type='result'><error><forbidden" + ns + "/></error></iq>", ""},
		{"<iq type='error'/>", ""},
		{"<iq type='error'><error type='cancel'><forbidden/></error></iq>", ""},
	} {
		el, err := xml.ParseFragment([]byte(tt.stanza))
		if err != nil {
			t.Fatal(err)
		}
		if got := stanza.Condition(el); got != tt.want {
			t.Errorf("Condition(%s) = %q, want %q", tt.stanza, got, tt.want)
		}
	}
	if got := stanza.Condition(nil); got != "" {
		t.Errorf("Condition(nil) = %q", got)
	}
}
