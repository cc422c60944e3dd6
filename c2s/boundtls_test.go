package c2s

import (
	"crypto/tls"
	"testing"
)

// TestBoundTLSShared: bound sessions of one TLS version and cipher suite
// share one reduced TLS state (transport.go, boundTLS) instead of each
// keeping its handshake's copy, and what a bound session still reads of
// it (the version, that it is encrypted) is kept; two servers share
// nothing.
func TestBoundTLSShared(t *testing.T) {
	s1, s2 := New(Config{}), New(Config{})
	a := &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, HandshakeComplete: true, ServerName: "a.example", NegotiatedProtocol: "xmpp-client"}
	b := &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, HandshakeComplete: true, ServerName: "b.example"}
	other := &tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, HandshakeComplete: true}

	ba, bb := s1.boundTLS(a), s1.boundTLS(b)
	if ba != bb {
		t.Fatal("two TLS 1.3 sessions with the same suite keep a state each")
	}
	if ba == a || ba == b {
		t.Fatal("the shared state is a session's own copy")
	}
	if ba.Version != tls.VersionTLS13 || ba.CipherSuite != tls.TLS_AES_128_GCM_SHA256 || !ba.HandshakeComplete {
		t.Fatalf("shared state lost what bound sessions read: %+v", ba)
	}
	if ba.ServerName != "" || ba.NegotiatedProtocol != "" {
		t.Fatalf("shared state carries one session's details: %+v", ba)
	}
	if bo := s1.boundTLS(other); bo == ba || bo.Version != tls.VersionTLS12 {
		t.Fatalf("TLS 1.2 session got %+v", bo)
	}
	if s2.boundTLS(a) == ba {
		t.Fatal("two servers share a TLS state")
	}
	if s1.boundTLS(nil) != nil {
		t.Fatal("a session without TLS got a TLS state")
	}
}
