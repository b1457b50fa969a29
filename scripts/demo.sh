#!/usr/bin/env bash
# The demo: a throwaway local registry, a sample `docker save`-style image tar, pushed with
# `tug push` (with progress), pulled back with `tug pull`, verified blob by blob, and checked
# with skopeo.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "install dependencies"
./scripts/install-deps.sh

step "build tug (release)"
cargo build --release -p tug
tug="$PWD/target/release/tug"

work=$(mktemp -d)
registry_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step "make a sample image tar (docker save layout, two layers)"
mkdir -p "$work/l1/app" "$work/l2/app" "$work/img"
head -c $((48 * 1024 * 1024)) /dev/urandom > "$work/l1/app/model.bin"
echo "hello from tug" > "$work/l2/app/hello.txt"
seq 1 1000000 > "$work/l2/app/numbers.txt"   # text: compresses well (below)
tar -C "$work/l1" -cf "$work/layer1.tar" .
tar -C "$work/l2" -cf "$work/layer2.tar" .
d1=$(sha256sum "$work/layer1.tar" | cut -d' ' -f1)
d2=$(sha256sum "$work/layer2.tar" | cut -d' ' -f1)
for i in 1 2; do
  d=$([ $i = 1 ] && echo "$d1" || echo "$d2")
  mkdir -p "$work/img/$d"
  mv "$work/layer$i.tar" "$work/img/$d/layer.tar"
  echo '1.0' > "$work/img/$d/VERSION"
done
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
  "$d1" "$d2" > "$work/config.json"
cfg=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/img/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["demo/sample:latest"],"Layers":["%s/layer.tar","%s/layer.tar"]}]' \
  "$cfg" "$d1" "$d2" > "$work/img/manifest.json"
tar -C "$work/img" -cf "$work/sample.tar" .
"$tug" inspect "$work/sample.tar"

step "start a throwaway registry on 127.0.0.1 (plain HTTP, temporary storage)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $work/storage}
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break
  kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log"; exit 1; }
  sleep 0.1
done
target="127.0.0.1:$port/demo/sample:latest"

step "push it: tug push $work/sample.tar $target"
"$tug" push "$work/sample.tar" "$target"

step "push again: every blob is already there"
"$tug" push --progress plain "$work/sample.tar" "$target"

step "push it compressed as well: tug push --compress zstd … :zstd (layers compressed on the way)"
"$tug" push --progress plain --compress zstd "$work/sample.tar" "127.0.0.1:$port/demo/sample:zstd"
skopeo --insecure-policy inspect --raw --tls-verify=false "docker://127.0.0.1:$port/demo/sample:zstd" \
  | python3 -c 'import json,sys; [print("layer", l["mediaType"], l["size"], "bytes") for l in json.load(sys.stdin)["layers"]]'

step "pull it back with tug (an OCI layout) and verify every layer"
"$tug" pull --progress plain --store "$work/store" "$target" -o "$work/pulled"
for d in "$d1" "$d2" "$cfg"; do
  got=$(sha256sum "$work/pulled/blobs/sha256/$d" | cut -d' ' -f1)
  [ "$got" = "$d" ] || { echo "blob $d came back as $got" >&2; exit 1; }
  echo "verified sha256:$d"
done

step "and check it with skopeo, a client nobody here wrote"
skopeo --insecure-policy inspect --tls-verify=false "docker://$target" | grep -A3 '"Layers"'

cat <<EOT

The demo pushed $work/sample.tar to $target and verified it.
To pull it while the registry runs:  tug pull $target -o sample.tar
(The registry is stopped and its storage deleted when this script exits.)
EOT
