#!/usr/bin/env bash
# Runs every test of xmppd: unit and wire-level integration tests (real
# servers on loopback), the storage conformance suite on SQLite and
# PostgreSQL, interoperability tests driving real third-party clients from
# Debian's packages, the fault suite against a real xmppd process
# (scripts/faults.sh, docs/reliability.md), the cluster test with three
# xmppd processes (scripts/cluster-test.sh, docs/clustering.md), and a
# short run of each fuzz target.
#
# It installs what the tests need beyond Go (Debian packages: PostgreSQL,
# python3-slixmpp, python3-aioxmpp, go-sendxmpp, profanity, tmux, chromium, prosody, coturn) when it runs as root and they are
# missing, and the browser clients' npm packages (Converse.js, playwright-core)
# and xmpp.js.
set -euo pipefail
cd "$(dirname "$0")/.."

# A count, not a duration: with -fuzztime=10s Go 1.26's fuzz coordinator
# can report its own stop as "context deadline exceeded" and fail the run
# with no crasher written (golang/go#75804, fixed in Go 1.27); a count never
# arms that deadline. The counts are about 10 s per target on a 2-core VM;
# FUZZTIME (a count or a duration) overrides them all.
FUZZTIME="${FUZZTIME:-}"
fuzz() { # target package execs
	go test -run='^$' -fuzz="^$1\$" -fuzztime="${FUZZTIME:-$3}" "$2"
}

need_pkgs=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_pkgs+=(postgresql)
/usr/bin/python3 -c 'import slixmpp' >/dev/null 2>&1 || need_pkgs+=(python3-slixmpp)
/usr/bin/python3 -c 'import aioxmpp' >/dev/null 2>&1 || need_pkgs+=(python3-aioxmpp)
/usr/bin/python3 -c 'import aiohttp' >/dev/null 2>&1 || need_pkgs+=(python3-aiohttp) # slixmpp's xep_0363
command -v go-sendxmpp >/dev/null 2>&1 || need_pkgs+=(go-sendxmpp)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
command -v profanity >/dev/null 2>&1 || need_pkgs+=(profanity)
command -v tmux >/dev/null 2>&1 || need_pkgs+=(tmux)
command -v prosody >/dev/null 2>&1 || need_pkgs+=(prosody)
command -v turnserver >/dev/null 2>&1 || need_pkgs+=(coturn) # XEP-0215 credentials against a real TURN server
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "== not root: cannot install ${need_pkgs[*]}; the tests that need them will skip"
  fi
fi

# Browser clients (Converse.js, driven by playwright-core in Debian's
# Chromium), pinned in internal/interop/testdata/web/package-lock.json.
web=internal/interop/testdata/web
if [ ! -f "$web/node_modules/converse.js/dist/converse.min.js" ] || [ ! -d "$web/node_modules/playwright-core" ]; then
  echo "== npm ci ($web)"
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || echo "== npm ci failed: the browser interop tests will fail under CI"
fi
# xmpp.js, the XEP-0484 (FAST) client of TestXmppjsFAST, pinned in
# internal/interop/testdata/xmppjs/package-lock.json.
xmppjs=internal/interop/testdata/xmppjs
if [ ! -f "$xmppjs/node_modules/@xmpp/client/index.js" ]; then
  echo "== npm ci ($xmppjs)"
  (cd "$xmppjs" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || echo "== npm ci failed: the xmpp.js interop test will fail under CI"
fi

if [ -x storage/sqldb/testdata/start-postgres.sh ] && [ -z "${XMPPD_TEST_POSTGRES_DSN:-}" ]; then
  if dsn=$(bash storage/sqldb/testdata/start-postgres.sh 2>/dev/null | tail -n 1) && [ -n "$dsn" ]; then
    export XMPPD_TEST_POSTGRES_DSN="$dsn"
  else
    echo "== PostgreSQL could not be started; its conformance run will skip"
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "not gofmt'ed:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

# staticcheck's default checks (no staticcheck.conf), pinned: a newer
# release may add checks, and the tree must stay clean under the one we ran.
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test"
go test -count=1 -timeout 20m ./...

echo "== go test -race (core packages and modules)"
go test -count=1 -race -timeout 20m ./xml/ ./jid/ ./module/ ./router/ ./c2s/ ./component/ ./s2s/ ./web/... ./cluster/ ./modules/...

echo "== fault suite (scripts/faults.sh; the disk cases need root)"
bash scripts/faults.sh

echo "== cluster test (scripts/cluster-test.sh: three xmppd processes, one killed with SIGKILL)"
bash scripts/cluster-test.sh

echo "== .deb package (contents, unit, postinst)"
if command -v dpkg-deb >/dev/null 2>&1; then
  bash scripts/test-deb.sh
else
  echo "== no dpkg-deb: package not checked"
fi

echo "== fuzz"
fuzz FuzzDecoderSplit ./xml/ 60000x
fuzz FuzzDifferential ./xml/ 60000x
fuzz FuzzParse ./jid/ 100000x
fuzz FuzzClientFirst ./auth/ 50000x
fuzz FuzzToken ./modules/upload/ 20000x
fuzz FuzzInbox ./cluster/ 20000x

echo "== all tests passed"
