package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// vectorServer returns a server whose only user "user" has password
// "pencil" with the given salt, and a fixed server nonce.
func vectorServer(t *testing.T, a *hashAlg, salt, snonce string) *Server {
	t.Helper()
	s, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.credential("pencil", s, 4096)
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	st.creds["user"] = []Credential{c}
	return &Server{Store: st, nonce: func() string { return snonce }}
}

func runVector(t *testing.T, srv *Server, mech string, msgs [4]string) {
	t.Helper()
	ctx := context.Background()
	n, err := srv.Start(ctx, mech, ConnState{})
	if err != nil {
		t.Fatal(err)
	}
	out, done, err := n.Step(ctx, []byte(msgs[0]))
	if err != nil || done || string(out) != msgs[1] {
		t.Fatalf("server-first = %q, %v, %v; want %q", out, done, err, msgs[1])
	}
	out, done, err = n.Step(ctx, []byte(msgs[2]))
	if err != nil || !done || string(out) != msgs[3] {
		t.Fatalf("server-final = %q, %v, %v; want %q", out, done, err, msgs[3])
	}
	if n.Username() != "user" || n.AuthzID() != "" {
		t.Fatalf("username %q authzid %q", n.Username(), n.AuthzID())
	}
}

// RFC 5802 §5.
func TestRFC5802Vector(t *testing.T) {
	srv := vectorServer(t, algSHA1, "QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j")
	runVector(t, srv, MechSCRAMSHA1, [4]string{
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	})
}

// RFC 7677 §3.
func TestRFC7677Vector(t *testing.T) {
	srv := vectorServer(t, algSHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
	runVector(t, srv, MechSCRAMSHA256, [4]string{
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	})
}

// XEP-0474 §5 example: h = base64(SHA-1("SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point")).
func TestSSDPExample(t *testing.T) {
	want := "G6k/rBLDqgOhRRaCuuatSDFkJ08="
	got := ssdpHash(algSHA1, []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}, []string{"tls-server-end-point", "tls-exporter"})
	if got != want {
		t.Fatalf("ssdpHash = %s, want %s", got, want)
	}
	// Without XEP-0440 there is no %x1F part.
	got = ssdpHash(algSHA256, []string{"SCRAM-SHA-256", "PLAIN", "SCRAM-SHA-1"}, nil)
	want = base64.StdEncoding.EncodeToString(algSHA256.sum([]byte("PLAIN\x1eSCRAM-SHA-1\x1eSCRAM-SHA-256")))
	if got != want {
		t.Fatalf("ssdpHash without cb = %s, want %s", got, want)
	}
}

// TestInteropAllMechanisms runs every SCRAM mechanism, with every
// channel-binding type for -PLUS, against the xdg-go/scram client over TLS
// 1.3 and 1.2 loopback connections, with an ECDSA and an RSA (SHA-512
// signed) certificate.
func TestInteropAllMechanisms(t *testing.T) {
	ecdsaCert := newTestCert(t, "ecdsa-sha256")
	rsaCert := newTestCert(t, "rsa-sha512")
	cases := []struct {
		name    string
		cert    testCert
		version uint16
	}{
		{"tls13-ecdsa", ecdsaCert, 0x0304},
		{"tls12-ecdsa", ecdsaCert, 0x0303},
		{"tls13-rsa-sha512", rsaCert, 0x0304},
	}
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	srv := &Server{Store: store, FakeSaltKey: []byte("k")}

	for _, tc := range cases {
		sst, cst := tlsPair(t, tc.cert, tc.version)
		cs := ConnState{TLS: sst, ServerCert: tc.cert.der}
		cs.Offered = srv.Mechanisms(cs)
		cs.CBTypes = srv.ChannelBindingTypes(cs)
		if !slices.Equal(cs.CBTypes, []string{CBTLSExporter, CBTLSServerEndPoint}) {
			t.Fatalf("%s: channel-binding types %v", tc.name, cs.CBTypes)
		}
		if len(cs.Offered) != 7 {
			t.Fatalf("%s: mechanisms %v", tc.name, cs.Offered)
		}
		for _, mech := range cs.Offered {
			if mech == MechPLAIN {
				continue
			}
			var cbs []scram.ChannelBinding
			if strings.HasSuffix(mech, "-PLUS") {
				exp, err := scram.NewTLSExporterBinding(cst)
				if err != nil {
					t.Fatal(err)
				}
				sep, err := scram.NewTLSServerEndpointBinding(cst)
				if err != nil {
					t.Fatal(err)
				}
				cbs = []scram.ChannelBinding{exp, sep}
			} else {
				cbs = []scram.ChannelBinding{{}}
			}
			for _, cb := range cbs {
				t.Run(tc.name+"/"+mech+"/"+string(cb.Type), func(t *testing.T) {
					cl := xdgClient(t, mech, "juliet", "pencil", "")
					var conv *scram.ClientConversation
					if cb.IsSupported() {
						conv = cl.NewConversationWithChannelBinding(cb)
					} else {
						conv = cl.NewConversation()
					}
					n, err := exchange(t, srv, mech, cs, conv)
					if err != nil {
						t.Fatalf("exchange: %v", err)
					}
					if n.Username() != "juliet" || n.AuthzID() != "" {
						t.Fatalf("username %q authzid %q", n.Username(), n.AuthzID())
					}
				})
			}
		}
	}
}

func TestServerFirstCarriesSSDP(t *testing.T) {
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	srv := &Server{Store: store}
	cs := ConnState{Offered: []string{MechSCRAMSHA256, MechSCRAMSHA1}}
	n, err := srv.Start(context.Background(), MechSCRAMSHA256, cs)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := n.Step(context.Background(), []byte("n,,n=juliet,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	want := ",h=" + ssdpHash(algSHA256, []string{"SCRAM-SHA-1", "SCRAM-SHA-256"}, nil)
	if !strings.HasSuffix(string(out), want) {
		t.Fatalf("server-first %q lacks %q", out, want)
	}
	// And a client that ignores "h" still succeeds (h is in AuthMessage).
	conv := xdgClient(t, MechSCRAMSHA256, "juliet", "pencil", "").NewConversation()
	if _, err := exchange(t, srv, MechSCRAMSHA256, cs, conv); err != nil {
		t.Fatal(err)
	}
}

func TestUsernameCaseMappedAndAuthzID(t *testing.T) {
	store := newMemStore()
	store.add(t, "alice", "pencil")
	srv := &Server{Store: store}
	conv := xdgClient(t, MechSCRAMSHA256, "Alice", "pencil", "alice@example.org,x=y").NewConversation()
	n, err := exchange(t, srv, MechSCRAMSHA256, ConnState{}, conv)
	if err != nil {
		t.Fatal(err)
	}
	if n.Username() != "alice" || n.AuthzID() != "alice@example.org,x=y" {
		t.Fatalf("username %q authzid %q", n.Username(), n.AuthzID())
	}
}

func TestWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	srv := &Server{Store: store, FakeSaltKey: []byte("secret")}
	var fails []*Failure
	for _, tc := range []struct{ user, pass string }{{"juliet", "wrong"}, {"romeo", "pencil"}} {
		conv := xdgClient(t, MechSCRAMSHA256, tc.user, tc.pass, "").NewConversation()
		_, err := exchange(t, srv, MechSCRAMSHA256, ConnState{}, conv)
		var f *Failure
		if !errors.As(err, &f) {
			t.Fatalf("%s: err = %v, want *Failure", tc.user, err)
		}
		fails = append(fails, f)
	}
	if fails[0].Condition != CondNotAuthorized || fails[0].Condition != fails[1].Condition || fails[0].Text != fails[1].Text {
		t.Fatalf("failures differ: %+v vs %+v", fails[0], fails[1])
	}

	// The unknown user's server-first has the shape of a real one and
	// the same salt every time.
	first := func(user string, mech string) (salt []byte, iter string) {
		n, err := srv.Start(context.Background(), mech, ConnState{})
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := n.Step(context.Background(), []byte("n,,n="+user+",r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Split(string(out), ",")
		salt, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(f[1], "s="))
		if err != nil {
			t.Fatal(err)
		}
		return salt, f[2]
	}
	realSalt, realIter := first("juliet", MechSCRAMSHA256)
	s1, i1 := first("romeo", MechSCRAMSHA256)
	s2, _ := first("Romeo", MechSCRAMSHA256)
	s3, _ := first("romeo", MechSCRAMSHA1)
	s4, _ := first("mercutio", MechSCRAMSHA256)
	if len(s1) != len(realSalt) || i1 != realIter {
		t.Fatalf("fake salt %x / %s vs real %x / %s", s1, i1, realSalt, realIter)
	}
	if string(s1) != string(s2) {
		t.Fatal("fake salt not deterministic")
	}
	if string(s1) == string(s3) || string(s1) == string(s4) {
		t.Fatal("fake salt does not depend on hash and user")
	}
}

func TestChannelBindingFailures(t *testing.T) {
	cert := newTestCert(t, "ecdsa-sha256")
	sst, cst := tlsPair(t, cert, 0x0304)
	_, otherClient := tlsPair(t, cert, 0x0304)
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	srv := &Server{Store: store}
	cs := ConnState{TLS: sst, ServerCert: cert.der}
	cs.Offered = srv.Mechanisms(cs)
	cs.CBTypes = srv.ChannelBindingTypes(cs)
	mech := MechSCRAMSHA256Plus

	t.Run("exporter from another connection", func(t *testing.T) {
		cb, err := scram.NewTLSExporterBinding(otherClient)
		if err != nil {
			t.Fatal(err)
		}
		conv := xdgClient(t, mech, "juliet", "pencil", "").NewConversationWithChannelBinding(cb)
		_, err = exchange(t, srv, mech, cs, conv)
		if condition(err) != CondNotAuthorized || !strings.Contains(err.Error(), "channel binding mismatch") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("end-point of another certificate", func(t *testing.T) {
		other := newTestCert(t, "ecdsa-sha256")
		_, oc := tlsPair(t, other, 0x0304)
		cb, err := scram.NewTLSServerEndpointBinding(oc)
		if err != nil {
			t.Fatal(err)
		}
		conv := xdgClient(t, mech, "juliet", "pencil", "").NewConversationWithChannelBinding(cb)
		_, err = exchange(t, srv, mech, cs, conv)
		if condition(err) != CondNotAuthorized {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("y flag while -PLUS offered is a downgrade", func(t *testing.T) {
		conv := xdgClient(t, MechSCRAMSHA256, "juliet", "pencil", "").NewConversationAdvertisingChannelBinding()
		_, err := exchange(t, srv, MechSCRAMSHA256, cs, conv)
		if condition(err) != CondNotAuthorized || !strings.Contains(err.Error(), "downgrade") {
			t.Fatalf("err = %v", err)
		}
		// Same with Offered unknown: the server itself supports channel binding.
		cs2 := cs
		cs2.Offered, cs2.CBTypes = nil, nil
		conv = xdgClient(t, MechSCRAMSHA256, "juliet", "pencil", "").NewConversationAdvertisingChannelBinding()
		if _, err := exchange(t, srv, MechSCRAMSHA256, cs2, conv); condition(err) != CondNotAuthorized {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("y flag without -PLUS offered is fine", func(t *testing.T) {
		conv := xdgClient(t, MechSCRAMSHA256, "juliet", "pencil", "").NewConversationAdvertisingChannelBinding()
		if _, err := exchange(t, srv, MechSCRAMSHA256, ConnState{}, conv); err != nil {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("tls-unique is not supported", func(t *testing.T) {
		cb := scram.NewTLSUniqueBinding([]byte("0123456789ab"))
		conv := xdgClient(t, mech, "juliet", "pencil", "").NewConversationWithChannelBinding(cb)
		if _, err := exchange(t, srv, mech, cs, conv); condition(err) != CondNotAuthorized {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("type not advertised", func(t *testing.T) {
		cs2 := cs
		cs2.CBTypes = []string{CBTLSServerEndPoint}
		cs2.Offered = srv.Mechanisms(cs2)
		cb, _ := scram.NewTLSExporterBinding(cst)
		conv := xdgClient(t, mech, "juliet", "pencil", "").NewConversationWithChannelBinding(cb)
		if _, err := exchange(t, srv, mech, cs2, conv); condition(err) != CondNotAuthorized {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("PLUS without channel binding", func(t *testing.T) {
		conv := xdgClient(t, mech, "juliet", "pencil", "").NewConversation()
		if _, err := exchange(t, srv, mech, cs, conv); condition(err) != CondMalformedRequest {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("channel binding with non-PLUS", func(t *testing.T) {
		cb, _ := scram.NewTLSExporterBinding(cst)
		conv := xdgClient(t, MechSCRAMSHA256, "juliet", "pencil", "").NewConversationWithChannelBinding(cb)
		if _, err := exchange(t, srv, MechSCRAMSHA256, cs, conv); condition(err) != CondMalformedRequest {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestMechanismsAndChannelBindingTypes(t *testing.T) {
	srv := &Server{}
	if got := srv.Mechanisms(ConnState{}); !slices.Equal(got, []string{MechSCRAMSHA512, MechSCRAMSHA256, MechSCRAMSHA1}) {
		t.Fatalf("no TLS: %v", got)
	}
	ec := newTestCert(t, "ecdsa-sha256")
	sst, _ := tlsPair(t, ec, 0x0304)
	if got := srv.ChannelBindingTypes(ConnState{TLS: sst}); !slices.Equal(got, []string{CBTLSExporter}) {
		t.Fatalf("no ServerCert: %v", got)
	}
	ed := newTestCert(t, "ed25519")
	sst2, _ := tlsPair(t, ed, 0x0304)
	if got := srv.ChannelBindingTypes(ConnState{TLS: sst2, ServerCert: ed.der}); !slices.Equal(got, []string{CBTLSExporter}) {
		t.Fatalf("Ed25519: %v", got)
	}
	// A hand-made ConnectionState has no exporter: nothing, and no panic.
	fake := &ConnState{TLS: &tlsConnState{Version: 0x0304, HandshakeComplete: true}}
	if got := srv.ChannelBindingTypes(*fake); len(got) != 0 {
		t.Fatalf("fake state: %v", got)
	}
	if got := srv.Mechanisms(*fake); !slices.Equal(got, []string{MechSCRAMSHA512, MechSCRAMSHA256, MechSCRAMSHA1, MechPLAIN}) {
		t.Fatalf("TLS without channel binding: %v", got)
	}
	for kind, want := range map[string]string{"ecdsa-sha256": "SHA-256", "ecdsa-sha384": "SHA-384", "rsa-sha512": "SHA-512"} {
		h, err := endPointHash(newTestCert(t, kind).der)
		if err != nil || h.String() != want {
			t.Errorf("%s: %v %v, want %s", kind, h, err, want)
		}
	}
}

func TestStart(t *testing.T) {
	srv := &Server{Store: newMemStore()}
	ctx := context.Background()
	tlsCS := ConnState{TLS: &tlsConnState{Version: 0x0304, HandshakeComplete: true}}
	for _, tc := range []struct {
		mech string
		cs   ConnState
		want string
	}{
		{"DIGEST-MD5", ConnState{}, CondInvalidMechanism},
		{"", ConnState{}, CondInvalidMechanism},
		{"scram-sha-256", ConnState{}, CondInvalidMechanism},
		{MechPLAIN, ConnState{}, CondEncryptionRequired},
		{MechSCRAMSHA256Plus, ConnState{}, CondInvalidMechanism},
		{MechSCRAMSHA256Plus, tlsCS, CondInvalidMechanism}, // no usable channel binding
		{MechSCRAMSHA1, ConnState{Offered: []string{MechSCRAMSHA256}}, CondInvalidMechanism},
		{MechSCRAMSHA256, ConnState{Offered: []string{MechSCRAMSHA256}}, ""},
		{MechPLAIN, tlsCS, ""},
	} {
		_, err := srv.Start(ctx, tc.mech, tc.cs)
		if got := condition(err); got != tc.want {
			t.Errorf("Start(%q): %q (%v), want %q", tc.mech, got, err, tc.want)
		}
	}
}

func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	store.err = errors.New("database is locked")
	srv := &Server{Store: store}
	n, _ := srv.Start(ctx, MechSCRAMSHA256, ConnState{})
	_, _, err := n.Step(ctx, []byte("n,,n=juliet,r=abc"))
	if condition(err) != CondTemporaryAuthFailure || !errors.Is(err, store.err) {
		t.Fatalf("err = %v", err)
	}
	// Sticky: the negotiation stays failed.
	if _, _, err2 := n.Step(ctx, []byte("n,,n=juliet,r=abc")); err2 != err {
		t.Fatalf("second Step: %v", err2)
	}

	// A broken stored credential is a server problem, not the user's.
	store.err = nil
	store.creds["juliet"] = []Credential{{Hash: SHA256, Salt: []byte("s"), Iterations: 4096, StoredKey: []byte("short")}}
	n, _ = srv.Start(ctx, MechSCRAMSHA256, ConnState{})
	if _, _, err := n.Step(ctx, []byte("n,,n=juliet,r=abc")); condition(err) != CondTemporaryAuthFailure {
		t.Fatalf("err = %v", err)
	}
	if _, err := (&Server{}).Start(ctx, MechSCRAMSHA256, ConnState{}); err != nil {
		t.Fatal(err)
	}
	n, _ = (&Server{}).Start(ctx, MechSCRAMSHA256, ConnState{})
	if _, _, err := n.Step(ctx, []byte("n,,n=juliet,r=abc")); condition(err) != CondTemporaryAuthFailure {
		t.Fatalf("nil store: %v", err)
	}
}

func TestStepAfterSuccess(t *testing.T) {
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	srv := &Server{Store: store}
	conv := xdgClient(t, MechSCRAMSHA1, "juliet", "pencil", "").NewConversation()
	n, err := exchange(t, srv, MechSCRAMSHA1, ConnState{}, conv)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Step(context.Background(), []byte("x")); condition(err) != CondMalformedRequest {
		t.Fatalf("err = %v", err)
	}
	if n.Username() != "juliet" {
		t.Fatal("username lost")
	}
}

func TestDeriveCredentials(t *testing.T) {
	cs, err := DeriveCredentials("pencil", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("%d credentials", len(cs))
	}
	seen := map[string]bool{}
	for _, c := range cs {
		a := algByName(c.Hash)
		if a == nil || a.valid(c) != nil || len(c.Salt) < 16 || c.Iterations != DefaultIterations || seen[string(c.Salt)] {
			t.Fatalf("bad credential %+v", c)
		}
		seen[string(c.Salt)] = true
		if ok, err := checkPassword(a, c, "pencil"); !ok || err != nil {
			t.Fatalf("%s: password does not verify", c.Hash)
		}
	}
	if _, err := DeriveCredentials("", 0); err == nil {
		t.Fatal("empty password accepted")
	}
	if _, err := DeriveCredentials("pencil", -1); err == nil {
		t.Fatal("negative iterations accepted")
	}
}
