package xml

import (
	"strings"
	"testing"
)

// TestStamp: the stamp replaces, adds or removes one attribute on the root
// of elements in its namespace, leaves the rest of the element (and its
// descendants' attributes, which share the array) as parsed, and equals
// what WithAttrs does on an unstamped parse.
func TestStamp(t *testing.T) {
	const from = "alice@example.com/phone"
	tests := []struct {
		name, ns, value, in, want string
	}{
		{"replaces", NSClient, from, `<message from='mallory@evil' to='bob@example.com' id='1'><body>hi</body></message>`,
			`<message from='alice@example.com/phone' to='bob@example.com' id='1'><body>hi</body></message>`},
		{"adds after the root's attributes, before the children's", NSClient, from,
			`<iq type='get' id='2'><query xmlns='jabber:iq:roster' ver='v1'><item jid='a@b' name='A'/></query></iq>`,
			`<iq type='get' id='2' from='alice@example.com/phone'><query xmlns='jabber:iq:roster' ver='v1'><item jid='a@b' name='A'/></query></iq>`},
		{"no attributes at all", NSClient, from, `<presence/>`, `<presence from='alice@example.com/phone'/>`},
		{"prefixed attributes and declarations kept", NSClient, from,
			`<message xmlns:x='urn:x' x:a='1' xml:lang='en'><x:c x:b='2'/></message>`,
			`<message xmlns:x='urn:x' x:a='1' xml:lang='en' from='alice@example.com/phone'><c xmlns='urn:x' xmlns:x='urn:x' x:b='2'/></message>`},
		{"removes", NSClient, "", `<iq from='x@y' type='get' id='3'><ping xmlns='urn:xmpp:ping' a='b'/></iq>`,
			`<iq type='get' id='3'><ping xmlns='urn:xmpp:ping' a='b'/></iq>`},
		{"remove absent", NSClient, "", `<iq type='get' id='3'/>`, `<iq type='get' id='3'/>`},
		{"other namespace untouched", NSClient, from, `<r xmlns='urn:xmpp:sm:3' from='z'/>`, `<r xmlns='urn:xmpp:sm:3' from='z'/>`},
		{"a child's from is not the root's", NSClient, from,
			`<message><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='c@d'/></forwarded></message>`,
			`<message from='alice@example.com/phone'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='c@d'/></forwarded></message>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(header+tt.in+tt.in), Limits{})
			if _, err := d.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			plain, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			d.Stamp(tt.ns, "from", tt.value)
			el, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(el.Append(nil, NSClient)); got != tt.want {
				t.Errorf("stamped\n got %s\nwant %s", got, tt.want)
			}
			if el.NS() == tt.ns {
				if v, ok := el.LookupAttr("from"); v != tt.value || ok != (tt.value != "") {
					t.Errorf("LookupAttr(from) = %q, %v", v, ok)
				}
				if got, want := string(el.Append(nil, NSClient)), string(plain.WithAttrs(Attr{"from", tt.value}).Append(nil, NSClient)); got != want {
					t.Errorf("stamp and WithAttrs differ\n stamp %s\n  with %s", got, want)
				}
			}
			// The descendants read their own attributes still.
			for c := range el.Children() {
				for _, a := range c.Attrs() {
					if a.Name == "from" && c.Name() != "message" {
						t.Errorf("child %s got a from", c.Name())
					}
				}
			}
		})
	}
}

func TestStampEndsWithReset(t *testing.T) {
	d := NewDecoder(strings.NewReader(header+"<presence/>"), Limits{})
	d.Stamp(NSClient, "from", "a@b/c")
	d.Reset(strings.NewReader(header + "<presence/>"))
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := el.LookupAttr("from"); ok {
		t.Errorf("stamp survived Reset: %s", el)
	}
}
