#!/usr/bin/env bash
# Failover time of a three-node cluster (issue 17): USERS sessions (one
# account each) log in to n3, n3 is killed with SIGKILL, and every client
# logs in again at once to n1 or n2 (same resource), as a mobile client
# would. xmppload failover reports how long after the first lost stream
# each user had a session again (p50/p99/max, and when the last one was
# back), then sends one chat message from each user to the next user's
# bare JID and fails unless every one arrives.
#
#   USERS=1000 bash bench/failover.sh
#   SERVER_CPUS=0 LOAD_CPUS=1 USERS=1000 bash bench/failover.sh
#   SIGNAL=TERM SM=1 USERS=1000 bash bench/failover.sh   # a rolling upgrade
#
# SM=1: the clients enable XEP-0198 and resume on the survivor (binding
# anew when resumption fails, as after a kill -9); SIGNAL=TERM stops n3 as
# a rolling upgrade does (its sessions are handed over to the node where
# they resume) instead of killing it.
#
# Needs PostgreSQL: STORAGE_DSN, else storage/sqldb/testdata/start-postgres.sh
# is run (as root) for one. The nodes use the default [cluster] timings.
# KEEP_LOGS=DIR keeps the nodes' logs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/xmppd-loopback.sh"
USERS=${USERS:-500}
P=${PORT:-46322}
DSN=${STORAGE_DSN:-$(bash "$root/storage/sqldb/testdata/start-postgres.sh" | tail -n1)}
tmp=$(mktemp -d /tmp/xmppd-failover.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp "$tmp"/*.log "$KEEP_LOGS"/; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
(cd "$root" && go build -o "$tmp/xmppd" ./cmd/xmppd && go build -o "$tmp/xmppload" ./cmd/xmppload)
schema=bench_failover_$$
psql "$DSN" -qc "CREATE SCHEMA $schema" >/dev/null
sep='?'; case "$DSN" in *\?*) sep='&' ;; esac
export STORAGE_DSN="$DSN${sep}search_path=$schema"
route() { echo "127.0.0.1:$((P + 100 + $1))"; }
start() { # N
	local n=$1 others=() i
	for i in 1 2 3; do [ "$i" = "$n" ] || others+=("\"$(route "$i")\""); done
	xmppd_config "$tmp/n$n.toml" "$tmp/n$n" "$((P + n))"
	cat >>"$tmp/n$n.toml" <<CONF
[cluster]
node = "n$n"
secret = "bench-failover-secret-0123456789"
listen = "$(route "$n")"
routes = [$(IFS=,; echo "${others[*]}")]
CONF
	bash -c "ulimit -n 20000; exec ${SERVER_CPUS:+taskset -c $SERVER_CPUS} '$tmp/xmppd' serve -config '$tmp/n$n.toml'" 2>"$tmp/n$n.log" &
	pids+=($!)
}
for n in 1 2 3; do start "$n"; done
for n in 1 2 3; do wait_port "$((P + n))" || { cat "$tmp/n$n.log"; exit 1; }; done
X=(${LOAD_CPUS:+taskset -c $LOAD_CPUS} "$tmp/xmppload")
common=(-password load-secret -mech SCRAM-SHA-1 -user-prefix f)
"${X[@]}" register -addr "127.0.0.1:$((P + 1))" "${common[@]}" -users "$USERS" -concurrency 32 >/dev/null
bash -c "ulimit -n 20000; exec ${X[*]} failover -addr 127.0.0.1:$((P + 3)) -to 127.0.0.1:$((P + 1)),127.0.0.1:$((P + 2)) ${common[*]} -sessions $USERS -ready-file $tmp/ready -label xmppd-failover ${SM:+-sm}" &
load=$!
for _ in $(seq 600); do [ -e "$tmp/ready" ] && break; kill -0 "$load" 2>/dev/null || break; sleep 0.1; done
[ -e "$tmp/ready" ] || { echo "failover: the sessions never got ready" >&2; exit 1; }
SIGNAL=${SIGNAL:-KILL}
echo "== kill -$SIGNAL n3 ($(date -u +%T.%N | cut -c1-12) UTC), load: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -"$SIGNAL" "${pids[2]}"
status=0
wait "$load" || status=$?
grep -h "buried\|dead" "$tmp/n1.log" "$tmp/n2.log" | head -4 || true
PGOPTIONS=--client-min-messages=warning psql "$DSN" -qc "DROP SCHEMA $schema CASCADE" >/dev/null || true
exit $status
