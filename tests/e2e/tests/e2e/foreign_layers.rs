//! Foreign layers (a layer descriptor with `urls`: Windows base layers, non-distributable
//! layers): tug never uploads or downloads one, as skopeo and crane do toward registries and
//! layouts. A layout need not hold it, a push and a copy keep the manifest naming it, a pull
//! into a layout leaves it out, and a `docker save` tar, which needs its bytes, is refused.

use std::fs;
use std::path::Path;

use serde_json::json;

use crate::common::{hermetic, Env, INVALID_INPUT, REGISTRY};
use tug_testkit::hashing::sha256_digest;
use tug_testkit::{skopeo, Registry, RegistryConfig, Tug, TugOutput};

const NONDISTRIBUTABLE: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
const URL: &str = "https://example.invalid/windows/base.tar.gz";

/// An OCI layout of one image whose first layer is foreign (not in the layout) and whose
/// second is an ordinary gzip layer: its manifest bytes, and the two layer digests.
fn foreign_layout(dir: &Path) -> (Vec<u8>, String, String) {
    let put = |bytes: &[u8]| tug_testkit::fixtures::put_blob(dir, bytes);
    let foreign_tar = b"the foreign layer's tar, never in the layout".to_vec();
    let foreign_digest = sha256_digest(&foreign_tar);
    let mut tar = tar::Builder::new(Vec::new());
    let data = b"hello from the app layer\n".repeat(100);
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "app/hello.txt", data.as_slice())
        .unwrap();
    let plain = tar.into_inner().unwrap();
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&plain).unwrap();
        e.finish().unwrap()
    };
    let layer = put(&gz);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers",
                   "diff_ids": [sha256_digest(&foreign_tar), sha256_digest(&plain)]},
    }))
    .unwrap();
    let config_digest = put(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [
            {"mediaType": NONDISTRIBUTABLE, "digest": foreign_digest,
             "size": foreign_tar.len(), "urls": [URL]},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": layer, "size": gz.len()},
        ],
    }))
    .unwrap();
    let manifest_digest = put(&manifest);
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    (manifest, foreign_digest, layer)
}

fn run(env: &Env, args: &[&str]) -> TugOutput {
    hermetic(Tug::new(), env.dir.path()).args(args).run()
}

#[test]
fn a_foreign_layer_is_never_moved_and_its_manifest_is_kept() {
    let env = Env::new();
    let registry = Registry::plain();
    let layout = env.path("layout");
    let (manifest, foreign, layer) = foreign_layout(&layout);
    let image = registry.image("foreign/app:v1");
    run(&env, &["push", "-q", layout.to_str().unwrap(), &image]).assert_success();
    assert_eq!(
        skopeo::inspect_raw_in(&registry, "foreign/app:v1").unwrap(),
        manifest
    );
    let blob = |d: &str| {
        run(
            &env,
            &["blob", &format!("{}@{d}", registry.image("foreign/app"))],
        )
    };
    let absent = blob(&foreign).assert_code(REGISTRY);
    assert!(
        absent.stderr_str().contains("BLOB_UNKNOWN"),
        "{}",
        absent.stderr_str()
    );
    blob(&layer).assert_success();

    // Between registries: the destination's manifest names it too, nothing fetched.
    let copied = registry.image("foreign/copy:v1");
    run(&env, &["copy", "-q", &image, &copied]).assert_success();
    assert_eq!(
        skopeo::inspect_raw_in(&registry, "foreign/copy:v1").unwrap(),
        manifest
    );

    // Into a layout: the image without the foreign blob, as skopeo writes it; back out.
    let pulled = env.path("pulled");
    run(
        &env,
        &["pull", "-q", "-o", pulled.to_str().unwrap(), &image],
    )
    .assert_success();
    let held = |d: &str| {
        pulled
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    assert!(held(&layer).exists() && !held(&foreign).exists());
    run(&env, &["load", pulled.to_str().unwrap()]).assert_success();
    let stored = registry.image("foreign/app:v1");
    run(&env, &["prune", "--all"]).assert_success();
    let archive = env.path("saved.oci.tar");
    run(&env, &["save", &stored, "-o", archive.to_str().unwrap()]).assert_success();
    run(
        &env,
        &[
            "push",
            "-q",
            archive.to_str().unwrap(),
            &registry.image("foreign/again:v1"),
        ],
    )
    .assert_success();
    assert_eq!(
        skopeo::inspect_raw_in(&registry, "foreign/again:v1").unwrap(),
        manifest
    );

    // A docker save tar holds every layer's bytes: refused, naming the layer and its URL.
    let tar = env.path("app.tar");
    for out in [
        run(&env, &["pull", "-o", tar.to_str().unwrap(), &image]),
        run(&env, &["save", &stored, "-o", tar.to_str().unwrap()]),
    ] {
        let out = out.assert_code(INVALID_INPUT);
        let err = out.stderr_str();
        assert!(err.contains(&foreign) && err.contains(URL), "{err}");
        assert!(!tar.exists(), "no tar is left");
    }
}

/// distribution refuses a manifest naming a foreign layer's URLs unless its config allows
/// them (a `500` naming the layer `MANIFEST_BLOB_UNKNOWN`): the push fails at once, naming
/// the layer and the setting that allows it.
#[test]
fn a_registry_refusing_foreign_urls_is_named_with_its_setting() {
    let env = Env::new();
    let registry = Registry::start(RegistryConfig::plain().with_foreign_urls_refused());
    let layout = env.path("layout");
    let (_, foreign, _) = foreign_layout(&layout);
    let image = registry.image("foreign/app:v1");
    let out = run(&env, &["push", layout.to_str().unwrap(), &image]).assert_code(REGISTRY);
    let err = out.stderr_str();
    assert!(err.contains(&format!("foreign layer {foreign}")), "{err}");
    assert!(err.contains("validation.manifests.urls.allow"), "{err}");
    assert!(!err.contains("retrying"), "not retried: {err}");
}
