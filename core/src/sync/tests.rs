//! The sync's decisions: source forms, the destination mapping, tag filters, shards and the
//! summary.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::digest::Digest;
use crate::reference::Reference;

fn r(text: &str) -> Reference {
    Reference::parse_registry(text).unwrap()
}

#[test]
fn sources_are_a_registry_a_repository_or_one_image() {
    assert_eq!(
        SyncSource::parse("docker://reg.example:5000").unwrap(),
        SyncSource::Registry("reg.example:5000".into())
    );
    assert_eq!(
        SyncSource::parse("reg.example:5000/").unwrap(),
        SyncSource::Registry("reg.example:5000".into())
    );
    assert_eq!(
        SyncSource::parse("reg.example/team/app").unwrap(),
        SyncSource::Repository(r("reg.example/team/app"))
    );
    assert_eq!(
        SyncSource::parse("docker://reg.example/team/app:1.2").unwrap(),
        SyncSource::Image(r("reg.example/team/app:1.2"))
    );
    let d = Digest::sha256_of(b"x");
    let pinned = SyncSource::parse(&format!("reg.example/team/app@{d}")).unwrap();
    assert_eq!(
        pinned,
        SyncSource::Image(r(&format!("reg.example/team/app@{d}")))
    );
    assert_eq!(pinned.registry(), "reg.example");
}

#[test]
fn bad_sources_say_what_is_wrong() {
    assert!(SyncSource::parse("").is_err());
    assert!(SyncSource::parse("docker://").is_err());
    let e = SyncSource::parse("reg.example/Team/app").unwrap_err();
    assert!(e.to_string().contains("reg.example/Team/app"), "{e}");
    assert!(SyncSource::parse("reg.example/app:bad tag").is_err());
    // `busybox` alone is a repository of Docker Hub's, not a registry to list.
    let e = SyncSource::parse("busybox").unwrap_err();
    assert!(e.reason.contains("registry alone"), "{e}");
    assert!(SyncSource::parse("localhost").is_ok());
}

/// A catalog's repository that is no repository name is refused once, before its tags.
#[test]
fn a_listed_repository_must_be_one() {
    assert!(super::listed_repository("src.example", "team/app").is_ok());
    for bad in ["../../etc", "Team/App", "team/app:v1", "team//app", ""] {
        let e = super::listed_repository("src.example", bad).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Registry, "{bad}");
        assert!(
            e.to_string()
                .contains("listed a repository that is not one"),
            "{e}"
        );
    }
}

#[test]
fn an_image_lands_under_the_prefix_with_its_whole_repository_path_and_tag() {
    let dest = Destination::parse("docker://mirror.example:5001/backup").unwrap();
    assert_eq!(dest.registry, "mirror.example:5001");
    assert_eq!(dest.prefix, "backup");
    let image = SyncImage::tagged("src.example", "team/app", "1.2", &dest).unwrap();
    // A tag the registry listed that is not one is its fault.
    let bad = SyncImage::tagged("src.example", "team/app", "../../etc", &dest).unwrap_err();
    assert_eq!(bad.class(), crate::ErrorClass::Registry, "{bad}");
    assert!(
        bad.to_string().contains("it listed a tag that is not one"),
        "{bad}"
    );
    assert_eq!(image.source, r("src.example/team/app:1.2"));
    assert_eq!(image.target, r("mirror.example:5001/backup/team/app:1.2"));
    assert_eq!(image.name_in_repository(), ":1.2");

    let plain = Destination::parse("mirror.example:5001").unwrap();
    assert_eq!(plain.prefix, "");
    let d = Digest::sha256_of(b"x");
    let pinned = SyncImage::of(r(&format!("src.example/team/app@{d}")), &plain).unwrap();
    assert_eq!(
        pinned.target,
        r(&format!("mirror.example:5001/team/app@{d}"))
    );
    assert_eq!(pinned.pinned(), Some(&d));
    assert_eq!(pinned.name_in_repository(), format!("@{d}"));
}

#[test]
fn a_destination_is_a_registry_and_a_prefix_only() {
    assert!(Destination::parse("mirror.example/app:1").is_err());
    assert!(
        Destination::parse(&format!("mirror.example/app@{}", Digest::sha256_of(b"x"))).is_err()
    );
    assert!(Destination::parse("").is_err());
    assert!(Destination::parse("mirror.example/Upper").is_err());
    // `team/app` would put `team` where the registry goes.
    let e = Destination::parse("team/app").unwrap_err();
    assert!(e.reason.contains("registry host"), "{e}");
    assert!(Destination::parse("localhost/m").is_ok());
}

#[test]
fn tag_filters_match_whole_tags_include_then_exclude() {
    let all = TagFilter::new(&[], &[]).unwrap();
    assert!(all.takes("anything"));
    let f = TagFilter::new(&[r"1\.2".into(), "v2.*".into()], &[".*-rc.*".into()]).unwrap();
    assert!(f.takes("1.2"));
    assert!(!f.takes("11.2"), "anchored at the start");
    assert!(!f.takes("1.2.3"), "anchored at the end");
    assert!(f.takes("v2.0"));
    assert!(!f.takes("v2.0-rc1"), "excluded");
    let only_exclude = TagFilter::new(&[], &["latest".into()]).unwrap();
    assert!(!only_exclude.takes("latest"));
    assert!(only_exclude.takes("latest2"));
    let e = TagFilter::new(&[], &["(".into()]).unwrap_err();
    assert_eq!(e.flag, "--exclude-tags");
    assert!(e.to_string().contains("\"(\""), "{e}");
}

#[test]
fn shards_parse_as_i_of_n() {
    assert_eq!(
        "1/3".parse::<Shard>().unwrap(),
        Shard { index: 1, count: 3 }
    );
    assert_eq!(" 0/1 ".parse::<Shard>().unwrap(), Shard::default());
    for bad in ["3/3", "1", "a/3", "1/0", "-1/3", "1/3/4", ""] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
    assert_eq!(Shard { index: 2, count: 5 }.to_string(), "2/5");
}

#[test]
fn every_image_is_in_exactly_one_shard_and_the_split_is_stable() {
    let images: Vec<Reference> = (0..300)
        .map(|i| r(&format!("src.example/team/app{}:v{}", i % 17, i)))
        .collect();
    for n in 1..6u32 {
        let shards: Vec<Shard> = (0..n).map(|index| Shard { index, count: n }).collect();
        let mut sizes = vec![0usize; n as usize];
        for image in &images {
            let takers: Vec<&Shard> = shards.iter().filter(|s| s.takes(image)).collect();
            assert_eq!(takers.len(), 1, "{image} in {n} parts");
            sizes[takers[0].index as usize] += 1;
        }
        // 300 images hashed into at most 5 parts: none is empty.
        assert!(sizes.iter().all(|&s| s > 0), "{sizes:?}");
    }
    // The registry does not matter; the repository and tag do; the split never changes
    // (this is the documented hash: SHA-256 of `team/app0:v0`, first 8 bytes mod N).
    let a = r("src.example/team/app0:v0");
    let b = r("other.example:5000/team/app0:v0");
    assert_eq!(Shard::part_of(&a, 7), Shard::part_of(&b, 7));
    let first = u64::from_str_radix(&Digest::sha256_of(b"team/app0:v0").hex()[..16], 16).unwrap();
    assert_eq!(u64::from(Shard::part_of(&a, 7)), first % 7);
}

#[test]
fn equal_digests_are_in_sync_anything_else_is_copied() {
    let a = Digest::sha256_of(b"a");
    let b = Digest::sha256_of(b"b");
    assert_eq!(decide(&a, Some(&a)), Decision::InSync);
    assert_eq!(decide(&a, Some(&b)), Decision::Copy);
    assert_eq!(decide(&a, None), Decision::Copy);
}

#[test]
fn the_summary_counts_each_outcome_and_names_the_failures() {
    let mut s = Summary::default();
    s.add("r/a:1", &ImageOutcome::InSync);
    s.add("r/a:2", &ImageOutcome::Copied { bytes: 10 });
    s.add("r/a:3", &ImageOutcome::Copied { bytes: 5 });
    s.add(
        "r/b:1",
        &ImageOutcome::Failed {
            error: "denied".into(),
        },
    );
    assert_eq!(s.in_sync, 1);
    assert_eq!(s.copied, 2);
    assert_eq!(s.bytes, 15);
    assert_eq!(s.failed, vec!["r/b:1".to_owned()]);
    assert_eq!(s.line(), "2 copied, 1 in sync, 1 failed: r/b:1");
    s.add("r/b:2", &ImageOutcome::Cancelled);
    assert_eq!(s.cancelled, 1);
    assert_eq!(
        s.line(),
        "2 copied, 1 in sync, 1 cancelled, 1 failed: r/b:1"
    );
    assert_eq!(ImageOutcome::Cancelled.name(), "cancelled");
    let mut dry = Summary::default();
    dry.add("r/a:1", &ImageOutcome::Planned { bytes: 7 });
    dry.add("r/a:2", &ImageOutcome::Planned { bytes: 3 });
    assert_eq!(dry.line(), "2 to copy (10 blob bytes), 0 copied, 0 in sync");
    assert_eq!(ImageOutcome::Planned { bytes: 0 }.name(), "planned");
}

#[test]
fn a_dry_run_counts_each_blob_named_once() {
    let config = Digest::sha256_of(b"config");
    let layer = Digest::sha256_of(b"layer");
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":10}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":1000}}]}}"#
    );
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let Named::Blobs(blobs) = named_by(oci, image.as_bytes()).unwrap() else {
        panic!("an image names blobs");
    };
    let mut planned = PlannedBytes::default();
    assert_eq!(planned.add(&blobs), 1010);
    assert_eq!(
        planned.add(&blobs),
        0,
        "the same blobs again cost nothing more"
    );
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{oci}","digest":"{}","size":{}}}]}}"#,
        Digest::sha256_of(image.as_bytes()),
        image.len()
    );
    let children = named_by("application/vnd.oci.image.index.v1+json", index.as_bytes()).unwrap();
    assert!(matches!(children, Named::Children(c) if c.len() == 1));
    assert!(named_by(oci, b"not json").is_err());
}

#[test]
fn images_are_declared_once_then_counted_as_they_start_and_end() {
    let declared = ImagesDone::declared([("a/x:1", "b/x:1"), ("a/y:1", "b/y:1")]);
    assert_eq!(declared["event"], "sync_images");
    assert_eq!(declared["images"][1]["source"], "a/y:1");
    assert_eq!(declared["images"][1]["image"], 1);
    let mut done = ImagesDone::new(3);
    assert_eq!(done.started(1)["copying"], 1);
    let e = done.finished(0, &ImageOutcome::InSync, false);
    assert_eq!(
        (e["images_done"].clone(), e["images_total"].clone()),
        (1.into(), 3.into())
    );
    let e = done.finished(1, &ImageOutcome::Copied { bytes: 500 }, true);
    assert_eq!(
        (e["event"].clone(), e["image"].clone(), e["bytes"].clone()),
        ("image_finished".into(), 1.into(), 500.into())
    );
    assert_eq!(
        (done.done, done.to_do(), done.copying, done.bytes),
        (2, 1, 0, 500)
    );
    let e = done.finished(
        2,
        &ImageOutcome::Failed {
            error: "denied".into(),
        },
        false,
    );
    assert_eq!(
        (e["outcome"].clone(), e["error"].clone()),
        ("failed".into(), "denied".into())
    );
}

/// Tags holding referrers wait for every other image (their subjects write them too).
#[test]
fn referrers_tags_are_copied_after_the_images() {
    let dest = Destination::parse("dst.example/mirror").unwrap();
    let subject = Digest::sha256_of(b"subject");
    let image = |tag: &str| SyncImage::tagged("src.example", "team/app", tag, &dest).unwrap();
    let fallback = crate::referrers::fallback_tag(&subject);
    assert_eq!(Phase::of(&image("v1")), Phase::Images);
    assert_eq!(Phase::of(&image("sha256-v1")), Phase::Images);
    assert_eq!(Phase::of(&image(&fallback)), Phase::Referrers);
    assert_eq!(
        Phase::of(&image(&format!("{fallback}.sig"))),
        Phase::Referrers
    );
    let pinned = SyncImage::of(r(&format!("src.example/team/app@{subject}")), &dest).unwrap();
    assert_eq!(Phase::of(&pinned), Phase::Images);
    assert!(Phase::Images < Phase::Referrers);
}

/// A fallback tag whose target index was rebuilt by the referrers step (other bytes, more
/// entries) is in sync when it lists every referrer the source's does that the source still
/// has; a referrer the target lacks makes it a copy; cosign tags and plain tags compare
/// digests.
#[test]
fn a_fallback_tag_is_in_sync_when_the_target_lists_its_referrers() {
    let dest = Destination::parse("dst.example/mirror").unwrap();
    let subject = Digest::sha256_of(b"subject");
    let image = |tag: &str| SyncImage::tagged("src.example", "team/app", tag, &dest).unwrap();
    let fallback = crate::referrers::fallback_tag(&subject);
    assert!(ReferrersCheck::applies(&image(&fallback), true, true));
    assert!(!ReferrersCheck::applies(&image(&fallback), false, true));
    assert!(!ReferrersCheck::applies(&image(&fallback), true, false));
    assert!(!ReferrersCheck::applies(
        &image(&format!("{fallback}.sig")),
        true,
        true
    ));
    assert!(!ReferrersCheck::applies(&image("v1"), true, true));

    let (sbom, sig, own) = (
        Digest::sha256_of(b"sbom"),
        Digest::sha256_of(b"sig"),
        Digest::sha256_of(b"own"),
    );
    let index = |entries: &[&Digest], pretty: bool| {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|d| {
                serde_json::json!({"mediaType": crate::manifest::OCI_MANIFEST,
                    "digest": d.to_string(), "size": 500, "artifactType": "application/spdx+json"})
            })
            .collect();
        let doc = serde_json::json!({"schemaVersion": 2,
            "mediaType": crate::manifest::OCI_INDEX, "manifests": manifests});
        match pretty {
            true => serde_json::to_vec_pretty(&doc).unwrap(),
            false => serde_json::to_vec(&doc).unwrap(),
        }
    };
    let source = index(&[&sbom, &sig], true);
    // Rebuilt at the target, with an entry of its own beside: in sync.
    let target = index(&[&own, &sig, &sbom], false);
    assert_ne!(Digest::sha256_of(&source), Digest::sha256_of(&target));
    let check = ReferrersCheck::new(&source, Some(&target)).unwrap();
    assert_eq!(check.unlisted(), &[] as &[Digest]);
    assert_eq!(check.decide(&[]), Decision::InSync);
    // One the target lacks: a copy, unless the source no longer has it either.
    let check = ReferrersCheck::new(&source, Some(&index(&[&own, &sig], false))).unwrap();
    assert_eq!(check.unlisted(), std::slice::from_ref(&sbom));
    assert_eq!(check.decide(&[]), Decision::Copy);
    assert_eq!(check.decide(std::slice::from_ref(&sbom)), Decision::InSync);
    // No index at the target: each of the source's is asked.
    let check = ReferrersCheck::new(&source, None).unwrap();
    assert_eq!(check.unlisted(), &[sbom.clone(), sig.clone()]);
    assert_eq!(check.decide(std::slice::from_ref(&sbom)), Decision::Copy);
    // A source's tag that is no index is copied as any other image.
    assert_eq!(ReferrersCheck::new(b"{}", Some(&target)), None);
}
