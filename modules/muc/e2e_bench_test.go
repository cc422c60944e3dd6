package muc_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// BenchmarkGroupchatE2E is BenchmarkGroupchat100 end to end: a real
// server, 100 occupants on TLS connections (20 accounts, 5 resources
// each), one of them sending; an op is one message until all 100 copies
// have been read by the clients (in this process, on the same cores).
func BenchmarkGroupchatE2E(b *testing.B) {
	s := testutil.Start(b, "\n[muc]\nmessage_rate = 0.0\nhistory_messages = 0\n[limits]\nmax_connections_per_ip = 0\nconnection_rate = 0.0\n")
	const accounts, resources = 20, 5
	var clients []*testutil.Client
	for a := 0; a < accounts; a++ {
		name := fmt.Sprintf("u%d", a)
		s.AddUser(b, name, "pw")
		for r := 0; r < resources; r++ {
			c := testutil.Login(b, s, name, "pw", fmt.Sprintf("r%d", r))
			nick := fmt.Sprintf("%s-%d", name, r)
			c.Send("<presence to='e2e@%s/%s'><x xmlns='http://jabber.org/protocol/muc'/></presence>", service, nick)
			for {
				el := c.Next()
				if el.Name() == "presence" && el.Attr("from") == "e2e@"+service+"/"+nick {
					break
				}
			}
			if a == 0 && r == 0 {
				c.Send("<iq type='set' id='c' to='e2e@%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>", service)
				for el := c.Next(); el.Name() != "iq"; el = c.Next() {
				}
			}
			clients = append(clients, c)
		}
	}
	sender := clients[0]
	var wg sync.WaitGroup
	start := make(chan int)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := <-start
			for got := 0; got < n; {
				el, err := c.TryNext()
				if err != nil {
					b.Errorf("read: %v", err)
					return
				}
				if el.Name() == "message" && el.Child("body", "") != nil && el.Child("body", "").Text() == "bench" {
					got++
				}
			}
		}()
	}
	msg := fmt.Sprintf("<message type='groupchat' to='e2e@%s'><body>bench</body></message>", service)
	b.ResetTimer()
	for range clients {
		start <- b.N
	}
	for i := 0; i < b.N; i++ {
		sender.Send("%s", msg)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(clients)), "ns/delivery")
}
