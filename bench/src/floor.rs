//! The raw-curl floors: what moving the same blobs costs with nothing but curl doing the
//! registry protocol, as many blobs at once as tug's `--jobs`, over HTTP/1.1 as tug speaks
//! it (`--http1.1`: offered HTTP/2, distribution's TLS listener takes it, and curl 7.88's
//! HTTP/2 upload costs about five times the CPU). Push: per blob a `POST` and a monolithic
//! `PUT ?digest=` streaming the file from disk (`curl -T`), then the manifest. Pull: the
//! manifest, then every blob with `curl -o` into a directory.

/// The push floor. Arguments: URL CA REPO TAG MANIFEST_FILE MANIFEST_MEDIA_TYPE JOBS
/// BLOB_FILE… (blob files named by their hex sha256, as in an OCI layout);
/// `BENCH_AUTH=user:password` in the environment for a registry with Basic auth.
pub const CURL_PUSH_SCRIPT: &str = r#"#!/usr/bin/env bash
# The raw-curl push floor: per blob a POST and a streamed monolithic PUT ?digest=, JOBS blobs
# at once, then the manifest PUT; HTTP/1.1, as tug speaks it.
# Usage: curl-push.sh URL CA REPO TAG MANIFEST_FILE MANIFEST_MEDIA_TYPE JOBS BLOB_FILE...
# (blob files are named by their hex sha256, as in an OCI layout). BENCH_AUTH=user:password
# in the environment for a registry with Basic auth.
set -euo pipefail
url=$1 ca=$2 repo=$3 tag=$4 manifest=$5 mtype=$6 jobs=$7
shift 7
[ "$jobs" -gt 0 ] || jobs=$#

c() {
  if [ -n "${BENCH_AUTH:-}" ]; then
    curl --http1.1 -sS --fail --cacert "$ca" -u "$BENCH_AUTH" "$@"
  else
    curl --http1.1 -sS --fail --cacert "$ca" "$@"
  fi
}

upload() {
  local file=$1 digest loc sep
  digest="sha256:$(basename "$file")"
  loc=$(c -X POST -o /dev/null -D - "$url/v2/$repo/blobs/uploads/" \
    | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
  [ -n "$loc" ] || { echo "no Location for $digest" >&2; return 1; }
  case $loc in /*) loc=$url$loc ;; esac
  case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
  # -T streams the file (--data-binary @file would read it all into memory first);
  # an empty Expect header skips the 100-continue round trip.
  c -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    -T "$file" -o /dev/null "$loc${sep}digest=$digest"
}
export -f c upload
export url ca repo

printf '%s\0' "$@" | xargs -0 -n 1 -P "$jobs" bash -c 'set -euo pipefail; upload "$1"' upload
c -X PUT -H "Content-Type: $mtype" --data-binary @"$manifest" \
  -o /dev/null "$url/v2/$repo/manifests/$tag"
"#;

/// The pull floor. Arguments: URL CA REPO TAG OUT_DIR JOBS DIGEST… (the config and layer
/// digests); writes `manifest.json` and one file per blob, named by its hex digest, into
/// OUT_DIR. `BENCH_AUTH` as for the push floor.
pub const CURL_PULL_SCRIPT: &str = r#"#!/usr/bin/env bash
# The raw-curl pull floor: GET the manifest, then every blob with curl -o, JOBS at once;
# HTTP/1.1, as tug speaks it.
# Usage: curl-pull.sh URL CA REPO TAG OUT_DIR JOBS DIGEST...
# BENCH_AUTH=user:password in the environment for a registry with Basic auth.
set -euo pipefail
url=$1 ca=$2 repo=$3 tag=$4 out=$5 jobs=$6
shift 6
[ "$jobs" -gt 0 ] || jobs=$#

c() {
  if [ -n "${BENCH_AUTH:-}" ]; then
    curl --http1.1 -sS --fail -L --cacert "$ca" -u "$BENCH_AUTH" "$@"
  else
    curl --http1.1 -sS --fail -L --cacert "$ca" "$@"
  fi
}

fetch() { c -o "$out/${1#sha256:}" "$url/v2/$repo/blobs/$1"; }
export -f c fetch
export url ca repo out

c -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
  -o "$out/manifest.json" "$url/v2/$repo/manifests/$tag"
printf '%s\0' "$@" | xargs -0 -n 1 -P "$jobs" bash -c 'set -euo pipefail; fetch "$1"' fetch
"#;

/// The `--jobs` a tug command runs with, given its extra arguments (`-j8`, `-j 8`, `-j=8`,
/// `--jobs 8`, `--jobs=8`; the last one counts), else tug's default. `None` when a value is
/// not a number.
pub fn tug_jobs(extra_args: &[String]) -> Option<u16> {
    let mut jobs = tug_core::limits::DEFAULT_JOBS;
    let mut args = extra_args.iter();
    while let Some(arg) = args.next() {
        let value = if arg == "-j" || arg == "--jobs" {
            args.next()?.as_str()
        } else if let Some(v) = arg.strip_prefix("--jobs=") {
            v
        } else if let Some(v) = arg.strip_prefix("-j") {
            v.strip_prefix('=').unwrap_or(v)
        } else {
            continue;
        };
        jobs = value.parse().ok()?;
    }
    Some(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(args: &[&str]) -> Option<u16> {
        tug_jobs(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn jobs_come_from_the_extra_args_or_the_default() {
        assert_eq!(jobs(&[]), Some(tug_core::limits::DEFAULT_JOBS));
        assert_eq!(jobs(&["--chunk-size=1048576"]), Some(4));
        assert_eq!(jobs(&["-j8"]), Some(8));
        assert_eq!(jobs(&["-j", "2"]), Some(2));
        assert_eq!(jobs(&["-j=6"]), Some(6));
        assert_eq!(jobs(&["--jobs", "16"]), Some(16));
        assert_eq!(jobs(&["--jobs=3", "--fixed-jobs"]), Some(3));
        assert_eq!(jobs(&["-j8", "--jobs=1"]), Some(1));
        assert_eq!(jobs(&["-jx"]), None);
        assert_eq!(jobs(&["--jobs"]), None);
    }
}
