package testutil

import (
	"testing"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// ErrorCondition returns the defined condition of an error stanza
// (RFC 6120 §8.3.3: the child of <error/> in the stanzas namespace other
// than <text/>), or "" when el is nil, not of type 'error', or names none.
func ErrorCondition(el *xml.Element) string {
	if el == nil || el.Attr("type") != "error" {
		return ""
	}
	e := el.Child("error", "")
	if e == nil {
		return ""
	}
	for c := range e.Children() {
		if c.NS() == stanza.NSStanzas && c.Name() != "text" {
			return c.Name()
		}
	}
	return ""
}

// WantError fails the test unless el is an error stanza with the defined
// condition cond.
func WantError(t testing.TB, el *xml.Element, cond string) {
	t.Helper()
	if got := ErrorCondition(el); got != cond {
		t.Fatalf("want a %s error, got %s", cond, el)
	}
}
