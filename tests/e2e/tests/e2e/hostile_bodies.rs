//! Bodies tug reads into memory (manifests, errors, token answers) have a size cap and a
//! total deadline: registries that stream endless bodies, trickle one byte at a time under
//! `--stall-timeout`, or serve a manifest over 4 MiB end with a clear error, never a hang,
//! never a truncated manifest taken for the whole.

use std::time::Duration;

use crate::common::REGISTRY;
use tug_testkit::hashing::sha256_digest;
use tug_testkit::{HostileServer, Reply, Tug, TugOutput};

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// A hang detector, not a performance bound: every case here ends in a few seconds.
const HANG: Duration = Duration::from_secs(90);

fn registry(manifest: impl Fn() -> Reply + Send + Sync + 'static) -> HostileServer {
    HostileServer::start(move |r| {
        if r.path() == "/v2/" {
            Reply::body(200, "application/json", "{}")
        } else if r.path().contains("/manifests/") {
            manifest()
        } else {
            Reply::registry_error(404, "NOT_FOUND", "not found")
        }
    })
}

fn pull(server: &HostileServer, extra: &[&str]) -> TugOutput {
    let dir = tempfile::tempdir().unwrap();
    Tug::new()
        .env("TUG_STORE", dir.path().join("store"))
        .args([
            "pull",
            "--plain-http",
            "--retries",
            "1",
            "--progress",
            "plain",
        ])
        .args(extra)
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg(format!("{}/team/app:v1", server.host()))
        .timeout(HANG)
        .run()
}

fn assert_failed_with(out: &TugOutput, code: i32, words: &str) {
    assert!(!out.timed_out, "tug hung: {out}");
    assert_eq!(out.code, Some(code), "{out}");
    assert!(out.stderr_str().contains(words), "{out}");
}

/// A valid OCI manifest JSON padded with an annotation to `size` bytes.
fn big_manifest(size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":2}},"layers":[],"annotations":{{"pad":""#,
        "0".repeat(64)
    );
    let tail = r#""}}"#;
    let mut m = head.into_bytes();
    m.resize(size - tail.len(), b'x');
    m.extend_from_slice(tail.as_bytes());
    m
}

#[test]
fn an_endless_manifest_ends_with_an_error() {
    let server = registry(|| Reply::Endless {
        status: 200,
        headers: vec![("Content-Type".into(), MANIFEST_TYPE.into())],
        piece: Vec::new(),
    });
    let out = pull(&server, &[]);
    assert_failed_with(&out, REGISTRY, "larger than 4 MiB");
}

#[test]
fn a_trickling_manifest_ends_at_its_deadline() {
    // One byte every 200 ms: never a stall of --stall-timeout, never the whole body.
    let server = registry(|| Reply::Trickle {
        status: 200,
        headers: vec![("Content-Type".into(), MANIFEST_TYPE.into())],
        byte: b' ',
        every: Duration::from_millis(200),
        len: None,
    });
    let out = pull(&server, &["--stall-timeout", "2"]);
    assert_failed_with(&out, REGISTRY, "did not arrive whole within 2 s");
}

#[test]
fn a_manifest_over_4_mib_is_an_error_that_says_so() {
    let big = big_manifest(5 << 20);
    let digest = sha256_digest(&big);
    for with_digest in [true, false] {
        let (big, digest) = (big.clone(), digest.clone());
        let server = registry(move || {
            let reply = Reply::body(200, MANIFEST_TYPE, big.clone());
            if with_digest {
                reply.with_header("Docker-Content-Digest", &digest)
            } else {
                reply
            }
        });
        let out = pull(&server, &[]);
        assert_failed_with(&out, REGISTRY, "larger than 4 MiB");
        assert!(!out.stderr_str().contains("does not match"), "{out}");
    }
}

#[test]
fn an_endless_token_answer_ends_with_an_error() {
    let server = HostileServer::start(|r| {
        if r.path() == "/token" {
            return Reply::Endless {
                status: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
                piece: Vec::new(),
            };
        }
        let host = r.header("host").unwrap_or("").to_owned();
        Reply::challenge(&format!(
            r#"Bearer realm="http://{host}/token",service="r""#
        ))
    });
    // The token server's failure (retried like a broken connection while attempts are
    // left), not a refusal of credentials.
    let out = pull(&server, &[]);
    assert_failed_with(&out, REGISTRY, "larger than 4 MiB");
    assert!(out.stderr_str().contains("fetching a token from"), "{out}");
}

#[test]
fn an_endless_error_body_ends_with_an_error() {
    let server = registry(|| Reply::Endless {
        status: 500,
        headers: vec![("Content-Type".into(), "text/html".into())],
        piece: b"<p>oops</p>".repeat(1000),
    });
    let out = pull(&server, &[]);
    assert_failed_with(&out, REGISTRY, "larger than 4 MiB");
}

/// A registry whose tag list links on to a new, empty page forever, or lists a new tag on
/// every page forever: `tug ls` ends with an error saying so, never a hang.
#[test]
fn an_endless_tag_list_ends_with_an_error() {
    let pages = |names: fn(u64) -> Vec<String>| {
        HostileServer::start(move |r| {
            if r.path() == "/v2/" {
                return Reply::body(200, "application/json", "{}");
            }
            let page: u64 = r
                .target
                .split("page=")
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let body = serde_json::json!({"name": "team/app", "tags": names(page)});
            let link = format!("</v2/team/app/tags/list?page={}>; rel=\"next\"", page + 1);
            Reply::body(200, "application/json", body.to_string()).with_header("Link", &link)
        })
    };
    let ls = |server: &HostileServer| {
        let dir = tempfile::tempdir().unwrap();
        Tug::new()
            .env("TUG_STORE", dir.path().join("store"))
            .args(["ls", "--plain-http", "--retries", "1"])
            .arg(format!("{}/team/app", server.host()))
            .timeout(HANG)
            .run()
    };
    let empty = pages(|_| Vec::new());
    assert_failed_with(&ls(&empty), REGISTRY, "100 pages in a row listed nothing");
    // 200 names a page: past the most names after 5,000 pages.
    let full = pages(|page| (0..200).map(|i| format!("p{page}-{i}")).collect());
    assert_failed_with(&ls(&full), REGISTRY, "go on past 1000000 entries");
}

/// A proxy in front of a registry that gzips JSON (`Content-Encoding: gzip`, never asked
/// for): the manifest and the tag list are read decoded, as browsers and Go's client read
/// them, and the manifest's digest is that of its own bytes.
#[test]
fn a_manifest_and_a_tag_list_sent_gzip_encoded_are_read_decoded() {
    use std::io::Write as _;
    let gzip = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let manifest = big_manifest(2_000);
    let digest = sha256_digest(&manifest);
    let (encoded, tags) = (
        gzip(&manifest),
        gzip(br#"{"name":"team/app","tags":["v1","v2"]}"#),
    );
    let server = HostileServer::start(move |r| {
        if r.path() == "/v2/" {
            Reply::body(200, "application/json", "{}")
        } else if r.path().contains("/manifests/") {
            Reply::body(200, MANIFEST_TYPE, encoded.clone())
                .with_header("Content-Encoding", "gzip")
                .with_header("Docker-Content-Digest", &digest)
        } else if r.path().ends_with("/tags/list") {
            Reply::body(200, "application/json", tags.clone())
                .with_header("Content-Encoding", "gzip")
        } else {
            Reply::registry_error(404, "NOT_FOUND", "not found")
        }
    });
    let tug = |verb: &str, what: &str| {
        Tug::new()
            .args([verb, "--plain-http", "--retries", "1"])
            .arg(format!("{}/team/app{what}", server.host()))
            .timeout(HANG)
            .run()
    };
    let out = tug("digest", ":v1").assert_success();
    assert_eq!(out.stdout_str().trim(), sha256_digest(&manifest));
    let out = tug("manifest", ":v1").assert_success();
    assert_eq!(out.stdout.trim_ascii_end(), manifest.as_slice());
    let out = tug("ls", "").assert_success();
    assert_eq!(out.stdout_str(), "v1\nv2\n");
}

/// A Docker schema 1 manifest, signed anew on every `GET` as distribution serves one: its
/// digest is its payload's (as skopeo says), `tug tag` puts it back under its own media
/// type, `tug delete` by tag deletes that digest, and a pull refuses it for what it is
/// (exit 3), never as a digest mismatch.
#[test]
fn a_signed_schema_1_manifest_is_named_by_its_payload_and_refused_by_a_pull() {
    use base64::Engine as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    const PAYLOAD: &str = "{\n   \"schemaVersion\": 1,\n   \"name\": \"team/app\",\n   \"tag\": \"v1\",\n   \"architecture\": \"amd64\",\n   \"fsLayers\": [],\n   \"history\": []\n}";
    let payload_digest = sha256_digest(PAYLOAD.as_bytes());
    let served = AtomicU64::new(0);
    let signed = move || {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let nonce = served.fetch_add(1, Ordering::Relaxed);
        let cut = PAYLOAD.rfind("\n}").unwrap();
        let protected = serde_json::json!({
            "formatLength": cut,
            "formatTail": b64.encode(&PAYLOAD[cut..]),
            "time": format!("2026-12-07T00:00:{nonce:02}Z"),
        });
        format!(
            "{},\n   \"signatures\": [{{\"header\": {{\"alg\": \"ES256\"}}, \"signature\": \"sig{nonce}\", \"protected\": \"{}\"}}]{}",
            &PAYLOAD[..cut],
            b64.encode(protected.to_string()),
            &PAYLOAD[cut..]
        )
    };
    const SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    let digest = payload_digest.clone();
    let server = HostileServer::start(move |r| {
        if r.path() == "/v2/" {
            Reply::body(200, "application/json", "{}")
        } else if r.method == "PUT" || r.method == "DELETE" {
            Reply::status(if r.method == "PUT" { 201 } else { 202 })
        } else if r.path().contains("/manifests/") {
            Reply::body(200, SIGNED, signed()).with_header("Docker-Content-Digest", &digest)
        } else {
            Reply::registry_error(404, "NOT_FOUND", "not found")
        }
    });
    let tug = |args: &[&str], what: &str| {
        Tug::new()
            .args(args)
            .args(["--plain-http", "--retries", "1"])
            .arg(format!("{}/team/app{what}", server.host()))
            .timeout(HANG)
            .run()
    };
    let out = tug(&["digest"], ":v1").assert_success();
    assert_eq!(out.stdout_str().trim(), payload_digest);
    tug(&["manifest"], &format!("@{payload_digest}")).assert_success();
    Tug::new()
        .args(["tag", "--plain-http", "--retries", "1"])
        .arg(format!("{}/team/app:v1", server.host()))
        .arg("v1-again")
        .timeout(HANG)
        .run()
        .assert_success();
    let put = server
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("tug tag puts the manifest");
    assert_eq!(put.header("content-type"), Some(SIGNED), "{put:?}");
    tug(&["delete"], ":v1").assert_success();
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path().ends_with(&payload_digest)),
        "deleted by the payload's digest"
    );
    let out = pull(&server, &[]);
    assert_failed_with(
        &out,
        crate::common::INVALID_INPUT,
        "Docker schema 1 manifest",
    );
}
