#!/usr/bin/env bash
# tug on other platforms, checked from Linux (scripts/install-deps.sh installs the tools):
# the tug binary type-checks for Windows (x86_64-pc-windows-gnu, mingw-w64 compiling the C
# parts) and macOS (aarch64-apple-darwin, zig's clang compiling them: scripts/cross/), and
# tug-core's tests build for Windows. Running them there is left to machines of those kinds.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
cross="$PWD/scripts/cross"

step "cargo check -p tug --target x86_64-pc-windows-gnu"
cargo check -p tug --target x86_64-pc-windows-gnu

step "cargo check -p tug --target aarch64-apple-darwin (C parts by zig cc)"
ZIG_TARGET=aarch64-macos CC_aarch64_apple_darwin="$cross/zig-cc" AR_aarch64_apple_darwin="$cross/zig-ar" \
  cargo check -p tug --target aarch64-apple-darwin

step "build tug-core's tests for x86_64-pc-windows-gnu"
cargo test -p tug-core --target x86_64-pc-windows-gnu --no-run
