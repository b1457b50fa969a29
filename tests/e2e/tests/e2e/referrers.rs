//! Referrers travel with the image: a signature (cosign's `sha256-<hex>.sig` tag) and an SBOM
//! (an OCI 1.1 artifact with `subject`, listed in the `sha256-<hex>` index) attached by the
//! test kit on a real registry without the referrers API (distribution 2.8) arrive at a
//! second one with `tug copy` and `tug sync`, not with `--no-referrers`; `tug ls
//! --referrers` lists them.

use serde_json::Value;
use tug_testkit::referrers::{
    attach_signature_and_sbom, delete_manifest, get_manifest, index_digests, put_manifest_bytes,
    Attachments, SIMPLE_SIGNING, SPDX,
};
use tug_testkit::{skopeo, FaultProxy, ImageSpec, ProxiedRequest, Registry};

use crate::common::{push, Env};

/// An image at `a/team/app:v1` with a signature and an SBOM attached.
fn signed_image(env: &Env, a: &Registry) -> Attachments {
    let (layout, _) = env.layout(61, &ImageSpec::new(61).layer(30_000));
    push(a, &layout, "team/app:v1").assert_success();
    attach_signature_and_sbom(a, "team/app", "v1", 61)
}

/// Whether `b/repository` holds both, as `a` holds them: the signature's bytes under its
/// tag, the SBOM's by digest and listed in the fallback tag's index.
fn arrived(b: &Registry, repository: &str, att: &Attachments) -> (bool, bool) {
    let signature = get_manifest(b, repository, &att.signature_tag());
    if let Some((bytes, _)) = &signature {
        assert_eq!(
            bytes, &att.signature.manifest,
            "the signature, byte for byte"
        );
    }
    let sbom = get_manifest(b, repository, &att.sbom.digest);
    if let Some((bytes, _)) = &sbom {
        assert_eq!(bytes, &att.sbom.manifest, "the SBOM, byte for byte");
    }
    let listed = index_digests(b, repository, &att.index_tag).contains(&att.sbom.digest);
    assert_eq!(
        sbom.is_some(),
        listed,
        "an SBOM copied is listed in {}",
        att.index_tag
    );
    (signature.is_some(), sbom.is_some())
}

fn copy(env: &Env, a: &Registry, b: &Registry, extra: &[&str]) -> tug_testkit::TugOutput {
    env.tug()
        .args(["copy", "--progress", "plain"])
        .args(extra)
        .arg(a.image("team/app:v1"))
        .arg(b.image("mirror/app:v1"))
        .run()
}

#[test]
fn copy_brings_the_signature_and_the_sbom() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let att = signed_image(&env, &a);
    let out = copy(&env, &a, &b, &[]).assert_success();
    assert_eq!(
        arrived(&b, "mirror/app", &att),
        (true, true),
        "{}",
        out.stderr_str()
    );
    // The image itself, unchanged; skopeo reads the copied signature too.
    assert_eq!(
        skopeo::inspect_raw_in(&a, "team/app:v1").unwrap(),
        skopeo::inspect_raw_in(&b, "mirror/app:v1").unwrap()
    );
    assert_eq!(
        skopeo::inspect_raw_in(&b, &format!("mirror/app:{}", att.signature_tag())).unwrap(),
        att.signature.manifest
    );
    // Again: nothing new to list, the index keeps one entry; JSON lines name the step.
    let again = env
        .tug()
        .args(["copy", "--progress", "json", "--referrers"])
        .arg(a.image("team/app:v1"))
        .arg(b.image("mirror/app:v1"))
        .run()
        .assert_success();
    let events: Vec<Value> = again
        .stdout_str()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let named = |kind: &str| events.iter().filter(|e| e["event"] == kind).count();
    assert_eq!(named("referrers_started"), 1, "{}", again.stdout_str());
    assert_eq!(named("referrer_copied"), 2, "{}", again.stdout_str());
    let carried = events.iter().find(|e| e["event"] == "referrers_carried");
    assert_eq!(carried.map(|e| e["copied"].clone()), Some(2.into()));
    assert_eq!(
        index_digests(&b, "mirror/app", &att.index_tag),
        vec![att.sbom.digest.clone()]
    );
}

#[test]
fn no_referrers_copies_the_image_alone() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let att = signed_image(&env, &a);
    copy(&env, &a, &b, &["--no-referrers"]).assert_success();
    assert!(skopeo::inspect_raw_in(&b, "mirror/app:v1").is_ok());
    assert_eq!(arrived(&b, "mirror/app", &att), (false, false));
}

/// `tug sync --plain-http --json EXTRA SOURCE B/DEST`, which must succeed.
fn sync_to(
    env: &Env,
    source: &str,
    b: &Registry,
    dest: &str,
    extra: &[&str],
) -> tug_testkit::TugOutput {
    env.tug()
        .args(["sync", "--plain-http", "--json"])
        .args(extra)
        .arg(source)
        .arg(format!("{}/{dest}", b.host()))
        .run()
        .assert_success()
}

#[test]
fn sync_brings_the_signature_and_the_sbom_and_no_referrers_does_not() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let att = signed_image(&env, &a);
    let sync = |dest: &str, extra: &[&str]| sync_to(&env, &a.image("team/app:v1"), &b, dest, extra);
    sync("plain", &["--no-referrers"]);
    assert!(skopeo::inspect_raw_in(&b, "plain/team/app:v1").is_ok());
    assert_eq!(arrived(&b, "plain/team/app", &att), (false, false));
    let out = sync("mirror", &[]);
    let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    assert_eq!(report["summary"]["copied"], 1, "{report}");
    assert_eq!(
        arrived(&b, "mirror/team/app", &att),
        (true, true),
        "{}",
        out.stderr_str()
    );

    // The whole repository: its referrers tags are listed (and reported) as tags too, and
    // copied after their subject, which writes them as well (the two at once can make
    // distribution refuse the index: its child manifest was being put again).
    let proxy = FaultProxy::start(&b);
    let out = env
        .tug()
        .args(["sync", "--plain-http", "--json", "-j", "8"])
        .arg(a.image("team/app"))
        .arg(format!("{}/whole", proxy.host()))
        .run()
        .assert_success();
    assert_eq!(arrived(&b, "whole/team/app", &att), (true, true));
    let log = proxy.requests();
    let at = |what: &dyn Fn(&ProxiedRequest) -> bool| log.iter().position(what);
    let subject_put = at(&|r| r.is("PUT", "/whole/team/app/manifests/v1")).unwrap();
    let referrers_tag = at(&|r| r.path().contains(&format!("/manifests/{}", att.index_tag)));
    assert!(
        referrers_tag.unwrap() > subject_put,
        "nothing touched {} before the subject was put: {log:#?}",
        att.index_tag
    );
    let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    let sources: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    assert!(sources[0].ends_with("team/app:v1"), "{sources:?}");
}

#[test]
fn ls_referrers_lists_type_digest_and_size() {
    let env = Env::new();
    let a = Registry::plain();
    let att = signed_image(&env, &a);
    let out = env
        .tug()
        .args(["ls", "--referrers", "--plain-http"])
        .arg(a.image("team/app:v1"))
        .run()
        .assert_success();
    let stdout = out.stdout_str();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("{SPDX}\t{}\t{}", att.sbom.digest, att.sbom.size),
            format!(
                "application/vnd.oci.image.config.v1+json\t{}\t{}\t{}",
                att.signature.digest,
                att.signature.size,
                att.signature_tag()
            ),
        ]
    );
    let out = env
        .tug()
        .args(["ls", "--referrers", "--json", "--plain-http"])
        .arg(a.image(&format!("team/app@{}", att.subject)))
        .run()
        .assert_success();
    let v: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    assert_eq!(v["subject"], att.subject.as_str());
    assert_eq!(v["referrersApi"], false);
    let referrers = v["referrers"].as_array().unwrap();
    assert_eq!(referrers.len(), 2, "{v}");
    assert_eq!(referrers[0]["artifactType"], SPDX);
    assert_eq!(referrers[0]["digest"], att.sbom.digest.as_str());
    assert_eq!(referrers[1]["tag"], att.signature_tag().as_str());
    let sig: Value = serde_json::from_slice(&att.signature.manifest).unwrap();
    assert_eq!(sig["layers"][0]["mediaType"], SIMPLE_SIGNING);
    // By digest, where nothing is attached: an image there lists nothing (exit 0); a
    // repository or image that is not there is not found (exit 7), as by tag (found by
    // probing: a typo read as "nothing attached").
    let ls = |image: String| {
        env.tug()
            .args(["ls", "--referrers", "--plain-http"])
            .arg(a.image(&image))
            .run()
    };
    let out = ls(format!("team/app@{}", att.sbom.digest)).assert_success();
    assert_eq!(out.stdout_str(), "");
    ls(format!("nope/app@{}", att.subject)).assert_code(crate::common::NOT_FOUND);
}

/// `tug inspect` of an artifact (the SBOM, pinned by its digest) says what it is, in text and
/// in JSON; an image says no artifact type.
#[test]
fn inspect_names_an_artifact_s_type() {
    let env = Env::new();
    let a = Registry::plain();
    let att = signed_image(&env, &a);
    let inspect = |what: &str, json: bool| {
        let mut tug = env.tug().args(["inspect", "--plain-http"]);
        if json {
            tug = tug.arg("--json");
        }
        tug.arg(a.image(what)).run().assert_success().stdout_str()
    };
    let sbom = format!("team/app@{}", att.sbom.digest);
    assert!(
        inspect(&sbom, false).contains(&format!("  artifact {SPDX}")),
        "{}",
        inspect(&sbom, false)
    );
    let v: Value = serde_json::from_str(&inspect(&sbom, true)).unwrap();
    assert_eq!(v["images"][0]["artifactType"], SPDX);
    let v: Value = serde_json::from_str(&inspect("team/app:v1", true)).unwrap();
    assert_eq!(v["images"][0]["artifactType"], Value::Null);
    assert!(!inspect("team/app:v1", false).contains("artifact"));
}

/// A sync of a whole repository keeps what the target's referrers index lists beside the
/// source's (an SBOM attached at the target): the `sha256-…` tag is never copied over it;
/// its subject's referrers are merged in. With `--no-referrers` the listed referrers tags
/// are not copied at all.
#[test]
fn sync_merges_the_referrers_index_and_no_referrers_copies_none_of_its_tags() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let att = signed_image(&env, &a);
    let sync = |dest: &str, extra: &[&str]| sync_to(&env, &a.image("team/app"), &b, dest, extra);
    sync("none", &["--no-referrers"]);
    assert!(skopeo::inspect_raw_in(&b, "none/team/app:v1").is_ok());
    assert!(get_manifest(&b, "none/team/app", &att.index_tag).is_none());
    assert!(get_manifest(&b, "none/team/app", &att.signature_tag()).is_none());

    sync("mirror", &[]);
    assert_eq!(arrived(&b, "mirror/team/app", &att), (true, true));
    // An SBOM attached at the target only: its index now lists that one alone.
    let own = attach_signature_and_sbom(&b, "mirror/team/app", "v1", 62);
    assert_eq!(
        index_digests(&b, "mirror/team/app", &att.index_tag),
        vec![own.sbom.digest.clone()]
    );
    sync("mirror", &[]);
    let mut listed = index_digests(&b, "mirror/team/app", &att.index_tag);
    listed.sort();
    let mut want = vec![att.sbom.digest.clone(), own.sbom.digest.clone()];
    want.sort();
    assert_eq!(listed, want, "the target's own SBOM stays listed");
}

/// A sync of a whole repository settles though the source's `sha256-<hex>` index is not
/// byte for byte what tug writes (another tool spaced it otherwise, so the target's index,
/// rebuilt by the referrers step, has another digest): a second run finds every image and
/// referrers tag in sync and puts no manifest.
#[test]
fn a_second_sync_of_a_repository_with_a_referrers_index_puts_nothing() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let att = signed_image(&env, &a);
    let (index, media_type) = get_manifest(&a, "team/app", &att.index_tag).unwrap();
    let spaced: Value = serde_json::from_slice(&index).unwrap();
    let spaced = serde_json::to_vec_pretty(&spaced).unwrap();
    put_manifest_bytes(&a, "team/app", &att.index_tag, &media_type, spaced);
    sync_to(&env, &a.image("team/app"), &b, "mirror", &[]);
    assert_eq!(arrived(&b, "mirror/team/app", &att), (true, true));
    assert_ne!(
        get_manifest(&b, "mirror/team/app", &att.index_tag).map(|m| m.0),
        get_manifest(&a, "team/app", &att.index_tag).map(|m| m.0),
        "the target's index is tug's own"
    );

    let proxy = FaultProxy::start(&b);
    let out = env
        .tug()
        .args(["sync", "--plain-http", "--json"])
        .arg(a.image("team/app"))
        .arg(format!("{}/mirror", proxy.host()))
        .run()
        .assert_success();
    let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    assert_eq!(report["summary"]["copied"], 0, "{report}");
    assert_eq!(report["summary"]["in_sync"], 3, "{report}");
    let puts: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" || r.method == "POST")
        .collect();
    assert!(puts.is_empty(), "a second run writes nothing: {puts:#?}");
}

/// A referrer the source's `sha256-<hex>` index names but the source no longer has (the SBOM
/// was deleted) is a warning naming its digest: `tug copy` exits 0 with the image and the
/// signature copied, and `tug sync` reports the image copied, then in sync.
#[test]
fn a_referrer_deleted_at_the_source_is_a_warning_not_a_failure() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let att = signed_image(&env, &a);
    delete_manifest(&a, "team/app", &att.sbom.digest);
    let out = copy(&env, &a, &b, &[]).assert_success();
    let stderr = out.stderr_str();
    assert!(
        stderr.contains("warning: referrer") && stderr.contains(&att.sbom.digest),
        "{stderr}"
    );
    assert_eq!(arrived(&b, "mirror/app", &att), (true, false), "{stderr}");

    let json = env
        .tug()
        .args(["copy", "--progress", "json"])
        .arg(a.image("team/app:v1"))
        .arg(b.image("json/app:v1"))
        .run()
        .assert_success();
    let missing: Vec<Value> = json
        .stdout_str()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "referrer_missing")
        .collect();
    assert_eq!(missing.len(), 1, "{}", json.stdout_str());
    assert_eq!(missing[0]["digest"], att.sbom.digest.as_str());

    // Run 1 copies the image, its referrers' tags brought along ("carried"); run 2 finds
    // all three in sync.
    for (run, copied, carried, in_sync) in [(1, 1, 2, 0), (2, 0, 0, 3)] {
        let out = sync_to(&env, &a.image("team/app"), &b, "sync", &[]);
        let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
        let summary = &report["summary"];
        assert_eq!(
            summary["failed"],
            Value::Array(vec![]),
            "run {run}: {report}"
        );
        assert_eq!(summary["copied"], copied, "run {run}: {report}");
        assert_eq!(summary["carried"], carried, "run {run}: {report}");
        assert_eq!(summary["in_sync"], in_sync, "run {run}: {report}");
    }
    assert_eq!(arrived(&b, "sync/team/app", &att), (true, false));
}

/// `tug sync --platform` leaves the listed `sha256-<hex>` index tags to the images copied
/// (each brings its own referrers): narrowed to a platform as an image of its own, the index
/// would be no index, and every later run would fail on it. Runs one and two succeed, and
/// the target's tag is the referrers index the copy merged.
#[test]
fn a_sync_narrowed_to_a_platform_keeps_the_referrers_index_an_index() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let att = signed_image(&env, &a);
    for run in 1..=2 {
        let out = sync_to(
            &env,
            &a.image("team/app"),
            &b,
            "mirror",
            &["--platform", "linux/amd64"],
        );
        let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
        assert_eq!(
            report["summary"]["failed"],
            Value::Array(vec![]),
            "run {run}: {report}"
        );
    }
    let (index, media_type) = get_manifest(&b, "mirror/team/app", &att.index_tag).unwrap();
    assert_eq!(media_type, "application/vnd.oci.image.index.v1+json");
    let index: Value = serde_json::from_slice(&index).unwrap();
    assert!(index["manifests"].is_array(), "{index}");
    assert_eq!(arrived(&b, "mirror/team/app", &att), (true, true));
}

/// A `sha256-<hex>` tag left behind when its image was deleted at the source holds the
/// referrers of nothing: a sync says so and goes on (exit 0), every run, not a failure; the
/// tag is `skipped`, not `in_sync` (found by probing: the target had no such tag).
#[test]
fn a_referrers_tag_whose_image_was_deleted_is_a_warning() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let att = signed_image(&env, &a);
    delete_manifest(&a, "team/app", &att.subject);
    for run in 1..=2 {
        let out = sync_to(&env, &a.image("team/app"), &b, "mirror", &[]);
        let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
        assert_eq!(
            report["summary"]["failed"],
            Value::Array(vec![]),
            "run {run}: {report}"
        );
        assert!(
            out.stderr_str().contains("no longer has: nothing to copy"),
            "run {run}: {}",
            out.stderr_str()
        );
        // Said as what it is: skipped, not in sync (the target has no such tag).
        assert_eq!(report["summary"]["in_sync"], 0, "run {run}: {report}");
        assert!(
            report["summary"]["skipped"].as_u64() >= Some(1),
            "run {run}: {report}"
        );
    }
}

/// A sync from a registry that keeps referrers under `sha256-<hex>` tags into one with the
/// referrers API (which keeps no such tag, and lists them by its API): the second run finds
/// the tag in sync by what the target's API lists, and puts nothing.
#[test]
fn a_target_with_the_referrers_api_is_in_sync_by_what_it_lists() {
    use std::sync::{Arc, Mutex};
    use tug_testkit::{HostileServer, MiniRegistry, Reply};
    let env = Env::new();
    let a = Registry::plain();
    let att = signed_image(&env, &a);
    let mini = MiniRegistry::new("mirror/team/app");
    let attached: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let seen = Arc::clone(&attached);
    let b = HostileServer::start(move |r| {
        if let Some(subject) = r.path().strip_prefix("/v2/mirror/team/app/referrers/") {
            let manifests: Vec<Value> = seen
                .lock()
                .unwrap()
                .iter()
                .filter(|(s, _)| s == subject)
                .map(|(_, d)| d.clone())
                .collect();
            let index = serde_json::json!({"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
            return Reply::body(
                200,
                "application/vnd.oci.image.index.v1+json",
                index.to_string(),
            );
        }
        let reply = mini.answer(r);
        let subject = (r.method == "PUT" && r.path().contains("/manifests/"))
            .then(|| serde_json::from_slice::<Value>(&r.body).ok())
            .flatten()
            .and_then(|m| Some((m["subject"]["digest"].as_str()?.to_owned(), m)));
        match subject {
            Some((subject, m)) => {
                let descriptor = serde_json::json!({"mediaType": m["mediaType"],
                    "digest": tug_testkit::hashing::sha256_digest(&r.body),
                    "size": r.body.len(), "artifactType": m["artifactType"]});
                seen.lock().unwrap().push((subject.clone(), descriptor));
                reply.with_header("OCI-Subject", &subject)
            }
            None => reply,
        }
    });
    let sync = || {
        env.tug()
            .args(["sync", "--plain-http", "--json"])
            .arg(a.image("team/app"))
            .arg(format!("{}/mirror", b.host()))
            .run()
            .assert_success()
    };
    sync();
    assert!(
        attached
            .lock()
            .unwrap()
            .iter()
            .any(|(_, d)| d["digest"] == att.sbom.digest.as_str()),
        "the SBOM went by the target's referrers API"
    );
    let before = b.requests().len();
    let out = sync();
    let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    assert_eq!(report["summary"]["copied"], 0, "{report}");
    let writes: Vec<_> = b.requests()[before..]
        .iter()
        .filter(|r| r.method == "PUT" || r.method == "POST")
        .cloned()
        .collect();
    assert!(
        writes.is_empty(),
        "a second run writes nothing: {writes:#?}"
    );
}

/// A sync from a registry with the referrers API (which keeps no `sha256-<hex>` tag to
/// list): an SBOM attached at the source after the image was synced travels with the next
/// run (the image in sync is asked what is attached to it), and a run after that is in sync.
#[test]
fn a_referrer_attached_at_an_api_source_after_a_sync_travels_with_the_next() {
    use std::sync::{Arc, Mutex};
    use tug_testkit::fixtures::{put_blob, write_oci_layout};
    use tug_testkit::hashing::sha256_digest;
    use tug_testkit::{HostileServer, MiniRegistry, Reply};
    let env = Env::new();
    let layout = env.path("src");
    let image = write_oci_layout(&layout, &ImageSpec::new(73).layer(20_000), "v1");
    let subject = image.manifest_digest.clone().unwrap();
    let empty = put_blob(&layout, b"{}");
    let sbom_blob = put_blob(&layout, b"{\"spdxVersion\":\"SPDX-2.3\"}");
    let sbom = |n: u32| {
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": SPDX,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": SPDX, "digest": sbom_blob, "size": 26}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": subject, "size": image.manifest_bytes().len()},
            "annotations": {"n": n.to_string()}}))
        .unwrap()
    };
    let mini = Arc::new(MiniRegistry::from_layout("team/app", &layout));
    let attached: Arc<Mutex<Vec<Value>>> = Arc::default();
    let attach = |bytes: Vec<u8>| {
        let digest = sha256_digest(&bytes);
        mini.put_manifest(
            &digest,
            &bytes,
            "application/vnd.oci.image.manifest.v1+json",
        );
        attached.lock().unwrap().push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
            "size": bytes.len(), "artifactType": SPDX}));
        digest
    };
    let first = attach(sbom(1));
    let (served, listed) = (Arc::clone(&mini), Arc::clone(&attached));
    let a = HostileServer::start(move |r| {
        if r.path().starts_with("/v2/team/app/referrers/") {
            let index = serde_json::json!({"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": *listed.lock().unwrap()});
            return Reply::body(
                200,
                "application/vnd.oci.image.index.v1+json",
                index.to_string(),
            );
        }
        served.answer(r)
    });
    let b = Registry::plain();
    // (The source is named by its tag: this registry lists no tags.)
    let sync = || {
        sync_to(
            &env,
            &format!("{}/team/app:v1", a.host()),
            &b,
            "mirror",
            &[],
        )
    };
    let summary = |out: tug_testkit::TugOutput| {
        let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
        report["summary"].clone()
    };
    assert_eq!(summary(sync())["copied"], 1);
    assert_eq!(
        index_digests(&b, "mirror/team/app", &format!("sha256-{}", &subject[7..])),
        std::slice::from_ref(&first)
    );
    let second = attach(sbom(2));
    assert_eq!(
        summary(sync())["copied"],
        1,
        "the image again, for what was attached"
    );
    let mut listed = index_digests(&b, "mirror/team/app", &format!("sha256-{}", &subject[7..]));
    listed.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(listed, want);
    let settled = summary(sync());
    assert_eq!(
        (settled["copied"].clone(), settled["in_sync"].clone()),
        (0.into(), 1.into())
    );
}

/// A cosign tag holding the very manifest another tag holds (`.att` = `.sig`), or one the
/// fallback index lists, is copied as a tag of its own (found by probing: such a tag was
/// dropped by `tug copy` for good, and a sync called it in sync on its first run).
#[test]
fn cosign_tags_holding_the_same_manifest_each_arrive() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let att = signed_image(&env, &a);
    let att_tag = format!("{}.att", att.index_tag);
    let sbom_tag = format!("{}.sbom", att.index_tag);
    let (sig, sig_type) = get_manifest(&a, "team/app", &att.signature_tag()).unwrap();
    put_manifest_bytes(&a, "team/app", &att_tag, &sig_type, sig.clone());
    // The SBOM (listed in the fallback index, naming its subject) is tagged `.sbom` too.
    let sbom_type = "application/vnd.oci.image.manifest.v1+json";
    put_manifest_bytes(
        &a,
        "team/app",
        &sbom_tag,
        sbom_type,
        att.sbom.manifest.clone(),
    );

    copy(&env, &a, &b, &[]).assert_success();
    for tag in [att.signature_tag(), att_tag.clone(), sbom_tag.clone()] {
        assert!(
            get_manifest(&b, "mirror/app", &tag).is_some(),
            "{tag} did not arrive by copy"
        );
    }

    let out = sync_to(&env, &a.image("team/app"), &b, "sync", &[]);
    let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    assert_eq!(
        report["summary"]["failed"],
        Value::Array(vec![]),
        "{report}"
    );
    for tag in [att.signature_tag(), att_tag, sbom_tag] {
        assert!(
            get_manifest(&b, "sync/team/app", &tag).is_some(),
            "{tag} did not arrive by the first sync: {report}"
        );
    }
}

/// Referrers carried with an image count for the target repository they went to: the
/// same image copied into another repository first leaves this one's referrers to copy
/// (found by probing: keyed by digest alone, they were called in sync and never sent).
#[test]
fn referrers_carried_to_one_repository_are_not_taken_for_another_s() {
    let env = Env::new();
    let (a, b) = (Registry::plain(), Registry::plain());
    let (layout, _) = env.layout(62, &ImageSpec::new(62).layer(20_000));
    push(&a, &layout, "u/u0:x").assert_success();
    // u1 holds the same image by digest alone (no tag), with its referrers' tags.
    let (bytes, _) = get_manifest(&a, "u/u0", "x").unwrap();
    let digest = tug_testkit::hashing::sha256_digest(&bytes);
    env.tug()
        .args(["copy", "--plain-http"])
        .arg(a.image("u/u0:x"))
        .arg(a.image(&format!("u/u1@{digest}")))
        .run()
        .assert_success();
    let att = attach_signature_and_sbom(&a, "u/u1", &digest, 62);
    let out = env
        .tug()
        .args(["sync", "--plain-http", "--json"])
        .arg(a.image("u/u0"))
        .arg(a.image("u/u1"))
        .arg(format!("{}/m", b.host()))
        .run()
        .assert_success();
    let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
    assert_eq!(
        report["summary"]["failed"],
        Value::Array(vec![]),
        "{report}"
    );
    assert_eq!(arrived(&b, "m/u/u1", &att), (true, true), "{report}");
}
