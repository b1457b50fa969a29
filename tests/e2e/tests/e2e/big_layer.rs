//! One image with a single layer over 4 GiB pushes correctly (the file is sparse on disk).

use tug_testkit::fixtures::big_layer_tar;
use tug_testkit::room::tempdir_with_room;
use tug_testkit::{Registry, RegistryConfig};

#[test]
fn a_layer_over_4_gib_pushes_intact() {
    let size = (4u64 << 30) + (1 << 20) + 7;
    // The tar is sparse; the registry's copy of the layer is not.
    let dir = tempdir_with_room(size);
    let registry = Registry::start(RegistryConfig::plain().with_temp_parent(dir.path()));
    let tar = dir.path().join("big.tar");
    let fixture = big_layer_tar(&tar, size);
    let out = crate::common::push_with(&registry, &tar, "big/app:v1", &["--progress", "json"])
        .assert_success();
    let done = crate::common::done_event(&out);
    assert_eq!(
        done["bytes_uploaded"].as_u64().unwrap(),
        size + fixture.config.len() as u64
    );

    // The registry holds the layer under its digest with its full size, and the tag points
    // at a manifest naming it.
    let manifest = tug_testkit::skopeo::inspect_raw_in(&registry, "big/app:v1").unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["layers"][0]["digest"],
        fixture.layers[0].digest.as_str()
    );
    assert_eq!(manifest["layers"][0]["size"].as_u64(), Some(size));
    let url = format!(
        "{}/v2/big/app/blobs/{}",
        registry.url(),
        fixture.layers[0].digest
    );
    let resp = registry.agent().head(&url).call().unwrap();
    assert_eq!(resp.status(), 200);
    let len: u64 = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(len, size);
    assert_eq!(
        resp.headers()["docker-content-digest"],
        fixture.layers[0].digest.as_str()
    );
}
