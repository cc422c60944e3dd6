package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
)

// htClient computes an HT-SHA-256 initiator message as a client does
// (xmpp.js, Conversations): HMAC keyed with the token text itself, the
// channel binding from the client's side of the TLS connection.
func htClient(t *testing.T, mech, user, token string, st *tls.ConnectionState) (msg, responder []byte) {
	t.Helper()
	var cb []byte
	switch mech {
	case MechHTSHA256Expr:
		var err error
		if cb, err = st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err != nil {
			t.Fatal(err)
		}
	case MechHTSHA256Endp:
		h := sha256.Sum256(st.PeerCertificates[0].Raw) // ECDSA-SHA256 certificate
		cb = h[:]
	}
	mac := func(label string) []byte {
		m := hmac.New(sha256.New, []byte(token))
		m.Write([]byte(label))
		m.Write(cb)
		return m.Sum(nil)
	}
	return append([]byte(user+"\x00"), mac("Initiator")...), mac("Responder")
}

func TestHTMechanisms(t *testing.T) {
	cert := newTestCert(t, "ecdsa-sha256")
	sst, cst := tlsPair(t, cert, tls.VersionTLS13)
	cs := ConnState{TLS: sst, ServerCert: cert.der}
	// Tokens longer than SHA-256's block: HMAC keys them by their hash
	// (RFC 2104 §2), which is all the server keeps.
	token := strings.Repeat("t0k3n", 20)
	stored := sha256.Sum256([]byte(token))
	other := sha256.Sum256([]byte(strings.Repeat("other", 20)))
	srv := &Server{}
	ctx := context.Background()
	if got := srv.TokenMechanisms(cs); !slices.Equal(got, []string{MechHTSHA256Expr, MechHTSHA256Endp, MechHTSHA256None}) {
		t.Fatalf("TokenMechanisms = %v", got)
	}
	for _, mech := range srv.TokenMechanisms(cs) {
		t.Run(mech, func(t *testing.T) {
			var asked string
			keys := func(_ context.Context, user string) ([][]byte, error) {
				asked = user
				return [][]byte{other[:], stored[:]}, nil
			}
			n, err := srv.StartToken(ctx, mech, cs, keys)
			if err != nil {
				t.Fatal(err)
			}
			msg, responder := htClient(t, mech, "Alice", token, cst)
			out, done, err := n.Step(ctx, msg)
			if err != nil || !done {
				t.Fatalf("Step: %v, done %v", err, done)
			}
			if !hmac.Equal(out, responder) {
				t.Fatal("responder message does not verify")
			}
			if asked != "alice" || n.Username() != "alice" || n.TokenIndex() != 1 || n.Mechanism() != mech {
				t.Fatalf("asked %q, username %q, index %d, mechanism %s", asked, n.Username(), n.TokenIndex(), n.Mechanism())
			}
		})
	}
	keys := func(context.Context, string) ([][]byte, error) { return [][]byte{stored[:]}, nil }
	none := func(context.Context, string) ([][]byte, error) { return nil, nil }
	good, _ := htClient(t, MechHTSHA256None, "alice", token, cst)
	noneForExpr, _ := htClient(t, MechHTSHA256None, "alice", token, cst)
	wrong, _ := htClient(t, MechHTSHA256None, "alice", "short token", cst)
	for _, tc := range []struct {
		name string
		mech string
		keys TokenKeys
		msg  []byte
		want string
		cred bool // wraps ErrCredentials (counted by throttling)
	}{
		{"wrong token", MechHTSHA256None, keys, wrong, CondCredentialsExpired, true},
		{"no tokens", MechHTSHA256None, none, good, CondCredentialsExpired, true},
		{"channel binding missing", MechHTSHA256Expr, keys, noneForExpr, CondCredentialsExpired, true},
		{"no NUL", MechHTSHA256None, keys, good[6:], CondMalformedRequest, false},
		{"short proof", MechHTSHA256None, keys, good[:len(good)-1], CondMalformedRequest, false},
		{"empty authcid", MechHTSHA256None, keys, good[5:], CondMalformedRequest, false},
		{"store down", MechHTSHA256None, func(context.Context, string) ([][]byte, error) { return nil, errors.New("down") }, good, CondTemporaryAuthFailure, false},
	} {
		n, err := srv.StartToken(ctx, tc.mech, cs, tc.keys)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = n.Step(ctx, tc.msg)
		if got := condition(err); got != tc.want || errors.Is(err, ErrCredentials) != tc.cred {
			t.Errorf("%s: %q (%v), want %q (credentials %v)", tc.name, got, err, tc.want, tc.cred)
		}
		if n.Username() != "" || n.TokenIndex() != -1 {
			t.Errorf("%s: username %q index %d after failure", tc.name, n.Username(), n.TokenIndex())
		}
	}
}

func TestTokenMechanismsOffered(t *testing.T) {
	srv := &Server{}
	ctx := context.Background()
	if got := srv.TokenMechanisms(ConnState{}); got != nil {
		t.Fatalf("without TLS: %v", got)
	}
	fake := ConnState{TLS: &tlsConnState{Version: tls.VersionTLS13, HandshakeComplete: true}}
	if got := srv.TokenMechanisms(fake); !slices.Equal(got, []string{MechHTSHA256None}) {
		t.Fatalf("TLS without channel binding: %v", got)
	}
	keys := func(context.Context, string) ([][]byte, error) { return nil, nil }
	for _, tc := range []struct {
		mech string
		cs   ConnState
		want string
	}{
		{MechHTSHA256None, ConnState{}, CondInvalidMechanism},
		{MechHTSHA256Expr, fake, CondInvalidMechanism},
		{MechSCRAMSHA256, fake, CondInvalidMechanism},
		{MechHTSHA256None, fake, ""},
	} {
		_, err := srv.StartToken(ctx, tc.mech, tc.cs, keys)
		if got := condition(err); got != tc.want {
			t.Errorf("StartToken(%s): %q, want %q", tc.mech, got, tc.want)
		}
	}
	// Never through the password mechanisms' door.
	if _, err := srv.Start(ctx, MechHTSHA256None, fake); condition(err) != CondInvalidMechanism {
		t.Errorf("Start(HT): %v", err)
	}
	srv.Allowed = map[string]bool{MechSCRAMSHA256: true}
	if got := srv.TokenMechanisms(fake); got != nil {
		t.Errorf("HT not allowed: %v", got)
	}
}
