package cluster

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/xml"
)

// countSession counts what it is handed; safe for the inbox's workers.
type countSession struct {
	full jid.JID
	n    atomic.Uint64
}

func (s *countSession) JID() jid.JID                  { return s.full }
func (s *countSession) Available() bool               { return true }
func (s *countSession) Priority() int                 { return 0 }
func (s *countSession) Presence() *xml.Element        { return nil }
func (s *countSession) Deliver(*xml.Element) bool     { s.n.Add(1); return true }
func (s *countSession) CloseStream(cond, text string) {}

// BenchmarkInbox: the receiving side of a cross-node chat message, from
// NATS's callback to the local session (tracked: a receipt owed), with
// the messages spread over n recipients.
func BenchmarkInbox(b *testing.B) {
	for _, recipients := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("recipients=%d", recipients), func(b *testing.B) {
			n, _, _, _ := inboxNode()
			benchStart(n)
			defer benchStop(n)
			msgs := make([][]byte, recipients)
			for i := range msgs {
				full := jid.MustParse(fmt.Sprintf("user%d@localhost/res", i))
				n.dir.local.Bind(&countSession{full: full})
				msgs[i] = fmt.Appendf(nil, "D%s\n%d n2-abcdef01\n<message xmlns='jabber:client' from='alice@localhost/pc' to='%s' type='chat' id='m%d'><body>Hello, how are you today? A message of a typical length.</body></message>", full, i+1, full, i)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				n.inbox(&nats.Msg{Data: msgs[i%recipients]})
			}
			for n.stats.delivered.Load() < uint64(b.N) {
				runtime.Gosched()
			}
			b.StopTimer()
			// The process's CPU per message: on a shared machine, wall
			// time per op says more about the neighbours.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			n.amu.Lock()
			n.acks = map[string][]uint64{}
			n.amu.Unlock()
		})
	}
}

func benchStart(n *Node) { n.startInbox() }
func benchStop(n *Node) {
	close(n.stop)
	n.done.Wait()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
