package auth

import (
	"context"
	"testing"
)

// BenchmarkSCRAMSHA256Exchange is a whole SCRAM-SHA-256 exchange with a
// fresh xdg-go client each time, so it includes the client's PBKDF2
// (4096 iterations), which dominates.
func BenchmarkSCRAMSHA256Exchange(b *testing.B) {
	store := newMemStore()
	store.add(b, "juliet", "pencil")
	srv := &Server{Store: store}
	for b.Loop() {
		conv := xdgClient(b, MechSCRAMSHA256, "juliet", "pencil", "").NewConversation()
		if _, err := exchange(b, srv, MechSCRAMSHA256, ConnState{}, conv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSCRAMSHA256Server is the server's share of the exchange: Start
// and both Steps, replaying client messages made once with fixed nonces.
func BenchmarkSCRAMSHA256Server(b *testing.B) {
	store := newMemStore()
	store.add(b, "juliet", "pencil")
	srv := &Server{Store: store, nonce: func() string { return "server-nonce" }}
	cl := xdgClient(b, MechSCRAMSHA256, "juliet", "pencil", "").WithNonceGenerator(func() string { return "client-nonce" })
	conv := cl.NewConversation()
	ctx := context.Background()
	n, _ := srv.Start(ctx, MechSCRAMSHA256, ConnState{})
	c1, _ := conv.Step("")
	s1, _, err := n.Step(ctx, []byte(c1))
	if err != nil {
		b.Fatal(err)
	}
	c2, err := conv.Step(string(s1))
	if err != nil {
		b.Fatal(err)
	}
	in1, in2 := []byte(c1), []byte(c2)
	b.ReportAllocs()
	for b.Loop() {
		n, err := srv.Start(ctx, MechSCRAMSHA256, ConnState{})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := n.Step(ctx, in1); err != nil {
			b.Fatal(err)
		}
		if _, done, err := n.Step(ctx, in2); err != nil || !done {
			b.Fatal(err)
		}
	}
}

// BenchmarkPLAIN: the server runs PBKDF2 itself here.
func BenchmarkPLAIN(b *testing.B) {
	store := newMemStore()
	store.add(b, "juliet", "pencil")
	srv := &Server{Store: store}
	cs := ConnState{TLS: &tlsConnState{Version: 0x0304, HandshakeComplete: true}}
	ctx := context.Background()
	for b.Loop() {
		n, _ := srv.Start(ctx, MechPLAIN, cs)
		if _, done, err := n.Step(ctx, []byte("\x00juliet\x00pencil")); err != nil || !done {
			b.Fatal(err)
		}
	}
}
