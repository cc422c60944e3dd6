#!/usr/bin/env bash
# Builds the xmppd .deb: a static binary (CGO_ENABLED=0: SQLite is pure Go)
# and the package (contrib/deb/nfpm.yaml: binary, systemd unit, config in
# /etc/xmppd, postinst creating the xmppd system user).
#
#   scripts/package-deb.sh [OUTDIR]        default OUTDIR: dist
#
# Environment: VERSION (default: the binary's version, with the git commit),
# GOARCH (default: this machine's). nfpm runs through "go run" at a pinned
# version, so it needs no install and stays out of xmppd's go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
out="${1:-dist}"
arch="${GOARCH:-$(go env GOARCH)}"
if [ -z "${VERSION:-}" ]; then
  base=$(sed -n 's/^var version = "\(.*\)"$/\1/p' cmd/xmppd/main.go)
  # Debian orders "~" before anything: 0.1.0~dev < 0.1.0.
  VERSION="${base//-/\~}"
  if rev=$(git rev-parse --short HEAD 2>/dev/null); then
    VERSION="$VERSION+git$rev"
  fi
fi

mkdir -p "$out/build"
echo "== go build (static, linux/$arch, version $VERSION)"
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath \
  -ldflags "-s -w -X main.version=$VERSION" -o "$out/build/xmppd" ./cmd/xmppd

echo "== nfpm package"
# nfpm expands environment variables in some fields only (not in a file's
# src), so the placeholders are filled in here.
sed -e "s|\${XMPPD_BINARY}|$out/build/xmppd|" -e "s|\${XMPPD_ARCH}|$arch|" -e "s|\${XMPPD_VERSION}|$VERSION|" \
  contrib/deb/nfpm.yaml >"$out/build/nfpm.yaml"
go run "$NFPM" package --config "$out/build/nfpm.yaml" --packager deb --target "$out/"
ls "$out"/xmppd_*.deb
