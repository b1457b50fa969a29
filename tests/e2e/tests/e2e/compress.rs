//! `tug push --compress gzip|zstd`: plain tar layers are compressed once, while they are
//! sent (the upload opens before the digest is known, chunks go without `Content-Length`, the
//! session closes with the digest learned at the end), the registry gets blobs that
//! decompress to the original layers (diffIDs, checked through skopeo with decoders other
//! than tug's), a second push compresses and sends nothing, and a killed or broken upload
//! goes on from the registry's offset without sending a byte it has again.

use std::path::Path;

use crate::common::{done_event, multi_platform_layout};
use tug_testkit::fixtures::classic_docker_save;
use tug_testkit::fixtures::{docker25_save, pull_with_skopeo_and_check_diff_ids, write_oci_layout};
use tug_testkit::hashing::sha256_digest;
use tug_testkit::{skopeo, Fault, FaultProxy, ImageSpec, Registry, Rule, Tug};

/// `tug push --compress CODEC` with its own state directory, JSON progress, small chunks
/// (so the larger layers go up in several compressed chunks).
fn push(state: &Path, codec: &str, source: &Path, target: &str) -> Tug {
    Tug::new()
        .env("TUG_STATE_DIR", state)
        .args([
            "push",
            "--plain-http",
            "--progress",
            "json",
            "--compress",
            codec,
        ])
        .args(["--chunk-size", "262144", "--monolithic-max", "262144"])
        .arg(source)
        .arg(target)
}

fn layer_types(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn docker_save_layers_pushed_with_gzip_and_zstd_decompress_to_their_diff_ids() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    // Classic `docker save`: plain layers only, one big enough for several chunks.
    let spec = ImageSpec::new(61)
        .layer(300_000)
        .layer(2_500_000)
        .layer(40_000);
    let fixture = classic_docker_save(&tar, &spec, "app:v1");
    for (codec, suffix) in [("gzip", "+gzip"), ("zstd", "+zstd")] {
        let image = format!("compress/{codec}:v1");
        // A state of its own: with one, the second push would mount the config the first
        // sent to the registry (the bytes counted below are the layers' and the config's).
        let out = push(
            &dir.path().join(format!("state-{codec}")),
            codec,
            &tar,
            &registry.image(&image),
        )
        .run()
        .assert_success();
        let done = done_event(&out);
        let pulled = pull_with_skopeo_and_check_diff_ids(&registry, &image, &fixture);
        assert_eq!(
            pulled.manifest_json["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        for t in layer_types(&pulled.manifest_json) {
            assert!(t.ends_with(suffix), "{codec}: layer media type {t}");
        }
        // Compressed layers are what went over the wire.
        let sent = done["bytes_uploaded"].as_u64().unwrap();
        let plain: u64 = fixture.layers.iter().map(|l| l.size).sum();
        let blobs: u64 = pulled.blobs.values().sum();
        assert_eq!(
            sent, blobs,
            "{codec}: uploaded bytes are the compressed blobs"
        );
        assert!(
            sent < plain + fixture.config.len() as u64,
            "{codec}: {sent} vs {plain} plain"
        );
        assert_eq!(done["digest"], pulled.manifest_digest);
        // One pass: every plain byte went through a compressor once, and what it made is
        // what was sent.
        assert_eq!(
            done["compression"]["plain_bytes"], plain,
            "{codec}: compressed once"
        );
        assert_eq!(
            done["compression"]["compressed_bytes"],
            sent - fixture.config.len() as u64
        );
        // It said what it did once the last layer ended.
        let compressed = event(&out, "compressed");
        assert_eq!(compressed["codec"], codec);
        assert_eq!(compressed["layers"], 3);
        assert_eq!(compressed["measured"], 3);
        assert_eq!(compressed["plain_bytes"], plain);
        assert_eq!(
            compressed["compressed_bytes"],
            sent - fixture.config.len() as u64
        );
    }
}

/// The first JSON event named `name` in `out`'s standard output.
fn event(out: &tug_testkit::TugOutput, name: &str) -> serde_json::Value {
    out.stdout_str()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event in:\n{}", out.stdout_str()))
}

#[test]
fn compressed_layers_are_left_alone_and_a_second_push_compresses_and_sends_nothing() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let tar = dir.path().join("app.tar");
    // Docker 25+ save: an OCI layout inside, one layer gzip already.
    let spec = ImageSpec::new(62).layer(700_000).gzip_layer(200_000);
    let fixture = docker25_save(&tar, &spec, "app:v2");
    let image = registry.image("compress/again:v2");

    let first = push(&state, "zstd", &tar, &image)
        .args(["--progress", "plain"])
        .run()
        .assert_success();
    assert!(
        first
            .stderr_str()
            .contains("Compressed 1 layer with zstd level 3"),
        "{}",
        first.stderr_str()
    );
    let pulled = pull_with_skopeo_and_check_diff_ids(&registry, "compress/again:v2", &fixture);
    let types = layer_types(&pulled.manifest_json);
    assert!(types[0].ends_with("+zstd"), "{types:?}");
    assert_eq!(
        pulled.manifest_json["layers"][1]["digest"], fixture.layers[1].digest,
        "the gzip layer goes up as it is"
    );

    // Same image, same settings: the digest is recalled, the registry has the blob, and
    // nothing is compressed.
    let second = push(&state, "zstd", &tar, &image).run().assert_success();
    assert_eq!(event(&second, "compressed")["measured"], 0, "recalled");
    let done = done_event(&second);
    assert_eq!(done["bytes_uploaded"], 0, "{}", second.stdout_str());
    assert_eq!(
        done["compression"],
        serde_json::json!({"plain_bytes": 0, "compressed_bytes": 0}),
        "no compression for a layer the registry has"
    );
    assert_eq!(done["blobs_skipped"], 3);
    assert_eq!(
        done["digest"], pulled.manifest_digest,
        "same bytes, same manifest"
    );

    // With another state directory it compresses again and makes the same bytes.
    let fresh = push(&dir.path().join("other"), "zstd", &tar, &image)
        .run()
        .assert_success();
    assert_eq!(done_event(&fresh)["digest"], pulled.manifest_digest);
}

/// Requests of `proxy`'s log, from number `from` on, that go to upload sessions.
fn uploads_from(proxy: &FaultProxy, from: usize) -> Vec<tug_testkit::ProxiedRequest> {
    proxy.requests()[from..]
        .iter()
        .filter(|r| r.target.contains("/blobs/uploads/"))
        .cloned()
        .collect()
}

/// The compressed size of layer `i` as the registry holds it.
fn layer_size(pulled: &tug_testkit::fixtures::PulledImage, i: usize) -> u64 {
    pulled.manifest_json["layers"][i]["size"].as_u64().unwrap()
}

#[test]
fn layers_are_sent_while_they_are_compressed_without_a_first_pass() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    let fixture = classic_docker_save(&tar, &ImageSpec::new(69).layer(1_500_000), "app:v9");
    for codec in ["gzip", "zstd"] {
        let image = format!("compress/wire-{codec}:v9");
        let from = proxy.requests().len();
        let out = push(&dir.path().join(codec), codec, &tar, &proxy.image(&image))
            .run()
            .assert_success();
        let pulled = pull_with_skopeo_and_check_diff_ids(&registry, &image, &fixture);
        let digest = pulled.manifest_json["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_owned();
        let log = &proxy.requests()[from..];
        // Nothing could be asked about the layer: its digest was known only at its end.
        assert!(
            !log.iter()
                .any(|r| r.method == "HEAD" && r.target.contains(&digest)),
            "{codec}: {log:#?}"
        );
        // Its chunks went chunked, without Content-Length or Content-Range, and the
        // session closed with the digest.
        let patches: Vec<_> = log.iter().filter(|r| r.method == "PATCH").collect();
        assert!(patches.len() >= 2, "{codec}: {patches:#?}");
        for p in &patches {
            assert_eq!(p.header("transfer-encoding"), Some("chunked"), "{p:#?}");
            assert_eq!(p.header("content-length"), None, "{p:#?}");
            assert_eq!(p.header("content-range"), None, "{p:#?}");
        }
        let close = format!("digest={}", digest.replace(':', "%3A"));
        assert!(
            log.iter()
                .any(|r| r.method == "PUT" && r.target.contains(&close)),
            "{codec}: {log:#?}"
        );
        // Every compressed byte crossed the wire once, and the layer was compressed once.
        let sent: u64 = patches.iter().map(|p| p.request_body_forwarded).sum();
        assert_eq!(sent, layer_size(&pulled, 0), "{codec}");
        let done = done_event(&out);
        assert_eq!(
            done["compression"]["plain_bytes"], fixture.layers[0].size,
            "{codec}"
        );
    }
}

#[test]
fn single_pass_blobs_are_the_bytes_a_pass_on_its_own_makes() {
    // A dry run learns the digests in a pass on its own (the way every push did before
    // compressing while sending), and remembers them; a push with another state directory
    // compresses while it sends. Same codec and level, same bytes.
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    let fixture = classic_docker_save(
        &tar,
        &ImageSpec::new(70).layer(900_000).text_layer(700_000),
        "app:v10",
    );
    for codec in ["gzip", "zstd"] {
        let measured = dir.path().join(format!("dry-{codec}"));
        let image = registry.image(&format!("compress/same-{codec}:v10"));
        push(&measured, codec, &tar, &image)
            .arg("--dry-run")
            .run()
            .assert_success();
        let text = std::fs::read_to_string(measured.join("compressed.json")).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut remembered: Vec<String> = doc
            .as_object()
            .unwrap()
            .values()
            .map(|e| e["digest"].as_str().unwrap().to_owned())
            .collect();
        remembered.sort();
        let out = push(
            &dir.path().join(format!("single-{codec}")),
            codec,
            &tar,
            &image,
        )
        .run()
        .assert_success();
        assert!(
            done_event(&out)["compression"]["plain_bytes"]
                .as_u64()
                .unwrap()
                > 0
        );
        let pulled = pull_with_skopeo_and_check_diff_ids(
            &registry,
            &format!("compress/same-{codec}:v10"),
            &fixture,
        );
        let mut pushed: Vec<String> = (0..2)
            .map(|i| {
                pulled.manifest_json["layers"][i]["digest"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        pushed.sort();
        assert_eq!(pushed, remembered, "{codec}");
    }
}

#[test]
fn broken_chunks_are_compressed_again_and_sent_from_the_registrys_offset() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    let spec = ImageSpec::new(63).layer(3_000_000);
    let fixture = classic_docker_save(&tar, &spec, "app:v3");
    // The third chunk and the sixth break off before a byte of them got to the registry.
    // (distribution keeps a session only while the offset in its upload URL is what it
    // holds: a chunk that got there in part, or whose answer was lost, ends the session,
    // and a fresh one starts: see the next test.)
    proxy.add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::Reset).nth(3));
    proxy.add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::Reset).nth(6));
    let out = push(
        &dir.path().join("state"),
        "gzip",
        &tar,
        &proxy.image("compress/faults:v3"),
    )
    .run()
    .assert_success();
    let done = done_event(&out);
    assert!(
        done["retries"].as_u64().unwrap() >= 2,
        "{}",
        out.stdout_str()
    );
    let pulled = pull_with_skopeo_and_check_diff_ids(&registry, "compress/faults:v3", &fixture);
    // After each break tug asked where the session stood and went on from there, in the
    // same session.
    let log = uploads_from(&proxy, 0);
    let chunk = 262_144;
    let status: Vec<_> = log
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| (r.status, r.upstream_range.clone()))
        .collect();
    let range = |chunks: u64| Some(format!("0-{}", chunks * chunk - 1));
    assert_eq!(
        status,
        [(Some(204), range(2)), (Some(204), range(4))],
        "{log:#?}"
    );
    assert_eq!(
        log.iter().filter(|r| r.method == "POST").count(),
        2,
        "one session per blob"
    );
    // On the wire every byte of the layer went once.
    let sent: u64 = log
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.request_body_forwarded)
        .sum();
    assert_eq!(sent, layer_size(&pulled, 0));
    // A chunk that broke off compressed the layer again from its start.
    let plain = fixture.layers[0].size;
    assert!(done["compression"]["plain_bytes"].as_u64().unwrap() > plain);
}

#[test]
fn a_chunk_broken_midway_starts_a_fresh_session_where_the_registry_drops_it() {
    // distribution drops a session whose PATCH broke off midway (it holds bytes past the
    // offset its upload URL names): the push starts a fresh one and completes.
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    let fixture = classic_docker_save(&tar, &ImageSpec::new(72).layer(2_000_000), "app:v12");
    proxy.add_rule(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::DropRequestBody { after: 100_000 },
        )
        .nth(3)
        .times(2),
    );
    let out = push(
        &dir.path().join("state"),
        "zstd",
        &tar,
        &proxy.image("compress/dropped:v12"),
    )
    .run()
    .assert_success();
    assert!(done_event(&out)["retries"].as_u64().unwrap() >= 2);
    pull_with_skopeo_and_check_diff_ids(&registry, "compress/dropped:v12", &fixture);
    let log = uploads_from(&proxy, 0);
    assert!(
        log.iter()
            .any(|r| r.method == "GET" && r.status == Some(404)),
        "{log:#?}"
    );
}

#[test]
fn a_multi_platform_index_names_the_rewritten_manifests() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (_, children) = multi_platform_layout(&layout);
    let out = push(
        &dir.path().join("state"),
        "zstd",
        &layout,
        &registry.image("compress/multi:multi"),
    )
    .run()
    .assert_success();
    let raw = skopeo::inspect_raw_in(&registry, "compress/multi:multi").unwrap();
    assert_eq!(done_event(&out)["digest"], sha256_digest(&raw));
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let m = index["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    // amd64 had a plain layer: a new manifest; arm64's layer was gzip already: unchanged.
    assert_ne!(m[0]["digest"], children[0].as_str());
    assert_eq!(m[1]["digest"], children[1].as_str());
    let amd = skopeo::inspect_raw_in(
        &registry,
        &format!("compress/multi@{}", m[0]["digest"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(m[0]["size"], amd.len());
    let amd: serde_json::Value = serde_json::from_slice(&amd).unwrap();
    assert!(layer_types(&amd)[0].ends_with("+zstd"));
    // skopeo copies every platform, checking every digest on the way.
    let copy = dir.path().join("copy");
    skopeo::copy_from_registry(
        &registry,
        "compress/multi:multi",
        &format!("oci:{}:x", copy.display()),
        &["--all"],
    )
    .unwrap();
}

#[test]
fn bad_compression_settings_are_usage_errors() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(64).layer(1000), "v1");
    let out = push(
        &dir.path().join("state"),
        "gzip",
        &layout,
        &registry.image("compress/bad:v1"),
    )
    .args(["--compress-level", "12"])
    .run();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr_str());
    assert!(
        out.stderr_str().contains("gzip takes 1 to 9"),
        "{}",
        out.stderr_str()
    );
    let out = Tug::new()
        .env("TUG_STATE_DIR", dir.path().join("state"))
        .args(["push", "--plain-http", "--compress-level", "5"])
        .arg(&layout)
        .arg(registry.image("compress/bad:v1"))
        .run();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr_str());
    assert!(
        out.stderr_str().contains("needs --compress"),
        "{}",
        out.stderr_str()
    );
    let out = Tug::new()
        .args(["push", "--compress", "lz4"])
        .arg(&layout)
        .arg(registry.image("compress/bad:v1"))
        .run();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr_str());
}

#[test]
fn the_config_file_can_ask_for_compression_and_a_flag_can_undo_it() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "compress = \"zstd\"\ncompress_level = 5\n").unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(65).layer(500_000), "v1");
    let tug = |image: &str| {
        Tug::new()
            .env("TUG_STATE_DIR", dir.path().join("state"))
            .env("TUG_CONFIG", &config)
            .args(["push", "--plain-http", "--progress", "plain"])
            .arg(&layout)
            .arg(registry.image(image))
    };
    let out = tug("compress/config:zstd").run().assert_success();
    assert!(
        out.stderr_str().contains("with zstd level 5"),
        "{}",
        out.stderr_str()
    );
    let pulled = pull_with_skopeo_and_check_diff_ids(&registry, "compress/config:zstd", &fixture);
    assert!(layer_types(&pulled.manifest_json)[0].ends_with("+zstd"));

    tug("compress/config:plain")
        .args(["--compress", "none"])
        .run()
        .assert_success();
    let raw = skopeo::inspect_raw_in(&registry, "compress/config:plain").unwrap();
    assert_eq!(
        sha256_digest(&raw),
        fixture.manifest_digest.clone().unwrap()
    );

    // A level the codec does not take names where it came from.
    std::fs::write(&config, "compress = \"gzip\"\ncompress_level = 12\n").unwrap();
    let out = tug("compress/config:bad").run();
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr_str());
    assert!(
        out.stderr_str().contains("gzip takes 1 to 9")
            && out.stderr_str().contains("config.toml:2"),
        "{}",
        out.stderr_str()
    );
}

#[test]
fn a_killed_compressed_push_resumes_where_the_registry_stopped() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let tar = dir.path().join("app.tar");
    let fixture = classic_docker_save(&tar, &ImageSpec::new(66).layer(3_000_000), "app:v6");
    let image = proxy.image("compress/resume:v6");
    // Killed while it sends the layer's fifth chunk: the registry has four.
    crate::common::kill_at_chunk(&proxy, push(&state, "gzip", &tar, &image), 5);
    let before = proxy.request_body_bytes_to("/blobs/uploads/");
    let from = proxy.requests().len();

    let out = push(&state, "gzip", &tar, &image).run().assert_success();
    let done = done_event(&out);
    let pulled = pull_with_skopeo_and_check_diff_ids(&registry, "compress/resume:v6", &fixture);
    let chunk = 262_144;
    // The second run asked the session it kept where it stood (no new session) and went on
    // from the registry's offset.
    let second = uploads_from(&proxy, from);
    assert_eq!(second[0].method, "GET", "{second:#?}");
    assert_eq!(
        second[0].upstream_range.as_deref(),
        Some(&*format!("0-{}", 4 * chunk - 1))
    );
    assert!(!second.iter().any(|r| r.method == "POST"), "{second:#?}");
    // On the wire, every byte of the image went once: what the killed run got through and
    // what the second sent add up to the blobs, nothing before the offset sent again.
    let sent_now = proxy.request_body_bytes_to("/blobs/uploads/") - before;
    assert_eq!(
        before + sent_now,
        layer_size(&pulled, 0) + fixture.config.len() as u64,
        "the killed run sent {before}, the second {sent_now}"
    );
    assert!(before >= 4 * chunk);
    // The price of resuming is CPU: the layer was compressed again from its start.
    assert_eq!(done["compression"]["plain_bytes"], fixture.layers[0].size);
    assert_eq!(done["bytes_uploaded"], layer_size(&pulled, 0));
}

#[test]
fn a_push_killed_before_closing_a_sent_layer_closes_that_session_next_time() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let tar = dir.path().join("app.tar");
    let fixture = classic_docker_save(&tar, &ImageSpec::new(71).layer(1_200_000), "app:v11");
    let image = proxy.image("compress/close:v11");
    // Every chunk of the layer went; the run dies as it closes the session (the second
    // PUT: the config's came first).
    let hold = std::time::Duration::from_secs(100);
    proxy.add_rule(Rule::new("PUT", "/blobs/uploads/", Fault::Stall { hold }).nth(2));
    let mut child = push(&state, "zstd", &tar, &image)
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let held = proxy.wait_for(std::time::Duration::from_secs(300), |log| {
        log.iter()
            .filter(|r| r.is("PUT", "/blobs/uploads/"))
            .count()
            >= 2
    });
    child.kill().unwrap();
    child.wait().unwrap();
    proxy.clear_rules();
    assert!(held, "{:#?}", proxy.requests());
    let from = proxy.requests().len();
    let uploads = state.join("uploads.json");
    let kept = std::fs::read_to_string(&uploads).unwrap();
    assert!(
        kept.contains("/blobs/uploads/"),
        "the session was kept: {kept}"
    );

    // The digest is remembered now; the session, kept under the layer's key, is found
    // under it and closed: no byte of the layer goes again, and nothing is compressed.
    let out = push(&state, "zstd", &tar, &image).run().assert_success();
    pull_with_skopeo_and_check_diff_ids(&registry, "compress/close:v11", &fixture);
    let second = uploads_from(&proxy, from);
    assert!(
        !second
            .iter()
            .any(|r| r.method == "POST" || r.method == "PATCH"),
        "{second:#?}"
    );
    assert!(second.iter().any(|r| r.method == "PUT"), "{second:#?}");
    let done = done_event(&out);
    assert_eq!(done["compression"]["plain_bytes"], 0);
    // Nothing is left to resume.
    let kept = std::fs::read_to_string(&uploads).unwrap();
    assert!(!kept.contains("/blobs/uploads/"), "{kept}");
}

#[test]
fn a_wrong_remembered_digest_fails_the_push_and_names_the_file() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let tar = dir.path().join("app.tar");
    classic_docker_save(&tar, &ImageSpec::new(67).layer(400_000), "app:v7");
    push(&state, "zstd", &tar, &registry.image("compress/first:v7"))
        .run()
        .assert_success();
    // Someone edits the record: the remembered digest is not what compressing gives.
    let file = state.join("compressed.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let real = doc.as_object().unwrap().values().next().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let bogus = sha256_digest(b"not the layer");
    std::fs::write(&file, text.replace(&real, &bogus)).unwrap();

    let out = push(&state, "zstd", &tar, &registry.image("compress/second:v7")).run();
    assert_eq!(out.status.code(), Some(3), "{}", out.stdout_str());
    let err = out.stderr_str();
    assert!(
        err.contains("gave other bytes") && err.contains("compressed.json"),
        "{err}"
    );
    // The manifest naming the bogus blob was never pushed.
    assert!(skopeo::inspect_raw_in(&registry, "compress/second:v7").is_err());
}

#[test]
fn text_layers_shrink_by_more_than_a_third() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    let fixture = classic_docker_save(&tar, &ImageSpec::new(68).text_layer(2_000_000), "app:v8");
    for (codec, most) in [("gzip", 0.6), ("zstd", 0.5)] {
        let image = format!("compress/text-{codec}:v8");
        // A state of its own: with one, the second push would mount the config the first
        // sent to the registry (the bytes counted below are the layers' and the config's).
        let out = push(
            &dir.path().join(format!("state-{codec}")),
            codec,
            &tar,
            &registry.image(&image),
        )
        .run()
        .assert_success();
        pull_with_skopeo_and_check_diff_ids(&registry, &image, &fixture);
        let sent = done_event(&out)["bytes_uploaded"].as_u64().unwrap();
        let plain = fixture.layers[0].size + fixture.config.len() as u64;
        assert!(
            (sent as f64) < most * plain as f64,
            "{codec}: {sent} bytes sent for {plain}"
        );
    }
}

/// A layer whose bytes are gzip though its OCI descriptor says plain tar is not compressed
/// again (its bytes decide, as for a docker save): the pushed image's layers still
/// decompress, once, to the config's diffIDs.
#[test]
fn a_gzip_layer_labelled_plain_is_not_compressed_again() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("labelled");
    let spec = ImageSpec::new(77).gzip_layer(200_000).layer(50_000);
    let fixture = tug_testkit::fixtures::plain_labelled_gzip_layout(&layout, &spec, "v1");
    for codec in ["gzip", "zstd"] {
        let target = format!("relabel/{codec}:v1");
        push(
            &dir.path().join(codec),
            codec,
            &layout,
            &registry.image(&target),
        )
        .run()
        .assert_success();
        pull_with_skopeo_and_check_diff_ids(&registry, &target, &fixture);
    }
}
