package pubsub

import (
	"context"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

type fakeSession struct{ module.Session }

// The XEP-0490 hook runs for every stanza a session sends: for a message
// without the element it must not allocate.
func TestDisplayedHookAllocs(t *testing.T) {
	m := &mod{}
	el, err := xml.ParseFragments([]byte("<message xmlns='jabber:client' to='bob@localhost' type='chat' id='m'><body>Hello</body><active xmlns='http://jabber.org/protocol/chatstates'/><markable xmlns='urn:xmpp:chat-markers:0'/></message>"))
	if err != nil {
		t.Fatal(err)
	}
	st := &module.Stanza{El: el[0], From: jid.MustParse("alice@localhost/r"), Origin: fakeSession{}}
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { m.displayed(ctx, st) }); n != 0 {
		t.Fatalf("%v allocations per plain message", n)
	}
}

func BenchmarkDisplayedHookPlain(b *testing.B) {
	m := &mod{}
	el, _ := xml.ParseFragments([]byte("<message xmlns='jabber:client' to='bob@localhost' type='chat' id='m'><body>Hello</body><active xmlns='http://jabber.org/protocol/chatstates'/><markable xmlns='urn:xmpp:chat-markers:0'/></message>"))
	st := &module.Stanza{El: el[0], From: jid.MustParse("alice@localhost/r"), Origin: fakeSession{}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.displayed(ctx, st)
	}
}
