package testutil

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/admin"
)

// Metric reads one sample ("name{labels}", as printed) from the
// Prometheus text exposition at url; 0 when the sample is absent, as a
// counter that has not counted yet is.
func Metric(t testing.TB, url, sample string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("bad sample %q: %v", sc.Text(), err)
			}
			return f
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return 0
}

// Metric reads one sample from the server's admin listener's /metrics.
func (s *Server) Metric(t testing.TB, sample string) float64 {
	t.Helper()
	return Metric(t, "http://"+s.Admin+admin.PathMetrics, sample)
}
