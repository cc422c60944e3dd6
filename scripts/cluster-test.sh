#!/usr/bin/env bash
# The cluster test (issue 17, docs/clustering.md): three real xmppd
# processes, each a [cluster] node with its embedded NATS server, on
# loopback ports and one fresh PostgreSQL schema; real slixmpp clients
# (scripts/cluster_test.py) exchange messages across the nodes, then one
# node is killed with SIGKILL. Passes when every message between users on
# surviving nodes arrives, the survivors notice the death within seconds,
# and the dead node's user, logging in on another node, finds every message
# sent after the death was noticed in her offline storage; prints what
# happened to those sent in between. About a minute.
#
#   bash scripts/cluster-test.sh        # N=20 messages per pair in phase 1
#   N=100 bash scripts/cluster-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-20}"
PY=/usr/bin/python3
if ! "$PY" -c 'import slixmpp' 2>/dev/null; then
  echo "cluster-test: $PY cannot import slixmpp (scripts/test.sh installs python3-slixmpp)"; exit 1
fi
dsn="${XMPPD_TEST_POSTGRES_DSN:-$(bash storage/sqldb/testdata/start-postgres.sh 2>/dev/null | tail -n 1)}"
if [ -z "$dsn" ]; then
  echo "cluster-test: no PostgreSQL (storage/sqldb/testdata/start-postgres.sh failed)"; exit 1
fi

tmp=$(mktemp -d)
pids=()
schema="xmppd_clustertest_$$"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  psql -q "$dsn" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  if [ -n "${KEEP:-}" ]; then echo "cluster-test: logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

echo "== build"
go build -o "$tmp/xmppd" ./cmd/xmppd
psql -q "$dsn" -c "CREATE SCHEMA $schema" >/dev/null
case "$dsn" in *\?*) sdsn="$dsn&search_path=$schema" ;; *) sdsn="$dsn?search_path=$schema" ;; esac

freeport() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
declare -a c2s admin route
for i in 1 2 3; do c2s[$i]=$(freeport); admin[$i]=$(freeport); route[$i]=$(freeport); done

for i in 1 2 3; do
  routes=""
  for j in 1 2 3; do
    [ "$j" = "$i" ] || routes="$routes${routes:+, }\"127.0.0.1:${route[$j]}\""
  done
  mkdir -p "$tmp/n$i"
  cat >"$tmp/n$i.toml" <<EOF
data_dir = "$tmp/n$i"
log_level = "info"

[[host]]
domain = "localhost"

[[listen]]
type = "c2s"
address = "127.0.0.1:${c2s[$i]}"
tls = "starttls"

[[listen]]
type = "admin"
address = "127.0.0.1:${admin[$i]}"

[storage]
driver = "postgres"
dsn = "$sdsn"

[cluster]
node = "n$i"
secret = "cluster-test-secret-0123456789"
listen = "127.0.0.1:${route[$i]}"
routes = [$routes]
heartbeat = "250ms"
dead_after = "2s"
join_timeout = "60s"
EOF
done

echo "== start 3 nodes"
start=$(date +%s)
for i in 1 2 3; do
  "$tmp/xmppd" serve -config "$tmp/n$i.toml" >"$tmp/n$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:${admin[$i]}/metrics" 2>/dev/null | grep -q "^xmppd_cluster_nodes{node=\"n$i\"} 3"; then
      continue 2
    fi
    if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then
      echo "cluster-test: node $i exited:"; tail -n 20 "$tmp/n$i.log"; exit 1
    fi
    sleep 0.5
  done
  echo "cluster-test: node $i does not see 3 nodes after 60s:"; tail -n 20 "$tmp/n$i.log"; exit 1
done
echo "== cluster up in $(($(date +%s) - start))s"
for u in alice bob carol dave; do
  echo "cluster-test-pw" | "$tmp/xmppd" user add -config "$tmp/n1.toml" "$u@localhost" >/dev/null
done

echo "== clients"
status=0
"$PY" scripts/cluster_test.py "$N" cluster-test-pw \
  "127.0.0.1:${c2s[1]}" "127.0.0.1:${c2s[2]}" "127.0.0.1:${c2s[3]}" \
  "127.0.0.1:${admin[1]}" "127.0.0.1:${admin[2]}" "127.0.0.1:${admin[3]}" "${pids[2]}" || status=$?
for i in 1 2; do
  grep -h 'cluster: node is gone' "$tmp/n$i.log" | sed "s/^/node $i log: /" || true
done
if [ "$status" != 0 ]; then
  echo "cluster-test: FAILED"
  for i in 1 2 3; do echo "--- node $i log (tail)"; tail -n 15 "$tmp/n$i.log"; done
  exit "$status"
fi
echo "== cluster test passed"
