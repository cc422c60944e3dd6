#!/usr/bin/env bash
# Latency against offered load: one xmppd, then an xmppload chat run at each
# fixed rate in RATES (messages/s per session; -pairs PAIRS, so the offered
# total is rate * 2 * PAIRS), and a table of what each delivered, its
# latency percentiles and the CPU of server and harness. Shows where p99
# crosses a bound on this machine, which one run at one rate cannot.
#
#   bash bench/sweep-xmppd.sh [OUT.jsonl]
#   RATES="10 20 30 40 44" PAIRS=500 DURATION=20s bash bench/sweep-xmppd.sh
#
# xmppd runs as bench/compare.sh runs it (STARTTLS, SCRAM-SHA-1, no
# archive unless ARCHIVE=true), on PORT (46222), loopback only.
# SERVER_GOMAXPROCS / HARNESS_GOMAXPROCS set the two processes' GOMAXPROCS,
# SERVER_GOGC / HARNESS_GOGC their GOGC, SERVER_CPUS / HARNESS_CPUS pin
# them (taskset -c), HARNESS_NICE runs the harness under nice.
# RELAY=1 runs bench/relay instead of xmppd: the least any server can do
# for this scenario (TLS and a byte search per message, no XML), the floor
# to read xmppd's figures against.
set -euo pipefail
OUT=${1:-/tmp/xmppd-sweep.jsonl}
PORT=${PORT:-46222}
PAIRS=${PAIRS:-500}
RATES=${RATES:-10 20 30 40 44}
DURATION=${DURATION:-20s}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/xmppd-loopback.sh"
tmp=$(mktemp -d /tmp/xmppd-sweep.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# XMPPD=path runs that binary instead of building one (A/B comparisons)
(cd "$root" && go build -o "$tmp/xmppload" ./cmd/xmppload)
name=xmppd
mech=SCRAM-SHA-1
if [ -n "${RELAY:-}" ]; then
	name=relay mech=PLAIN
	(cd "$root" && go build -o "$tmp/relay" ./bench/relay)
	${SERVER_CPUS:+taskset -c $SERVER_CPUS} bash -c "ulimit -n 20000; ${SERVER_GOMAXPROCS:+GOMAXPROCS=$SERVER_GOMAXPROCS} ${SERVER_GOGC:+GOGC=$SERVER_GOGC} exec '$tmp/relay' -addr 127.0.0.1:$PORT" 2>"$tmp/relay.log" &
	pid=$!
	wait_port "$PORT"
else
	if [ -n "${XMPPD:-}" ]; then cp "$XMPPD" "$tmp/xmppd"; else (cd "$root" && go build -o "$tmp/xmppd" ./cmd/xmppd); fi
	xmppd_config "$tmp/xmppd.toml" "$tmp/data" "$PORT"
	${SERVER_CPUS:+taskset -c $SERVER_CPUS} bash -c "ulimit -n 20000; ${SERVER_GOMAXPROCS:+GOMAXPROCS=$SERVER_GOMAXPROCS} ${SERVER_GOGC:+GOGC=$SERVER_GOGC} exec '$tmp/xmppd' serve -config '$tmp/xmppd.toml'" 2>"$tmp/xmppd.log" &
	pid=$!
	wait_port "$PORT"
fi
X=$tmp/xmppload
common=(-addr 127.0.0.1:$PORT -password load-secret -mech $mech -user-prefix u)
[ -n "${RELAY:-}" ] || "$X" register "${common[@]}" -users $((2 * PAIRS)) -concurrency 32 >/dev/null
: >"$OUT"
for r in $RATES; do
	"$X" settle -pid "$pid" >/dev/null 2>&1 || true
	${HARNESS_NICE:+nice -n $HARNESS_NICE} ${HARNESS_CPUS:+taskset -c $HARNESS_CPUS} ${HARNESS_GOMAXPROCS:+env GOMAXPROCS=$HARNESS_GOMAXPROCS} ${HARNESS_GOGC:+env GOGC=$HARNESS_GOGC} "$X" chat "${common[@]}" -users 0 -pid "$pid" -label "$name rate $r" -pairs "$PAIRS" -rate "$r" \
		-duration "$DURATION" -drain 30s -json "$OUT" >"$tmp/chat-$r.out" 2>&1 || { cat "$tmp/chat-$r.out"; exit 1; }
done
echo "| msg/s per session | offered msg/s | delivered msg/s | lost | p50 ms | p99 ms | p99.9 ms | server cores | harness cores | server CPU-s / 1000 msgs | steal % | no-steal share | no-steal p50 ms | no-steal p99 ms |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
python3 - "$OUT" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line); m = r["metrics"]; p = r["params"]
    q = lambda k, f: f % m[k] if k in m else "-"
    print("| %g | %.0f | %.0f | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.4f | %s | %s | %s | %s |" % (
        p["rate_per_session"], m.get("offered_per_s", 0), m["delivered_per_s"], m["lost"],
        m["latency_p50_ms"], m["latency_p99_ms"], m["latency_p999_ms"],
        m["server_cores"], m["harness_cores"], m["server_cpu_s_per_1000_msgs"],
        q("steal_pct", "%.1f"), q("latency_nosteal_share", "%.2f"),
        q("latency_nosteal_p50_ms", "%.2f"), q("latency_nosteal_p99_ms", "%.2f")))
PY
