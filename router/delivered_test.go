package router_test

import (
	"context"
	"testing"

	"github.com/xmppd/xmppd/module"
)

// TestMessageDeliveredHook: HookMessageDelivered runs once after a message
// reached a local session, and only then.
func TestMessageDeliveredHook(t *testing.T) {
	alice := "alice@" + domain
	cases := []struct {
		name  string
		alice []res
		st    *module.Stanza
		want  int
	}{
		{"full JID", []res{{name: "a"}, {name: "b"}}, stanzaTo("message", "chat", alice+"/a"), 1},
		{"full JID refused", []res{{name: "a", refuse: true}}, stanzaTo("message", "chat", alice+"/a"), 0},
		{"full JID presence", []res{{name: "a"}}, stanzaTo("presence", "", alice+"/a"), 0},
		{"bare JID", []res{{name: "a", prio: 1}, {name: "b"}}, stanzaTo("message", "normal", alice), 1},
		{"bare JID headline", []res{{name: "a"}, {name: "b"}}, stanzaTo("message", "headline", alice), 1},
		{"bare JID negative only", []res{{name: "a", prio: -1}}, stanzaTo("message", "chat", alice), 0},
		{"bare JID nobody online", nil, stanzaTo("message", "chat", alice), 0},
		{"offline full JID", nil, stanzaTo("message", "chat", alice+"/gone"), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.alice, true)
			var got []*module.Stanza
			e.r.Registry.NewHandle("probe", module.Services{}).Hook(module.HookMessageDelivered, 0, func(_ context.Context, st *module.Stanza) bool {
				got = append(got, st)
				return false
			})
			tc.st.Origin = e.bob
			e.r.Route(context.Background(), tc.st)
			if len(got) != tc.want {
				t.Fatalf("hook ran %d times, want %d", len(got), tc.want)
			}
			if len(got) == 1 && got[0] != tc.st {
				t.Errorf("hook got another stanza")
			}
		})
	}
}
