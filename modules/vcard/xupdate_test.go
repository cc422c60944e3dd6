package vcard_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// presenceFrom reads until a presence from 'from' and returns it.
func presenceFrom(t *testing.T, c *testutil.Client, from string) *xml.Element {
	t.Helper()
	for {
		el := c.NextNamed("presence")
		if el.Attr("from") == from {
			return el
		}
	}
}

// update returns the XEP-0153 element of a presence: present, and the
// <photo/> text (hasPhoto false when there is no <photo/>).
func update(p *xml.Element) (present, hasPhoto bool, hash string) {
	x := p.Child("x", "vcard-temp:x:update")
	if x == nil {
		return false, false, ""
	}
	ph := x.Child("photo", "vcard-temp:x:update")
	if ph == nil {
		return true, false, ""
	}
	return true, true, ph.Text()
}

// XEP-0153, server side as ejabberd's mod_vcard_xupdate does it.
func TestAvatarHashInPresence(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob"} {
		s.AddUser(t, u, "pw")
	}
	rs := s.Accounts().(storage.Rosters)
	ctx := context.Background()
	rs.SetRosterItem(ctx, "localhost", "alice", storage.RosterItem{JID: "bob@localhost", Subscription: "both"})
	rs.SetRosterItem(ctx, "localhost", "bob", storage.RosterItem{JID: "alice@localhost", Subscription: "both"})

	img := []byte("\x89PNG\r\n\x1a\n not really a png, but bytes all the same")
	sum := sha1.Sum(img)
	hash := hex.EncodeToString(sum[:])
	b64 := base64.StdEncoding.EncodeToString(img)
	// Line-wrapped as RFC 2045 recommends; the whitespace is ignored.
	wrapped := b64[:20] + "\n  " + b64[20:]

	bob := testutil.Login(t, s, "bob", "pw", "phone")
	bob.Send("<presence/>")
	presenceFrom(t, bob, "bob@localhost/phone")
	// Fence: bob's initial presence (its probes included) is handled
	// before alice comes online, or bob could get her presence twice
	// (probe answer and broadcast) and the reads below would be off by one.
	bob.IQ("fence", "<iq type='get' id='fence'><ping xmlns='urn:xmpp:ping'/></iq>")

	alice := testutil.Login(t, s, "alice", "pw", "pc")
	// No vCard yet: an empty <photo/> (no image to advertise).
	alice.Send("<presence/>")
	presenceFrom(t, alice, "alice@localhost/pc")
	if present, has, h := update(presenceFrom(t, bob, "alice@localhost/pc")); !present || !has || h != "" {
		t.Errorf("no vCard: update %v photo %v %q, want an empty <photo/>", present, has, h)
	}

	r := alice.IQ("v1", "<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO></vCard></iq>", wrapped)
	if r.Attr("type") != "result" {
		t.Fatalf("set: %s", r)
	}
	for _, c := range []struct {
		name, send  string
		present     bool
		hasPhoto    bool
		wantHash    string
		description string
	}{
		{"added", "<presence><show>away</show></presence>", true, true, hash, "the client sent none: the server adds the hash"},
		{"client's empty x kept", "<presence><x xmlns='vcard-temp:x:update'/></presence>", true, false, "", "the client's element is left alone"},
		{"client's hash kept", "<presence><x xmlns='vcard-temp:x:update'><photo>abc</photo></x></presence>", true, true, "abc", "the client's element is left alone"},
	} {
		alice.Send("%s", c.send)
		self := presenceFrom(t, alice, "alice@localhost/pc")
		got := presenceFrom(t, bob, "alice@localhost/pc")
		for who, p := range map[string]*xml.Element{"alice": self, "bob": got} {
			if present, has, h := update(p); present != c.present || has != c.hasPhoto || h != c.wantHash {
				t.Errorf("%s (%s): %s got update %v photo %v %q, want %v %v %q: %s", c.name, c.description, who, present, has, h, c.present, c.hasPhoto, c.wantHash, p)
			}
		}
		if c.name == "added" && got.Child("show", "") == nil {
			t.Errorf("the rest of the presence was lost: %s", got)
		}
	}

	// A session that comes later gets alice's presence (probe answer)
	// with the hash the server added.
	alice.Send("<presence/>")
	presenceFrom(t, alice, "alice@localhost/pc")
	presenceFrom(t, bob, "alice@localhost/pc")
	bob2 := testutil.Login(t, s, "bob", "pw", "tablet")
	bob2.Send("<presence/>")
	if _, _, h := update(presenceFrom(t, bob2, "alice@localhost/pc")); h != hash {
		t.Errorf("probe answer hash %q, want %q", h, hash)
	}

	// After all of alice's sessions end, the hash comes from the stored
	// vCard.
	alice.Close()
	presenceFrom(t, bob, "alice@localhost/pc") // unavailable
	alice = testutil.Login(t, s, "alice", "pw", "pc")
	alice.Send("<presence/>")
	if _, _, h := update(presenceFrom(t, bob, "alice@localhost/pc")); h != hash {
		t.Errorf("after a new login: hash %q, want %q", h, hash)
	}

	// A vCard without a photo: <photo/> empty again.
	alice.IQ("v2", "<iq type='set' id='v2'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>")
	alice.Send("<presence/>")
	if present, has, h := update(presenceFrom(t, bob, "alice@localhost/pc")); !present || !has || h != "" {
		t.Errorf("photo removed: update %v photo %v %q, want an empty <photo/>", present, has, h)
	}
}
