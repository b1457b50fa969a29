#!/usr/bin/env bash
# Builds tug (release) and the benchmark, then runs it. Arguments go to tug-bench, e.g.
#   bench/run.sh --rounds 5
#   bench/run.sh --mode pull          # or copy, push, pull,copy; default all: those three
#                                     # and the three below
#   bench/run.sh --mode push-files,pull-tar,rootfs   # issue 13: --compress push of real
#                                     # files, pull to a docker save tar, a root filesystem
#   bench/run.sh --mode rootfs --size 64M --rounds 1 # a quick look at small size
#   bench/run.sh --mode browser --size 512M   # the web page in chromium vs the CLI
#   bench/run.sh --mode compress      # push --compress gzip/zstd vs none vs skopeo, slow link
#   bench/run.sh --mode sync          # tug sync vs skopeo sync (--sync-repos 5 for a quick look)
#   bench/run.sh --mode embed --size 512M   # tug push vs the Python host vs the tokio example
#   bench/run.sh --clients tug,curl --tug-arg=-j8 --scan-runs 0
#   bench/run.sh --work-dir /dev/shm/tug-bench-cache   # keep and reuse the generated images
# Every run gets a fresh TLS registry on tmpfs; push and pull are compared with skopeo and
# with a raw-curl floor (as many blobs at once as tug's --jobs); the output ends with the
# issue-13 goals table. See bench/README.md. A benchmark, not a test: the suite never runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

step "check tools"
# docker-registry and skopeo come from the test dependencies; GNU time measures the clients.
./scripts/install-deps.sh
missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v curl >/dev/null || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

case " $* " in
  *browser*)
    # Browser mode: chromium, nginx and playwright-core come from install-deps above; the
    # page must be built into tug (tug web serves it).
    step "assemble the web page (web/dist, embedded in tug)"
    ./scripts/build-web.sh
    ;;
esac
case " $* " in
  *embed*)
    # Embed mode: the component and the Python host's venv, and the tokio example (release).
    step "build the component and the Python venv, and the tokio example (release)"
    ./scripts/build-component.sh
    cargo build --release -p tug-tokio-runner
    ;;
esac

step "build tug and tug-bench (release)"
cargo build --release -p tug -p tug-bench

target_dir=${CARGO_TARGET_DIR:-target}
step "run the benchmark"
exec "$target_dir/release/tug-bench" --tug "$target_dir/release/tug" "$@"
