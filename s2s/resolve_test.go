package s2s

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
)

type fakeResolver map[string][]*net.SRV

func (f fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	recs, ok := f["_"+service+"._"+proto+"."+name]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return "", recs, nil
}

func TestTargets(t *testing.T) {
	r := fakeResolver{
		"_xmpps-server._tcp.both.example": {{Target: "tls.both.example.", Port: 5270, Priority: 5}},
		"_xmpp-server._tcp.both.example":  {{Target: "a.both.example.", Port: 5269, Priority: 1}, {Target: "b.both.example.", Port: 5269, Priority: 10}},
		"_xmpp-server._tcp.none.example":  {{Target: ".", Port: 0}},
		"_xmpps-server._tcp.dot.example":  {{Target: ".", Port: 0}},
		"_xmpp-server._tcp.dot.example":   {{Target: "x.dot.example.", Port: 5269}},
	}
	s := New(Config{Resolver: r, Routes: map[string]Route{"routed.example": {Address: "127.0.0.1:9", DirectTLS: true}}})
	ctx := context.Background()
	for _, tc := range []struct {
		domain string
		want   []target
		err    error
	}{
		// XEP-0368 §3: both record sets, merged by priority.
		{"both.example", []target{{"a.both.example:5269", false}, {"tls.both.example:5270", true}, {"b.both.example:5269", false}}, nil},
		// RFC 6120 §3.2.2: no SRV at all, the domain itself on 5269.
		{"plain.example", []target{{"plain.example:5269", false}}, nil},
		// RFC 2782 ".": not offered, and no A/AAAA fallback.
		{"none.example", nil, errNoServer},
		// XEP-0368 §3.1: "." for direct TLS only leaves STARTTLS.
		{"dot.example", []target{{"x.dot.example:5269", false}}, nil},
		{"routed.example", []target{{"127.0.0.1:9", true}}, nil},
		{"host.invalid", nil, errNoServer},
	} {
		got, err := s.targets(ctx, tc.domain)
		if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.domain, got, err, tc.want, tc.err)
		}
	}
}
