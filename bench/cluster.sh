#!/usr/bin/env bash
# Cross-node against same-node delivery on a two-node cluster (issue 17's
# figures): both nodes on PostgreSQL with [cluster] (embedded NATS), then
# two xmppload chat runs with the same sessions and rate: all sessions on
# node 1 (same-node), and sessions spread over both nodes round robin, so
# that every chatting pair sits on two nodes (cross-node). CPU is summed
# over both xmppd processes. Pin the servers and the harness apart:
#
#   SERVER_CPUS=0 LOAD_CPUS=1 bash bench/cluster.sh [xmppload chat flags]
#   bash bench/cluster.sh -pairs 200 -rate 10 -duration 20s
#
# Needs PostgreSQL: STORAGE_DSN, else storage/sqldb/testdata/start-postgres.sh
# is run (as root) for one. ARCHIVE=true archives (the default config's way).
# ONLY=cross skips the same-node run; LOGINS=N also times N logins on one
# node and on all of them; NODES=3 starts a third node (n3, PORT+2) that
# takes a third of the cross-node sessions and of the spread logins; PPROF=1 gives node n's pprof on its
# c2s port + 838 (n1: 47060, n2: 47061 with the default PORT).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/xmppd-loopback.sh"
P1=${PORT:-46222}
P2=$((P1 + 1))
P3=$((P1 + 2))
R1=$((P1 + 100))
R2=$((P1 + 101))
R3=$((P1 + 102))
NODES=${NODES:-2}
PAIRS=200
for ((i = 1; i <= $#; i++)); do
	j=$((i + 1))
	if [ "${!i}" = -pairs ]; then PAIRS=${!j}; fi
done
DSN=${STORAGE_DSN:-$(bash "$root/storage/sqldb/testdata/start-postgres.sh" | tail -n1)}
tmp=$(mktemp -d /tmp/xmppd-cluster-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
(cd "$root" && go build -o "$tmp/xmppd" ./cmd/xmppd && go build -o "$tmp/xmppload" ./cmd/xmppload)
# A fresh schema: the accounts of earlier runs do not pile up.
schema=bench_cluster_$$
psql "$DSN" -qc "CREATE SCHEMA $schema" >/dev/null
sep='?'; case "$DSN" in *\?*) sep='&' ;; esac
STORAGE_DSN="$DSN${sep}search_path=$schema"
export STORAGE_DSN
start() { # NAME PORT ROUTE_PORT OTHER_ROUTE_PORT...
	xmppd_config "$tmp/$1.toml" "$tmp/$1" "$2"
	local routes="" r
	for r in "${@:4}"; do routes="$routes${routes:+, }\"127.0.0.1:$r\""; done
	cat >>"$tmp/$1.toml" <<CONF
[cluster]
node = "$1"
secret = "bench-cluster-secret-0123456789"
listen = "127.0.0.1:$3"
routes = [$routes]
CONF
	bash -c "ulimit -n 20000; exec ${SERVER_CPUS:+taskset -c $SERVER_CPUS} '$tmp/xmppd' serve -config '$tmp/$1.toml' ${PPROF:+-pprof 127.0.0.1:$(($2 + 838))}" 2>"$tmp/$1.log" &
	pids+=($!)
}
addrs="127.0.0.1:$P1,127.0.0.1:$P2"
if [ "$NODES" = 3 ]; then
	start n1 "$P1" "$R1" "$R2" "$R3"
	start n2 "$P2" "$R2" "$R1" "$R3"
	start n3 "$P3" "$R3" "$R1" "$R2"
	addrs="$addrs,127.0.0.1:$P3"
else
	start n1 "$P1" "$R1" "$R2"
	start n2 "$P2" "$R2" "$R1"
fi
wait_port "$P1" || { cat "$tmp/n1.log"; exit 1; }
wait_port "$P2" || { cat "$tmp/n2.log"; exit 1; }
if [ "$NODES" = 3 ]; then wait_port "$P3" || { cat "$tmp/n3.log"; exit 1; }; fi
X=(${LOAD_CPUS:+taskset -c $LOAD_CPUS} "$tmp/xmppload")
common=(-password load-secret -mech SCRAM-SHA-1 -user-prefix u -users 0)
"${X[@]}" register -addr "127.0.0.1:$P1" -password load-secret -mech SCRAM-SHA-1 -user-prefix u -users $((2 * PAIRS)) -concurrency 32 >/dev/null
pidlist=$(IFS=,; echo "${pids[*]}")
if [ "${ONLY:-}" != cross ]; then
	echo "== same-node: every session on n1"
	"${X[@]}" chat -addr "127.0.0.1:$P1" "${common[@]}" -pid "$pidlist" -label xmppd-same-node "$@"
	"${X[@]}" settle -pid "$pidlist" >/dev/null
fi
echo "== cross-node: sessions round robin over the $NODES nodes, every pair split"
"${X[@]}" chat -addr "$addrs" "${common[@]}" -pid "$pidlist" -label xmppd-cross-node "$@"
if [ -n "${LOGINS:-}" ]; then
	# Logins (SCRAM, bind) on one node, then spread over both: every bind
	# writes the replicated directory.
	"${X[@]}" settle -pid "$pidlist" >/dev/null
	echo "== logins: $LOGINS on n1"
	"${X[@]}" login -addr "127.0.0.1:$P1" "${common[@]}" -sessions "$LOGINS" -pid "$pidlist" -label xmppd-logins-one-node
	"${X[@]}" settle -pid "$pidlist" >/dev/null
	echo "== logins: $LOGINS over the $NODES nodes"
	"${X[@]}" login -addr "$addrs" "${common[@]}" -sessions "$LOGINS" -pid "$pidlist" -label "xmppd-logins-$NODES-nodes"
fi
PGOPTIONS=--client-min-messages=warning psql "$DSN" -qc "DROP SCHEMA $schema CASCADE" >/dev/null || true
