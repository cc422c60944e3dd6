package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// Which version check a stream makes of the peer's header.
const (
	noVersion = iota // none (only namespace and syntax)
	only10           // CheckPeerVersion: c2s
	pre10            // PeerVersion: s2s and components, which may predate 1.0
)

// open reads a peer's header as the servers do and returns the condition
// of the stream error it earns ("" for none).
func open(t *testing.T, input, ns string, version int) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(input), xml.Limits{MaxStanzaBytes: 512, MaxDepth: 8, MaxAttrs: 8})
	h, err := ReadPeerHeader(strings.NewReader(""), d)
	if err == nil {
		err = CheckPeerNamespace(h, ns)
	}
	if err == nil {
		switch version {
		case only10:
			err = CheckPeerVersion(h)
		case pre10:
			_, err = PeerVersion(h)
		}
	}
	if err == nil {
		return ""
	}
	var se *stanza.StreamError
	if !errors.As(err, &se) {
		t.Fatalf("%q: %v is not a stream error", input, err)
	}
	return se.Condition
}

func TestHeaderBadInput(t *testing.T) {
	const streams = "xmlns:stream='http://etherx.jabber.org/streams'"
	for _, tc := range []struct {
		name, input, ns string
		version         int
		want            string
	}{
		{"client 1.0", "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " + streams + " to='a.example' version='1.0'>", xml.NSClient, only10, ""},
		{"minor version", "<stream:stream xmlns='jabber:client' " + streams + " version='1.5'>", xml.NSClient, only10, ""},
		{"component, no version", "<stream:stream xmlns='jabber:component:accept' " + streams + " to='c.example'>", "jabber:component:accept", noVersion, ""},
		{"wrong content namespace", "<stream:stream xmlns='jabber:server' " + streams + " version='1.0'>", xml.NSClient, only10, stanza.StreamInvalidNamespace},
		{"no content namespace", "<stream:stream " + streams + " version='1.0'>", xml.NSClient, only10, stanza.StreamInvalidNamespace},
		{"not stream", "<stream:foo xmlns='jabber:client' " + streams + " version='1.0'>", xml.NSClient, only10, stanza.StreamInvalidNamespace},
		{"stream in wrong namespace", "<stream:stream xmlns='jabber:client' xmlns:stream='urn:example' version='1.0'>", xml.NSClient, only10, stanza.StreamInvalidNamespace},
		{"no version", "<stream:stream xmlns='jabber:client' " + streams + ">", xml.NSClient, only10, stanza.StreamUnsupportedVersion},
		{"version 2", "<stream:stream xmlns='jabber:client' " + streams + " version='2.0'>", xml.NSClient, only10, stanza.StreamUnsupportedVersion},
		{"version not a number", "<stream:stream xmlns='jabber:client' " + streams + " version='x.0'>", xml.NSClient, only10, stanza.StreamUnsupportedVersion},
		{"undeclared prefix", "<stream:stream xmlns='jabber:client' version='1.0'>", xml.NSClient, only10, stanza.StreamBadNamespacePrefix},
		{"comment", "<!-- hi --><stream:stream xmlns='jabber:client' " + streams + " version='1.0'>", xml.NSClient, only10, stanza.StreamRestrictedXML},
		{"doctype", "<!DOCTYPE x><stream:stream xmlns='jabber:client' " + streams + " version='1.0'>", xml.NSClient, only10, stanza.StreamRestrictedXML},
		{"garbage", "<<stream>", xml.NSClient, only10, stanza.StreamNotWellFormed},
		{"unquoted attribute", "<stream:stream xmlns=jabber:client>", xml.NSClient, only10, stanza.StreamNotWellFormed},
		{"too many attributes", "<stream:stream xmlns='jabber:client' " + streams + " a='1' b='2' c='3' d='4' e='5' f='6' g='7'>", xml.NSClient, only10, stanza.StreamPolicyViolation},
		{"s2s 1.0", "<stream:stream xmlns='jabber:server' " + streams + " version='1.0'>", xml.NSServer, pre10, ""},
		{"s2s without version (0.9)", "<stream:stream xmlns='jabber:server' " + streams + ">", xml.NSServer, pre10, ""},
		{"s2s 0.9", "<stream:stream xmlns='jabber:server' " + streams + " version='0.9'>", xml.NSServer, pre10, ""},
		{"s2s version 2", "<stream:stream xmlns='jabber:server' " + streams + " version='2.0'>", xml.NSServer, pre10, stanza.StreamUnsupportedVersion},
		{"s2s version not a number", "<stream:stream xmlns='jabber:server' " + streams + " version='one'>", xml.NSServer, pre10, stanza.StreamUnsupportedVersion},
		{"s2s client namespace", "<stream:stream xmlns='jabber:client' " + streams + " version='1.0'>", xml.NSServer, pre10, stanza.StreamInvalidNamespace},
		{"component version 1.0", "<stream:stream xmlns='jabber:component:accept' " + streams + " version='1.0'>", "jabber:component:accept", pre10, ""},
		{"component version 11", "<stream:stream xmlns='jabber:component:accept' " + streams + " version='11.0'>", "jabber:component:accept", pre10, stanza.StreamUnsupportedVersion},
		{"too long", "<stream:stream xmlns='jabber:client' " + streams + " to='" + strings.Repeat("a", 4096), xml.NSClient, only10, stanza.StreamPolicyViolation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := open(t, tc.input, tc.ns, tc.version); got != tc.want {
				t.Fatalf("condition %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecodeErrorPassesEndAndIO(t *testing.T) {
	for _, err := range []error{xml.ErrStreamEnd, io.EOF, net.ErrClosed} {
		if got := DecodeError(err); got != err {
			t.Errorf("DecodeError(%v) = %v, want it unchanged", err, got)
		}
	}
}

func TestHeaderAppendRoundTrip(t *testing.T) {
	h := Header{NS: xml.NSServer, Decls: " xmlns:db='jabber:server:dialback'", From: "a.example", To: "b'<&.example", ID: "x1", Version: "1.0", Lang: "en"}
	b := h.Append(nil)
	if !strings.HasPrefix(string(b), "<?xml version='1.0'?><stream:stream ") {
		t.Fatalf("header %s", b)
	}
	got, err := ReadPeerHeader(strings.NewReader(""), xml.NewDecoder(strings.NewReader(string(b)), xml.DefaultLimits()))
	if err != nil {
		t.Fatalf("our header does not parse: %v\n%s", err, b)
	}
	if err := CheckPeerNamespace(got, xml.NSServer); err != nil {
		t.Fatal(err)
	}
	if err := CheckPeerVersion(got); err != nil {
		t.Fatal(err)
	}
	if want := (Header{NS: h.NS, From: h.From, To: h.To, ID: h.ID, Version: h.Version, Lang: h.Lang}); *got != want {
		t.Errorf("read back %+v, want %+v", *got, want)
	}
	if len(h.Attrs()) != 5 {
		t.Errorf("Attrs: %v", h.Attrs())
	}
	// Empty fields are left out.
	if s := string((&Header{NS: "jabber:component:accept", ID: "i"}).AppendTag(nil)); strings.Contains(s, "version") || strings.Contains(s, "from") {
		t.Errorf("component header %s", s)
	}
}

func TestAppendEnd(t *testing.T) {
	if got := string(AppendEnd(nil, "", "")); got != "</stream:stream>" {
		t.Errorf("plain end: %s", got)
	}
	got := string(AppendEnd(nil, stanza.StreamSystemShutdown, "bye <now>"))
	want := "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>bye &lt;now&gt;</text></stream:error></stream:stream>"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestAppendFeatures(t *testing.T) {
	el := xml.NewBuilder("features", xml.NSStream).Start("bind", "urn:ietf:params:xml:ns:xmpp-bind").End().Element()
	got := string(AppendFeatures(nil, el))
	want := "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestFlushedWaitsOnChannel: a closer waiting for the writer is woken by
// the writer going idle, not by time passing.
func TestFlushedWaitsOnChannel(t *testing.T) {
	var mu sync.Mutex
	var f Flushed
	mu.Lock()
	ch := f.Wait()
	mu.Unlock()
	select {
	case <-ch:
		t.Fatal("woken before the writer stopped")
	default:
	}
	done := make(chan bool)
	go func() { done <- Await(ch, time.Minute) }()
	mu.Lock()
	f.Idle()
	mu.Unlock()
	if !<-done {
		t.Fatal("Await reported a timeout")
	}
	// Idle without a waiter is a no-op; the next Wait gets a new channel.
	mu.Lock()
	f.Idle()
	ch2 := f.Wait()
	mu.Unlock()
	select {
	case <-ch2:
		t.Fatal("a new wait is already over")
	default:
	}
	// A writer that never stops: Await gives up after its bound.
	if Await(ch2, time.Millisecond) {
		t.Fatal("Await returned true without Idle")
	}
}

// TestFlushedNoWriter: with no writer running there is nothing to wait
// for, however long the bound (the test would hang on a regression).
func TestFlushedNoWriter(t *testing.T) {
	var f Flushed
	if ch := f.WaitIf(false); ch != nil {
		t.Fatal("WaitIf(false) returned a channel")
	}
	if !Await(f.WaitIf(false), time.Hour) {
		t.Fatal("Await(nil) reported a timeout")
	}
}

type refuse struct {
	mu       sync.Mutex
	bad      string
	admitted map[string]int
}

func (r *refuse) Admit(ip string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ip == r.bad {
		return false
	}
	r.admitted[ip]++
	return true
}

func (r *refuse) Release(ip string) {
	r.mu.Lock()
	r.admitted[ip]--
	r.mu.Unlock()
}

type tconn struct{ nc net.Conn }

// TestListeners serves real sockets: a refused address is closed at
// once, Close stops accepting and returns the connections served, and
// Wait returns when the last is done (a cancelled context first).
func TestListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ls Listeners[*tconn]
	lim := &refuse{bad: "127.0.0.1", admitted: map[string]int{}}
	started := make(chan *tconn, 4)
	served := make(chan error, 1)
	go func() {
		served <- ls.Serve(ln, nil, lim, func(nc net.Conn, ip string) {
			c := &tconn{nc: nc}
			if !ls.Add(c) {
				nc.Close()
				return
			}
			started <- c
		})
	}()

	// Refused: the socket is closed before anything is said.
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("a refused connection was served")
	}
	nc.Close()

	// Admitted.
	lim.mu.Lock()
	lim.bad = ""
	lim.mu.Unlock()
	nc, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := <-started
	if ls.Len() != 1 {
		t.Fatalf("Len %d", ls.Len())
	}

	conns := ls.Close()
	if len(conns) != 1 || conns[0] != c {
		t.Fatalf("Close returned %v", conns)
	}
	if err := <-served; !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
	if ls.Add(&tconn{}) {
		t.Fatal("Add after Close")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ls.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a connection running: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- ls.Wait(context.Background()) }()
	c.nc.Close()
	ls.Done(c)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if ls.Len() != 0 {
		t.Fatalf("Len %d after Done", ls.Len())
	}
	if err := ls.Serve(ln, nil, nil, func(net.Conn, string) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

// TestListenersReplace: a connection another takes over (XEP-0198
// resumption) is listed as the new one, and counted once.
func TestListenersReplace(t *testing.T) {
	var ls Listeners[*tconn]
	a, b := &tconn{}, &tconn{}
	ls.Add(a)
	ls.Replace(a, b)
	if cs := ls.Conns(); len(cs) != 1 || cs[0] != b {
		t.Fatalf("Conns %v", cs)
	}
	ls.Close()
	ls.Done(a, b)
	if err := ls.Wait(context.Background()); err != nil || ls.Len() != 0 {
		t.Fatalf("Wait %v, Len %d", err, ls.Len())
	}
}

type framer struct {
	strings.Builder
	header *Header
	closed bool
}

func (f *framer) WriteHeader(h *Header) error { f.header = h; return nil }
func (f *framer) WriteClose() error           { f.closed = true; return nil }

// A byte stream gets the header and closing tag as bytes; a Framer gets
// calls and never sees them among the elements.
func TestWriteHeaderAndClose(t *testing.T) {
	h := &Header{NS: xml.NSClient, From: "a.example", ID: "1", Version: "1.0"}
	var b strings.Builder
	if err := WriteHeader(&b, h); err != nil {
		t.Fatal(err)
	}
	if err := WriteClose(&b); err != nil {
		t.Fatal(err)
	}
	if want := string(h.Append(nil)) + "</stream:stream>"; b.String() != want {
		t.Errorf("bytes %q, want %q", b.String(), want)
	}
	var f framer
	if err := WriteHeader(&f, h); err != nil {
		t.Fatal(err)
	}
	if err := WriteClose(&f); err != nil {
		t.Fatal(err)
	}
	if f.header != h || !f.closed || f.Len() != 0 {
		t.Errorf("framer: header %v, closed %v, bytes %q", f.header, f.closed, f.String())
	}
}

// writeCounter records each Write as it came.
type writeCounter struct{ writes []string }

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// The header and what follows it go to a byte stream in one Write (one TLS
// record, one syscall); a Framer frames the header and gets the elements
// alone.
func TestWriteHeaderWith(t *testing.T) {
	h := &Header{NS: xml.NSClient, From: "a.example", ID: "1", Version: "1.0"}
	feats := FeaturesOpen + "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>" + FeaturesClose
	for _, tc := range []struct {
		name  string
		after string
		want  []string
	}{
		{"features", feats, []string{string(h.Append(nil)) + feats}},
		{"nothing", "", []string{string(h.Append(nil))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w writeCounter
			if err := WriteHeaderWith(&w, h, []byte(tc.after)); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(w.writes, tc.want) {
				t.Errorf("writes %q, want %q", w.writes, tc.want)
			}
			var f framer
			if err := WriteHeaderWith(&f, h, []byte(tc.after)); err != nil {
				t.Fatal(err)
			}
			if f.header != h || f.String() != tc.after {
				t.Errorf("framer: header %v, bytes %q, want %q", f.header, f.String(), tc.after)
			}
		})
	}
}
