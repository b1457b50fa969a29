#!/usr/bin/env bash
# Release binaries of tug for Linux, Windows and macOS, built on a Debian machine, into dist/
# with a SHA256SUMS file. Usage: scripts/release.sh [TARGET...] (default: every target below).
#
#   x86_64-unknown-linux-gnu    native build
#   x86_64-unknown-linux-musl   static (musl), through cargo-zigbuild
#   aarch64-unknown-linux-gnu   through cargo-zigbuild (zig links for glibc 2.28)
#   x86_64-pc-windows-gnu       mingw-w64 compiles the C parts and links
#   aarch64-apple-darwin        through cargo-zigbuild, only with a macOS SDK: SDKROOT must
#                               name one (Apple's SDK cannot be fetched here; without it the
#                               default list leaves macOS out, and asking for it is an error)
#
# Installs what it needs (idempotent): the Rust targets, mingw-w64 and zig (scripts/install-deps.sh
# installs both for the test command), cargo-zigbuild. Signing and publishing are not done here.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

ALL_TARGETS=(
  x86_64-unknown-linux-gnu
  x86_64-unknown-linux-musl
  aarch64-unknown-linux-gnu
  x86_64-pc-windows-gnu
  aarch64-apple-darwin
)
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  for t in "${ALL_TARGETS[@]}"; do
    case "$t" in
      *-apple-darwin) [ -n "${SDKROOT:-}" ] || { step "no SDKROOT: leaving out $t"; continue; } ;;
    esac
    targets+=("$t")
  done
fi
for t in "${targets[@]}"; do
  case "$t" in
    *-apple-darwin) [ -n "${SDKROOT:-}" ] || {
      echo "release.sh: $t needs a macOS SDK: set SDKROOT to one (MacOSX.sdk)" >&2; exit 2; } ;;
  esac
done

./scripts/install-deps.sh >&2
# The web page is built into the binary (`tug web`).
./scripts/build-wasm.sh >&2
./scripts/build-web.sh >&2
needs_zig=
for t in "${targets[@]}"; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
  case "$t" in *-musl | aarch64-unknown-linux-gnu | *-apple-darwin) needs_zig=1 ;; esac
done
if [ -n "$needs_zig" ] && ! cargo zigbuild --help >/dev/null 2>&1; then
  step "installing cargo-zigbuild"
  cargo install cargo-zigbuild --locked
fi
# cargo-zigbuild runs `python3 -m ziglang` when no zig binary is on PATH.

version="$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)"
rm -rf dist
mkdir -p dist
for t in "${targets[@]}"; do
  step "tug $version for $t"
  case "$t" in
    x86_64-unknown-linux-gnu | x86_64-pc-windows-gnu)
      cargo build --profile dist --locked -p tug --target "$t" ;;
    aarch64-unknown-linux-gnu)
      cargo zigbuild --profile dist --locked -p tug --target "$t.2.28" ;;
    *)
      cargo zigbuild --profile dist --locked -p tug --target "$t" ;;
  esac
  exe=tug
  case "$t" in *windows*) exe=tug.exe ;; esac
  name="tug-$version-$t"
  mkdir -p "dist/$name"
  cp "target/$t/dist/$exe" "dist/$name/$exe"
  cp README.md SECURITY.md "dist/$name/"
  case "$t" in
    *windows*) (cd dist && python3 -c "import shutil,sys; shutil.make_archive(sys.argv[1], 'zip', '.', sys.argv[1])" "$name") ;;
    *) tar -C dist -czf "dist/$name.tar.gz" "$name" ;;
  esac
  rm -rf "dist/$name"
done
(cd dist && sha256sum -- * > SHA256SUMS)
step "dist/"
ls -l dist >&2
cat dist/SHA256SUMS
