#!/usr/bin/env bash
# Profiles xmppd under one xmppload chat run: a CPU profile of the sending
# phase and the allocations made during it (allocs profile before and
# after, compared with -diff_base). SCENARIO=idle instead holds N idle
# sessions (one account each) and saves the heap profile after a forced GC.
#
#   bash bench/profile-xmppd.sh OUTDIR [xmppload chat flags...]
#   bash bench/profile-xmppd.sh /tmp/prof -pairs 500 -rate 18 -duration 30s
#   SCENARIO=idle bash bench/profile-xmppd.sh /tmp/prof-idle -sessions 10000 -hold 70s
#   SCENARIO=roster USERS=500 CONTACTS=40 bash bench/profile-xmppd.sh /tmp/prof-roster
#     (roster-setup, then 3 roster runs inside one CPU profile)
#   SCENARIO=login bash bench/profile-xmppd.sh /tmp/prof-login -sessions 2000 -concurrency 100
#     (one xmppload login run, warm-up pass included, inside one CPU
#     profile, and the allocations of its 2 x N logins)
#
# Then: go tool pprof -top OUTDIR/xmppd OUTDIR/cpu.pb.gz
#       go tool pprof -top OUTDIR/xmppload OUTDIR/harness-cpu.pb.gz (the harness, whole chat run)
#       go tool pprof -sample_index=alloc_space -top -diff_base OUTDIR/allocs-before.pb.gz OUTDIR/xmppd OUTDIR/allocs-after.pb.gz
# ARCHIVE=true archives every message (XEP-0313), as xmppd does by default;
# false (default) matches bench/compare.sh, whose anchors do not archive.
# SERVER_CPUS / HARNESS_CPUS pin server and harness (taskset -c), as
# bench/sweep-xmppd.sh does; RELAY=1 profiles bench/relay (the floor)
# instead of xmppd, chat scenario only:
#   SERVER_CPUS=0 HARNESS_CPUS=1 bash bench/profile-xmppd.sh /tmp/p -pairs 500 -rate 25 -duration 20s
#   RELAY=1 SERVER_CPUS=0 HARNESS_CPUS=1 bash bench/profile-xmppd.sh /tmp/p-relay -pairs 500 -rate 25 -duration 20s
#   (then go tool pprof -top OUTDIR/relay OUTDIR/cpu.pb.gz)
# Ports: STARTTLS on PORT (45222), pprof on PORT+838. Loopback only.
set -euo pipefail
OUTDIR=${1:?usage: profile-xmppd.sh OUTDIR [chat flags]}
shift
PORT=${PORT:-45222}
PPROF=127.0.0.1:$((PORT + 838))
PAIRS=500
SESSIONS=
for ((i = 1; i <= $#; i++)); do
	j=$((i + 1))
	if [ "${!i}" = -pairs ]; then PAIRS=${!j}; fi
	if [ "${!i}" = -sessions ]; then SESSIONS=${!j}; fi
done
ACCOUNTS=${SESSIONS:-$((2 * PAIRS))}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/xmppd-loopback.sh"
mkdir -p "$OUTDIR"
tmp=$(mktemp -d /tmp/xmppd-profile.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
(cd "$root" && go build -o "$tmp/xmppload" ./cmd/xmppload)
X=$tmp/xmppload
if [ -n "${RELAY:-}" ]; then
	(cd "$root" && go build -o "$OUTDIR/relay" ./bench/relay)
	${SERVER_CPUS:+taskset -c $SERVER_CPUS} bash -c "ulimit -n 20000; exec '$OUTDIR/relay' -addr 127.0.0.1:$PORT -pprof $PPROF" 2>"$tmp/relay.log" &
	pid=$!
	wait_port "$PORT"
	common=(-addr 127.0.0.1:$PORT -password load-secret -mech PLAIN -user-prefix u)
	bin=$OUTDIR/relay
else
	(cd "$root" && go build -o "$OUTDIR/xmppd" ./cmd/xmppd)
	xmppd_config "$tmp/xmppd.toml" "$tmp/data" "$PORT"
	${SERVER_CPUS:+taskset -c $SERVER_CPUS} bash -c "ulimit -n 20000; exec '$OUTDIR/xmppd' serve -config '$tmp/xmppd.toml' -pprof $PPROF" 2>"$tmp/xmppd.log" &
	pid=$!
	wait_port "$PORT"
	common=(-addr 127.0.0.1:$PORT -password load-secret -mech SCRAM-SHA-1 -user-prefix u)
	bin=$OUTDIR/xmppd
	"$X" register "${common[@]}" -users "$ACCOUNTS" -concurrency 32 >/dev/null
fi
if [ "${SCENARIO:-chat}" = roster ]; then
	r=(-user-prefix r -users "${USERS:-500}" -contacts "${CONTACTS:-40}")
	"$X" register "${common[@]}" "${r[@]:0:4}" -concurrency 32 >/dev/null
	"$X" roster-setup "${common[@]}" "${r[@]}" -concurrency 32 -timeout 120s
	curl -s -o "$OUTDIR/cpu.pb.gz" "http://$PPROF/debug/pprof/profile?seconds=${PROFILE_S:-12}" &
	prof=$!
	for _ in 1 2 3; do "$X" roster "${common[@]}" "${r[@]}" -concurrency 32 -pid "$pid" -label xmppd | tee -a "$OUTDIR/roster.out"; done
	wait "$prof"
	go tool pprof -top -nodecount 40 "$OUTDIR/xmppd" "$OUTDIR/cpu.pb.gz" 2>/dev/null | tee "$OUTDIR/cpu-top.txt" | head -50
	exit 0
fi
if [ "${SCENARIO:-chat}" = login ]; then
	# restart, so the registrations are not in the profiles
	kill -TERM "$pid"; wait "$pid" || true
	bash -c "ulimit -n 20000; exec '$OUTDIR/xmppd' serve -config '$tmp/xmppd.toml' -pprof $PPROF" 2>>"$tmp/xmppd.log" &
	pid=$!
	wait_port "$PORT"
	curl -s -o "$OUTDIR/allocs-before.pb.gz" "http://$PPROF/debug/pprof/allocs"
	curl -s -o "$OUTDIR/cpu.pb.gz" "http://$PPROF/debug/pprof/profile?seconds=${PROFILE_S:-30}" &
	prof=$!
	"$X" login "${common[@]}" -users 0 -pid "$pid" -label xmppd "$@" | tee "$OUTDIR/login.out"
	wait "$prof"
	curl -s -o "$OUTDIR/allocs-after.pb.gz" "http://$PPROF/debug/pprof/allocs"
	go tool pprof -top -nodecount 50 "$OUTDIR/xmppd" "$OUTDIR/cpu.pb.gz" 2>/dev/null | tee "$OUTDIR/cpu-top.txt" | head -60
	go tool pprof -sample_index=alloc_space -top -nodecount 40 -diff_base "$OUTDIR/allocs-before.pb.gz" "$OUTDIR/xmppd" "$OUTDIR/allocs-after.pb.gz" 2>/dev/null >"$OUTDIR/allocs-top.txt"
	exit 0
fi
if [ "${SCENARIO:-chat}" = idle ]; then
	# restart, so the registrations' garbage is not in the baseline
	kill -TERM "$pid"; wait "$pid" || true
	bash -c "ulimit -n 20000; exec '$OUTDIR/xmppd' serve -config '$tmp/xmppd.toml' -pprof $PPROF" 2>>"$tmp/xmppd.log" &
	pid=$!
	wait_port "$PORT"
	sleep 2
	"$X" idle "${common[@]}" -users 0 -pid "$pid" -label xmppd -pprof "http://$PPROF" \
		-heap-profile "$OUTDIR/heap.pb.gz" -goroutine-profile "$OUTDIR/goroutines.txt" "$@" | tee "$OUTDIR/idle.out"
	echo "== live heap after GC by allocation site (inuse_space)"
	go tool pprof -sample_index=inuse_space -top -nodecount 40 "$OUTDIR/xmppd" "$OUTDIR/heap.pb.gz" 2>/dev/null | tee "$OUTDIR/heap-top.txt" | head -50
	exit 0
fi
curl -s -o "$OUTDIR/allocs-before.pb.gz" "http://$PPROF/debug/pprof/allocs"
# The CPU profile starts a few seconds in (after the logins) and covers
# most of the sending phase.
(sleep 8; curl -s -o "$OUTDIR/cpu.pb.gz" "http://$PPROF/debug/pprof/profile?seconds=15") &
prof=$!
cp "$X" "$OUTDIR/xmppload"
XMPPLOAD_CPUPROFILE="$OUTDIR/harness-cpu.pb.gz" ${HARNESS_CPUS:+taskset -c $HARNESS_CPUS} "$X" chat "${common[@]}" -users 0 -pid "$pid" -label "$(basename "$bin")" "$@" | tee "$OUTDIR/chat.out"
wait "$prof"
curl -s -o "$OUTDIR/allocs-after.pb.gz" "http://$PPROF/debug/pprof/allocs"
echo "== top CPU"
go tool pprof -top -nodecount 40 "$bin" "$OUTDIR/cpu.pb.gz" 2>/dev/null | tee "$OUTDIR/cpu-top.txt" | head -50
echo "== top allocations during the run (alloc_space)"
go tool pprof -sample_index=alloc_space -top -nodecount 30 -diff_base "$OUTDIR/allocs-before.pb.gz" "$bin" "$OUTDIR/allocs-after.pb.gz" 2>/dev/null | tee "$OUTDIR/allocs-top.txt" | head -40
