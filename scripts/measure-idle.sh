#!/usr/bin/env bash
# Measures the server's resident memory per idle authenticated TLS session.
#
#   bash scripts/measure-idle.sh [SESSIONS] [extra xmppload idle flags...]
#   SCENARIO=chat bash scripts/measure-idle.sh [PAIRS] [-rate 10 -duration 30s ...]
#
# Builds xmppd and xmppload into a temporary directory, writes a config
# (domain localhost, data in the temp dir, STARTTLS on 127.0.0.1:25222 and
# direct TLS on 127.0.0.1:25223, per-IP and rate limits off), creates ONE
# account (load0) with `xmppd user add`, starts xmppd with a raised
# `ulimit -n`, runs `xmppload idle` (every session logs in to load0 with its
# own resource) and stops xmppd. Environment:
#   PPROF=1      start xmppd with -pprof 127.0.0.1:16060 and report Go
#                runtime figures too (heap, stacks, goroutines); the heap
#                and goroutine profiles are saved in $OUT if OUT is set
#   HOLD=10s     settle time before the second measurement
#   XMPPD_ENV="GOGC=50 GOMEMLIMIT=200MiB"  environment for xmppd only
#   KEEP=1       keep the temp dir (log, config, database)
#   PORT=25222   STARTTLS port (direct TLS is PORT+1, pprof PORT+838)
set -euo pipefail

N=${1:-10000}
shift || true
HOLD=${HOLD:-10s}
PORT=${PORT:-25222}
DPORT=$((PORT + 1))
PPROF_ADDR=127.0.0.1:$((PORT + 838))
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/xmppd-measure.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ -z "${KEEP:-}" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT

for p in $PORT $DPORT; do
	if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
		echo "port $p is already in use (another server?): set PORT=" >&2
		exit 1
	fi
done
echo "== building into $tmp"
(cd "$root" && go build -o "$tmp/xmppd" ./cmd/xmppd && go build -o "$tmp/xmppload" ./cmd/xmppload)

cat >"$tmp/xmppd.toml" <<EOF
data_dir = "$tmp/data"
log_level = "warn"

[[host]]
domain = "localhost"

[[listen]]
type = "c2s"
address = "127.0.0.1:$PORT"
tls = "starttls"

[[listen]]
type = "c2s"
address = "127.0.0.1:$DPORT"
tls = "direct"

[limits]
max_connections_per_ip = 0
connection_rate = 0.0
auth_failure_delay = "0s"
auth_timeout = "5m"
max_sessions = 0
EOF

echo "== creating account load0@localhost"
t0=$(date +%s.%N)
echo 'load-secret' | "$tmp/xmppd" user add -config "$tmp/xmppd.toml" load0@localhost
t1=$(date +%s.%N)
echo "   one 'xmppd user add' took $(echo "$t1 - $t0" | bc) s"

# Both processes need a descriptor per session. Raise the soft limit as far
# as the hard limit allows (raising the hard limit needs CAP_SYS_RESOURCE,
# which containers often lack).
fdlimit=65536
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$fdlimit" ]; then fdlimit=$hard; fi
if [ "$fdlimit" -lt $((N + 256)) ]; then
	echo "ulimit -Hn is $hard: too low for $N sessions (need about $((N + 256)))" >&2
	exit 1
fi
pprof_flag=()
pprof_url=()
profiles=()
if [ -n "${PPROF:-}" ]; then
	pprof_flag=(-pprof "$PPROF_ADDR")
	pprof_url=(-pprof "http://$PPROF_ADDR")
	if [ -n "${OUT:-}" ]; then
		mkdir -p "$OUT"
		profiles=(-heap-profile "$OUT/heap-$N.pb.gz" -goroutine-profile "$OUT/goroutines-$N.txt")
		cp "$tmp/xmppd" "$OUT/xmppd" # go tool pprof wants the binary for symbols
	fi
fi
echo "== starting xmppd (ulimit -n $fdlimit)"
bash -c "ulimit -n $fdlimit; exec env ${XMPPD_ENV:-} '$tmp/xmppd' serve -config '$tmp/xmppd.toml' ${pprof_flag[*]:-}" 2>"$tmp/xmppd.log" &
pid=$!
for _ in $(seq 100); do
	if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then break; fi
	sleep 0.1
done
sleep 1 # let start-up garbage settle before the "before" reading
if ! kill -0 "$pid" 2>/dev/null; then
	echo "xmppd did not start:" >&2
	cat "$tmp/xmppd.log" >&2
	exit 1
fi

if [ "${SCENARIO:-idle}" = chat ]; then
	# N is the number of pairs; extra flags (-rate, -duration...) follow.
	echo "== xmppload chat -pairs $N"
	"$tmp/xmppload" chat -addr "127.0.0.1:$PORT" -domain localhost -users 1 -user-prefix load \
		-password load-secret -pairs "$N" -concurrency 64 -pid "$pid" ${pprof_url[*]:-} "$@"
else
	echo "== xmppload idle -sessions $N"
	# xmppload raises its own soft limit to the hard one by itself.
	"$tmp/xmppload" idle -addr "127.0.0.1:$PORT" -domain localhost -users 1 -user-prefix load \
		-password load-secret -sessions "$N" -concurrency 64 -pid "$pid" -hold "$HOLD" \
		${pprof_url[*]:-} ${profiles[*]:-} "$@"
fi

if [ -n "${PPROF:-}" ] && [ -n "${OUT:-}" ]; then
	echo "== profiles in $OUT: go tool pprof -sample_index=inuse_space -top $OUT/xmppd $OUT/heap-$N.pb.gz"
fi
echo "== stopping xmppd"
kill -TERM "$pid"
wait "$pid" || true
pid=
if grep -iE 'level=(ERROR|WARN)' "$tmp/xmppd.log" | grep -qv pprof; then
	echo "== xmppd warnings/errors:"
	grep -iE 'level=(ERROR|WARN)' "$tmp/xmppd.log" | grep -v pprof | sed 's/^time=[^ ]* //' | sort | uniq -c | sort -rn | head -20
fi
