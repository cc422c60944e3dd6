package auth

import (
	"crypto"
	"slices"
	"testing"
)

// The DER shortcut of endPointHash must answer as x509 does, and leave
// what it does not know to x509.
func TestEndPointHashFast(t *testing.T) {
	for _, tc := range []struct {
		kind string
		want crypto.Hash
		fast bool
	}{
		{"ecdsa-sha256", crypto.SHA256, true},
		{"ecdsa-sha384", crypto.SHA384, true},
		{"rsa-sha512", crypto.SHA512, true},
		{"ed25519", 0, false},
	} {
		der := newTestCert(t, tc.kind).der
		h, ok := endPointHashFast(der)
		if ok != tc.fast || h != tc.want {
			t.Errorf("%s: fast path %v %v, want %v %v", tc.kind, h, ok, tc.want, tc.fast)
		}
		got, err := endPointHash(der)
		if (err == nil) != (tc.want != 0) || got != tc.want {
			t.Errorf("%s: endPointHash %v %v, want %v", tc.kind, got, err, tc.want)
		}
		// Truncated or trailing bytes: not for the shortcut.
		for _, bad := range [][]byte{der[:len(der)-1], append(der[:len(der):len(der)], 0), der[:3], {0x30, 0x84, 0, 0, 0, 1}} {
			if _, ok := endPointHashFast(bad); ok {
				t.Errorf("%s: fast path accepted %d malformed bytes", tc.kind, len(bad))
			}
		}
	}
}

func BenchmarkEndPointHash(b *testing.B) {
	der := newTestCert(b, "ecdsa-sha256").der
	b.ReportAllocs()
	for b.Loop() {
		if _, err := endPointHash(der); err != nil {
			b.Fatal(err)
		}
	}
}

// The channel-binding types a caller advertised (ConnState.CBTypes, from
// ChannelBindingTypes) are taken as the usable ones, so that listing the
// mechanisms does not run the TLS exporter again; without them they are
// derived.
func TestMechanismsUseAdvertisedCBTypes(t *testing.T) {
	srv := &Server{}
	ec := newTestCert(t, "ecdsa-sha256")
	st, _ := tlsPair(t, ec, 0x0304)
	derived := ConnState{TLS: st, ServerCert: ec.der}
	cbs := srv.ChannelBindingTypes(derived)
	if len(cbs) != 2 {
		t.Fatalf("ChannelBindingTypes = %v", cbs)
	}
	advertised := derived
	advertised.CBTypes = cbs
	if got, want := srv.Mechanisms(advertised), srv.Mechanisms(derived); !slices.Equal(got, want) {
		t.Fatalf("Mechanisms with CBTypes %v, without %v", got, want)
	}
	if got, want := srv.TokenMechanisms(advertised), srv.TokenMechanisms(derived); !slices.Equal(got, want) || len(got) != 3 {
		t.Fatalf("TokenMechanisms with CBTypes %v, without %v", got, want)
	}
	// Only tls-server-end-point advertised: no HT-SHA-256-EXPR.
	advertised.CBTypes = []string{CBTLSServerEndPoint}
	if got := srv.TokenMechanisms(advertised); !slices.Equal(got, []string{MechHTSHA256Endp, MechHTSHA256None}) {
		t.Fatalf("TokenMechanisms with end-point only: %v", got)
	}
}

func BenchmarkMechanisms(b *testing.B) {
	srv := &Server{}
	ec := newTestCert(b, "ecdsa-sha256")
	st, _ := tlsPair(b, ec, 0x0304)
	cs := ConnState{TLS: st, ServerCert: ec.der}
	b.ReportAllocs()
	for b.Loop() {
		cs.CBTypes = srv.ChannelBindingTypes(cs)
		cs.Offered = srv.Mechanisms(cs)
		srv.TokenMechanisms(cs)
	}
}
