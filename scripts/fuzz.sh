#!/usr/bin/env bash
# Fuzzes tug-core: builds the cargo-fuzz targets in fuzz/, seeds their corpora, and runs each
# target for SECONDS_PER_TARGET seconds (default 20).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Environment:
#   FUZZ_TARGETS   space-separated targets to run (default: all of `cargo fuzz list`)
#   FUZZ_ARGS      extra libFuzzer arguments (e.g. "-max_len=16384")
#
# Exits non-zero if any target crashes (a panic in the core, a broken contract, a hang or an
# out-of-memory), after running the others, printing the crash input's path and how to
# reproduce it. Corpora (fuzz/corpus), crash inputs (fuzz/artifacts) and logs
# (fuzz/artifacts/logs) are git-ignored and kept between runs, so later runs start where
# earlier ones stopped. Idempotent.
#
# Only a stable toolchain is needed: cargo-fuzz's nightly flags are enabled with
# RUSTC_BOOTSTRAP=1.
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

for tool in tar sha256sum gzip; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is needed to seed the corpora (Debian: apt-get install tar coreutils gzip)" >&2
    exit 1
  fi
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  step "install cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# ---- seed corpora ------------------------------------------------------------------------

# Deterministic tar output, small (one 512-byte block per record, no 10 KiB padding).
TAR_FLAGS=(--blocking-factor=1 --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# blob DIR FILE: moves FILE into DIR/blobs/sha256/<hex>; prints "<hex> <size>".
blob() {
  local dir=$1 file=$2 hex size
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  size=$(stat -c %s "$file")
  mkdir -p "$dir/blobs/sha256"
  mv "$file" "$dir/blobs/sha256/$hex"
  echo "$hex $size"
}

seed_tars() {
  local out=$1 src="$WORK/tree"
  mkdir -p "$out" "$src/dir/sub"
  printf 'hello\n' >"$src/dir/hello.txt"
  printf 'nested\n' >"$src/dir/sub/nested.txt"
  local long="dir/sub/a-very-long-file-name-that-does-not-fit-into-the-hundred-bytes-of-a-classic-tar-header-name-field.txt"
  printf 'long\n' >"$src/$long"
  ln -sfn hello.txt "$src/dir/link-to-hello"
  ln -sfn ../../etc/passwd "$src/dir/escaping-link"
  ln -f "$src/dir/hello.txt" "$src/dir/hardlink-to-hello"
  : >"$src/empty"
  # GNU long names, PAX records (stable names instead of PaxHeaders.<pid>), and the older
  # formats, which cannot hold the long name.
  tar "${TAR_FLAGS[@]}" --format=gnu -C "$src" -cf "$out/seed-tree-gnu.tar" .
  tar "${TAR_FLAGS[@]}" --format=pax --pax-option='exthdr.name=%d/PaxHeaders/%f' \
    -C "$src" -cf "$out/seed-tree-pax.tar" .
  local fmt
  for fmt in ustar v7; do
    tar "${TAR_FLAGS[@]}" --format=$fmt --exclude='a-very-long-*' \
      -C "$src" -cf "$out/seed-tree-$fmt.tar" .
  done
  printf 'not a tar at all\n' >"$out/seed-not-a-tar"
  gzip -n -c "$out/seed-tree-ustar.tar" >"$out/seed-tree-ustar.tar.gz"
}

seed_images() {
  local out=$1 w="$WORK/images"
  mkdir -p "$out" "$w/rootfs"
  printf 'hello from a layer\n' >"$w/rootfs/hello.txt"
  tar "${TAR_FLAGS[@]}" -C "$w/rootfs" -cf "$w/layer.tar" hello.txt
  local diff_hex
  diff_hex=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
  local config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diff_hex\",\"sha256:$diff_hex\"]}}"

  # Classic docker save: manifest.json, <hex>.json, <id>/layer.tar, a symlinked duplicate.
  local c="$w/classic" chex
  mkdir -p "$c/aaaa" "$c/bbbb"
  printf '%s' "$config" >"$c/config.tmp"
  chex=$(sha256sum "$c/config.tmp" | cut -d' ' -f1)
  mv "$c/config.tmp" "$c/$chex.json"
  cp "$w/layer.tar" "$c/aaaa/layer.tar"
  ln -sfn ../aaaa/layer.tar "$c/bbbb/layer.tar"
  printf '[{"Config":"%s.json","RepoTags":["fuzz/app:1"],"Layers":["aaaa/layer.tar","bbbb/layer.tar"]}]' \
    "$chex" >"$c/manifest.json"
  printf '{"fuzz/app":{"1":"%s"}}' "$chex" >"$c/repositories"
  tar "${TAR_FLAGS[@]}" -C "$c" -cf "$out/seed-docker-classic.tar" .

  # OCI layout (as an OCI archive): gzip layer, config, manifest, index.json, oci-layout.
  local o="$w/oci" lhex lsize cfhex cfsize mhex msize
  mkdir -p "$o"
  gzip -n -c "$w/layer.tar" >"$w/layer.tar.gz"
  read -r lhex lsize < <(blob "$o" "$w/layer.tar.gz")
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$diff_hex" >"$w/config.json"
  read -r cfhex cfsize < <(blob "$o" "$w/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$cfhex" "$cfsize" "$lhex" "$lsize" >"$w/manifest.json"
  read -r mhex msize < <(blob "$o" "$w/manifest.json")
  printf '{"imageLayoutVersion":"1.0.0"}' >"$o/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
    "$mhex" "$msize" >"$o/index.json"
  tar "${TAR_FLAGS[@]}" -C "$o" -cf "$out/seed-oci-archive.tar" .

  # Docker 25+ save: the OCI layout with a nested index (and an attestation manifest that is
  # not in the layout), plus manifest.json naming the image.
  local d="$w/docker25" ihex isize
  cp -r "$o" "$d"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":1,"annotations":{"vnd.docker.reference.type":"attestation-manifest"}}]}' \
    "$mhex" "$msize" "$(printf '0%.0s' {1..64})" >"$w/index-blob.json"
  read -r ihex isize < <(blob "$d" "$w/index-blob.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"docker.io/fuzz/app:1","org.opencontainers.image.ref.name":"1"}}]}' \
    "$ihex" "$isize" >"$d/index.json"
  printf '[{"Config":"blobs/sha256/%s","RepoTags":["fuzz/app:1"],"Layers":["blobs/sha256/%s"]}]' \
    "$cfhex" "$lhex" >"$d/manifest.json"
  tar "${TAR_FLAGS[@]}" -C "$d" -cf "$out/seed-docker25.tar" .
}

seed_challenge() {
  local out=$1
  mkdir -p "$out"
  # First byte picks the parser: 0 challenges, 1 error body, 2 reference, 3 digest, 4 all.
  printf '\000Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"' >"$out/seed-bearer"
  printf '\000Basic realm="x", Bearer realm="/token",error="invalid_token",scope="a \\"q\\" b, c"' >"$out/seed-multi"
  printf '\000Negotiate abc==, Basic' >"$out/seed-token68"
  printf '\001{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":{"digest":"sha256:00"}}]}' >"$out/seed-errors"
  printf '\001404 page not found\n' >"$out/seed-text"
  printf '\002localhost:5000/team/app:1.2@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' >"$out/seed-ref"
  printf '\002busybox' >"$out/seed-ref-hub"
  printf '\002[::1]:5000/a/b:c' >"$out/seed-ref-v6"
  printf '\003sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' >"$out/seed-digest"
  printf '\003sha512:%s' "$(printf 'ab%.0s' {1..64})" >"$out/seed-digest512"
}

step "seed corpora in fuzz/corpus"
seed_tars "$FUZZ/corpus/tar_index"
seed_images "$FUZZ/corpus/source_resolver"
cp "$FUZZ/corpus/source_resolver"/seed-*.tar "$FUZZ/corpus/tar_index/"
seed_challenge "$FUZZ/corpus/challenge"
mkdir -p "$FUZZ/corpus/push_responses" "$FUZZ/corpus/source_resolver_structured"

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
cargo fuzz build "${BUILD_FLAGS[@]}"
echo "built in $((SECONDS - build_start)) s" >&2

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a TARGETS <<<"$FUZZ_TARGETS"
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi

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
  cargo fuzz run "${BUILD_FLAGS[@]}" "$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
    "${EXTRA[@]}" >"$log" 2>&1 || status=$?
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
