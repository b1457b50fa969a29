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
APT_PACKAGES=(docker-registry skopeo)

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

# --- Later additions (not installed yet) ----------------------------------------
# Later: wasm-bindgen-cli (version must match the wasm-bindgen crate in Cargo.lock)
# Later: chromium + playwright-core (browser tests of web/)
# Later: nginx (CORS front for docker-registry in browser tests)

log "all dependencies present"
