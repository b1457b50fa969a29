#!/usr/bin/env bash
# Fuzzes tug-core: builds the cargo-fuzz targets in fuzz/, copies the committed seed inputs
# (fuzz/seeds/<target>/) into their corpora, and runs each target for SECONDS_PER_TARGET
# seconds (default 20). scripts/test.sh runs it with a few seconds per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Environment:
#   FUZZ_TARGETS   space-separated targets to run (default: all of `cargo fuzz list`)
#   FUZZ_ARGS      extra libFuzzer arguments (e.g. "-max_len=16384")
#   FUZZ_TOOLCHAIN the rustup toolchain to build with (default: stable if rustup has it)
#
# Exits non-zero if any target crashes (a panic in the core, a broken contract, a hang or an
# out-of-memory), after running the others, printing the crash input's path and how to
# reproduce it. Corpora (fuzz/corpus), crash inputs (fuzz/artifacts) and logs
# (fuzz/artifacts/logs) are git-ignored and kept between runs, so later runs start where
# earlier ones stopped. Idempotent.
#
# Only a stable toolchain is needed: cargo-fuzz's nightly flags are enabled with
# RUSTC_BOOTSTRAP=1. cargo-fuzz is installed when missing; libFuzzer needs a C++ compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ="$ROOT/fuzz"

SECONDS_PER_TARGET=${1:-20}
if ! [[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
  echo "usage: $0 [SECONDS_PER_TARGET]   (a positive whole number of seconds)" >&2
  exit 2
fi

export RUSTC_BOOTSTRAP=1
# Debug assertions and overflow checks on: an arithmetic overflow on registry or file input
# panics in debug builds of tug (and silently wraps in release ones), so it is a finding.
BUILD_FLAGS=(--debug-assertions)

step() { printf '\n==> %s\n' "$*" >&2; }

# Stable Rust, also where another toolchain is the default (`cargo +stable` when rustup has
# one; FUZZ_TOOLCHAIN=<name> picks another).
CARGO=(cargo)
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
  CARGO=(cargo "+$FUZZ_TOOLCHAIN")
elif command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^stable'; then
  CARGO=(cargo +stable)
fi

if ! "${CARGO[@]}" fuzz --version >/dev/null 2>&1; then
  step "install cargo-fuzz"
  "${CARGO[@]}" install cargo-fuzz --locked
fi
if ! command -v c++ >/dev/null 2>&1; then
  echo "error: a C++ compiler is needed to build libFuzzer (Debian: apt-get install g++; scripts/install-deps.sh installs it)" >&2
  exit 1
fi

# ---- build and run -----------------------------------------------------------------------

cd "$FUZZ"
# Fuzz the core with the dependency versions the workspace uses: start from the root lock
# file whenever it changed (cargo drops what the fuzz workspace does not use and adds
# libfuzzer-sys/arbitrary). fuzz/Cargo.lock is git-ignored.
if [ ! -f "$FUZZ/Cargo.lock" ] || [ "$ROOT/Cargo.lock" -nt "$FUZZ/Cargo.lock" ]; then
  cp "$ROOT/Cargo.lock" "$FUZZ/Cargo.lock"
fi
step "build the fuzz targets"
build_start=$SECONDS
"${CARGO[@]}" fuzz build "${BUILD_FLAGS[@]}"
echo "built in $((SECONDS - build_start)) s" >&2

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a TARGETS <<<"$FUZZ_TARGETS"
else
  mapfile -t TARGETS < <("${CARGO[@]}" fuzz list)
fi

# ---- seed corpora ------------------------------------------------------------------------
# The committed seeds (fuzz/seeds/<target>/) go into the working corpus (fuzz/corpus/<target>/,
# git-ignored, kept between runs). The tar indexer also reads the image tars.
seed_dirs() {
  case $1 in
    tar_index) echo "tar_index source_resolver" ;;
    *) echo "$1" ;;
  esac
}
for target in "${TARGETS[@]}"; do
  mkdir -p "$FUZZ/corpus/$target"
  for dir in $(seed_dirs "$target"); do
    if [ -d "$FUZZ/seeds/$dir" ]; then
      find "$FUZZ/seeds/$dir" -maxdepth 1 -type f -exec cp -f {} "$FUZZ/corpus/$target/" \;
    fi
  done
done

# libFuzzer dictionaries (fuzz/dicts/<name>.dict): keywords the mutations splice in.
dict_for() {
  case $1 in
    pull_responses | fetch_responses) echo responses ;;
    *) echo "$1" ;;
  esac
}

LOGS="$FUZZ/artifacts/logs"
mkdir -p "$LOGS"
read -r -a EXTRA <<<"${FUZZ_ARGS:-}"
failed=()
summary=()
for target in "${TARGETS[@]}"; do
  step "fuzz $target for ${SECONDS_PER_TARGET} s"
  log="$LOGS/$target.log"
  start=$SECONDS
  status=0
  dict=()
  if [ -f "$FUZZ/dicts/$(dict_for "$target").dict" ]; then
    dict=(-dict="$FUZZ/dicts/$(dict_for "$target").dict")
  fi
  "${CARGO[@]}" fuzz run "${BUILD_FLAGS[@]}" "$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
    "${dict[@]}" "${EXTRA[@]}" >"$log" 2>&1 || status=$?
  took=$((SECONDS - start))
  # The last status line, e.g. "#123456 DONE cov: 1234 ft: 5678 corp: 90/12Kb ...".
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  if [ "$status" -eq 0 ]; then
    summary+=("$(printf '%-28s ok     %4ss  execs %-10s cov %-6s ft %s' "$target" "$took" "${execs:-?}" "${cov:-?}" "${ft:-?}")")
  else
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    summary+=("$(printf '%-28s FAILED %4ss  execs %-10s cov %-6s ft %s' "$target" "$took" "${execs:-?}" "${cov:-?}" "${ft:-?}")")
    failed+=("$target")
    case $artifact in
      "") ;;
      /*) ;;
      *) artifact="$FUZZ/${artifact#./}" ;;
    esac
    {
      echo "!! $target failed (exit $status); full log: $log"
      # The panic and its Rust backtrace, or libFuzzer's reason (timeout, out of memory, ...).
      sed -n '/panicked at/,/^note: \|^==[0-9]*==/p' "$log" | grep -v '^==' | head -n 40 || true
      grep -E -m 3 "ERROR: libFuzzer|^SUMMARY" "$log" || true
      if [ -n "$artifact" ]; then
        echo "crash input: $artifact"
        echo "hexdump:"
        od -A x -t x1z -v "$artifact" | head -n 40
        echo "reproduce:   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run ${BUILD_FLAGS[*]} $target $artifact)"
        echo "as a value:  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz fmt ${BUILD_FLAGS[*]} $target $artifact)"
      fi
    } >&2
  fi
done

step "summary"
printf '%s\n' "${summary[@]}" >&2
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (crash inputs under $FUZZ/artifacts/<target>/)" >&2
  exit 1
fi
echo "no crashes" >&2
