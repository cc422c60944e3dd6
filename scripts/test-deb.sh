#!/usr/bin/env bash
# Builds the .deb (scripts/package-deb.sh) and checks what it holds: the
# static binary, the systemd unit (systemd-analyze verify, where installed),
# the configuration as a conffile that the binary accepts, and a postinst
# that creates the xmppd system user. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash scripts/package-deb.sh "$work/dist" >/dev/null
deb=$(ls "$work"/dist/xmppd_*.deb)
fail() { echo "test-deb: $*" >&2; exit 1; }

contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/xmppd ./usr/lib/systemd/system/xmppd.service ./etc/xmppd/xmppd.toml \
         ./usr/share/doc/xmppd/xmppd.example.toml ./usr/share/doc/xmppd/deploy.md; do
  grep -q " $f\$" <<<"$contents" || fail "$f missing from the package:
$contents"
done
grep -q '^-rwxr-xr-x .* ./usr/bin/xmppd$' <<<"$contents" || fail "/usr/bin/xmppd not 0755"

info=$(dpkg-deb -I "$deb")
grep -q '^ Package: xmppd$' <<<"$info" || fail "no Package: xmppd in
$info"
grep -Eq '^ Architecture: [a-z0-9]+$' <<<"$info" || fail "no Architecture"
grep -q ' postinst' <<<"$info" || fail "no postinst in
$info"

mkdir "$work/control" "$work/root"
dpkg-deb -e "$deb" "$work/control"
dpkg-deb -x "$deb" "$work/root"
grep -qx /etc/xmppd/xmppd.toml "$work/control/conffiles" || fail "the configuration is not a conffile"
grep -q 'useradd --system' "$work/control/postinst" || fail "postinst does not create the system user"
sh -n "$work/control/postinst" || fail "postinst: syntax error"

bin="$work/root/usr/bin/xmppd"
go version -m "$bin" | grep -q 'CGO_ENABLED=0' || fail "the binary is not built with CGO_ENABLED=0"
"$bin" --version | grep -q '^xmppd [0-9]' || fail "xmppd --version: $("$bin" --version)"
# The packaged configuration parses: the binary gets as far as looking for
# the database in /var/lib/xmppd.
out=$("$bin" user list -config "$work/root/etc/xmppd/xmppd.toml" 2>&1 || true)
grep -q 'no database at /var/lib/xmppd/xmppd.db' <<<"$out" || fail "packaged configuration: $out"

unit="$work/root/usr/lib/systemd/system/xmppd.service"
grep -qx 'Type=notify' "$unit" || fail "unit is not Type=notify"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "unit has no ExecReload"
if command -v systemd-analyze >/dev/null 2>&1; then
  sed "s|/usr/bin/xmppd|$bin|" "$unit" >"$work/xmppd.service"
  systemd-analyze verify "$work/xmppd.service" || fail "systemd-analyze verify"
else
  echo "test-deb: no systemd-analyze: unit not verified"
fi
echo "test-deb: ok ($(basename "$deb"))"
