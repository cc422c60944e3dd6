package caps

import (
	"testing"

	"github.com/xmppd/xmppd/xml"
)

// Ver over XEP-0115's two examples (§5.2 simple, §5.3 complex with
// xml:lang identities and an extended form), and the §5.4 rejections.
func TestVer(t *testing.T) {
	const complexQuery = `<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
    <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
    <identity xml:lang='el' category='client' name='&#936; 0.11' type='pc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <feature var='http://jabber.org/protocol/muc'/>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
      <field var='ip_version' type='text-multi' ><value>ipv4</value><value>ipv6</value></field>
      <field var='os'><value>Mac</value></field>
      <field var='os_version'><value>10.5.1</value></field>
      <field var='software'><value>Psi</value></field>
      <field var='software_version'><value>0.11</value></field>
    </x>
  </query>`
	const simple = `<query xmlns='http://jabber.org/protocol/disco#info'>
    <identity category='client' name='Exodus 0.9.1' type='pc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <feature var='http://jabber.org/protocol/muc'/></query>`
	const dupFeature = `<query xmlns='http://jabber.org/protocol/disco#info'><feature var='a'/><feature var='a'/></query>`
	const dupForm = `<query xmlns='http://jabber.org/protocol/disco#info'><feature var='a'/>
	<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>t</value></field></x>
	<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>t</value></field></x></query>`
	for _, tc := range []struct {
		name, query, hash, want string
		bad                     bool
	}{
		{"simple", simple, "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0=", false},
		{"complex", complexQuery, "sha-1", "q07IKJEyjvHSyhy//CH0CxmKi8w=", false},
		{"duplicate feature", dupFeature, "sha-1", "", true},
		{"duplicate form", dupForm, "sha-1", "", true},
		{"unknown hash", simple, "md5", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			els, err := xml.ParseFragments([]byte(tc.query))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Ver(els[0], tc.hash)
			if tc.bad {
				if err == nil {
					t.Fatalf("Ver = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Ver = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
