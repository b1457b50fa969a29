//! `tug sync` between two real registries with different credentials: repositories mirrored
//! with a tag filter (checked tag by tag with skopeo), a re-run that sends no blob bytes,
//! shards that together do the whole mirror with no image copied twice, a repository the
//! source denies failing alone, a blob shared by images synced at once uploaded once, the
//! images-done progress and its JSON events, `--file` with two sources, a paginated tag
//! list, and a sync killed midway that a re-run completes without sending much twice.

use std::collections::BTreeSet;

use serde_json::Value;
use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{
    skopeo, Fault, FaultProxy, FixtureImage, ImageSpec, Registry, RegistryConfig, Rule, Tug,
};

use crate::common::{hermetic, push, Env};

const SRC: (&str, &str) = ("reader", "source-password");
const DST: (&str, &str) = ("writer", "destination-password");

/// Two registries, each with its own user.
fn registries() -> (Registry, Registry) {
    let a = Registry::start(RegistryConfig::plain().with_basic_auth(SRC.0, SRC.1));
    let b = Registry::start(RegistryConfig::plain().with_basic_auth(DST.0, DST.1));
    (a, b)
}

/// Pushes a small image of its own to each `name:tag` of `a`; the fixtures, by name.
fn seed(env: &Env, a: &Registry, names: &[&str]) -> Vec<(String, FixtureImage)> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let layout = env.path(&format!("layout-{i}"));
            let spec = ImageSpec::new(700 + i as u64).layer(20_000 + 1_000 * i as u64);
            let fixture = write_oci_layout(&layout, &spec, "v");
            push(a, &layout, name).assert_success();
            (name.to_string(), fixture)
        })
        .collect()
}

/// `tug sync --json` with each side's credentials, in `env`'s world.
fn sync(env: &Env, args: &[String]) -> (tug_testkit::TugOutput, Value) {
    let out = hermetic(Tug::new(), env.dir.path())
        .args(["sync", "--plain-http", "--json"])
        .arg("--src-creds")
        .arg(format!("{}:{}", SRC.0, SRC.1))
        .arg("--dest-creds")
        .arg(format!("{}:{}", DST.0, DST.1))
        .args(args)
        .run();
    let report = serde_json::from_str(out.stdout_str().trim()).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}):\n{}\n{}",
            out.stdout_str(),
            out.stderr_str()
        )
    });
    (out, report)
}

/// The sources of the images with `outcome` in a report.
fn with_outcome(report: &Value, outcome: &str) -> BTreeSet<String> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["outcome"] == outcome)
        .map(|i| i["source"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn syncs_repositories_with_a_tag_filter_and_a_rerun_sends_no_blob_bytes() {
    let env = Env::new();
    let (a, b) = registries();
    let images = seed(
        &env,
        &a,
        &[
            "team/app:v1",
            "team/app:v2",
            "team/app:v2-rc1",
            "team/web:v1",
            "team/web:old",
            "other/db:v9",
            "other/db:v10",
        ],
    );
    // The destination behind the fault proxy, to count what is sent to it.
    let pb = FaultProxy::start(&b);
    let args: Vec<String> = vec![
        "--tags".into(),
        r"v[0-9]+".into(),
        a.image("team/app"),
        a.image("team/web"),
        format!("docker://{}", a.image("other/db:v9")),
        format!("{}/mirror", pb.host()),
    ];
    let (out, report) = sync(&env, &args);
    out.assert_success();
    // Each tag the destination lacks is asked about with one HEAD, whose 404 is the answer
    // (no GET after it: a quarter of the requests of a first sync of many tags).
    let asked: Vec<_> = pb
        .requests_matching("GET", "/manifests/")
        .into_iter()
        .filter(|r| r.status == Some(404))
        .collect();
    assert!(asked.is_empty(), "GETs after a HEAD's 404: {asked:?}");
    let taken = ["team/app:v1", "team/app:v2", "team/web:v1", "other/db:v9"];
    let expected: BTreeSet<String> = taken.iter().map(|n| a.image(n)).collect();
    assert_eq!(with_outcome(&report, "copied"), expected, "{report}");
    assert_eq!(report["summary"]["copied"], 4);
    for (name, fixture) in &images {
        let mirrored = format!("mirror/{name}");
        if taken.contains(&name.as_str()) {
            assert_eq!(
                skopeo::inspect_raw_in(&a, name).unwrap(),
                skopeo::inspect_raw_in(&b, &mirrored).unwrap(),
                "{name}: the same manifest bytes"
            );
            pull_with_skopeo_and_compare(&b, &mirrored, fixture);
        } else {
            assert!(
                skopeo::inspect_raw_in(&b, &mirrored).is_err(),
                "{name} was filtered out but arrived"
            );
        }
    }

    // Again: every image is in sync; one manifest HEAD each (no GET, which Docker Hub
    // counts as a pull), no blob request at all.
    pb.reset_counters();
    let (out, report) = sync(&env, &args);
    out.assert_success();
    assert_eq!(with_outcome(&report, "in_sync"), expected, "{report}");
    assert_eq!(report["summary"]["copied"], 0);
    assert_eq!(pb.request_body_bytes(), 0);
    let blobs = pb.requests_matching("*", "/blobs/");
    assert!(blobs.is_empty(), "blob requests on a re-run: {blobs:?}");
    assert_eq!(pb.requests_matching("HEAD", "/manifests/").len(), 4);
    assert_eq!(pb.requests_matching("GET", "/manifests/").len(), 0);

    // A dry run after a new tag: the plan names it and nothing is written.
    seed(&env, &a, &["team/app:v3"]);
    let mut dry = vec!["--dry-run".to_owned()];
    dry.extend(args.iter().cloned());
    let (out, report) = sync(&env, &dry);
    out.assert_success();
    assert_eq!(
        with_outcome(&report, "planned"),
        BTreeSet::from([a.image("team/app:v3")])
    );
    // The bytes to move: the blobs its manifest names (as skopeo reads it).
    let manifest: Value =
        serde_json::from_slice(&skopeo::inspect_raw_in(&a, "team/app:v3").unwrap()).unwrap();
    let blob_bytes = manifest["config"]["size"].as_u64().unwrap()
        + manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size"].as_u64().unwrap())
            .sum::<u64>();
    assert_eq!(report["summary"]["bytes"], blob_bytes, "{report}");
    assert!(skopeo::inspect_raw_in(&b, "mirror/team/app:v3").is_err());
    // The same plan for people: one line per image, the counts on stderr.
    let out = hermetic(Tug::new(), env.dir.path())
        .args(["sync", "--plain-http", "--progress", "plain", "--src-creds"])
        .arg(format!("{}:{}", SRC.0, SRC.1))
        .arg("--dest-creds")
        .arg(format!("{}:{}", DST.0, DST.1))
        .args(&dry)
        .run()
        .assert_success();
    let planned = format!(
        "planned  {} -> {}/mirror/team/app:v3",
        a.image("team/app:v3"),
        pb.host()
    );
    assert!(
        out.stdout_str().lines().any(|l| l == planned),
        "{}",
        out.stdout_str()
    );
    assert!(
        out.stderr_str().contains(&format!(
            "Plan: 1 to copy ({blob_bytes} blob bytes), 0 copied, 4 in sync"
        )),
        "{}",
        out.stderr_str()
    );
    assert!(skopeo::inspect_raw_in(&b, "mirror/team/app:v3").is_err());
}

#[test]
fn shards_run_one_after_another_make_the_whole_mirror_each_image_copied_once() {
    let env = Env::new();
    let (a, b) = registries();
    let names: Vec<String> = ["one/a", "two/b", "three/c"]
        .iter()
        .flat_map(|r| (1..=3).map(move |t| format!("{r}:t{t}")))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    seed(&env, &a, &refs);
    // The whole source registry (its catalog), into the destination's root.
    let whole = |shard: Option<&str>| {
        let mut args = Vec::new();
        if let Some(s) = shard {
            args.extend(["--shard".to_owned(), s.to_owned()]);
        }
        args.extend([a.host(), b.host()]);
        args
    };
    let mut copied_by: Vec<BTreeSet<String>> = Vec::new();
    for i in 0..3 {
        // The last shard from the environment, as a Kubernetes or CI job would set it.
        let (out, report) = if i == 2 {
            let out = hermetic(Tug::new(), env.dir.path())
                .env("TUG_SHARD", "2/3")
                .args(["sync", "--plain-http", "--json"])
                .arg("--src-creds")
                .arg(format!("{}:{}", SRC.0, SRC.1))
                .arg("--dest-creds")
                .arg(format!("{}:{}", DST.0, DST.1))
                .args(whole(None))
                .run();
            let report: Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
            (out, report)
        } else {
            sync(&env, &whole(Some(&format!("{i}/3"))))
        };
        out.assert_success();
        assert_eq!(report["shard"], format!("{i}/3"));
        assert_eq!(
            report["summary"]["in_sync"], 0,
            "shard {i} saw another's: {report}"
        );
        copied_by.push(with_outcome(&report, "copied"));
    }
    let all: BTreeSet<String> = names.iter().map(|n| a.image(n)).collect();
    let union: BTreeSet<String> = copied_by.iter().flatten().cloned().collect();
    assert_eq!(union, all, "the shards together copy every image");
    let total: usize = copied_by.iter().map(BTreeSet::len).sum();
    assert_eq!(
        total,
        all.len(),
        "no image copied by two shards: {copied_by:?}"
    );
    assert!(copied_by.iter().all(|s| !s.is_empty()), "{copied_by:?}");
    for name in &names {
        assert_eq!(
            skopeo::inspect_raw_in(&a, name).unwrap(),
            skopeo::inspect_raw_in(&b, name).unwrap(),
            "{name}"
        );
    }
    // The whole sync afterwards has nothing left to do.
    let (out, report) = sync(&env, &whole(None));
    out.assert_success();
    assert_eq!(with_outcome(&report, "in_sync"), all);
}

#[test]
fn a_repository_the_source_denies_fails_alone_and_the_rest_is_synced() {
    let env = Env::new();
    let (a, b) = registries();
    let images = seed(&env, &a, &["open/app:v1", "secret/app:v1", "open/tool:v1"]);
    let pa = FaultProxy::start(&a);
    pa.add_rule(Rule::new("GET", "/v2/secret/app/", Fault::status(403)).always());
    let (out, report) = sync(
        &env,
        &[
            pa.image("open/app"),
            pa.image("secret/app"),
            pa.image("open/tool"),
            b.host(),
        ],
    );
    let out = out.assert_code(crate::common::AUTH);
    assert_eq!(
        report["summary"]["failed"],
        serde_json::json!([pa.image("secret/app")]),
        "{report}"
    );
    assert_eq!(report["summary"]["copied"], 2);
    assert!(
        out.stderr_str().contains("secret/app"),
        "{}",
        out.stderr_str()
    );
    // One history record for the sync, with each image's outcome.
    let tug = || hermetic(Tug::new(), env.dir.path());
    let listed = tug()
        .args(["history", "--json", "-n", "1"])
        .run()
        .assert_success();
    let records: Value = serde_json::from_str(&listed.stdout_str()).unwrap();
    let record = &records[0];
    assert_eq!(record["command"], "sync");
    assert_eq!(record["outcome"], "failed");
    let outcomes: BTreeSet<(String, String)> = record["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["source"].as_str().unwrap().into(),
                i["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = BTreeSet::from([
        (pa.image("open/app:v1"), "copied".to_owned()),
        (pa.image("open/tool:v1"), "copied".to_owned()),
        (pa.image("secret/app"), "failed".to_owned()),
    ]);
    assert_eq!(outcomes, expected);
    // The blobs of the two images copied (a config and a layer each, all sent).
    assert_eq!(record["blobs"], 4, "{record}");
    assert_eq!(record["blobs_transferred"], 4, "{record}");
    let shown = tug()
        .args(["history", "show", record["id"].as_str().unwrap()])
        .run()
        .assert_success()
        .stdout_str();
    let line = shown
        .lines()
        .find(|l| l.contains("-> ") && l.contains("secret/app"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        line.trim_start().starts_with("failed") && line.contains("DENIED"),
        "{line}"
    );

    for (name, fixture) in &images {
        if name.starts_with("open/") {
            pull_with_skopeo_and_compare(&b, name, fixture);
        } else {
            assert!(skopeo::inspect_raw_in(&b, name).is_err());
        }
    }
}

/// Arguments that cannot work are usage errors naming what is wrong, before any request.
#[test]
fn bad_filters_shards_and_destinations_are_usage_errors() {
    let env = Env::new();
    let run = |args: &[&str], env_shard: Option<&str>| {
        let mut tug = hermetic(Tug::new(), env.dir.path()).arg("sync");
        if let Some(s) = env_shard {
            tug = tug.env("TUG_SHARD", s);
        }
        tug.args(args).run().assert_code(2).stderr_str()
    };
    let err = run(&["--tags", "v(", "127.0.0.1:1/a", "127.0.0.1:2"], None);
    assert!(err.contains("--tags \"v(\""), "{err}");
    let err = run(&["--shard", "3/3", "127.0.0.1:1/a", "127.0.0.1:2"], None);
    assert!(
        err.contains("shard \"3/3\"") && err.contains("less than N"),
        "{err}"
    );
    let err = run(&["127.0.0.1:1/a", "127.0.0.1:2"], Some("x"));
    assert!(err.contains("TUG_SHARD"), "{err}");
    let err = run(&["127.0.0.1:1/a", "127.0.0.1:2/mirror:v1"], None);
    assert!(
        err.contains("destination") && err.contains("own tag"),
        "{err}"
    );
    let err = run(&["busybox", "127.0.0.1:2"], None);
    assert!(
        err.contains("source") && err.contains("registry alone"),
        "{err}"
    );
}

/// A multi-platform tag: the dry run counts every platform's blobs, the sync copies the
/// whole index (the same digest), and a re-run finds it in sync; with `--platform` the
/// destination's one manifest is compared with that platform's, so a re-run is in sync too.
#[test]
fn an_index_is_synced_whole_and_a_platform_alone_stays_in_sync() {
    let env = Env::new();
    let (a, b) = registries();
    let layout = env.path("multi");
    let (index, children) = crate::common::multi_platform_layout(&layout);
    push(&a, &layout, "multi/app:v1").assert_success();
    let blob_bytes: u64 = children
        .iter()
        .map(|child| {
            let raw = skopeo::inspect_raw_in(&a, &format!("multi/app@{child}")).unwrap();
            let m: Value = serde_json::from_slice(&raw).unwrap();
            m["config"]["size"].as_u64().unwrap()
                + m["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["size"].as_u64().unwrap())
                    .sum::<u64>()
        })
        .sum();
    let whole = [a.image("multi/app"), b.host()];
    let (out, report) = sync(
        &env,
        &[["--dry-run".to_owned()].as_slice(), &whole].concat(),
    );
    out.assert_success();
    assert_eq!(report["summary"]["planned"], 1);
    assert_eq!(report["summary"]["bytes"], blob_bytes, "{report}");

    let (out, report) = sync(&env, &whole);
    out.assert_success();
    assert_eq!(report["summary"]["copied"], 1, "{report}");
    assert_eq!(skopeo::inspect_raw_in(&b, "multi/app:v1").unwrap(), index);
    for child in &children {
        skopeo::inspect_raw_in(&b, &format!("multi/app@{child}")).unwrap();
    }
    let (out, report) = sync(&env, &whole);
    out.assert_success();
    assert_eq!(report["summary"]["in_sync"], 1, "{report}");

    let one = [
        "--platform".to_owned(),
        "linux/arm64".to_owned(),
        a.image("multi/app"),
        format!("{}/arm", b.host()),
    ];
    let (out, report) = sync(&env, &one);
    out.assert_success();
    assert_eq!(report["summary"]["copied"], 1, "{report}");
    let arm = skopeo::inspect_raw_in(&b, "arm/multi/app:v1").unwrap();
    assert_eq!(tug_testkit::hashing::sha256_digest(&arm), children[1]);
    let (out, report) = sync(&env, &one);
    out.assert_success();
    assert_eq!(report["summary"]["in_sync"], 1, "{report}");
}

#[test]
fn a_blob_shared_by_images_synced_at_once_is_uploaded_once() {
    let env = Env::new();
    let (a, b) = registries();
    // One image under four names (two tags of one repository, two other repositories),
    // and three images of their own: all synced in one run, several at once.
    let layout = env.path("shared");
    let shared = write_oci_layout(
        &layout,
        &ImageSpec::new(900).layer(300_000).layer(50_000),
        "v",
    );
    let names = ["team/a:v1", "team/a:v2", "team/b:v1", "team/c:v1"];
    for name in names {
        push(&a, &layout, name).assert_success();
    }
    let own = seed(&env, &a, &["solo/x:v1", "solo/y:v1", "solo/z:v1"]);
    let pb = FaultProxy::start(&b);
    let mut args: Vec<String> = ["team/a", "team/b", "team/c", "solo/x", "solo/y", "solo/z"]
        .iter()
        .map(|r| a.image(r))
        .collect();
    args.push(format!("{}/mirror", pb.host()));
    let (out, report) = sync(&env, &args);
    out.assert_success();
    assert_eq!(report["summary"]["copied"], 7, "{report}");
    for name in names {
        pull_with_skopeo_and_compare(&b, &format!("mirror/{name}"), &shared);
    }
    for (name, fixture) in &own {
        pull_with_skopeo_and_compare(&b, &format!("mirror/{name}"), fixture);
    }

    // Each blob of the shared image was uploaded (its upload closed with its digest) once;
    // the other repositories mounted it.
    let mut blobs = shared.layer_digests();
    blobs.push(shared.config_digest.clone());
    for digest in &blobs {
        let hex = digest.trim_start_matches("sha256:");
        let closed = pb.requests_matching("PUT", hex);
        assert_eq!(closed.len(), 1, "{digest} uploaded {} times", closed.len());
        let mounted: Vec<_> = pb
            .requests_matching("POST", hex)
            .into_iter()
            .filter(|r| r.target.contains("mount=") && r.status == Some(201))
            .collect();
        assert_eq!(mounted.len(), 2, "{digest}: mounted into team/b and team/c");
    }
    // And the blob bytes sent are each image's own once.
    let size =
        |f: &FixtureImage| f.config.len() as u64 + f.layers.iter().map(|l| l.size).sum::<u64>();
    let expected = size(&shared) + own.iter().map(|(_, f)| size(f)).sum::<u64>();
    assert_eq!(pb.request_body_bytes_to("/blobs/"), expected);
}

/// `tug sync --progress MODE` with each side's credentials.
fn sync_showing(env: &Env, mode: &str, args: &[String]) -> tug_testkit::TugOutput {
    hermetic(Tug::new(), env.dir.path())
        .args(["sync", "--plain-http", "--progress", mode, "--src-creds"])
        .arg(format!("{}:{}", SRC.0, SRC.1))
        .arg("--dest-creds")
        .arg(format!("{}:{}", DST.0, DST.1))
        .args(args)
        .run()
}

#[test]
fn progress_counts_images_done_and_json_names_each_image_once() {
    let env = Env::new();
    let (a, b) = registries();
    seed(&env, &a, &["team/app:v1", "team/app:v2", "team/web:v1"]);
    let dest = b.host();
    // One image already there: in sync, never started.
    let first = vec![a.image("team/app:v1"), dest.clone()];
    sync_showing(&env, "none", &first).assert_success();

    let args = vec![a.image("team/app"), a.image("team/web"), dest.clone()];
    let out = sync_showing(&env, "json", &args).assert_success();
    let events: Vec<Value> = out
        .stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // The images are declared once, by number, in the first event.
    assert_eq!(events[0]["event"], "sync_images", "{events:?}");
    assert_eq!(events[0]["total"], 3);
    let declared: BTreeSet<String> = events[0]["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].as_str().unwrap().to_owned())
        .collect();
    let names = ["team/app:v1", "team/app:v2", "team/web:v1"];
    assert_eq!(declared, names.iter().map(|n| a.image(n)).collect());
    let number = |name: &str| {
        events[0]["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["source"] == a.image(name))
            .unwrap()["image"]
            .clone()
    };
    let of = |kind: &str| -> Vec<&Value> { events.iter().filter(|e| e["event"] == kind).collect() };
    let started: BTreeSet<String> = of("image_started")
        .iter()
        .map(|e| e["image"].to_string())
        .collect();
    let copied = BTreeSet::from([
        number("team/app:v2").to_string(),
        number("team/web:v1").to_string(),
    ]);
    assert_eq!(started, copied, "only the images copied start: {events:?}");
    let finished = of("image_finished");
    assert_eq!(finished.len(), 3);
    // Each names its image by number only, and counts the images done.
    for (k, e) in finished.iter().enumerate() {
        assert_eq!(e["images_done"], k + 1);
        assert_eq!(e["images_total"], 3);
        assert!(e.get("source").is_none(), "{e}");
    }
    let in_sync = finished.iter().find(|e| e["outcome"] == "in_sync").unwrap();
    assert_eq!(in_sync["image"], number("team/app:v1"));

    // For people: the images done of all on standard error, each image's line on stdout.
    seed(&env, &a, &["team/web:v2"]);
    let out = sync_showing(&env, "plain", &args).assert_success();
    assert!(
        out.stderr_str().contains("images 4/4"),
        "{}",
        out.stderr_str()
    );
    let copied_line = format!("copied   {} -> {dest}/team/web:v2", a.image("team/web:v2"));
    assert!(
        out.stdout_str().lines().any(|l| l == copied_line),
        "{}",
        out.stdout_str()
    );
}

#[test]
fn a_file_of_two_sources_each_with_its_own_filters_and_destination() {
    let env = Env::new();
    let (a, b) = registries();
    let images = seed(
        &env,
        &a,
        &[
            "team/app:v1",
            "team/app:v2",
            "team/app:v2-rc1",
            "other/db:v9",
            "other/db:v10",
        ],
    );
    let file = env.path("sync.toml");
    let text = format!(
        "# two sources, two destinations\n\
         to = \"{dst}/mirror\"\n\n\
         [[source]]\n\
         from = \"{src}/team/app\"\n\
         tags = ['v[0-9]+.*']\n\
         exclude-tags = ['.*-rc.*', 'v1']\n\n\
         [[source]]\n\
         from = \"docker://{src}/other/db\"\n\
         tags = ['v10']\n\
         to = \"{dst}/elsewhere\"\n",
        src = a.host(),
        dst = b.host()
    );
    std::fs::write(&file, text).unwrap();
    let args = vec!["--file".to_owned(), file.display().to_string()];
    let (out, report) = sync(&env, &args);
    out.assert_success();
    let expected = BTreeSet::from([a.image("team/app:v2"), a.image("other/db:v10")]);
    assert_eq!(with_outcome(&report, "copied"), expected, "{report}");
    assert_eq!(report["images"].as_array().unwrap().len(), 2, "{report}");
    for (name, fixture) in &images {
        let at = match name.as_str() {
            "team/app:v2" => Some(format!("mirror/{name}")),
            "other/db:v10" => Some(format!("elsewhere/{name}")),
            _ => None,
        };
        match at {
            Some(at) => {
                pull_with_skopeo_and_compare(&b, &at, fixture);
            }
            None => {
                for prefix in ["mirror", "elsewhere"] {
                    let there = format!("{prefix}/{name}");
                    assert!(
                        skopeo::inspect_raw_in(&b, &there).is_err(),
                        "{there} arrived"
                    );
                }
            }
        }
    }

    // Mistakes name the file, the line and the key; the file and SOURCE... DEST or --tags
    // do not mix.
    let bad = env.path("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "to = \"{}\"\n[[source]]\nfrom = \"{}/x\"\ntags = ['v(']\n",
            b.host(),
            a.host()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        hermetic(Tug::new(), env.dir.path())
            .arg("sync")
            .args(args)
            .run()
            .assert_code(2)
            .stderr_str()
    };
    let bad = bad.display().to_string();
    let err = run(&["--file", &bad]);
    assert!(
        err.contains(&format!("{bad}:4: [[source]] 1: tags: \"v(\"")),
        "{err}"
    );
    let err = run(&["--file", &bad, "127.0.0.1:1/a", "127.0.0.1:2"]);
    assert!(err.contains("--file"), "{err}");
    let err = run(&["--file", &bad, "--tags", "v1"]);
    assert!(err.contains("--file") && err.contains("--tags"), "{err}");
    let err = run(&["--file", &env.path("missing.toml").display().to_string()]);
    assert!(err.contains("missing.toml"), "{err}");
}

/// distribution 2.8 answers a tag list in one page whatever `n` asks (tag pagination came
/// in distribution 3), so the proxy in front of the source answers the tag list as
/// distribution 3 does, in pages of `n` with a `Link` to the next (the tags are the
/// registry's own); everything else is the real registry's.
#[test]
fn a_paginated_tag_list_is_followed_to_its_end() {
    let env = Env::new();
    let (a, b) = registries();
    let tags = ["t1", "t2", "t3", "t4", "t5"];
    let names: Vec<String> = tags.iter().map(|t| format!("team/app:{t}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    seed(&env, &a, &names);
    let pa = FaultProxy::start(&a);
    let page = |tags: &[&str], next: Option<&str>| {
        let body = serde_json::json!({"name": "team/app", "tags": tags}).to_string();
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if let Some(last) = next {
            let link = format!("</v2/team/app/tags/list?n=2&last={last}>; rel=\"next\"");
            headers.push(("Link".to_owned(), link));
        }
        Fault::Respond {
            status: 200,
            headers,
            body: body.into_bytes(),
        }
    };
    // The later pages first: a rule for the first page's path matches them too.
    pa.add_rule(Rule::new("GET", "/tags/list?n=2&last=t4", page(&["t5"], None)).always());
    pa.add_rule(
        Rule::new(
            "GET",
            "/tags/list?n=2&last=t2",
            page(&["t3", "t4"], Some("t4")),
        )
        .always(),
    );
    pa.add_rule(Rule::new("GET", "/tags/list?n=2", page(&["t1", "t2"], Some("t2"))).always());
    let args = vec![
        "--page-size".to_owned(),
        "2".to_owned(),
        pa.image("team/app"),
        b.host(),
    ];
    let (out, report) = sync(&env, &args);
    out.assert_success();
    let expected: BTreeSet<String> = names.iter().map(|n| pa.image(n)).collect();
    assert_eq!(with_outcome(&report, "copied"), expected, "{report}");
    for name in &names {
        let copied = skopeo::inspect_raw_in(&b, name).unwrap();
        assert_eq!(copied, skopeo::inspect_raw_in(&a, name).unwrap(), "{name}");
    }
    // Three pages, each after the last one's `Link`.
    let pages: Vec<String> = pa
        .requests_matching("GET", "/tags/list")
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(
        pages,
        [
            "/v2/team/app/tags/list?n=2",
            "/v2/team/app/tags/list?n=2&last=t2",
            "/v2/team/app/tags/list?n=2&last=t4"
        ]
    );
}

#[test]
fn a_sync_killed_midway_and_run_again_completes_sending_little_twice() {
    let env = Env::new();
    let (a, b) = registries();
    let names: Vec<String> = (0..16).map(|i| format!("many/app{i:02}:v1")).collect();
    let mut mirror_size = 0;
    for (i, name) in names.iter().enumerate() {
        let layout = env.path(&format!("many-{i}"));
        let spec = ImageSpec::new(800 + i as u64).layer(100_000);
        let f = write_oci_layout(&layout, &spec, "v");
        mirror_size += f.config.len() as u64 + f.layers.iter().map(|l| l.size).sum::<u64>();
        push(&a, &layout, name).assert_success();
    }
    // A slow destination, so the kill comes midway.
    let pb = FaultProxy::start(&b);
    pb.shape(400_000, std::time::Duration::ZERO);
    let mut args: Vec<String> = ["sync", "--plain-http", "--jobs", "2", "--src-creds"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("{}:{}", SRC.0, SRC.1));
    args.push("--dest-creds".into());
    args.push(format!("{}:{}", DST.0, DST.1));
    args.extend(names.iter().map(|n| a.image(n)));
    args.push(pb.host());
    let mut child = hermetic(Tug::new(), env.dir.path())
        .args(&args)
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once six blobs are in (seen at the proxy), about a third of the way.
    let committed = |reqs: &[tug_testkit::ProxiedRequest]| {
        reqs.iter()
            .filter(|r| r.method == "PUT" && r.target.contains("/blobs/uploads/"))
            .filter(|r| r.status == Some(201))
            .count()
    };
    let reached = pb.wait_for(std::time::Duration::from_secs(60), |r| committed(r) >= 6);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(reached, "the sync never got going: {:#?}", pb.requests());
    let manifests = pb.requests_matching("PUT", "/manifests/").len();
    assert!(manifests < names.len(), "the kill came too late");

    pb.unshape();
    let out = hermetic(Tug::new(), env.dir.path()).args(&args).run();
    out.assert_success();
    for name in &names {
        let copied = skopeo::inspect_raw_in(&b, name).unwrap();
        assert_eq!(copied, skopeo::inspect_raw_in(&a, name).unwrap(), "{name}");
    }
    let sent = pb.request_body_bytes_to("/blobs/");
    assert!(
        sent as f64 <= 1.2 * mirror_size as f64,
        "{sent} blob bytes sent for a mirror of {mirror_size}"
    );
}

/// The referrers step of a repository's images costs (almost) nothing when nothing is
/// attached: the tag list says no `sha256-…` tag exists, so none is asked for, and the
/// referrers API is asked until the registry has said once that it lacks it.
#[test]
fn a_repository_s_unsigned_images_cost_no_referrers_request_and_one_version_check() {
    let env = Env::new();
    let (a, b) = registries();
    seed(
        &env,
        &a,
        &["team/app:v1", "team/app:v2", "team/app:v3", "team/app:v4"],
    );
    // The source behind the fault proxy, to count what is asked of it.
    let pa = FaultProxy::start(&a);
    let args: Vec<String> = vec![
        "--jobs".into(),
        "1".into(),
        format!("{}/team/app", pa.host()),
        format!("{}/mirror", b.host()),
    ];
    let (out, report) = sync(&env, &args);
    out.assert_success();
    assert_eq!(report["summary"]["copied"], 4, "{report}");
    let fallback = pa.requests_matching("*", "/manifests/sha256-");
    assert!(fallback.is_empty(), "referrers tags asked: {fallback:?}");
    // One image at a time: the first asks the API (distribution 2.8: 404), the rest know.
    let api = pa.requests_matching("*", "/referrers/");
    assert_eq!(api.len(), 1, "{api:?}");
    // One version check for the whole sync (a 401, then with Basic credentials), not one
    // per operation: the listing, the checks and the copies skip theirs.
    let pings = pa
        .requests()
        .into_iter()
        .filter(|r| r.target == "/v2/")
        .count();
    assert_eq!(pings, 2, "{:?}", pa.requests());
    let unauthorized = pa
        .requests()
        .into_iter()
        .filter(|r| r.status == Some(401))
        .count();
    assert_eq!(unauthorized, 1, "{:?}", pa.requests());
}

/// A tag the source lists that is not a tag is the registry's fault (exit 5, as a protocol
/// error), not a usage error, and shows on one line.
#[test]
fn a_listed_tag_that_is_not_one_is_the_source_s_fault() {
    let env = Env::new();
    let source = tug_testkit::HostileServer::start(|r| {
        if r.path() == "/v2/" {
            return tug_testkit::Reply::body(200, "application/json", "{}");
        }
        let tags = serde_json::json!({"name": "team/app", "tags": ["../../etc", "nl\nx"]});
        tug_testkit::Reply::body(200, "application/json", tags.to_string())
    });
    let target = Registry::plain();
    let out = hermetic(Tug::new(), env.dir.path())
        .args(["sync", "--plain-http"])
        .arg(format!("{}/team/app", source.host()))
        .arg(target.image("mirror"))
        .run()
        .assert_code(5);
    let err = out.stderr_str();
    assert!(err.contains("it listed a tag that is not one"), "{err}");
    assert!(err.contains("nl\\x0ax"), "{err}");
}

/// Two sources mapped to one target tag both fail, naming each other, and neither is put
/// there (found by probing: each run put one over the other, and the sync never settled);
/// the same source given twice is synced once.
#[test]
fn two_sources_into_one_tag_fail_and_a_source_given_twice_is_one() {
    let env = Env::new();
    let (a, b) = registries();
    let c = Registry::start(RegistryConfig::plain().with_basic_auth(SRC.0, SRC.1));
    seed(&env, &a, &["team/app:1", "team/app:2"]);
    seed(&env, &c, &["team/app:1"]);
    let (out, report) = sync(
        &env,
        &[
            a.image("team/app"),
            c.image("team/app"),
            a.image("team/app:2"),
            b.host(),
        ],
    );
    assert_eq!(out.code, Some(crate::common::USAGE), "{report}");
    let failed = with_outcome(&report, "failed");
    assert_eq!(
        failed,
        BTreeSet::from([a.image("team/app:1"), c.image("team/app:1")]),
        "{report}"
    );
    assert!(
        out.stderr_str().contains("is also the target of"),
        "{}",
        out.stderr_str()
    );
    assert_eq!(
        with_outcome(&report, "copied"),
        BTreeSet::from([a.image("team/app:2")])
    );
    assert_eq!(report["images"].as_array().unwrap().len(), 3, "{report}");
    assert!(
        skopeo::inspect_raw_in(&b, "team/app:1").is_err(),
        "{report}"
    );
    assert!(skopeo::inspect_raw_in(&b, "team/app:2").is_ok(), "{report}");
}
