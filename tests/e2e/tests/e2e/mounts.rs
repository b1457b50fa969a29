//! Blobs tug put in (or read from) one repository of a registry are mounted, not sent again,
//! by a later push or copy to another repository of that registry (skopeo does the same
//! with its blob-info cache); a mount the registry refuses sends the blob instead.

use tug_testkit::fixtures::pull_with_skopeo_and_compare;
use tug_testkit::{Fault, FaultProxy, ImageSpec, Registry, Rule};

use crate::common::{done_event, Env};

/// `tug push --progress json` of `layout` to `image` (plain HTTP) in `env`'s world.
fn push(env: &Env, layout: &std::path::Path, image: &str) -> tug_testkit::TugOutput {
    env.tug()
        .args(["push", "--plain-http", "--progress", "json"])
        .arg(layout)
        .arg(image)
        .run()
        .assert_success()
}

#[test]
fn a_push_to_another_repository_mounts_what_an_earlier_push_sent() {
    let env = Env::new();
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let (layout, fixture) = env.layout(71, &ImageSpec::new(71).layer(300_000).layer(20_000));
    // Blobs are known by registry as written: both pushes go through the proxy.
    push(&env, &layout, &proxy.image("one/app:v1"));

    let done = done_event(&push(&env, &layout, &proxy.image("two/app:v1")));
    assert_eq!(done["blobs_mounted"], 3, "{done}");
    assert_eq!(done["bytes_uploaded"], 0, "{done}");
    let posts = proxy.requests_matching("POST", "/two/app/blobs/uploads/");
    assert!(
        !posts.is_empty() && posts.iter().all(|r| r.target.contains("from=one%2Fapp")),
        "{posts:#?}"
    );
    assert!(proxy
        .requests_matching("PATCH", "/two/app/blobs/uploads/")
        .is_empty());
    assert!(proxy
        .requests_matching("PUT", "/two/app/blobs/uploads/")
        .is_empty());
    pull_with_skopeo_and_compare(&registry, "two/app:v1", &fixture);
}

#[test]
fn a_pushed_image_of_the_store_mounts_the_blobs_its_pull_read() {
    let env = Env::new();
    let registry = Registry::plain();
    let (layout, fixture) = env.layout(72, &ImageSpec::new(72).layer(200_000));
    // Pushed by someone else (no record here), then pulled into this store.
    crate::common::push(&registry, &layout, "base/app:v1").assert_success();
    env.tug()
        .args(["pull", "--plain-http"])
        .arg(registry.image("base/app:v1"))
        .run()
        .assert_success();

    let done = done_event(
        &env.tug()
            .args(["push", "--plain-http", "--progress", "json"])
            .arg(format!("store:{}", registry.image("base/app:v1")))
            .arg(registry.image("mine/app:v1"))
            .run()
            .assert_success(),
    );
    assert_eq!(done["blobs_mounted"], 2, "{done}");
    pull_with_skopeo_and_compare(&registry, "mine/app:v1", &fixture);
}

#[test]
fn a_mount_from_a_repository_that_lost_the_blob_sends_it() {
    let env = Env::new();
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let (layout, fixture) = env.layout(73, &ImageSpec::new(73).layer(100_000));
    push(&env, &layout, &proxy.image("one/app:v1"));
    // The record names a repository the registry answers 404 for (as a registry without
    // mounts might): the blobs are sent, and the push succeeds.
    proxy.add_rule(Rule::new("POST", "from=one%2Fapp", Fault::status(404)).always());
    let done = done_event(&push(&env, &layout, &proxy.image("two/app:v1")));
    assert!(!proxy.requests_matching("POST", "/two/app/").is_empty());
    let asked = proxy.requests_matching("POST", "/two/app/blobs/uploads/");
    assert!(
        asked.iter().any(|r| r.target.contains("from=one%2Fapp")),
        "{asked:#?}"
    );
    assert_eq!(done["blobs_mounted"], 0, "{done}");
    assert_eq!(done["blobs_uploaded"], 2, "{done}");
    pull_with_skopeo_and_compare(&registry, "two/app:v1", &fixture);
}

#[test]
fn a_dry_run_says_which_blobs_a_push_would_mount() {
    let env = Env::new();
    let registry = Registry::plain();
    let (layout, _) = env.layout(74, &ImageSpec::new(74).layer(50_000));
    push(&env, &layout, &registry.image("one/app:v1"));
    let out = env
        .tug()
        .args(["push", "--plain-http", "--dry-run"])
        .arg(&layout)
        .arg(registry.image("two/app:v1"))
        .run()
        .assert_success();
    let plan = out.stdout_str();
    let mounts = plan
        .lines()
        .filter(|l| l.trim_start().starts_with("mount") && l.contains("from one/app, else upload"))
        .count();
    assert_eq!(mounts, 2, "the config and the layer:\n{plan}");
    assert!(plan.contains("2 of 2 blobs to upload"), "{plan}");
    assert!(plan.contains("2 of them to mount first"), "{plan}");
}
