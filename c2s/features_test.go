package c2s_test

import (
	"net"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// recordConn counts the TLS records (RFC 8446 §5.1) among the bytes read
// from a connection once counting is switched on.
type recordConn struct {
	net.Conn
	mu      sync.Mutex
	on      bool
	need    int // bytes left of the current record's body
	hdr     []byte
	records int
}

func (r *recordConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return n, err
	}
	for b := p[:n]; len(b) > 0; {
		if r.need > 0 {
			k := min(r.need, len(b))
			r.need -= k
			b = b[k:]
			continue
		}
		k := min(5-len(r.hdr), len(b))
		r.hdr = append(r.hdr, b[:k]...)
		b = b[k:]
		if len(r.hdr) == 5 {
			r.records++
			r.need = int(r.hdr[3])<<8 | int(r.hdr[4])
			r.hdr = r.hdr[:0]
		}
	}
	return n, err
}

func (r *recordConn) count(on bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.records
	r.on, r.records = on, 0
	return n
}

// Our stream header and the features that follow it leave in one write,
// so after authentication (RFC 6120 §6.4.6's restart) the client gets
// them in one TLS record, not two.
func TestHeaderAndFeaturesOneRecord(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "secret")
	rc := &recordConn{Conn: testutil.Dial(t, s.StartTLS)}
	c := testutil.NewClient(t, rc)
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", "alice", "secret", "", nil); !r.OK {
		t.Fatalf("auth: %s", r.Condition)
	}
	// Counting starts at a record boundary: the client's TLS layer reads
	// whole records, and the server sends nothing until our header.
	rc.count(true)
	f := c.Restart("localhost")
	if f.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") == nil {
		t.Fatalf("features after authentication: %s", f)
	}
	if n := rc.count(false); n != 1 {
		t.Errorf("header and features came in %d TLS records, want 1", n)
	}
}
