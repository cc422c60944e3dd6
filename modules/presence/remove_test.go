package presence_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
)

// until collects "type from" of the presence stanzas c receives up to the
// IQ with the given id.
func until(t *testing.T, c *testutil.Client, id string) []string {
	t.Helper()
	var got []string
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == id {
			if el.Attr("type") != "result" {
				t.Fatalf("iq %s: %s", id, el)
			}
			return got
		}
		if el.Name() == "presence" {
			got = append(got, fmt.Sprintf("%s %s", el.Attr("type"), el.Attr("from")))
		}
	}
}

// RFC 6121 §2.5.2: removing a roster item cancels the subscriptions it
// carried, and the contact's side follows (§3.2.3, §3.3.3).
func TestRosterRemoveCancels(t *testing.T) {
	for _, c := range []struct {
		name       string
		alice, bob storage.RosterItem // alice's item for bob, bob's for alice
		bobGets    []string           // presence stanzas, in order
		aliceGets  []string
		bobAfter   storage.RosterItem
	}{
		{"both", storage.RosterItem{Subscription: "both"}, storage.RosterItem{Subscription: "both"},
			[]string{"unsubscribe alice@localhost", "unavailable alice@localhost/pc", "unsubscribed alice@localhost"},
			[]string{"unavailable bob@localhost/phone"}, storage.RosterItem{Subscription: "none"}},
		{"to", storage.RosterItem{Subscription: "to"}, storage.RosterItem{Subscription: "from"},
			[]string{"unsubscribe alice@localhost"},
			[]string{"unavailable bob@localhost/phone"}, storage.RosterItem{Subscription: "none"}},
		{"from", storage.RosterItem{Subscription: "from"}, storage.RosterItem{Subscription: "to"},
			[]string{"unavailable alice@localhost/pc", "unsubscribed alice@localhost"},
			nil, storage.RosterItem{Subscription: "none"}},
		{"pending out", storage.RosterItem{Subscription: "none", Ask: true}, storage.RosterItem{Subscription: "none", PendingIn: true},
			[]string{"unsubscribe alice@localhost"},
			nil, storage.RosterItem{Subscription: "none"}},
		{"pending in", storage.RosterItem{Subscription: "none", PendingIn: true}, storage.RosterItem{Subscription: "none", Ask: true},
			[]string{"unsubscribed alice@localhost"},
			nil, storage.RosterItem{Subscription: "none"}},
		{"none", storage.RosterItem{Subscription: "none"}, storage.RosterItem{Subscription: "none"},
			nil, nil, storage.RosterItem{Subscription: "none"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := testutil.Start(t, "")
			s.AddUser(t, "alice", pw)
			s.AddUser(t, "bob", pw)
			c.alice.JID, c.bob.JID = "bob@localhost", "alice@localhost"
			setItem(t, s, "alice", c.alice)
			setItem(t, s, "bob", c.bob)
			bob := online(t, s, "bob", "phone")
			// bob's session handles its stanzas in order: once this ping
			// is answered, his initial presence went to his contacts
			// (alice, offline, gets none). Without it that broadcast could
			// reach alice after she came online, during the removal.
			bob.Send("<iq type='get' id='f0'><ping xmlns='urn:xmpp:ping'/></iq>")
			until(t, bob, "f0")
			alice := online(t, s, "alice", "pc")
			// Let the initial presence exchange settle.
			alice.Send("<iq type='get' id='f1'><ping xmlns='urn:xmpp:ping'/></iq>")
			until(t, alice, "f1")
			bob.Send("<iq type='get' id='f2'><ping xmlns='urn:xmpp:ping'/></iq>")
			until(t, bob, "f2")

			alice.Send("<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>")
			if got := until(t, alice, "rm"); !slices.Equal(got, c.aliceGets) {
				t.Errorf("alice got %q, want %q", got, c.aliceGets)
			}
			bob.Send("<iq type='get' id='f3'><ping xmlns='urn:xmpp:ping'/></iq>")
			if got := until(t, bob, "f3"); !slices.Equal(got, c.bobGets) {
				t.Errorf("bob got %q, want %q", got, c.bobGets)
			}
			wantState(t, s, "bob", "alice@localhost", c.bobAfter.Subscription, c.bobAfter.Ask, c.bobAfter.PendingIn)
			if _, ok := roster(t, s, "alice")["bob@localhost"]; ok {
				t.Error("alice's item is still there")
			}

			// Nothing flows any more either way.
			alice.Send("<presence><show>away</show></presence>")
			alice.Expect("presence", "alice@localhost/pc", "")
			bob.Send("<presence><show>away</show></presence>")
			bob.Expect("presence", "bob@localhost/phone", "")
			bob.Quiet("bob after the removal")
			alice.Quiet("alice after the removal")
		})
	}
}
