#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run execs this).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
# Free space where the build and the tests write (a test that runs out fails with a registry's
# 500 half way; this line in CI's log says why).
room() { df -h "${CARGO_TARGET_DIR:-target}" "${TMPDIR:-/tmp}" /dev/shm 2>/dev/null | sed 's/^/    /' >&2 || true; }

# A CI machine builds once from a clean checkout: incremental caches would only take disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
mkdir -p target
room

step "install dependencies"
./scripts/install-deps.sh

step "build the tug-wasm package (runner-wasm/pkg, pkg-node; the Node.js and browser tests use it)"
./scripts/build-wasm.sh

step "build tug-core as a WebAssembly component and the Python host's venv (scripts/build-component.sh)"
./scripts/build-component.sh

step "run tug-core's tests, and tug-wasm's that need JS, on wasm32-unknown-unknown under Node.js"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p tug-core -p tug-wasm --target wasm32-unknown-unknown --no-fail-fast

step "assemble the web page (web/dist, embedded in tug by the build below)"
./scripts/build-web.sh

step "build the workspace (target/debug/tug for end-to-end tests)"
cargo build --workspace

step "run tests"
room
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  echo "cargo-nextest not found; falling back to cargo test" >&2
  cargo test --workspace --no-fail-fast
fi

step "run doctests"
cargo test --workspace --doc

step "check the Windows and macOS builds (scripts/cross-check.sh)"
./scripts/cross-check.sh

# Every fuzz target for a few seconds from its committed seeds (fuzz/seeds): any panic in the
# core, broken contract or hang fails the test command. fuzz/README.md: longer runs.
FUZZ_SECONDS=${FUZZ_SECONDS:-5}
step "fuzz every target for ${FUZZ_SECONDS} s (scripts/fuzz.sh)"
# A fixed libFuzzer seed: the same inputs are tried in the same order on every run (how many
# depends on the machine's speed), so the test command does not turn up new findings at random.
FUZZ_ARGS=${FUZZ_ARGS:--seed=1} ./scripts/fuzz.sh "$FUZZ_SECONDS"
