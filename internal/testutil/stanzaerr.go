package testutil

import (
	"testing"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// ErrorCondition returns the defined condition of an error stanza, or ""
// (stanza.Condition).
func ErrorCondition(el *xml.Element) string { return stanza.Condition(el) }

// WantError fails the test unless el is an error stanza with the defined
// condition cond.
func WantError(t testing.TB, el *xml.Element, cond string) {
	t.Helper()
	if got := ErrorCondition(el); got != cond {
		t.Fatalf("want a %s error, got %s", cond, el)
	}
}
