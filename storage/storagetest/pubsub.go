package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
)

// PubSubStore is what the pubsub suite needs: pubsub nodes, and accounts
// to own PEP services.
type PubSubStore interface {
	storage.Accounts
	storage.PubSub
}

// RunPubSub checks a storage.PubSub implementation against the contract.
// newStore must return a fresh, empty store on every call.
func RunPubSub(t *testing.T, newStore func(t *testing.T) PubSubStore) {
	t.Helper()
	run(t, newStore, []testCase[PubSubStore]{
		{"CreateGetList", testPubSubCreate},
		{"Config", testPubSubConfig},
		{"Affiliations", testPubSubAffiliations},
		{"Subscriptions", testPubSubSubscriptions},
		{"ItemsOrderAndReplace", testPubSubItems},
		{"MaxItems", testPubSubMaxItems},
		{"DeleteAndPurge", testPubSubDelete},
		{"AccountDeletionCascades", testPubSubAccountCascade},
		{"MissingNode", testPubSubMissing},
	})
}

const pepService = "alice@example.org"

func pepNode(name string) storage.PubSubNode {
	return storage.PubSubNode{Service: pepService, Node: name, AccountDomain: "example.org", AccountUser: "alice",
		Config: map[string][]string{"pubsub#access_model": {"presence"}}}
}

func newPEP(t *testing.T, ctx context.Context, s PubSubStore, nodes ...string) {
	t.Helper()
	if err := s.CreateAccount(ctx, "example.org", "alice", creds(1, "SHA-256")); err != nil && !errors.Is(err, storage.ErrExists) {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := s.CreateNode(ctx, pepNode(n), pepService); err != nil {
			t.Fatalf("CreateNode(%q): %v", n, err)
		}
	}
}

func testPubSubCreate(t *testing.T, ctx context.Context, s PubSubStore) {
	newPEP(t, ctx, s, "urn:xmpp:omemo:2:devices", "eu.siacs.conversations.axolotl.devicelist")
	if err := s.CreateNode(ctx, pepNode("urn:xmpp:omemo:2:devices"), pepService); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("duplicate CreateNode = %v, want ErrExists", err)
	}
	// A component's node: no account.
	svc := storage.PubSubNode{Service: "pubsub.example.org", Node: "news", Config: map[string][]string{}}
	if err := s.CreateNode(ctx, svc, ""); err != nil {
		t.Fatal(err)
	}
	// The same name on another service is another node.
	if err := s.CreateNode(ctx, storage.PubSubNode{Service: "pubsub.example.org", Node: "urn:xmpp:omemo:2:devices"}, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	n, err := s.Node(ctx, pepService, "urn:xmpp:omemo:2:devices")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(n, pepNode("urn:xmpp:omemo:2:devices")) {
		t.Errorf("Node = %+v", n)
	}
	ns, err := s.Nodes(ctx, pepService)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0].Node != "eu.siacs.conversations.axolotl.devicelist" || ns[1].Node != "urn:xmpp:omemo:2:devices" {
		t.Errorf("Nodes = %+v", ns)
	}
	if ns, _ := s.Nodes(ctx, "nobody@example.org"); len(ns) != 0 {
		t.Errorf("Nodes of an empty service = %+v", ns)
	}
	// Nonexistent account: ErrNotFound.
	bad := pepNode("x")
	bad.AccountUser = "carol"
	if err := s.CreateNode(ctx, bad, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("CreateNode for a missing account = %v, want ErrNotFound", err)
	}
	affs, err := s.Affiliations(ctx, "pubsub.example.org", "urn:xmpp:omemo:2:devices")
	if err != nil || len(affs) != 1 || affs[0] != (storage.PubSubAffiliation{JID: "bob@example.org", Affiliation: "owner"}) {
		t.Errorf("owner affiliation = %+v, %v", affs, err)
	}
	if affs, _ := s.Affiliations(ctx, "pubsub.example.org", "news"); len(affs) != 0 {
		t.Errorf("node without owner has affiliations %+v", affs)
	}
}

func testPubSubConfig(t *testing.T, ctx context.Context, s PubSubStore) {
	newPEP(t, ctx, s, "n")
	cfg := map[string][]string{"pubsub#max_items": {"max"}, "pubsub#title": {"Bookmarks <&> ☃"}, "pubsub#roster_groups_allowed": {"a", "b"}}
	if err := s.SetNodeConfig(ctx, pepService, "n", cfg); err != nil {
		t.Fatal(err)
	}
	n, err := s.Node(ctx, pepService, "n")
	if err != nil || !reflect.DeepEqual(n.Config, cfg) {
		t.Errorf("config = %v, %v; want %v", n.Config, err, cfg)
	}
}

func testPubSubAffiliations(t *testing.T, ctx context.Context, s PubSubStore) {
	newPEP(t, ctx, s, "n")
	for _, c := range []struct{ jid, aff string }{
		{"bob@example.org", "publisher"}, {"eve@example.org", "outcast"}, {"bob@example.org", "member"}, {"eve@example.org", "none"},
	} {
		if err := s.SetAffiliation(ctx, pepService, "n", c.jid, c.aff); err != nil {
			t.Fatal(err)
		}
	}
	affs, err := s.Affiliations(ctx, pepService, "n")
	want := []storage.PubSubAffiliation{{JID: "alice@example.org", Affiliation: "owner"}, {JID: "bob@example.org", Affiliation: "member"}}
	if err != nil || !reflect.DeepEqual(affs, want) {
		t.Errorf("Affiliations = %+v, %v; want %+v", affs, err, want)
	}
}

func testPubSubSubscriptions(t *testing.T, ctx context.Context, s PubSubStore) {
	newPEP(t, ctx, s, "n")
	for _, sub := range []storage.PubSubSubscription{
		{JID: "bob@example.org/phone", SubID: "", State: "subscribed"},
		{JID: "bob@example.org", SubID: "s2", State: "pending"},
		{JID: "bob@example.org", SubID: "s1", State: "subscribed"},
		{JID: "bob@example.org", SubID: "s2", State: "subscribed"},
		{JID: "carol@example.org", SubID: "", State: "subscribed"},
		{JID: "carol@example.org", SubID: "", State: "none"},
	} {
		if err := s.SetSubscription(ctx, pepService, "n", sub); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Subscriptions(ctx, pepService, "n")
	want := []storage.PubSubSubscription{
		{JID: "bob@example.org", SubID: "s1", State: "subscribed"}, {JID: "bob@example.org", SubID: "s2", State: "subscribed"}, {JID: "bob@example.org/phone", SubID: "", State: "subscribed"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Subscriptions = %+v, %v; want %+v", got, err, want)
	}
}

func itemIDs(items []storage.PubSubItem) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func publish(t *testing.T, ctx context.Context, s PubSubStore, node, id string, max int) []string {
	t.Helper()
	gone, err := s.PublishItem(ctx, pepService, node, storage.PubSubItem{
		ID: id, Publisher: "alice@example.org/pc", Payload: []byte("<x xmlns='y'>" + id + "</x>"),
		Published: time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
	}, max)
	if err != nil {
		t.Fatalf("PublishItem(%q): %v", id, err)
	}
	return gone
}

func testPubSubItems(t *testing.T, ctx context.Context, s PubSubStore) {
	newPEP(t, ctx, s, "n", "other")
	for _, id := range []string{"a", "b", "c"} {
		publish(t, ctx, s, "n", id, 0)
	}
	publish(t, ctx, s, "other", "a", 0)
	publish(t, ctx, s, "n", "a", 0) // replaced: now the newest
	items, err := s.Items(ctx, pepService, "n", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(itemIDs(items)); got != "[a c b]" {
		t.Errorf("items newest first = %s, want [a c b]", got)
	}
	it := items[0]
	if it.Publisher != "alice@example.org/pc" || !bytes.Equal(it.Payload, []byte("<x xmlns='y'>a</x>")) ||
		!it.Published.Equal(time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)) || it.Published.Location() != time.UTC {
		t.Errorf("item = %+v", it)
	}
	if items, _ := s.Items(ctx, pepService, "n", nil, 2); fmt.Sprint(itemIDs(items)) != "[a c]" {
		t.Errorf("newest 2 = %v", itemIDs(items))
	}
	if items, _ := s.Items(ctx, pepService, "n", []string{"b", "zz", "c"}, 0); fmt.Sprint(itemIDs(items)) != "[c b]" {
		t.Errorf("by id = %v", itemIDs(items))
	}
	// An empty payload (notification-only node) stays empty, not nil trouble.
	if _, err := s.PublishItem(ctx, pepService, "n", storage.PubSubItem{ID: "e", Published: time.Now()}, 0); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.Items(ctx, pepService, "n", []string{"e"}, 0); len(items) != 1 || len(items[0].Payload) != 0 {
		t.Errorf("empty payload item = %+v", items)
	}
}

func testPubSubMaxItems(t *testing.T, ctx context.Context, s PubSubStore) {
	newPEP(t, ctx, s, "n")
	publish(t, ctx, s, "n", "a", 2)
	publish(t, ctx, s, "n", "b", 2)
	if gone := publish(t, ctx, s, "n", "c", 2); fmt.Sprint(gone) != "[a]" {
		t.Errorf("evicted = %v, want [a]", gone)
	}
	if gone := publish(t, ctx, s, "n", "b", 2); len(gone) != 0 {
		t.Errorf("republishing evicted %v", gone)
	}
	if items, _ := s.Items(ctx, pepService, "n", nil, 0); fmt.Sprint(itemIDs(items)) != "[b c]" {
		t.Errorf("items = %v, want [b c]", itemIDs(items))
	}
	gone, err := s.TrimItems(ctx, pepService, "n", 1)
	if err != nil || fmt.Sprint(gone) != "[c]" {
		t.Errorf("TrimItems = %v, %v; want [c]", gone, err)
	}
}

func testPubSubDelete(t *testing.T, ctx context.Context, s PubSubStore) {
	newPEP(t, ctx, s, "n", "keep")
	publish(t, ctx, s, "n", "a", 0)
	publish(t, ctx, s, "n", "b", 0)
	publish(t, ctx, s, "keep", "a", 0)
	if err := s.DeleteItem(ctx, pepService, "n", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteItem(ctx, pepService, "n", "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("deleting a deleted item = %v, want ErrNotFound", err)
	}
	if err := s.PurgeItems(ctx, pepService, "n"); err != nil {
		t.Fatal(err)
	}
	if items, err := s.Items(ctx, pepService, "n", nil, 0); err != nil || len(items) != 0 {
		t.Errorf("after purge: %v, %v", itemIDs(items), err)
	}
	s.SetAffiliation(ctx, pepService, "n", "bob@example.org", "member")
	s.SetSubscription(ctx, pepService, "n", storage.PubSubSubscription{JID: "bob@example.org", State: "subscribed"})
	if err := s.DeleteNode(ctx, pepService, "n"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Node(ctx, pepService, "n"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("deleted node: %v", err)
	}
	// Recreated, it starts empty.
	newPEP(t, ctx, s, "n")
	if items, _ := s.Items(ctx, pepService, "n", nil, 0); len(items) != 0 {
		t.Errorf("recreated node has items %v", itemIDs(items))
	}
	if subs, _ := s.Subscriptions(ctx, pepService, "n"); len(subs) != 0 {
		t.Errorf("recreated node has subscriptions %v", subs)
	}
	if affs, _ := s.Affiliations(ctx, pepService, "n"); len(affs) != 1 {
		t.Errorf("recreated node has affiliations %v", affs)
	}
	if items, _ := s.Items(ctx, pepService, "keep", nil, 0); len(items) != 1 {
		t.Errorf("other node lost items: %v", itemIDs(items))
	}
}

func testPubSubAccountCascade(t *testing.T, ctx context.Context, s PubSubStore) {
	newPEP(t, ctx, s, "n")
	publish(t, ctx, s, "n", "a", 0)
	if err := s.CreateNode(ctx, storage.PubSubNode{Service: "pubsub.example.org", Node: "n"}, pepService); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	if ns, err := s.Nodes(ctx, pepService); err != nil || len(ns) != 0 {
		t.Errorf("PEP nodes after account deletion: %v, %v", ns, err)
	}
	// The service's node is not the account's.
	if _, err := s.Node(ctx, "pubsub.example.org", "n"); err != nil {
		t.Errorf("service node after account deletion: %v", err)
	}
}

func testPubSubMissing(t *testing.T, ctx context.Context, s PubSubStore) {
	newPEP(t, ctx, s)
	for name, err := range map[string]error{
		"Node":           func() error { _, err := s.Node(ctx, pepService, "x"); return err }(),
		"SetNodeConfig":  s.SetNodeConfig(ctx, pepService, "x", nil),
		"DeleteNode":     s.DeleteNode(ctx, pepService, "x"),
		"SetAffiliation": s.SetAffiliation(ctx, pepService, "x", "bob@example.org", "member"),
		"SetSubscription": s.SetSubscription(ctx, pepService, "x",
			storage.PubSubSubscription{JID: "bob@example.org", State: "subscribed"}),
		"PublishItem": func() error {
			_, err := s.PublishItem(ctx, pepService, "x", storage.PubSubItem{ID: "a"}, 0)
			return err
		}(),
		"Items":      func() error { _, err := s.Items(ctx, pepService, "x", nil, 0); return err }(),
		"DeleteItem": s.DeleteItem(ctx, pepService, "x", "a"),
		"PurgeItems": s.PurgeItems(ctx, pepService, "x"),
	} {
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s on a missing node = %v, want ErrNotFound", name, err)
		}
	}
}
