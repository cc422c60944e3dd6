package router_test

import (
	"fmt"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/router"
)

// BenchmarkLocalSession is the directory lookup of every message to a
// full JID (Router.toFull): 1,000 accounts with one session each, looked
// up in a scattered order by JIDs parsed apart from the bound ones, as a
// 'to' attribute is.
//
//	go test -run XXX -bench LocalSession -benchmem ./router/
func BenchmarkLocalSession(b *testing.B) {
	d := router.NewLocal()
	const n = 1000
	to := make([]jid.JID, n)
	for i := range n {
		d.Bind(&fakeSession{jid: jid.MustParse(fmt.Sprintf("u%d@localhost/r", i))})
		to[i] = jid.MustParse(fmt.Sprintf("u%d@localhost/r", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if d.Session(to[(i*7919)%n]) == nil {
			b.Fatal("no session")
		}
	}
}
