package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

func TestMalformedClientFirst(t *testing.T) {
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	srv := &Server{Store: store}
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", CondMalformedRequest},
		{"n", CondMalformedRequest},
		{"n,", CondMalformedRequest},
		{"n,,", CondMalformedRequest},
		{"x,,n=juliet,r=abc", CondMalformedRequest},
		{"N,,n=juliet,r=abc", CondMalformedRequest},
		{"p,,n=juliet,r=abc", CondMalformedRequest},
		{"p=,,n=juliet,r=abc", CondMalformedRequest},
		{"p=tls_exporter,,n=juliet,r=abc", CondMalformedRequest},
		{"n,x=juliet,n=juliet,r=abc", CondMalformedRequest},
		{"n,a=,n=juliet,r=abc", CondMalformedRequest},
		{"n,a=bad=2,n=juliet,r=abc", CondMalformedRequest},
		{"n,,m=ext,n=juliet,r=abc", CondMalformedRequest},
		{"n,,n=juliet", CondMalformedRequest},
		{"n,,r=abc,n=juliet", CondMalformedRequest},
		{"n,,n=,r=abc", CondMalformedRequest},
		{"n,,n=jul=iet,r=abc", CondMalformedRequest},
		{"n,,n=jul=2ciet,r=abc", CondMalformedRequest},
		{"n,,n=juliet=,r=abc", CondMalformedRequest},
		{"n,,n=juliet,r=", CondMalformedRequest},
		{"n,,n=juliet,r=a b", CondMalformedRequest},
		{"n,,n=juliet,r=abc\x7f", CondMalformedRequest},
		{"n,,n=juliet,r=abc,", CondMalformedRequest},
		{"n,,n=juliet,r=abc,x", CondMalformedRequest},
		{"n,,n=juliet,r=abc,x=", CondMalformedRequest},
		{"n,,n=juliet,r=abc,1=x", CondMalformedRequest},
		{"n,,n=juliet,r=abc,r=def", CondMalformedRequest},
		{"n,,n=juliet,r=abc,m=def", CondMalformedRequest},
		{"n,,n=jul\x00iet,r=abc", CondMalformedRequest},
		{"n,,n=jul\xffiet,r=abc", CondMalformedRequest},
		{"n,,n=" + strings.Repeat("a", maxMessage) + ",r=abc", CondMalformedRequest},
		// Well-formed, but PRECIS rejects the username.
		{"n,,n=jul iet,r=abc", CondNotAuthorized},
		{"n,,n=\u2163,r=abc", CondNotAuthorized},
		// Well-formed: unknown extensions are ignored, escapes decoded.
		{"n,,n=juliet,r=abc,x=ext", ""},
		{"n,a=juliet@example.org=2C=3D,n=juliet,r=abc", ""},
		{"n,a=juliet=40example.org,n=juliet,r=abc", CondMalformedRequest},
		{"n,,n=unknown,r=abc", ""},
	} {
		n, err := srv.Start(context.Background(), MechSCRAMSHA256, ConnState{})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = n.Step(context.Background(), []byte(tc.in))
		if got := condition(err); got != tc.want {
			t.Errorf("%q: %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseClientFirst(t *testing.T) {
	cf, err := parseClientFirst("p=tls-exporter,a=me=2C=3Dyou,n=us=3Der,r=n0nce,x=1")
	if err != nil {
		t.Fatal(err)
	}
	if cf.flag != 'p' || cf.cbName != "tls-exporter" || cf.authzid != "me,=you" || cf.username != "us=er" ||
		cf.nonce != "n0nce" || cf.gs2Header != "p=tls-exporter,a=me=2C=3Dyou," || cf.bare != "n=us=3Der,r=n0nce,x=1" {
		t.Fatalf("%+v", cf)
	}
}

func TestMalformedClientFinal(t *testing.T) {
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	srv := &Server{Store: store, nonce: func() string { return "SRV" }}
	const nonce = "abcSRV"
	proof := "p=" + strings.Repeat("A", 43) + "=" // 32 zero bytes
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", CondMalformedRequest},
		{"c=biws", CondMalformedRequest},
		{"c=biws,r=" + nonce, CondMalformedRequest},
		{"c=biws,r=" + nonce + ",", CondMalformedRequest},
		{"r=" + nonce + ",c=biws," + proof, CondMalformedRequest},
		{"c=,r=" + nonce + "," + proof, CondMalformedRequest},
		{"c=biws=,r=" + nonce + "," + proof, CondMalformedRequest},
		{"c=bi*s,r=" + nonce + "," + proof, CondMalformedRequest},
		{"c=biws,r=," + proof, CondMalformedRequest},
		{"c=biws,r=" + nonce + ",p=", CondMalformedRequest},
		{"c=biws,r=" + nonce + ",p=AAAA", CondMalformedRequest}, // wrong length
		{"c=biws,r=" + nonce + ",p=AB==", CondMalformedRequest}, // non-canonical base64
		{"c=biws,r=" + nonce + "," + proof + ",x=1", CondMalformedRequest},
		{"c=biws,r=" + nonce + ",c=biws," + proof, CondMalformedRequest},
		{"c=biws,r=" + nonce + ",x," + proof, CondMalformedRequest},
		// c= must echo the gs2 header exactly ("n,," is "biws").
		{"c=eSws,r=" + nonce + "," + proof, CondNotAuthorized},
		{"c=biwsAA==,r=" + nonce + "," + proof, CondNotAuthorized},
		// r= must be the combined nonce.
		{"c=biws,r=abc," + proof, CondNotAuthorized},
		{"c=biws,r=" + nonce + "X," + proof, CondNotAuthorized},
		// Well-formed with a wrong proof (and an ignored extension).
		{"c=biws,r=" + nonce + "," + proof, CondNotAuthorized},
		{"c=biws,r=" + nonce + ",x=ext," + proof, CondNotAuthorized},
	} {
		n, err := srv.Start(context.Background(), MechSCRAMSHA256, ConnState{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := n.Step(context.Background(), []byte("n,,n=juliet,r=abc")); err != nil {
			t.Fatal(err)
		}
		_, _, err = n.Step(context.Background(), []byte(tc.in))
		if got := condition(err); got != tc.want {
			t.Errorf("%q: %q (%v), want %q", tc.in, got, err, tc.want)
		}
		if n.Username() != "" {
			t.Errorf("%q: username set after failure", tc.in)
		}
	}
}

// A client-final that is valid except that the client changed the gs2
// header between the messages must fail (c= covers the header).
func TestGS2HeaderTamper(t *testing.T) {
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	srv := &Server{Store: store}
	ctx := context.Background()
	n, _ := srv.Start(ctx, MechSCRAMSHA256, ConnState{})
	conv := xdgClient(t, MechSCRAMSHA256, "juliet", "pencil", "").NewConversation()
	c1, _ := conv.Step("")
	// Server sees "y", client computes c= for "n".
	s1, _, err := n.Step(ctx, []byte("y"+c1[1:]))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := conv.Step(string(s1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Step(ctx, []byte(c2)); condition(err) != CondNotAuthorized {
		t.Fatalf("err = %v", err)
	}
}

func TestPLAIN(t *testing.T) {
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	store.add(t, "alice", "p\u00e4ss word")
	srv := &Server{Store: store}
	tlsCS := ConnState{TLS: &tlsConnState{Version: 0x0304, HandshakeComplete: true}}
	ctx := context.Background()
	for _, tc := range []struct {
		in, want, user, authz string
	}{
		{"\x00juliet\x00pencil", "", "juliet", ""},
		{"juliet@example.org\x00Juliet\x00pencil", "", "juliet", "juliet@example.org"},
		{"\x00alice\x00p\u00e4ss\u00a0word", "", "alice", ""}, // OpaqueString maps NBSP to space
		{"\x00juliet\x00wrong", CondNotAuthorized, "", ""},
		{"\x00romeo\x00pencil", CondNotAuthorized, "", ""},
		{"\x00jul iet\x00pencil", CondNotAuthorized, "", ""},
		{"", CondMalformedRequest, "", ""},
		{"juliet\x00pencil", CondMalformedRequest, "", ""},
		{"\x00\x00pencil", CondMalformedRequest, "", ""},
		{"\x00juliet\x00", CondMalformedRequest, "", ""},
		{"\x00juliet\x00pen\x00cil", CondMalformedRequest, "", ""},
		{"\x00juliet\x00pen\xffcil", CondMalformedRequest, "", ""},
	} {
		n, err := srv.Start(ctx, MechPLAIN, tlsCS)
		if err != nil {
			t.Fatal(err)
		}
		out, done, err := n.Step(ctx, []byte(tc.in))
		if got := condition(err); got != tc.want {
			t.Errorf("%q: %q (%v), want %q", tc.in, got, err, tc.want)
			continue
		}
		if tc.want == "" && (!done || out != nil || n.Username() != tc.user || n.AuthzID() != tc.authz) {
			t.Errorf("%q: done=%v out=%q user=%q authz=%q", tc.in, done, out, n.Username(), n.AuthzID())
		}
	}
	// Wrong password and unknown user look alike on the wire.
	fail := func(in string) *Failure {
		n, _ := srv.Start(ctx, MechPLAIN, tlsCS)
		_, _, err := n.Step(ctx, []byte(in))
		return err.(*Failure)
	}
	a, b := fail("\x00juliet\x00wrong"), fail("\x00romeo\x00pencil")
	if a.Condition != b.Condition || a.Text != b.Text {
		t.Fatalf("%+v vs %+v", a, b)
	}
	// Only a SHA-1 credential stored: PLAIN still works.
	cs, _ := DeriveCredentials("pencil", 4096)
	store.creds["old"] = cs[:1]
	n, _ := srv.Start(ctx, MechPLAIN, tlsCS)
	if _, done, err := n.Step(ctx, []byte("\x00old\x00pencil")); !done || err != nil {
		t.Fatalf("SHA-1 only: %v", err)
	}
	if _, err := srv.Start(ctx, MechPLAIN, ConnState{}); condition(err) != CondEncryptionRequired {
		t.Fatalf("PLAIN without TLS: %v", err)
	}
}

// FuzzClientFirst checks that parsing, and a whole first Step, never panic
// and that a parsed message splits into gs2 header and bare part.
func FuzzClientFirst(f *testing.F) {
	for _, s := range []string{
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"y,,n=user,r=abc",
		"p=tls-exporter,a=me=2C,n=us=3Der,r=abc,x=1",
		"n,,m=x,n=user,r=abc",
	} {
		f.Add([]byte(s))
	}
	store := newMemStore()
	store.add(f, "user", "pencil")
	srv := &Server{Store: store, FakeSaltKey: []byte("k")}
	f.Fuzz(func(t *testing.T, in []byte) {
		cf, err := parseClientFirst(string(in))
		if err == nil {
			if cf.gs2Header+cf.bare != string(in) || cf.nonce == "" || cf.username == "" {
				t.Fatalf("inconsistent parse of %q: %+v", in, cf)
			}
		}
		for _, mech := range []string{MechSCRAMSHA256, MechSCRAMSHA1Plus} {
			n, err := srv.Start(context.Background(), mech, ConnState{TLS: &tlsConnState{Version: 0x0304, HandshakeComplete: true}})
			if err != nil {
				continue // -PLUS is not offered without a real exporter
			}
			n.Step(context.Background(), in)
			n.Step(context.Background(), in)
		}
		n, _ := srv.Start(context.Background(), MechSCRAMSHA256, ConnState{})
		if _, _, err := n.Step(context.Background(), []byte("n,,n=user,r=abc")); err != nil {
			t.Fatal(err)
		}
		n.Step(context.Background(), in) // as client-final
	})
}

// Sanity check that the xdg client's messages are accepted by the parser.
func TestParseXDGMessages(t *testing.T) {
	conv := xdgClient(t, MechSCRAMSHA1, "us,er", "pencil", "a=b").NewConversationWithChannelBinding(scram.NewTLSUniqueBinding([]byte("x")))
	c1, _ := conv.Step("")
	cf, err := parseClientFirst(c1)
	if err != nil || cf.username != "us,er" || cf.authzid != "a=b" || cf.cbName != "tls-unique" {
		t.Fatalf("%q: %+v %v", c1, cf, err)
	}
}
