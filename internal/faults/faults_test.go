package faults

import (
	"strings"
	"testing"
)

func TestSumMetric(t *testing.T) {
	text := `# HELP xmppd_storage_errors_total Storage errors.
# TYPE xmppd_storage_errors_total counter
xmppd_storage_errors_total{op="offline_store"} 3
xmppd_storage_errors_total{op="archive_append"} 4
xmppd_storage_errors_totally_different 100
xmppd_sessions 7
`
	for _, tc := range []struct {
		name string
		want float64
		err  bool
	}{
		{"xmppd_storage_errors_total", 7, false},
		{"xmppd_sessions", 7, false},
		{"xmppd_missing", 0, false}, // a labelled counter before its first increment
	} {
		got, err := sumMetric(strings.NewReader(text), tc.name)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		body, tag   string
		sender, seq int
		ok          bool
	}{
		{msgKey("k9", 2, 17), "k9", 2, 17, true},
		{msgKey("bl", 1, 1000) + " xxxx", "bl", 1, 1000, true},
		{msgKey("k9", 2, 17), "st", 0, 0, false},
		{"k9-2", "k9", 0, 0, false},
		{"", "k9", 0, 0, false},
	} {
		s, q, ok := parseKey(tc.body, tc.tag)
		if s != tc.sender || q != tc.seq || ok != tc.ok {
			t.Errorf("parseKey(%q, %q) = %d, %d, %v", tc.body, tc.tag, s, q, ok)
		}
	}
}
