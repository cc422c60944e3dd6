#!/usr/bin/env bash
# Refreshes the web client xmppd embeds (web/webclient/, served at /web/)
# from Converse.js's npm package.
#
# The version is the one pinned (with its integrity hash) in
# internal/interop/testdata/web/package-lock.json, so the client users get
# is the one the browser interoperability tests run. To move to another
# release:
#
#     (cd internal/interop/testdata/web && npm install --save-exact converse.js@X.Y.Z)
#     bash scripts/update-webclient.sh
#
# Only what the client loads is copied, without source maps: the bundle,
# its stylesheet, fonts, emoji data and the few images and sounds it asks
# for, the OMEMO library it imports for end-to-end encryption, and the
# translations named in LOCALES (default none: English only; e.g.
# LOCALES="de fr pt_BR" bash scripts/update-webclient.sh). Text files are
# stored gzip-compressed (web serves them as they are to browsers, which
# all accept gzip), which keeps the binary about 2 MB smaller.
set -euo pipefail
cd "$(dirname "$0")/.."

npmdir=internal/interop/testdata/web
pkg=$npmdir/node_modules/converse.js
if [ ! -f "$pkg/dist/converse.min.js" ]; then
	(cd "$npmdir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
version=$(node -p "require('./$pkg/package.json').version")
license=$(node -p "require('./$pkg/package.json').license")
if [ "$license" != "MPL-2.0" ]; then
	echo "converse.js $version is licensed $license, not MPL-2.0: check it is still fit to ship before updating" >&2
	exit 1
fi

out=web/webclient
rm -rf "$out/dist"
mkdir -p "$out/dist"

files=(
	converse.min.js converse.min.css emoji.json
	libomemo.esm.min.js curve25519_compiled.wasm
	webfonts/baumans.ttf webfonts/muli.ttf
	images/favicon.ico images/logo/conversejs-filled.svg
	images/custom_emojis/converse.png images/custom_emojis/xmpp.png
	sounds/msg_received.ogg sounds/msg_received.mp3
)
for l in ${LOCALES:-}; do
	f="chunkjs/locales/$l-LC_MESSAGES-converse-po.js"
	[ -f "$pkg/dist/$f" ] || { echo "no translation $l in converse.js $version" >&2; exit 1; }
	files+=("$f")
done

for f in "${files[@]}"; do
	mkdir -p "$out/dist/$(dirname "$f")"
	case "$f" in
	*.png | *.ogg | *.mp3) cp "$pkg/dist/$f" "$out/dist/$f" ;;
	# -n: no name or time stamp, so an unchanged file gives the same bytes.
	*) gzip -9 -n -c "$pkg/dist/$f" >"$out/dist/$f.gz" ;;
	esac
done
cp "$pkg/LICENSE" "$out/LICENSE"
printf '%s\n' "$version" >"$out/VERSION"

echo "converse.js $version: $(du -sk "$out/dist" | cut -f1) KiB in $out/dist"
