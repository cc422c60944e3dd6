package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/router"
	"github.com/xmppd/xmppd/xml"
)

// inboxSession is a local session that records what it is handed.
type inboxSession struct {
	full      jid.JID
	delivered []*xml.Element
	closed    []string
}

func (s *inboxSession) JID() jid.JID           { return s.full }
func (s *inboxSession) Available() bool        { return true }
func (s *inboxSession) Priority() int          { return 0 }
func (s *inboxSession) Presence() *xml.Element { return nil }
func (s *inboxSession) Deliver(el *xml.Element) bool {
	s.delivered = append(s.delivered, el)
	return true
}
func (s *inboxSession) CloseStream(cond, text string) { s.closed = append(s.closed, cond+"|"+text) }

type inboxRouter struct{ routed []*module.Stanza }

func (r *inboxRouter) Route(_ context.Context, st *module.Stanza) { r.routed = append(r.routed, st) }

// countingHandler counts log records at warn and above.
type countingHandler struct {
	mu    sync.Mutex
	warns int
	last  string
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.warns++
	h.last = r.Message
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// inboxNode is a node with no NATS behind it: enough for what the inbox
// does with a message, with one local session, bob@localhost/res.
func inboxNode() (*Node, *inboxSession, *inboxRouter, *countingHandler) {
	logs := &countingHandler{}
	dir := NewDirectory(router.NewLocal())
	n := &Node{id: "n1-00000000", log: slog.New(logs), dir: dir, peers: map[string]*peer{}, pend: map[string]*pending{}, acks: map[string][]uint64{}, stop: make(chan struct{})}
	dir.node = n
	s := &inboxSession{full: jid.MustParse("bob@localhost/res")}
	dir.local.Bind(s)
	rt := &inboxRouter{}
	n.SetDeps(Deps{LocalRouter: rt, Router: rt})
	return n, s, rt, logs
}

func inboxSeeds() [][]byte {
	msg := "<message xmlns='jabber:client' from='alice@localhost/pc' to='bob@localhost/res' type='chat'><body>hi</body></message>"
	return [][]byte{
		[]byte("dbob@localhost/res\n" + msg),
		[]byte("Dbob@localhost/res\n7 n2-abcdef01\n" + msg),
		[]byte("Dgone@localhost/x\n8 n2-abcdef01\n" + msg),
		[]byte("cbob@localhost/res\nconflict\nreplaced"),
		[]byte("ralice@localhost/pc\n<iq xmlns='jabber:client' type='result' id='x' to='localhost'/>"),
		append([]byte("an2-abcdef01\n"), binary.AppendUvarint(binary.AppendUvarint(nil, 1), 300)...),
		[]byte("Dbob@localhost/res\nx n2\n" + msg),
		[]byte("dbob@localhost/res\n<message"),
		[]byte("d\n"),
		[]byte("z"),
		[]byte("Ralice@localhost/pc\n11 n2-abcdef01\n<message xmlns='jabber:client' to='gw.localhost' id='m'/>"),
	}
}

// FuzzInbox: whatever another node (or a bug in one) publishes to this
// node's inbox, decoding never panics, and what is dropped is logged and
// counted, once.
func FuzzInbox(f *testing.F) {
	for _, s := range inboxSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, _, _, logs := inboxNode()
		inboxKey(data) // any input: some worker, no panic
		n.take(data)
		dropped := n.stats.dropped.Load()
		if dropped > 1 || int(dropped) != logs.warns {
			t.Fatalf("%q: %d dropped, %d log lines", data, dropped, logs.warns)
		}
		if len(data) > 0 && !bytes.ContainsRune([]byte("dDcraR"), rune(data[0])) && dropped != 1 {
			t.Fatalf("%q: unknown op not dropped", data)
		}
	})
}

// TestInbox: well-formed messages reach the session, the router or the
// receipts; malformed ones are dropped with a log line and touch nothing.
func TestInbox(t *testing.T) {
	seeds := inboxSeeds()
	tests := []struct {
		name      string
		data      []byte
		delivered int
		closed    int
		routed    int
		acks      int
		dropped   bool
	}{
		{"deliver", seeds[0], 1, 0, 0, 0, false},
		{"tracked deliver", seeds[1], 1, 0, 0, 1, false}, // Session is not module.Tracked: acked at once
		{"tracked, session gone: routed again here", seeds[2], 0, 0, 1, 1, false},
		{"close", seeds[3], 0, 1, 0, 0, false},
		{"forwarded", seeds[4], 0, 0, 1, 0, false},
		{"receipts", seeds[5], 0, 0, 0, 0, false},
		{"tracked, bad sequence", seeds[6], 0, 0, 0, 0, true},
		{"truncated stanza", seeds[7], 0, 0, 0, 0, true},
		{"no JID", seeds[8], 0, 0, 0, 0, true},
		{"one byte", seeds[9], 0, 0, 0, 0, true},
		{"unknown op", []byte("xbob@localhost/res\n<message/>"), 0, 0, 0, 0, true},
		{"bare JID", []byte("dbob@localhost\n<message xmlns='jabber:client'/>"), 0, 0, 0, 0, true},
		{"tracked, not XML: no receipt, the sender keeps its copy", []byte("Dbob@localhost/res\n9 n2-abcdef01\n<<<"), 0, 0, 0, 0, true},
		{"receipts, bad number", []byte("an2-abcdef01\n\xff\xff"), 0, 0, 0, 0, true},
		{"receipts from nobody", []byte("a\n\x01"), 0, 0, 0, 0, true},
		{"tracked forward: routed here, receipt owed", seeds[10], 0, 0, 1, 1, false},
		{"tracked forward, not XML: no receipt", []byte("Ralice@localhost/pc\n12 n2-abcdef01\n<<<"), 0, 0, 0, 0, true},
		{"tracked forward, no sequence line", []byte("Ralice@localhost/pc\n<message xmlns='jabber:client'/>"), 0, 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, s, rt, logs := inboxNode()
			n.pend["n2-abcdef01"] = &pending{seq: 300, msgs: map[uint64]pendingMsg{1: {}, 300: {}, 5: {}}}
			n.take(tc.data)
			acks := len(n.acks["n2-abcdef01"])
			if len(s.delivered) != tc.delivered || len(s.closed) != tc.closed || len(rt.routed) != tc.routed || acks != tc.acks {
				t.Errorf("delivered %d, closed %d, routed %d, receipts owed %d; want %d %d %d %d",
					len(s.delivered), len(s.closed), len(rt.routed), acks, tc.delivered, tc.closed, tc.routed, tc.acks)
			}
			if got := n.stats.dropped.Load() == 1; got != tc.dropped {
				t.Errorf("dropped %v, want %v", got, tc.dropped)
			}
			if tc.dropped && (logs.warns != 1 || !strings.Contains(logs.last, "dropped")) {
				t.Errorf("log lines %d (%q), want one about the drop", logs.warns, logs.last)
			}
		})
	}
	// Receipts drop the sender's copies they name, and only those.
	n, _, _, _ := inboxNode()
	n.pend["n2-abcdef01"] = &pending{seq: 300, msgs: map[uint64]pendingMsg{1: {}, 300: {}, 5: {}}}
	n.take(seeds[5])
	if m := n.pend["n2-abcdef01"].msgs; len(m) != 1 || m[5] != (pendingMsg{}) {
		t.Errorf("copies left %v, want only 5", m)
	}
}
