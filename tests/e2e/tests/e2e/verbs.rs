//! The registry verbs (`ls`, `catalog`, `digest`, `manifest`, `tag`, `delete`, `blob`) against the
//! harness's real registries (TLS + htpasswd, and the token server), each checked against
//! skopeo's view of the same registry.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tug_testkit::hashing::sha256_digest;
use tug_testkit::skopeo::{self, registry_args, Side};
use tug_testkit::{Fault, ImageSpec, Registry, RegistryConfig, Rule, Tug, TugOutput};

use crate::common::{multi_platform_layout, Env, Scene, INVALID_INPUT, REGISTRY};

const USER: &str = "verbs-user";
const PASSWORD: &str = "verbs-Pa55";
/// The exit code of a wrong command line (README "Exit codes").
const USAGE: i32 = 2;

/// `tug VERB --ca-file CA` in `env`, with the registry's credentials in the environment.
fn verb(env: &Env, registry: &Registry, name: &str) -> Tug {
    let mut tug = env.tug().arg(name);
    if let Some(ca) = registry.ca_file() {
        tug = tug.arg("--ca-file").arg(ca);
    }
    match registry.credentials() {
        Some((user, password)) => tug.env("TUG_USERNAME", user).env("TUG_PASSWORD", password),
        None => tug,
    }
}

/// `skopeo ARGS… REF` with the flags that reach `registry`.
fn skopeo_on(registry: &Registry, args: &[&str], reference: &str) -> Vec<u8> {
    let mut all: Vec<OsString> = args.iter().map(OsString::from).collect();
    all.extend(registry_args(registry, Side::Single));
    all.push(registry.docker_ref(reference).into());
    skopeo::run(all).unwrap_or_else(|e| panic!("{e}"))
}

/// A small image pushed with skopeo to `registry` as `name_and_ref`.
fn pushed(env: &Env, registry: &Registry, seed: u64, name_and_ref: &str) {
    let (layout, _) = env.layout(seed, &ImageSpec::new(seed).layer(3_000));
    let src = format!("oci:{}:v1", layout.display());
    skopeo::copy_to_registry(&src, registry, name_and_ref, skopeo::NO_ARGS)
        .unwrap_or_else(|e| panic!("{e}"));
}

fn stdout_lines(out: &TugOutput) -> Vec<String> {
    out.stdout_str().lines().map(str::to_owned).collect()
}

fn tls_basic() -> Registry {
    Registry::tls_basic_auth(USER, PASSWORD)
}

#[test]
fn tag_then_ls_agrees_with_skopeo() {
    let registry = tls_basic();
    let env = Env::new();
    pushed(&env, &registry, 41, "team/app:v0");
    let raw = skopeo::inspect_raw_in(&registry, "team/app:v0").unwrap();
    let digest = sha256_digest(&raw);
    let new_tags: Vec<String> = (1..=30).map(|i| format!("t{i:02}")).collect();

    let out = verb(&env, &registry, "tag")
        .arg(registry.image("team/app:v0"))
        .args(&new_tags)
        .run()
        .assert_success();
    let pinned = format!("{}@{digest}", registry.image("team/app"));
    assert_eq!(stdout_lines(&out), [pinned], "{}", out.stderr_str());
    for tag in ["t01", "t17", "t30"] {
        let again = skopeo::inspect_raw_in(&registry, &format!("team/app:{tag}")).unwrap();
        assert_eq!(again, raw, "{tag} names the same manifest bytes");
    }

    let out = verb(&env, &registry, "ls")
        .args(["--page-size", "7"])
        .arg(format!("docker://{}", registry.image("team/app")))
        .run()
        .assert_success();
    // distribution 2.8 answers a tag list in one page whatever `n` asks (pagination of
    // tags came in distribution 3): the catalog test below follows its `Link` pages.
    let listed: serde_json::Value =
        serde_json::from_slice(&skopeo_on(&registry, &["list-tags"], "team/app")).unwrap();
    let mut expected: Vec<String> = listed["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 31);
    let mut got = stdout_lines(&out);
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    let out = verb(&env, &registry, "ls")
        .args(["--page-size", "7", "--json"])
        .arg(registry.image("team/app"))
        .run()
        .assert_success();
    let json: serde_json::Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    assert_eq!(json["name"], "team/app");
    assert_eq!(json["tags"].as_array().unwrap().len(), 31);
}

#[test]
fn ls_of_an_unknown_repository_names_the_registry_s_code() {
    let registry = tls_basic();
    let env = Env::new();
    // NAME_UNKNOWN: the not-found exit code.
    let out = verb(&env, &registry, "ls")
        .arg(registry.image("no/such"))
        .run()
        .assert_code(crate::common::NOT_FOUND);
    assert!(
        out.stderr_str().contains("NAME_UNKNOWN"),
        "{}",
        out.stderr_str()
    );
}

#[test]
fn catalog_lists_every_repository_across_pages() {
    let registry = tls_basic();
    let env = Env::new();
    for (i, repo) in ["a/one", "b/two", "c/three"].iter().enumerate() {
        pushed(&env, &registry, 50 + i as u64, &format!("{repo}:v1"));
    }
    let out = verb(&env, &registry, "catalog")
        .args(["-v", "--page-size", "2"])
        .arg(registry.host())
        .run()
        .assert_success();
    assert_eq!(stdout_lines(&out), ["a/one", "b/two", "c/three"]);
    let stderr = out.stderr_str();
    let pages = stderr
        .lines()
        .filter(|l| l.contains(" GET ") && l.contains("/v2/_catalog?") && l.contains("n=2"))
        .count();
    assert_eq!(
        pages, 2,
        "3 repositories at 2 a page are 2 pages:\n{stderr}"
    );
    let out = verb(&env, &registry, "catalog")
        .arg("--json")
        .arg(format!("docker://{}", registry.host()))
        .run()
        .assert_success();
    let json: serde_json::Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    assert_eq!(
        json["repositories"],
        serde_json::json!(["a/one", "b/two", "c/three"])
    );
}

#[test]
fn digest_and_manifest_are_skopeo_s_raw_bytes_and_their_platforms() {
    let registry = tls_basic();
    let env = Env::new();
    let layout = env.path("multi");
    multi_platform_layout(&layout);
    let src = format!("oci:{}:multi", layout.display());
    skopeo::copy_to_registry(&src, &registry, "team/multi:1", &["--all"]).unwrap();
    // The index and its children as the registry holds them (skopeo may rewrite them).
    let raw = skopeo::inspect_raw_in(&registry, "team/multi:1").unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let children: Vec<String> = ["amd64", "arm64"]
        .iter()
        .map(|arch| {
            let entries = parsed["manifests"].as_array().unwrap();
            let entry = entries
                .iter()
                .find(|m| m["platform"]["architecture"] == *arch)
                .unwrap();
            entry["digest"].as_str().unwrap().to_owned()
        })
        .collect();

    let image = registry.image("team/multi:1");
    let out = verb(&env, &registry, "digest")
        .arg(&image)
        .run()
        .assert_success();
    assert_eq!(stdout_lines(&out), [sha256_digest(&raw)]);
    let out = verb(&env, &registry, "manifest")
        .arg(&image)
        .run()
        .assert_success();
    assert_eq!(out.stdout, raw);

    let out = verb(&env, &registry, "digest")
        .args(["--platform", "linux/arm64"])
        .arg(&image)
        .run()
        .assert_success();
    assert_eq!(stdout_lines(&out), [children[1].clone()]);
    let out = verb(&env, &registry, "manifest")
        .args(["--platform", "linux/arm64"])
        .arg(format!("docker://{image}"))
        .run()
        .assert_success();
    let child = skopeo::inspect_raw_in(&registry, &format!("team/multi@{}", children[1])).unwrap();
    assert_eq!(out.stdout, child);

    let out = verb(&env, &registry, "digest")
        .arg("--json")
        .arg(registry.image(&format!("team/multi@{}", children[0])))
        .run()
        .assert_success();
    let json: serde_json::Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    assert_eq!(json["digest"], children[0].as_str());
    assert_eq!(
        json["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );

    let out = verb(&env, &registry, "digest")
        .args(["--platform", "linux/s390x"])
        .arg(&image)
        .run();
    assert!(!out.success());
    assert!(
        out.stderr_str().contains("linux/amd64, linux/arm64"),
        "{}",
        out.stderr_str()
    );
}

/// `tug delete` of a tag says the digest, deletes the manifest, and skopeo no longer finds it.
fn delete_by_tag(registry: &Registry) {
    let env = Env::new();
    pushed(&env, registry, 61, "team/gone:v1");
    let digest = sha256_digest(&skopeo::inspect_raw_in(registry, "team/gone:v1").unwrap());
    let out = verb(&env, registry, "delete")
        .arg(format!("docker://{}", registry.image("team/gone:v1")))
        .run()
        .assert_success();
    let stderr = out.stderr_str();
    assert!(
        stderr.contains(&format!("team/gone:v1 is {digest}")),
        "{stderr}"
    );
    // What goes is said: the manifest, every tag naming it with it.
    assert!(
        stderr.contains("every tag naming it is gone too"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let gone = skopeo::inspect_raw_in(registry, &format!("team/gone@{digest}")).unwrap_err();
    assert!(gone.stderr.contains("manifest unknown"), "{gone}");
}

#[test]
fn delete_resolves_a_tag_and_deletes_by_digest() {
    delete_by_tag(&tls_basic());
}

#[test]
fn delete_and_ls_with_the_token_server() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    delete_by_tag(&registry);
    let env = Env::new();
    pushed(&env, &registry, 62, "team/kept:v1");
    let out = verb(&env, &registry, "ls")
        .arg(registry.image("team/kept"))
        .run()
        .assert_success();
    assert_eq!(stdout_lines(&out), ["v1"]);
}

#[test]
fn delete_where_the_registry_refuses_names_its_code() {
    let registry = Registry::start(
        RegistryConfig::tls()
            .with_basic_auth(USER, PASSWORD)
            .with_deletion_disabled(),
    );
    let env = Env::new();
    pushed(&env, &registry, 63, "team/kept:v1");
    let out = verb(&env, &registry, "delete")
        .arg(registry.image("team/kept:v1"))
        .run()
        .assert_code(REGISTRY);
    let stderr = out.stderr_str();
    assert!(
        stderr.contains("405")
            && stderr.contains("UNSUPPORTED")
            && stderr.contains("does not allow deleting"),
        "{stderr}"
    );
    skopeo::inspect_raw_in(&registry, "team/kept:v1").expect("still there");
}

#[test]
fn tag_refuses_a_bad_tag_and_tags_nothing() {
    let registry = tls_basic();
    let env = Env::new();
    pushed(&env, &registry, 64, "team/app:v1");
    let out = verb(&env, &registry, "tag")
        .arg(registry.image("team/app:v1"))
        .args(["ok", "bad!tag"])
        .run()
        .assert_code(2);
    assert!(out.stderr_str().contains("bad!tag"), "{}", out.stderr_str());
    // A reference where a tag goes: tug tag stays in the image's repository.
    let out = verb(&env, &registry, "tag")
        .arg(registry.image("team/app:v1"))
        .arg(registry.image("team/other:v3"))
        .run()
        .assert_code(2);
    assert!(
        out.stderr_str().contains("tug copy"),
        "{}",
        out.stderr_str()
    );
    let listed = skopeo_on(&registry, &["list-tags"], "team/app");
    assert!(!String::from_utf8_lossy(&listed).contains("\"ok\""));
}

const BLOB_REPO: &str = "team/blobs:v1";

/// A plain registry behind the fault proxy holding an image of a ~2 MiB layer and a small
/// gzip one (pushed by skopeo), and the image as skopeo stores it in an OCI layout.
fn blob_scene(seed: u64) -> (Scene, PathBuf) {
    let s = Scene::new(&ImageSpec::new(seed).layer(2_000_000).gzip_layer(40_000));
    let src = format!("oci:{}:v1", s.layout.display());
    skopeo::copy_to_registry(&src, &s.registry, BLOB_REPO, skopeo::NO_ARGS).unwrap();
    let stored = s.env.path("skopeo-oci");
    let dst = format!("oci:{}:v1", stored.display());
    skopeo::copy_from_registry(&s.registry, BLOB_REPO, &dst, skopeo::NO_ARGS).unwrap();
    (s, stored)
}

/// `tug blob --plain-http` of `digest` in the scene's repository, through the proxy.
fn blob_verb(s: &Scene, digest: &str) -> Tug {
    let repo = BLOB_REPO.split(':').next().unwrap();
    s.tug()
        .args(["blob", "--plain-http"])
        .arg(format!("docker://{}@{digest}", s.proxy.image(repo)))
}

/// The layer digests of the image in skopeo's layout at `stored`, and its blob directory.
fn stored_layers(stored: &Path) -> (Vec<String>, PathBuf) {
    let blobs = stored.join("blobs/sha256");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stored.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blobs.join(manifest.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    (layers, blobs)
}

#[test]
fn blob_writes_skopeo_s_bytes_resuming_a_broken_download() {
    let (s, stored) = blob_scene(71);
    let (layers, blobs) = stored_layers(&stored);
    let skopeo_bytes =
        |d: &str| std::fs::read(blobs.join(d.trim_start_matches("sha256:"))).unwrap();

    // The big layer, cut off after 512 KiB once: tug asks for the rest with Range.
    let big = &layers[0];
    s.proxy.add_rule(
        Rule::new(
            "GET",
            &format!("/blobs/{big}"),
            Fault::DropResponseBody { after: 512 << 10 },
        )
        .times(1),
    );
    let out_dir = s.env.path("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let file = out_dir.join("layer.bin");
    let out = blob_verb(&s, big)
        .arg("-o")
        .arg(&file)
        .run()
        .assert_success();
    assert!(out.stdout.is_empty(), "{out}");
    assert!(std::fs::read(&file).unwrap() == skopeo_bytes(big), "{out}");
    assert_eq!(
        crate::common::names_in(&out_dir),
        ["layer.bin"],
        "no temporary file is left"
    );
    let ranged = s
        .proxy
        .requests_matching("GET", &format!("/blobs/{big}"))
        .len();
    assert_eq!(ranged, 2, "{}", s.log());

    // The gzip layer, to standard output.
    let small = &layers[1];
    let out = blob_verb(&s, small).run().assert_success();
    assert!(out.stdout == skopeo_bytes(small), "{out}");
}

#[test]
fn blob_with_bytes_that_are_not_its_digest_fails_and_writes_nothing() {
    let (s, stored) = blob_scene(72);
    let (layers, _) = stored_layers(&stored);
    let small = &layers[1];
    let forged = Fault::Respond {
        status: 200,
        headers: vec![("Content-Type".into(), "application/octet-stream".into())],
        body: b"not the layer you asked for".to_vec(),
    };
    s.proxy
        .add_rule(Rule::new("GET", &format!("/blobs/{small}"), forged).times(1));
    let out_dir = s.env.path("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let file = out_dir.join("layer.bin");
    let out = blob_verb(&s, small)
        .args(["--retries", "1", "-o"])
        .arg(&file)
        .run()
        .assert_code(INVALID_INPUT);
    let stderr = out.stderr_str();
    assert!(
        stderr.contains(small.as_str()) && stderr.contains("digest"),
        "{stderr}"
    );
    assert!(
        crate::common::names_in(&out_dir).is_empty(),
        "nothing is renamed into place or left behind"
    );
}

#[test]
fn blob_unknown_or_not_named_by_digest_is_refused() {
    let (s, _) = blob_scene(73);
    let unknown = sha256_digest(b"no such blob");
    let out = blob_verb(&s, &unknown).run().assert_code(REGISTRY);
    assert!(
        out.stderr_str().contains("BLOB_UNKNOWN"),
        "{}",
        out.stderr_str()
    );
    assert!(out.stdout.is_empty());

    let out = s
        .tug()
        .args(["blob", "--plain-http"])
        .arg(s.proxy.image(BLOB_REPO))
        .run()
        .assert_code(USAGE);
    assert!(
        out.stderr_str().contains("names no blob"),
        "{}",
        out.stderr_str()
    );
}

/// `tug inspect --json ARGS… IMAGE`, parsed.
fn inspect_json(env: &Env, registry: &Registry, args: &[&str], image: &str) -> serde_json::Value {
    let out = verb(env, registry, "inspect")
        .arg("--json")
        .args(args)
        .arg(image)
        .run()
        .assert_success();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The `(digest, size, mediaType)` of each layer a manifest lists (tug's JSON and the
/// registry's manifest spell them alike).
fn layers_of(v: &serde_json::Value) -> Vec<(String, u64, String)> {
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap().to_owned();
            (s("digest"), l["size"].as_u64().unwrap(), s("mediaType"))
        })
        .collect()
}

#[test]
fn inspect_of_a_registry_image_agrees_with_skopeo() {
    let registry = tls_basic();
    let env = Env::new();
    pushed(&env, &registry, 81, "team/one:v1");
    let raw = skopeo::inspect_raw_in(&registry, "team/one:v1").unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let config = skopeo_on(&registry, &["inspect", "--config", "--raw"], "team/one:v1");
    let seen: serde_json::Value =
        serde_json::from_slice(&skopeo_on(&registry, &["inspect"], "team/one:v1")).unwrap();
    let image = registry.image("team/one:v1");

    let v = inspect_json(&env, &registry, &[], &format!("docker://{image}"));
    assert_eq!(v["digest"], sha256_digest(&raw));
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{v:#}");
    let one = &images[0];
    assert_eq!(one["manifest"]["digest"], sha256_digest(&raw));
    assert_eq!(one["manifest"]["size"], raw.len());
    assert_eq!(one["config"]["digest"], manifest["config"]["digest"]);
    assert_eq!(one["config"]["size"], config.len());
    assert_eq!(layers_of(one), layers_of(&manifest));
    let skopeo_layers: Vec<&str> = seen["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let tug_layers: Vec<String> = layers_of(one).into_iter().map(|l| l.0).collect();
    assert_eq!(tug_layers, skopeo_layers);
    let platform = format!(
        "{}/{}",
        seen["Os"].as_str().unwrap(),
        seen["Architecture"].as_str().unwrap()
    );
    assert_eq!(one["platform"], platform.as_str());
    assert_eq!(one["summary"]["created"], seen["Created"]);
    assert_eq!(
        one["summary"]["env"],
        seen["Env"].as_array().map_or(0, Vec::len)
    );
    let config_json: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(one["summary"]["cmd"], config_json["config"]["Cmd"]);
    let labels = seen["Labels"].as_object().cloned().unwrap_or_default();
    assert!(!labels.is_empty(), "the fixture has labels");
    assert_eq!(one["summary"]["labels"], serde_json::Value::Object(labels));

    let out = verb(&env, &registry, "inspect")
        .arg("--config")
        .arg(&image)
        .run()
        .assert_success();
    assert_eq!(out.stdout, config);

    let out = verb(&env, &registry, "inspect")
        .arg(&image)
        .run()
        .assert_success();
    let text = out.stdout_str();
    let (first, size, media_type) = &layers_of(&manifest)[0];
    assert!(
        text.contains(&format!("  layer  1 {first}")) && text.contains(media_type.as_str()),
        "{text}"
    );
    assert!(text.contains(&format!("  platform {platform}")), "{text}");
    assert!(size > &0);
}

#[test]
fn inspect_of_a_multi_arch_index_shows_each_platform_as_skopeo_does() {
    let registry = tls_basic();
    let env = Env::new();
    let layout = env.path("multi");
    multi_platform_layout(&layout);
    let src = format!("oci:{}:multi", layout.display());
    skopeo::copy_to_registry(&src, &registry, "team/multi:1", &["--all"]).unwrap();
    let raw = skopeo::inspect_raw_in(&registry, "team/multi:1").unwrap();
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let image = registry.image("team/multi:1");

    let v = inspect_json(&env, &registry, &[], &image);
    assert_eq!(v["digest"], sha256_digest(&raw));
    let images = v["images"].as_array().unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(images.len(), entries.len());
    for (img, entry) in images.iter().zip(entries) {
        let platform = &entry["platform"];
        let name = format!(
            "{}/{}",
            platform["os"].as_str().unwrap(),
            platform["architecture"].as_str().unwrap()
        );
        assert_eq!(img["platform"], name.as_str());
        assert_eq!(img["manifest"]["digest"], entry["digest"]);
        assert_eq!(img["index"]["digest"], sha256_digest(&raw));
        let digest = entry["digest"].as_str().unwrap();
        let child = skopeo::inspect_raw_in(&registry, &format!("team/multi@{digest}")).unwrap();
        let child: serde_json::Value = serde_json::from_slice(&child).unwrap();
        assert_eq!(layers_of(img), layers_of(&child));
        assert_eq!(img["config"]["digest"], child["config"]["digest"]);
    }

    // One platform: its image alone, and its config as skopeo picks it.
    let v = inspect_json(&env, &registry, &["--platform", "linux/arm64"], &image);
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["platform"], "linux/arm64");
    let out = verb(&env, &registry, "inspect")
        .args(["--config", "--platform", "linux/arm64"])
        .arg(&image)
        .run()
        .assert_success();
    let config = skopeo_on(
        &registry,
        &[
            "inspect",
            "--config",
            "--raw",
            "--override-os",
            "linux",
            "--override-arch",
            "arm64",
        ],
        "team/multi:1",
    );
    assert_eq!(out.stdout, config);

    let out = verb(&env, &registry, "inspect")
        .arg("--config")
        .arg(&image)
        .run()
        .assert_code(USAGE);
    assert!(
        out.stderr_str().contains("linux/amd64, linux/arm64"),
        "{}",
        out.stderr_str()
    );
}

/// The verbs' flags are the registry options they use (TLS, credentials, timeouts, retries),
/// not the blob-moving ones of push and pull, which keep them.
#[test]
fn verbs_take_the_registry_options_and_no_transfer_flags() {
    let env = Env::new();
    let help = |args: &[&str]| env.tug().args(args).arg("--help").run().assert_success();
    let reach = [
        "--retries",
        "--retry-max-wait",
        "--ca-file",
        "--insecure",
        "--plain-http",
        "--connect-timeout",
        "--stall-timeout",
        "--username",
        "--password-stdin",
    ];
    let transfer = ["--jobs", "--progress", "--adaptive", "--fixed-jobs"];
    let verbs = [
        "ls", "catalog", "digest", "manifest", "tag", "delete", "blob", "inspect",
    ];
    for verb in verbs {
        let out = help(&[verb]);
        let text = out.stdout_str();
        for flag in reach {
            assert!(
                text.contains(flag),
                "tug {verb} --help lacks {flag}:\n{text}"
            );
        }
        for flag in transfer {
            assert!(
                !text.contains(flag),
                "tug {verb} --help shows {flag}:\n{text}"
            );
        }
        let out = env
            .tug()
            .args([verb, "--jobs", "2", "example.com/team/app:v1"])
            .run()
            .assert_code(USAGE);
        assert!(out.stderr_str().contains("--jobs"), "{out}");
    }
    for command in ["push", "pull", "copy"] {
        let text = help(&[command]).stdout_str().to_owned();
        for flag in transfer.iter().chain(&["--retries", "--retry-max-wait"]) {
            assert!(
                text.contains(flag),
                "tug {command} --help lacks {flag}:\n{text}"
            );
        }
    }
}

/// `--retries` reaches a verb's requests: one 503 is retried by default, and is the error
/// with `--retries 1`.
#[test]
fn a_verb_retries_as_its_retries_flag_says() {
    let (s, _) = blob_scene(74);
    let digest = |extra: &[&str]| {
        s.proxy
            .add_rule(Rule::new("HEAD", "/manifests/", Fault::status(503)).times(1));
        s.tug()
            .args(["digest", "--plain-http"])
            .args(extra)
            .arg(s.proxy.image(BLOB_REPO))
            .run()
    };
    let out = digest(&[]).assert_success();
    assert!(out.stderr_str().contains("(attempt 2)"), "{out}");
    let raw = skopeo::inspect_raw_in(&s.registry, BLOB_REPO).unwrap();
    assert_eq!(stdout_lines(&out), [sha256_digest(&raw)]);
    let out = digest(&["--retries", "1"]).assert_code(REGISTRY);
    assert!(out.stderr_str().contains("503"), "{out}");
}
