package pubsub_test

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/modules/pubsub/engine"
)

var bookmarkOptions = "<publish-options>" + form(engine.NSPublishOptions,
	"pubsub#persist_items", "true", "pubsub#max_items", "max", "pubsub#send_last_published_item", "never", "pubsub#access_model", "whitelist") + "</publish-options>"

// XEP-0402 bookmarks with the XEP-0049 compatibility (§5.3 "#compat"):
// a legacy client's private storage:bookmarks and a modern client's PEP
// bookmarks are one list, changes notified to the modern client.
func TestBookmarks(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	e.friends("alice", "bob")
	modern := e.login("alice", "modern")
	modern.online(newCaps(t, "urn:xmpp:bookmarks:1+notify"))
	legacy := e.login("alice", "legacy")

	info := ok(t, legacy.iq("<iq type='get' id='%s' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")).String()
	for _, f := range []string{"urn:xmpp:bookmarks:1#compat", "category='pubsub' type='pep'", engine.NS + "#publish-options"} {
		if !strings.Contains(info, f) {
			t.Errorf("account disco#info lacks %s: %s", f, info)
		}
	}

	ok(t, legacy.iq(`<iq type='set' id='%s'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>
		<conference name='Council' autojoin='true' jid='council@conference.localhost'><nick>Puck</nick></conference>
		<conference jid='orchard@conference.localhost'/>
		<url name='Site' url='https://example.org/'/>
	</storage></query></iq>`))
	modern.wantItem("alice@localhost", "urn:xmpp:bookmarks:1", "council@conference.localhost", "Puck")
	modern.wantItem("alice@localhost", "urn:xmpp:bookmarks:1", "orchard@conference.localhost", "conference")
	res := ok(t, modern.iq(itemsGet("", "urn:xmpp:bookmarks:1", "/>")))
	if ids := itemIDs(t, res); !slices.Equal(ids, []string{"council@conference.localhost", "orchard@conference.localhost"}) {
		t.Errorf("PEP bookmarks %v", ids)
	}
	if s := res.String(); !strings.Contains(s, "autojoin='true'") || !strings.Contains(s, "name='Council'") {
		t.Errorf("converted bookmark %s", s)
	}
	cfg := ok(t, modern.iq(get(owner("", "<configure node='urn:xmpp:bookmarks:1'/>")))).String()
	if !strings.Contains(cfg, "<value>whitelist</value>") || !strings.Contains(cfg, "<value>max</value>") {
		t.Errorf("bookmarks node config %s", cfg)
	}

	// The modern client adds one over PEP; the legacy client sees three
	// and its URL.
	res, evs := modern.iqEvents(publish("urn:xmpp:bookmarks:1", "<item id='new@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='New'><nick>P</nick></conference></item>", bookmarkOptions))
	ok(t, res)
	if len(evs) != 1 || !strings.Contains(evs[0].String(), "new@conference.localhost") {
		t.Errorf("the publishing resource's own notification: %v", evs)
	}
	priv := ok(t, legacy.iq("<iq type='get' id='%s'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>")).String()
	for _, want := range []string{"jid='council@conference.localhost'", "jid='orchard@conference.localhost'", "jid='new@conference.localhost'", "<nick>Puck</nick>", "url='https://example.org/'"} {
		if !strings.Contains(priv, want) {
			t.Errorf("private bookmarks lack %s: %s", want, priv)
		}
	}
	// The legacy client drops two: they are retracted.
	ok(t, legacy.iq(`<iq type='set' id='%s'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference name='Council' autojoin='true' jid='council@conference.localhost'><nick>Puck</nick></conference></storage></query></iq>`))
	retracted := map[string]bool{}
	for range 2 {
		_, ev := modern.event()
		r := ev.Child("items", engine.NSEvent).Child("retract", engine.NSEvent)
		if r == nil {
			t.Fatalf("want a retraction, got %s", ev)
		}
		retracted[r.Attr("id")] = true
	}
	if !retracted["orchard@conference.localhost"] || !retracted["new@conference.localhost"] {
		t.Errorf("retracted %v", retracted)
	}
	modern.quiet() // the unchanged bookmark was not republished
	// Bookmarks are the user's alone (whitelist).
	bob := e.login("bob", "pc")
	wantError(t, bob.iq(itemsGet("alice@localhost", "urn:xmpp:bookmarks:1", "/>")), "not-allowed", "closed-node")
}

// XEP-0084 avatars with XEP-0398: the metadata notification reaches the
// contact that asked for it (not the data), and the vCard and the
// XEP-0153 presence hash follow the PEP avatar.
func TestAvatar(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	e.friends("alice", "bob")
	bob := e.login("bob", "pc")
	bob.online(newCaps(t, "urn:xmpp:avatar:metadata+notify"))
	alice := e.login("alice", "pc")

	img := []byte("\x89PNG\r\n\x1a\nnot quite a png, but bytes")
	sum := sha1.Sum(img)
	id := hex.EncodeToString(sum[:])
	b64 := base64.StdEncoding.EncodeToString(img)
	ok(t, alice.iq(publish("urn:xmpp:avatar:data", "<item id='"+id+"'><data xmlns='urn:xmpp:avatar:data'>"+b64+"</data></item>", "")))
	ok(t, alice.iq(publish("urn:xmpp:avatar:metadata", "<item id='"+id+"'><metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='26' id='"+id+"' height='1' width='1' type='image/png'/></metadata></item>", "")))
	bob.wantItem("alice@localhost", "urn:xmpp:avatar:metadata", id, "image/png")

	v := ok(t, bob.iq("<iq type='get' id='%s' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>")).String()
	if !strings.Contains(v, "<BINVAL>"+b64+"</BINVAL>") || !strings.Contains(v, "<TYPE>image/png</TYPE>") {
		t.Errorf("vCard after PEP avatar %s", v)
	}
	alice.Send("<presence/>")
	for {
		p := bob.NextNamed("presence")
		if p.Attr("from") != "alice@localhost/pc" {
			continue
		}
		x := p.Child("x", "vcard-temp:x:update")
		if x == nil || x.Child("photo", "").Text() != id {
			t.Errorf("presence hash %s, want %s", p, id)
		}
		break
	}
	// Disabling the avatar (empty metadata, XEP-0084 §4.5) removes it.
	ok(t, alice.iq(publish("urn:xmpp:avatar:metadata", "<item id='off'><metadata xmlns='urn:xmpp:avatar:metadata'/></item>", "")))
	bob.wantItem("alice@localhost", "urn:xmpp:avatar:metadata", "off", "metadata")
	if v := ok(t, alice.iq("<iq type='get' id='%s'><vCard xmlns='vcard-temp'/></iq>")).String(); strings.Contains(v, "BINVAL") {
		t.Errorf("vCard keeps the photo: %s", v)
	}
}

// XEP-0223 private PEP storage: publish-options whitelist + persist are
// honoured (the node is the owner's alone) and checked on later publishes.
func TestPrivatePEP(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	e.friends("alice", "bob")
	alice := e.login("alice", "pc")
	bob := e.login("bob", "pc")
	opts := "<publish-options>" + form(engine.NSPublishOptions, "pubsub#persist_items", "1", "pubsub#access_model", "whitelist") + "</publish-options>"
	ok(t, alice.iq(publish("urn:xmpp:secret", "<item id='current'><secret xmlns='urn:xmpp:secret'>s</secret></item>", opts)))
	wantError(t, bob.iq(itemsGet("alice@localhost", "urn:xmpp:secret", "/>")), "not-allowed", "closed-node")
	// "1" and "true" are the same boolean (XEP-0004).
	opts2 := "<publish-options>" + form(engine.NSPublishOptions, "pubsub#persist_items", "true", "pubsub#access_model", "whitelist") + "</publish-options>"
	ok(t, alice.iq(publish("urn:xmpp:secret", "<item id='current'><secret xmlns='urn:xmpp:secret'>t</secret></item>", opts2)))
	if s := ok(t, alice.iq(itemsGet("", "urn:xmpp:secret", "/>"))).String(); !strings.Contains(s, ">t</secret>") {
		t.Errorf("items %s", s)
	}
	open := "<publish-options>" + form(engine.NSPublishOptions, "pubsub#access_model", "open") + "</publish-options>"
	wantError(t, alice.iq(publish("urn:xmpp:secret", "<item><secret xmlns='urn:xmpp:secret'/></item>", open)), "conflict", "precondition-not-met")
}

// XEP-0411 / XEP-0402 #compat-pep: a XEP-0048 client on the PEP node
// storage:bookmarks and a XEP-0402 client see one list.
func TestBookmarksCompatPEP(t *testing.T) {
	e := newEnv(t, "alice")
	modern := e.login("alice", "modern")
	modern.online(newCaps(t, "urn:xmpp:bookmarks:1+notify"))
	legacy := e.login("alice", "legacy")
	legacy.online(newCaps(t, "storage:bookmarks+notify"))

	res, evs := modern.iqEvents(publish("urn:xmpp:bookmarks:1", "<item id='a@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='A' autojoin='1'/></item>", bookmarkOptions))
	ok(t, res)
	if len(evs) != 1 {
		t.Fatalf("modern client's own notification: %v", evs)
	}
	msg := legacy.wantItem("alice@localhost", "storage:bookmarks", "current", "jid='a@conference.localhost'")
	if !strings.Contains(msg.String(), "autojoin='true'") {
		t.Errorf("legacy item %s", msg)
	}
	// The legacy client replaces the list: b added, a dropped.
	res, evs = legacy.iqEvents(publish("storage:bookmarks", "<item id='current'><storage xmlns='storage:bookmarks'><conference jid='b@conference.localhost' name='B'><nick>N</nick></conference></storage></item>", ""))
	ok(t, res)
	if len(evs) != 1 {
		t.Fatalf("legacy client's own notification: %v", evs)
	}
	modern.wantItem("alice@localhost", "urn:xmpp:bookmarks:1", "b@conference.localhost", "<nick>N</nick>")
	_, ev := modern.event()
	if r := ev.Child("items", engine.NSEvent).Child("retract", engine.NSEvent); r == nil || r.Attr("id") != "a@conference.localhost" {
		t.Errorf("want a retraction of a, got %s", ev)
	}
	// No echo back to the legacy client: its own item is the truth.
	legacy.quiet()
	priv := ok(t, legacy.iq("<iq type='get' id='%s'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>")).String()
	if !strings.Contains(priv, "b@conference.localhost") || strings.Contains(priv, "a@conference.localhost") {
		t.Errorf("private view %s", priv)
	}
}

// XEP-0398 §3.2, vCard to PEP: a XEP-0153 client's vCard photo becomes
// the PEP avatar, so XEP-0084 contacts are notified.
func TestVCardToAvatar(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	e.friends("alice", "bob")
	bob := e.login("bob", "pc")
	bob.online(newCaps(t, "urn:xmpp:avatar:metadata+notify"))
	alice := e.login("alice", "pc")
	img := []byte("GIF89a tiny")
	sum := sha1.Sum(img)
	id := hex.EncodeToString(sum[:])
	b64 := base64.StdEncoding.EncodeToString(img)
	ok(t, alice.iq("<iq type='set' id='%s'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/gif</TYPE><BINVAL>"+b64+"</BINVAL></PHOTO></vCard></iq>"))
	msg := bob.wantItem("alice@localhost", "urn:xmpp:avatar:metadata", id, "image/gif")
	if !strings.Contains(msg.String(), "bytes='11'") {
		t.Errorf("metadata %s", msg)
	}
	res := ok(t, bob.iq(itemsGet("alice@localhost", "urn:xmpp:avatar:data", "><item id='"+id+"'/></items>")))
	if !strings.Contains(res.String(), ">"+b64+"</data>") {
		t.Errorf("avatar data %s", res)
	}
	// The same photo again publishes nothing.
	ok(t, alice.iq("<iq type='set' id='%s'><vCard xmlns='vcard-temp'><FN>Alice A.</FN><PHOTO><TYPE>image/gif</TYPE><BINVAL>"+b64+"</BINVAL></PHOTO></vCard></iq>"))
	bob.quiet()
	// The vCard was kept as the client wrote it (no round trip through PEP).
	if v := ok(t, alice.iq("<iq type='get' id='%s'><vCard xmlns='vcard-temp'/></iq>")).String(); !strings.Contains(v, "Alice A.") {
		t.Errorf("vCard %s", v)
	}
}
