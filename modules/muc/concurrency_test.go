package muc_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// TestConcurrentTraffic: occupants talk at once while others join and
// leave; everyone present throughout gets every message exactly once and
// in the same order (the room's lock orders its traffic).
func TestConcurrentTraffic(t *testing.T) {
	s := testutil.Start(t, "\n[muc]\nmessage_rate = 0.0\n")
	const talkers, each = 4, 25
	var users []*user
	for i := 0; i < talkers; i++ {
		name := fmt.Sprintf("u%d", i)
		s.AddUser(t, name, name+"pw")
		users = append(users, login(t, s, name, "r"))
	}
	s.AddUser(t, "churn", "churnpw")
	churn := login(t, s, "churn", "r")
	users[0].create("busy", "u0")
	for _, u := range users[1:] {
		u.join("busy", u.name)
	}
	var wg sync.WaitGroup
	orders := make([][]string, talkers)
	for i, u := range users {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for k := 0; k < each; k++ {
				u.say("busy", fmt.Sprintf("%s-%d", u.name, k))
			}
		}()
		go func() {
			defer wg.Done()
			for len(orders[i]) < talkers*each {
				el, err := u.TryNext()
				if err != nil {
					t.Errorf("%s: %v", u.name, err)
					return
				}
				if el.Name() == "message" && el.Attr("type") == "groupchat" {
					if b := el.Child("body", ""); b != nil {
						orders[i] = append(orders[i], b.Text())
					}
				}
			}
		}()
	}
	// Joins and exits in between.
	for k := 0; k < 10; k++ {
		nick := fmt.Sprintf("c%d", k)
		churn.Send("<presence to='busy@%s/%s'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>", service, nick)
		churn.until(func(el *xml.Element) bool { return el.Name() == "presence" && hasCode(el, 110) })
		churn.Send("<presence type='unavailable' to='busy@%s/%s'/>", service, nick)
		churn.until(func(el *xml.Element) bool {
			return el.Name() == "presence" && el.Attr("type") == "unavailable" && hasCode(el, 110)
		})
	}
	wg.Wait()
	for i := 1; i < talkers; i++ {
		if len(orders[i]) != len(orders[0]) {
			t.Fatalf("%d got %d messages, 0 got %d", i, len(orders[i]), len(orders[0]))
		}
		for k := range orders[0] {
			if orders[i][k] != orders[0][k] {
				t.Fatalf("order differs at %d: %s vs %s", k, orders[i][k], orders[0][k])
			}
		}
	}
	seen := map[string]bool{}
	for _, b := range orders[0] {
		if seen[b] {
			t.Fatalf("duplicate %s", b)
		}
		seen[b] = true
	}
}
