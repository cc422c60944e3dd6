#!/usr/bin/env bash
# The fault suite (issue 16): replays crashes, a large offline backlog,
# full and read-only storage, slowloris and a SASL storm against a real
# xmppd process and prints one line per case and "N passed, M failed,
# K skipped". The disk cases need root (they mount a loop device) and say
# so when they skip. docs/reliability.md has the promises and figures.
#
#   bash scripts/faults.sh            # every case
#   bash scripts/faults.sh -run kill9 # the cases matching a regexp
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/xmppd" ./cmd/xmppd
go build -o "$bin/faults" ./internal/faults/cmd/faults
# The crash and slowloris cases open a few hundred sockets.
ulimit -n 8192 2>/dev/null || true
"$bin/faults" -xmppd "$bin/xmppd" "$@"
