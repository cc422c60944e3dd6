package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// reportRow is one figure of the comparison table: a metric of one
// scenario variant, with how to print it and which way is better.
type reportRow struct {
	metric, title, format string
	ratio                 bool // show base/other: only for the figures worth comparing
}

// reportRows lists, per scenario, the metrics the table shows, in order.
var reportRows = map[string][]reportRow{
	"idle": {
		{"established", "sessions established", "%.0f", false},
		{"lost_sessions", "sessions lost during hold", "%.0f", false},
		{"rss_per_session_kib", "server RSS per session (KiB)", "%.1f", true},
		{"server_rss_after_mib", "server RSS with all sessions (MiB)", "%.1f", false},
		{"harness_rss_mib", "harness RSS (MiB)", "%.0f", false},
	},
	"login": {
		{"established", "sessions", "%.0f", false},
		{"logins_per_s", "logins/s", "%.0f", true},
		{"login_p50_ms", "login latency p50 (ms)", "%.1f", false},
		{"login_p99_ms", "login latency p99 (ms)", "%.1f", true},
		{"server_cpu_s_per_1000_logins", "server CPU-s per 1,000 logins", "%.3f", true},
		{"harness_cores", "harness CPU (cores)", "%.2f", false},
	},
	"chat": {
		{"offered_per_s", "offered msgs/s (fixed rate)", "%.0f", false},
		{"sent", "messages sent", "%.0f", false},
		{"lost", "lost (sent - received)", "%.0f", false},
		{"delivered_per_s", "delivered msgs/s", "%.0f", true},
		{"latency_p50_ms", "latency p50 (ms)", "%.2f", true},
		{"latency_p99_ms", "latency p99 (ms)", "%.2f", true},
		{"latency_p999_ms", "latency p99.9 (ms)", "%.2f", false},
		{"latency_nosteal_p99_ms", "latency p99 of the messages no CPU steal touched (ms)", "%.2f", true},
		{"latency_nosteal_share", "share of the messages no CPU steal touched", "%.2f", false},
		{"server_cpu_s_per_1000_msgs", "server CPU-s per 1,000 msgs", "%.4f", true},
		{"msgs_per_server_cpu_s", "msgs delivered per server CPU-second", "%.0f", true},
		{"server_cores", "server CPU (cores)", "%.2f", false},
		{"harness_cores", "harness CPU (cores)", "%.2f", false},
	},
	"muc": {
		{"joined", "occupants joined", "%.0f", false},
		{"lost", "lost deliveries", "%.0f", false},
		{"deliveries_per_s", "fan-out deliveries/s", "%.0f", true},
		{"latency_p50_ms", "latency p50 (ms)", "%.2f", true},
		{"latency_p99_ms", "latency p99 (ms)", "%.2f", true},
		{"latency_nosteal_p99_ms", "latency p99, no CPU steal (ms)", "%.2f", true},
		{"server_cpu_s_per_1000_deliveries", "server CPU-s per 1,000 deliveries", "%.4f", true},
		{"deliveries_per_server_cpu_s", "deliveries per server CPU-second", "%.0f", true},
		{"harness_cores", "harness CPU (cores)", "%.2f", false},
	},
	"roster": {
		{"established", "users online", "%.0f", false},
		{"rosters_incomplete", "rosters incomplete", "%.0f", false},
		{"lost", "contact presences missing", "%.0f", false},
		{"broadcast_ms", "presence broadcast complete (ms)", "%.0f", true},
		{"user_complete_p50_ms", "per user complete p50 (ms)", "%.0f", false},
		{"server_cpu_s_per_1000_presences", "server CPU-s per 1,000 presences", "%.4f", true},
	},
}

var scenarioOrder = []string{"idle", "login", "chat", "muc", "roster"}

// resultLine is a result as read back, with the reason a scenario was
// skipped for a server (compare.sh writes those lines itself).
type resultLine struct {
	result
	Skipped string `json:"skipped,omitempty"`
}

// variant names a scenario's setting that makes runs not comparable with
// each other (chat at full speed vs at a fixed rate).
func variant(r *resultLine) string {
	if v, ok := r.Params["variant"].(string); ok && v != "" {
		return v
	}
	switch r.Scenario {
	case "chat":
		if v, ok := r.Params["rate_per_session"].(float64); ok && v > 0 {
			pairs, _ := r.Params["pairs"].(float64)
			return fmt.Sprintf("chat, fixed rate %g msg/s per session (%.0f msg/s offered)", v, v*2*pairs)
		}
		return "chat, full speed"
	case "":
		return "?"
	}
	return r.Scenario
}

func readResults(r io.Reader) ([]*resultLine, error) {
	var out []*resultLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rl resultLine
		if err := json.Unmarshal([]byte(line), &rl); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, &rl)
	}
	return out, sc.Err()
}

// ratio is base/other, NaN when either is missing or other is 0.
func ratio(base, other float64, okB, okO bool) float64 {
	if !okB || !okO || other == 0 {
		return math.NaN()
	}
	return base / other
}

// writeReport prints one markdown table per scenario variant: a column per
// server label (in order of first appearance), then base/other ratios.
func writeReport(w io.Writer, results []*resultLine, base string) map[string]map[string]float64 {
	var labels []string
	seen := map[string]bool{}
	for _, r := range results {
		if !seen[r.Label] {
			seen[r.Label] = true
			labels = append(labels, r.Label)
		}
	}
	var others []string
	for _, l := range labels {
		if l != base {
			others = append(others, l)
		}
	}
	ratios := map[string]map[string]float64{}
	for _, sc := range scenarioOrder {
		var variants []string
		byVar := map[string]map[string]*resultLine{}
		for _, r := range results {
			if r.Scenario != sc {
				continue
			}
			v := variant(r)
			if byVar[v] == nil {
				byVar[v] = map[string]*resultLine{}
				variants = append(variants, v)
			}
			byVar[v][r.Label] = r // the last run of a label wins
		}
		for _, v := range variants {
			runs := byVar[v]
			fmt.Fprintf(w, "\n### %s\n\n", v)
			fmt.Fprintf(w, "| figure | %s |", strings.Join(labels, " | "))
			for _, o := range others {
				fmt.Fprintf(w, " %s / %s |", base, o)
			}
			fmt.Fprintln(w)
			fmt.Fprint(w, "|---|"+strings.Repeat("---|", len(labels)+len(others))+"\n")
			fmt.Fprint(w, "| load average (1 min) at start / end |")
			for _, l := range labels {
				if r := runs[l]; r != nil && r.Skipped == "" {
					fmt.Fprintf(w, " %.2f / %.2f |", r.Load1[0], r.Load1[1])
				} else {
					fmt.Fprint(w, " |")
				}
			}
			fmt.Fprint(w, strings.Repeat(" |", len(others))+"\n")
			fmt.Fprint(w, "| CPU steal (the hypervisor's share) during the run |")
			for _, l := range labels {
				if r := runs[l]; r != nil && r.Skipped == "" {
					if v, ok := r.Metrics["steal_pct"]; ok {
						fmt.Fprintf(w, " %.1f%% |", v)
						continue
					}
				}
				fmt.Fprint(w, " |")
			}
			fmt.Fprint(w, strings.Repeat(" |", len(others))+"\n")
			for ri, row := range reportRows[sc] {
				fmt.Fprintf(w, "| %s |", row.title)
				for _, l := range labels {
					r := runs[l]
					switch {
					case r == nil:
						fmt.Fprint(w, " - |")
					case r.Skipped != "" && ri == 0:
						fmt.Fprintf(w, " skipped: %s |", r.Skipped)
					case r.Skipped != "":
						fmt.Fprint(w, " |")
					default:
						if x, ok := r.Metrics[row.metric]; ok {
							fmt.Fprintf(w, " "+row.format+" |", x)
						} else {
							fmt.Fprint(w, " - |")
						}
					}
				}
				for _, o := range others {
					rb, ro := runs[base], runs[o]
					q := math.NaN()
					if row.ratio && rb != nil && ro != nil && rb.Skipped == "" && ro.Skipped == "" {
						xb, okB := rb.Metrics[row.metric]
						xo, okO := ro.Metrics[row.metric]
						q = ratio(xb, xo, okB, okO)
					}
					if math.IsNaN(q) {
						fmt.Fprint(w, " |")
						continue
					}
					fmt.Fprintf(w, " %.2f |", q)
					key := v + ": " + row.metric
					if ratios[key] == nil {
						ratios[key] = map[string]float64{}
					}
					ratios[key][base+"/"+o] = q
				}
				fmt.Fprintln(w)
			}
		}
	}
	return ratios
}

// runReport reads JSON result lines (files or stdin) and writes the
// comparison as markdown to stdout and, with -json-out, the results and
// ratios as one JSON document.
func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	base := fs.String("base", "xmppd", "label of the server the ratios are taken for (base / other)")
	jsonOut := fs.String("json-out", "", "write {machine, results, ratios} as JSON to this file")
	machine := fs.String("machine", "", "text file describing the machine and the run, one fact a line, copied into -json-out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var results []*resultLine
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range files {
		var r io.Reader = os.Stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		rs, err := readResults(r)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, rs...)
	}
	ratios := writeReport(os.Stdout, results, *base)
	if *jsonOut == "" {
		return nil
	}
	var facts []string
	if *machine != "" {
		b, err := os.ReadFile(*machine)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			facts = append(facts, strings.TrimSpace(l))
		}
	}
	b, err := json.MarshalIndent(map[string]any{"machine": facts, "results": results, "ratios": ratios}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
}
