#!/usr/bin/env bash
# Assembles the web page into web/dist/: the page's sources (web/index.html, style.css,
# favicon.svg, sw.js, js/), the documents the page links to (docs/nginx-cors.conf,
# docs/trust-private-ca.html) under dist/docs/, and the tug-wasm browser package
# (runner-wasm/pkg/, built here by scripts/build-wasm.sh) under dist/pkg/. The tug binary embeds web/dist when it is built
# (runner-native/build.rs), and `tug web` serves it: run this before `cargo build -p tug`.
#
# Idempotent: web/dist is replaced only when its contents change, so an unchanged page
# does not make cargo rebuild tug.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'build-web: %s\n' "$*" >&2; }

./scripts/build-wasm.sh

for f in runner-wasm/pkg/tug_wasm.js runner-wasm/pkg/tug_wasm_bg.wasm; do
  if [ ! -f "$f" ]; then
    log "$f is missing after scripts/build-wasm.sh"
    exit 1
  fi
done

stage="$(mktemp -d web/.dist-stage.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
cp web/index.html web/style.css web/favicon.svg web/sw.js "$stage/"
mkdir "$stage/js" "$stage/pkg" "$stage/docs"
cp web/js/*.js "$stage/js/"
# The documents the page links to: the nginx CORS recipe and trusting a private CA.
cp docs/nginx-cors.conf docs/trust-private-ca.html "$stage/docs/"
cp runner-wasm/pkg/tug_wasm.js runner-wasm/pkg/tug_wasm_bg.wasm "$stage/pkg/"
chmod -R a+rX "$stage"

if [ -d web/dist ] && diff -r -q "$stage" web/dist >/dev/null 2>&1; then
  log "web/dist is up to date"
else
  rm -rf web/dist
  mv "$stage" web/dist
  log "web/dist assembled ($(du -sk web/dist | cut -f1) KiB); rebuild tug to embed it (cargo build -p tug)"
fi
