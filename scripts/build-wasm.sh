#!/usr/bin/env bash
# Builds the tug-wasm package: runner-wasm/pkg/ for browsers (ES module, `await init()`)
# and runner-wasm/pkg-node/ for Node.js (CommonJS, no init), with TypeScript declarations.
# Idempotent; wasm-bindgen-cli comes from scripts/install-deps.sh at the crate's version.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${TUG_WASM_PROFILE:-release}"
if ! command -v wasm-bindgen >/dev/null 2>&1; then
  echo "build-wasm: wasm-bindgen not found; run scripts/install-deps.sh" >&2
  exit 1
fi

cargo_flags=(-p tug-wasm --target wasm32-unknown-unknown)
[ "$profile" = release ] && cargo_flags+=(--release)
cargo build "${cargo_flags[@]}"

target_dir="$(cargo metadata --format-version 1 --no-deps | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
wasm="$target_dir/wasm32-unknown-unknown/$profile/tug_wasm.wasm"
version="$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)"

build() { # out-dir wasm-bindgen-target module-type
  local out="runner-wasm/$1"
  rm -rf "$out"
  wasm-bindgen --target "$2" --out-dir "$out" --weak-refs "$wasm"
  cat >"$out/package.json" <<JSON
{
  "name": "tug-wasm",
  "version": "$version",
  "description": "tug in the browser and Node.js: push and pull container images with fetch",
  "license": "Apache-2.0",
  "type": "$3",
  "main": "tug_wasm.js",
  "types": "tug_wasm.d.ts",
  "files": ["tug_wasm.js", "tug_wasm.d.ts", "tug_wasm_bg.wasm", "tug_wasm_bg.wasm.d.ts"]
}
JSON
  echo "build-wasm: $out ($(du -k "$out/tug_wasm_bg.wasm" | cut -f1) KiB wasm)" >&2
}
build pkg web module
build pkg-node nodejs commonjs
