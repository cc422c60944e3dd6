#!/usr/bin/env bash
# What a reconnect costs the server (issue 20; docs/performance.md, "Reconnect
# cost"): builds xmppd, starts it on a loopback port with the benchmark config
# of xmppd-loopback.sh, adds one account and runs bench/reconnect against it.
#   bash bench/reconnect.sh [N]     # N reconnects per scenario, default 300
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/xmppd-loopback.sh
N=${1:-300}
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/xmppd" ./cmd/xmppd
go build -o "$tmp/reconnect" ./bench/reconnect
port=$((20000 + RANDOM % 20000))
xmppd_config "$tmp/xmppd.toml" "$tmp/data" "$port"
echo "bench-password" | "$tmp/xmppd" user add -config "$tmp/xmppd.toml" bench@localhost >/dev/null
"$tmp/xmppd" serve -config "$tmp/xmppd.toml" 2>"$tmp/log" &
pid=$!
wait_port "$port"
"$tmp/reconnect" -addr "127.0.0.1:$port" -pid "$pid" -user bench -pass bench-password -n "$N"
