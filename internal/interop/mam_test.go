package interop_test

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestSlixmppMAM runs testdata/slixmpp_mam.py: slixmpp's XEP-0313 plugin
// pages forwards and backwards through an archive this test filled over
// the wire (bob to an offline alice), queries with 'with', reads the
// metadata and matches the offline copies' stanza-ids to the archive ids.
func TestSlixmppMAM(t *testing.T) {
	py := python(t, "slixmpp")
	s := aliceAndBob(t)
	const n = 25
	bob := testutil.Login(t, s, "bob", "bob-pw", "wire")
	for i := range n {
		bob.Send("<message to='alice@localhost' type='chat' id='m%d'><body>m%d</body></message>", i, i)
	}
	// A ping round trip: every message before it has been routed.
	bob.Send("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	for el := bob.Next(); el.Name() != "iq" || el.Attr("id") != "sync"; el = bob.Next() {
		if el.Name() == "message" {
			t.Fatalf("bob got %s", el)
		}
	}
	host, port, _ := net.SplitHostPort(s.StartTLS)
	out, err := execScript(t, py, "testdata/slixmpp_mam.py", host, port, "starttls",
		"alice@localhost/slix", "alice-pw", "bob@localhost", strconv.Itoa(n))
	expectLines(t, out,
		"OK login alice@localhost/slix",
		"OK disco mam features on alice@localhost",
		"OK query form",
		fmt.Sprintf("OK forward pages %d messages in order", n),
		fmt.Sprintf("OK backward pages %d messages newest first", n),
		fmt.Sprintf("OK with bob@localhost page of 5, count %d", n),
		"OK metadata start and end ids",
		"OK offline copies carry the archive ids as stanza-id",
		"PASS")
	if err != nil {
		t.Fatalf("slixmpp_mam.py: %v", err)
	}
}
