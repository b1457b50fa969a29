#!/usr/bin/env bash
# Regenerates the file-format seed inputs of the fuzz targets under fuzz/seeds/ (committed):
# tars in several formats (tar_index), docker-save / OCI archive / Docker 25+ images
# (source_resolver), and challenge / error body / reference / digest strings (challenge).
# The response-driven targets' seeds are hand-written scripts (see fuzz/README.md).
#
#   scripts/fuzz-seeds.sh
#
# Needs GNU tar, sha256sum and gzip. Output is deterministic for a given GNU tar version;
# run it only to change the seeds, and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="$PWD/fuzz/seeds"

for tool in tar sha256sum gzip; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is needed (Debian: apt-get install tar coreutils gzip)" >&2
    exit 1
  fi
done

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

rm -rf "$SEEDS/tar_index" "$SEEDS/source_resolver" "$SEEDS/challenge"
seed_tars "$SEEDS/tar_index"
seed_images "$SEEDS/source_resolver"
seed_challenge "$SEEDS/challenge"
echo "seeds written under $SEEDS" >&2
