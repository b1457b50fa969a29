//! The core's one-shot registry operations driven by a script of registry responses (see
//! `fuzz/src/script.rs`; its `verb` line picks the operation): a tag list or the catalog
//! (`Link` pagination, `?n=`), a manifest read (and a platform's manifest of an index),
//! tagged under new tags or deleted by digest, referrers discovered (the referrers API with
//! its pages, the fallback tag's index, cosign's tags) or attached to the fallback index,
//! the version probe alone, and a verified blob read. The registry model answers what it
//! knows (version check, manifests by tag and digest, blobs, Basic or Bearer auth); lists,
//! the referrers API and deletions are answered by hand (`head` / `body` / `end`), and any
//! answer can be changed, cut off or failed; timers, stale clocks, cancel, stray ids. When
//! the actions run out, every request in flight fails for good and timers fire, so the
//! operation must finish within a bound.
//!
//! Checked, besides "no panic" and the driver's contract (one `Finished` and nothing after
//! it, no request id reused in flight, inputs about unknown ids refused, no due timer after
//! a timeout, never waiting with nothing in flight and no timer): `Authorization` goes only
//! to the registry or a token realm a challenge named, never over plain HTTP when the
//! registry is reached over HTTPS; a read manifest's bytes match its digest, and the digest
//! a reference names; a tag succeeds only after a `PUT` of those bytes under every new tag,
//! a deletion only after a `DELETE` of that digest; a blob read passes on exactly the bytes
//! of its digest, never more than its limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tug_core::blob_read::{BlobPlan, BlobRead};
use tug_core::digest::Hasher;
use tug_core::http::{Method, Request};
use tug_core::listing::{ListKind, ListPlan, Listing};
use tug_core::manifest_ops::{ManifestAction, ManifestOp, ManifestPlan};
use tug_core::probe::Probe;
use tug_core::referrers::{Attach, AttachPlan, DiscoverPlan, Discovery, Known, Referrer};
use tug_core::{Digest, Instant, Platform, RegistryConfig};
use tug_fuzz::play::{play, wind_down, PACE};
use tug_fuzz::script::{Script, Setup};
use tug_fuzz::verbs::{HostRule, OneShot, OneShotPlug};
use tug_sansio_kit::Driver;

/// The model's token realm (`auth bearer`).
const REALM: &str = "https://auth.example/token";

/// `bytes`' digest with `d`'s algorithm.
fn digest_of(d: &Digest, bytes: &[u8]) -> Digest {
    let mut h = Hasher::new(d.algorithm());
    h.update(bytes);
    h.finish()
}

/// Whether `req` is a `method` whose path ends with `/manifests/<reference>`.
fn is_manifest_call(req: &Request, method: &Method, reference: &str) -> bool {
    req.method == *method && req.url.path().ends_with(&format!("/manifests/{reference}"))
}

/// Drives `op` through the script's actions, winds it down, and hands the result, the
/// plug and every request sent to `check`.
fn run<O: OneShot>(
    op: O,
    script: &Script,
    hosts: HostRule,
    max_data: Option<u64>,
    check: impl FnOnce(&O::Report, &OneShotPlug<O>, &[Request]),
) {
    let setup = &script.setup;
    let mut model = setup.model();
    let plug = OneShotPlug::new(op, hosts, max_data);
    let mut driver = Driver::new(plug, vec![&mut model]).pace(PACE);
    play(&mut driver, setup, &script.actions);
    wind_down(&mut driver, &setup.verb);
    let result = driver.result.as_ref().expect("finished");
    tug_fuzz::describe(&setup.verb, result);
    if let Err(e) = result {
        let _ = e.to_string();
    }
    if let Ok(report) = result {
        let sent: Vec<Request> = driver.requests.iter().map(|(_, r)| r.clone()).collect();
        check(report, &driver.plug, &sent);
    }
    driver.check_after_finished();
}

fn manifest_op(setup: &Setup, action: ManifestAction, config: &RegistryConfig) -> ManifestOp {
    let plan = ManifestPlan {
        registry: setup.registry.clone(),
        repository: setup.repository.clone(),
        reference: setup.reference.clone(),
        action,
    };
    ManifestOp::new(plan, config, Instant::ZERO)
}

/// The referrers an `attach` lists: the script's manifests other than the subject.
fn referrers_of(setup: &Setup, subject: &Digest) -> Vec<Referrer> {
    setup
        .manifests
        .iter()
        .filter(|m| m.digest != *subject)
        .map(|m| Referrer {
            digest: m.digest.clone(),
            media_type: m.media_type.clone().unwrap_or_default(),
            artifact_type: None,
            size: m.bytes.len() as u64,
            annotations: Default::default(),
            tag: None,
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let script = Script::parse(data);
    let setup = &script.setup;
    let config = setup.registry_config();
    let hosts = HostRule::new(&[&setup.registry], setup.scheme, &[REALM], &script.actions);
    let named: Option<Digest> = setup.reference.parse().ok();
    let list = |kind| ListPlan {
        registry: setup.registry.clone(),
        kind,
        page_size: setup.page_size,
    };
    let listed = |report: &tug_core::listing::Listed, _: &_, sent: &[Request]| {
        assert!(
            report.pages >= 1 && report.pages as usize <= sent.len(),
            "property: a list of {} pages from {} requests",
            report.pages,
            sent.len()
        );
    };
    match setup.verb.as_str() {
        "catalog" => run(
            Listing::new(list(ListKind::Catalog), &config, Instant::ZERO),
            &script,
            hosts,
            None,
            listed,
        ),
        "get" | "get-platform" => {
            let platform = (setup.verb == "get-platform").then(|| {
                setup
                    .platform
                    .parse::<Platform>()
                    .unwrap_or_else(|_| Platform::from_rust("linux", "x86_64"))
            });
            let by_platform = platform.is_some();
            let op = manifest_op(setup, ManifestAction::Get { platform }, &config);
            run(op, &script, hosts, None, |report, _, _| {
                let m = report.manifest.as_ref().expect("a read manifest");
                assert_eq!(
                    digest_of(&m.digest, &m.bytes),
                    m.digest,
                    "contract: a read manifest's bytes do not match its digest"
                );
                assert_eq!(report.digest, m.digest, "property: the report's digest");
                let root = report.index.as_ref().unwrap_or(m);
                if let Some(index) = &report.index {
                    assert!(by_platform, "property: an index without a platform");
                    assert_eq!(
                        digest_of(&index.digest, &index.bytes),
                        index.digest,
                        "contract: the index's bytes do not match its digest"
                    );
                }
                if let Some(d) = &named {
                    assert_eq!(
                        &root.digest, d,
                        "contract: the manifest read is not the one its digest names"
                    );
                }
            });
        }
        "tag" => {
            let mut tags = setup.new_tags.clone();
            if tags.is_empty() {
                tags.push("v2".into());
            }
            let op = manifest_op(setup, ManifestAction::Tag { tags: tags.clone() }, &config);
            run(op, &script, hosts, None, |report, _, sent| {
                let m = report.manifest.as_ref().expect("a tagged manifest");
                assert_eq!(
                    digest_of(&m.digest, &m.bytes),
                    m.digest,
                    "contract: a tagged manifest's bytes do not match its digest"
                );
                if let Some(d) = &named {
                    assert_eq!(&m.digest, d, "contract: tagged another manifest");
                }
                for tag in &tags {
                    assert!(
                        sent.iter().any(|r| is_manifest_call(r, &Method::PUT, tag)
                            && matches!(&r.body, tug_core::http::Body::Bytes(b) if *b == m.bytes)),
                        "contract: tagging succeeded without a PUT of the manifest under {tag}"
                    );
                }
            });
        }
        "delete" => {
            let op = manifest_op(setup, ManifestAction::Delete, &config);
            run(op, &script, hosts, None, |report, plug, sent| {
                if let Some(d) = &named {
                    assert_eq!(&report.digest, d, "contract: deleted another manifest");
                } else {
                    let named = format!("{}:{}", setup.repository, setup.reference);
                    assert!(
                        plug.resolved
                            .iter()
                            .any(|(r, d)| *r == named && *d == report.digest),
                        "property: a deletion by tag did not say what the tag resolved to"
                    );
                }
                let digest = report.digest.to_string();
                assert!(
                    sent.iter()
                        .any(|r| is_manifest_call(r, &Method::DELETE, &digest)),
                    "contract: the deletion succeeded without a DELETE of {digest}"
                );
            });
        }
        "discover" => {
            let plan = DiscoverPlan {
                registry: setup.registry.clone(),
                repository: setup.repository.clone(),
                reference: setup.reference.clone(),
                known: Known {
                    tags: setup
                        .known_tags
                        .as_ref()
                        .map(|t| std::sync::Arc::new(t.iter().cloned().collect())),
                    api: setup.known_api,
                },
            };
            let asks = plan.asks_anything();
            let op = Discovery::new(plan, &config, Instant::ZERO);
            run(op, &script, hosts, None, |report, _, sent| {
                if let Some(d) = &named {
                    assert_eq!(
                        &report.subject, d,
                        "contract: the referrers of another image"
                    );
                }
                if !asks {
                    // The version check may be challenged: a token from the realm is part of
                    // it. Of the registry, nothing but `/v2/` is asked.
                    let registry = url::Url::parse(&format!("https://{}/", setup.registry))
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_owned));
                    assert!(
                        sent.iter()
                            .filter(|r| r.url.host_str().map(str::to_owned) == registry)
                            .all(|r| r.url.path() == "/v2/"),
                        "property: a discovery that asks nothing asked {:?}",
                        sent.iter().map(|r| r.url.as_str()).collect::<Vec<_>>()
                    );
                }
            });
        }
        "attach" => {
            let subject = named
                .clone()
                .or_else(|| setup.manifests.first().map(|m| m.digest.clone()))
                .unwrap_or_else(|| Digest::sha256_of(b"subject"));
            let referrers = referrers_of(setup, &subject);
            let wanted = referrers.len();
            let plan = AttachPlan {
                registry: setup.registry.clone(),
                repository: setup.repository.clone(),
                subject,
                referrers,
            };
            let op = Attach::new(plan, &config, Instant::ZERO);
            run(op, &script, hosts, None, |report, _, sent| {
                assert!(
                    report.added <= wanted,
                    "property: {} referrers added of {wanted}",
                    report.added
                );
                if report.added > 0 {
                    assert!(
                        sent.iter()
                            .any(|r| is_manifest_call(r, &Method::PUT, &report.tag)),
                        "contract: referrers added without a PUT of {}",
                        report.tag
                    );
                }
            });
        }
        "probe" => run(
            Probe::new(&setup.registry, &config, Instant::ZERO),
            &script,
            hosts,
            None,
            |_, _, _| {},
        ),
        "blob" => {
            let digest = named
                .clone()
                .or_else(|| setup.blobs.first().map(|b| Digest::sha256_of(b)))
                .unwrap_or_else(|| Digest::sha256_of(b""));
            let plan = BlobPlan {
                registry: setup.registry.clone(),
                repository: setup.repository.clone(),
                digest: digest.clone(),
                max_size: setup.max_size,
            };
            let op = BlobRead::new(plan, &config, Instant::ZERO);
            run(op, &script, hosts, setup.max_size, |report, plug, _| {
                assert_eq!(
                    report.digest, digest,
                    "property: the report names another blob"
                );
                assert_eq!(
                    digest_of(&digest, &plug.data),
                    digest,
                    "contract: a verified read passed on bytes that are not its blob's"
                );
                assert_eq!(
                    report.size,
                    plug.data.len() as u64,
                    "property: the report's size is not the bytes passed on"
                );
            });
        }
        _ => {
            let repository = setup.repository.clone();
            run(
                Listing::new(list(ListKind::Tags { repository }), &config, Instant::ZERO),
                &script,
                hosts,
                None,
                listed,
            )
        }
    }
});
