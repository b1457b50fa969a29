#!/usr/bin/env bash
# Installs the tools the test suite needs (idempotent; quick when everything is present).
#
# Tests that cannot find a tool fail with a message pointing here.
set -euo pipefail

log() { printf 'install-deps: %s\n' "$*" >&2; }

# Run a command as root (directly when we are root, through sudo otherwise).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  else
    sudo "$@"
  fi
}

# --- apt packages -------------------------------------------------------------
# docker-registry: CNCF distribution 2.8, the registry the tests push to.
# skopeo:          the peer client that checks every push and feeds pulls.
# gzip, zstd, bzip2, xz-utils: compress whole `docker save` files as users pipe them.
APT_PACKAGES=(docker-registry skopeo gzip zstd bzip2 xz-utils)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing apt packages: ${missing[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# --- Rust targets ---------------------------------------------------------------
# tug-core must compile to wasm32-unknown-unknown (no clock, no sockets, no files).
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    log "adding Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
elif [ ! -d "$(rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ]; then
  log "the wasm32-unknown-unknown Rust target is missing and rustup is not available to add it"
  exit 1
fi

# tug-core as a WebAssembly component (component/, scripts/build-component.sh) builds for
# wasm32-wasip2; its Python host's venv (wasmtime from PyPI) is made by that script.
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx 'wasm32-wasip2'; then
    log "adding Rust target wasm32-wasip2"
    rustup target add wasm32-wasip2
  fi
elif [ ! -d "$(rustc --print sysroot)/lib/rustlib/wasm32-wasip2" ]; then
  log "the wasm32-wasip2 Rust target is missing and rustup is not available to add it"
  exit 1
fi
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  log "installing apt packages: python3-venv"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv
fi

# --- tug-wasm: wasm-bindgen-cli and Node.js ---------------------------------------
# wasm-bindgen (the CLI that turns runner-wasm's .wasm into a JS package, and
# wasm-bindgen-test-runner, which runs tug-core's tests on wasm32 under Node) must be
# exactly the version of the wasm-bindgen crate in Cargo.lock.
wasm_bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' \
  "$(dirname "$0")/../Cargo.lock")"
if [ -z "$wasm_bindgen_version" ]; then
  log "cannot find the wasm-bindgen version in Cargo.lock"
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wasm_bindgen_version" ] \
  || ! command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
  log "installing wasm-bindgen-cli $wasm_bindgen_version (cargo install, a few minutes)"
  # --locked takes the CLI's own lock file; when a crate it pins is not (yet) on the
  # registry this machine reaches, resolve its dependencies afresh instead.
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version" --locked \
    || cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi
# Node.js runs the wasm tests and the embedding test (fs.openAsBlob needs Node >= 20).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "installing apt packages: nodejs npm"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  # Debian 12's nodejs is 18: the wasm core tests run on it, the Node.js embedding tests
  # (fs.openAsBlob) fail and say so.
  log "warning: Node.js $(node --version) is older than 20; tug-wasm's Node.js tests need fs.openAsBlob (Node >= 20)"
fi

# --- Browser tests of web/: nginx, chromium, playwright-core -------------------------
# nginx:    the CORS front (docs/nginx-cors.conf) the browser tests start themselves on
#           loopback; the package's own service is kept from starting on installation.
# chromium: Debian's browser, driven headless by playwright-core.
BROWSER_APT_PACKAGES=(nginx chromium)
missing=()
for pkg in "${BROWSER_APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing apt packages: ${missing[*]}"
  # policy-rc.d answering 101 tells the packages' scripts not to start services.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    own_policy=1
  fi
  status=0
  as_root apt-get update && as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}" || status=$?
  [ -n "$own_policy" ] && as_root rm -f "$policy"
  [ "$status" -eq 0 ] || exit "$status"
fi
# playwright-core, pinned by tests/browser/package-lock.json (it uses the chromium above and
# downloads no browser of its own).
browser_tests="$(dirname "$0")/../tests/browser"
if [ ! -f "$browser_tests/node_modules/.package-lock.json" ] \
  || [ "$browser_tests/package-lock.json" -nt "$browser_tests/node_modules/.package-lock.json" ]; then
  log "installing tests/browser's node modules (npm ci)"
  (cd "$browser_tests" && npm ci --no-audit --no-fund)
fi

# --- Cross builds for Windows and macOS (scripts/cross-check.sh) ------------------
# gcc-mingw-w64-x86-64: the C compiler for x86_64-pc-windows-gnu (ring, zstd) and its linker.
# ziglang (PyPI): zig's clang compiles the C parts for aarch64-apple-darwin (scripts/cross/).
if ! dpkg-query -W -f='${Status}' gcc-mingw-w64-x86-64 2>/dev/null | grep -q 'install ok installed'; then
  log "installing apt packages: gcc-mingw-w64-x86-64"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends gcc-mingw-w64-x86-64
fi
if command -v rustup >/dev/null 2>&1; then
  for target in x86_64-pc-windows-gnu aarch64-apple-darwin; do
    if ! rustup target list --installed | grep -qx "$target"; then
      log "adding Rust target $target"
      rustup target add "$target"
    fi
  done
fi
if ! python3 -m ziglang version >/dev/null 2>&1; then
  log "installing ziglang (pip)"
  python3 -m pip install --quiet ziglang \
    || python3 -m pip install --quiet --break-system-packages ziglang
fi

# --- Fuzzing (scripts/fuzz.sh, run by scripts/test.sh) ---------------------------
# libFuzzer is C++; cargo-fuzz builds and runs the targets in fuzz/.
if ! command -v c++ >/dev/null 2>&1; then
  log "installing g++ (libFuzzer, for the fuzz targets)"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi


log "all dependencies present"
