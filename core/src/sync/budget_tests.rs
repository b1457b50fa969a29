//! The shared budget in virtual time: images whose blobs each take one tick per blob in
//! flight, started as [`Budget::start_next`] says and finished as their blobs end.

use std::collections::HashMap;

use super::budget::{Budget, ImageId, Start, Wanted};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::digest::Digest;

fn blob(name: &str) -> Digest {
    Digest::sha256_of(name.as_bytes())
}

fn wanted(id: usize, repository: &str, blobs: &[&str]) -> Wanted {
    // `other:` names a repository on another destination registry.
    let (registry, repository) = repository.split_once(':').unwrap_or(("dst", repository));
    Wanted {
        id: ImageId(id),
        registry: registry.into(),
        repository: repository.into(),
        blobs: blobs.iter().map(|b| blob(b)).collect(),
    }
}

/// What a run in virtual time saw.
#[derive(Debug, Default)]
struct Run {
    ticks: u32,
    /// The most images copied at once.
    most_running: usize,
    /// Each image's start: the tick and what the budget said.
    started: HashMap<ImageId, (u32, Start)>,
    /// Each image's last tick.
    ended: HashMap<ImageId, u32>,
}

/// Runs `images` through a budget of `total`: each tick, every running image moves `jobs`
/// of its blobs (a blob landed for an earlier image costs nothing: it is mounted or skipped).
fn simulate(total: usize, images: Vec<Wanted>, fails: &[usize]) -> Run {
    let mut budget = Budget::new(total);
    let mut left: HashMap<ImageId, usize> = HashMap::new();
    let mut landed: Vec<Digest> = Vec::new();
    let count = images.len();
    let blobs: HashMap<ImageId, Vec<Digest>> =
        images.iter().map(|w| (w.id, w.blobs.clone())).collect();
    for w in images {
        budget.queue(w);
    }
    let mut run = Run::default();
    while run.ended.len() < count {
        while let Some(start) = budget.start_next() {
            let todo = blobs[&start.id]
                .iter()
                .filter(|b| !landed.contains(b))
                .count();
            left.insert(start.id, todo);
            run.started.insert(start.id, (run.ticks, start));
        }
        assert!(budget.in_use() <= total, "over the budget: {budget:?}");
        assert!(budget.running() > 0, "nothing runs while images wait");
        run.most_running = run.most_running.max(budget.running());
        run.ticks += 1;
        let mut done = Vec::new();
        for (id, n) in left.iter_mut() {
            *n = n.saturating_sub(run.started[id].1.jobs);
            if *n == 0 {
                done.push(*id);
            }
        }
        done.sort();
        for id in done {
            left.remove(&id);
            let ok = !fails.contains(&id.0);
            if ok {
                landed.extend(blobs[&id].iter().cloned());
            }
            budget.finished(id, ok);
            run.ended.insert(id, run.ticks);
        }
    }
    run.started.values().for_each(|(_, s)| assert!(s.jobs >= 1));
    run
}

#[test]
fn many_small_images_run_at_once_within_the_budget() {
    let images = (0..1000)
        .map(|i| {
            let (config, layer) = (format!("config {i}"), format!("layer {i}"));
            wanted(i, &format!("repo{i}"), &[&config, &layer])
        })
        .collect();
    let run = simulate(8, images, &[]);
    // Two blobs each, eight in flight: four images at once, so a quarter of the ticks
    // one image after another would take.
    assert_eq!(run.most_running, 4);
    assert_eq!(run.ticks, 250);
}

#[test]
fn one_huge_image_does_not_starve_the_rest() {
    let layers: Vec<String> = (0..100).map(|i| format!("huge layer {i}")).collect();
    let layers: Vec<&str> = layers.iter().map(String::as_str).collect();
    let mut images = vec![wanted(0, "huge", &layers)];
    images.extend((1..=12).map(|i| {
        let layer = format!("small {i}");
        wanted(i, &format!("small{i}"), &[&layer])
    }));
    let run = simulate(8, images, &[]);
    // The huge image takes half while others wait; the small ones use the other half
    // from the first tick and are done long before it.
    assert_eq!(run.started[&ImageId(0)].1.jobs, 4);
    for i in 1..=12 {
        assert!(run.ended[&ImageId(i)] <= 3, "small image {i}: {run:?}");
    }
    assert_eq!(run.ended[&ImageId(0)], 25);
}

#[test]
fn an_image_alone_takes_the_whole_budget() {
    let layers: Vec<String> = (0..20).map(|i| format!("layer {i}")).collect();
    let layers: Vec<&str> = layers.iter().map(String::as_str).collect();
    let run = simulate(8, vec![wanted(0, "app", &layers)], &[]);
    assert_eq!(run.started[&ImageId(0)].1.jobs, 8);
    assert_eq!(run.ticks, 3);
}

#[test]
fn a_blob_shared_with_an_image_in_flight_waits_for_it_and_is_then_mounted() {
    let images = vec![
        wanted(0, "team/a", &["base", "a"]),
        wanted(1, "team/b", &["base", "b"]),
        wanted(2, "team/c", &["c"]),
        // Same repository as the first: its shared blob is found there, not mounted.
        wanted(3, "team/a", &["base", "a2"]),
    ];
    let run = simulate(8, images, &[]);
    let (t0, s0) = &run.started[&ImageId(0)];
    let (t1, s1) = &run.started[&ImageId(1)];
    let (t2, _) = &run.started[&ImageId(2)];
    let (t3, s3) = &run.started[&ImageId(3)];
    // The second image waits for the first one's copy of `base`; the third, sharing
    // nothing, starts at once.
    assert_eq!((*t0, *t2), (0, 0));
    assert!(*t1 >= run.ended[&ImageId(0)]);
    assert!(*t3 >= run.ended[&ImageId(0)]);
    assert_eq!(s0.mount_from, None);
    assert_eq!(s1.mount_from.as_deref(), Some("team/a"));
    assert_eq!(s3.mount_from, None);
}

#[test]
fn a_blob_is_mounted_only_within_its_registry() {
    let images = vec![
        wanted(0, "team/a", &["base", "a"]),
        wanted(1, "other:team/b", &["base", "b"]),
    ];
    let run = simulate(8, images, &[]);
    assert_eq!(run.started[&ImageId(1)].1.mount_from, None);
}

#[test]
fn a_failed_image_leaves_its_blobs_to_the_next_and_mounts_nothing() {
    let images = vec![
        wanted(0, "team/a", &["base", "a"]),
        wanted(1, "team/b", &["base", "b"]),
    ];
    let run = simulate(8, images, &[0]);
    let (t1, s1) = &run.started[&ImageId(1)];
    assert!(*t1 >= run.ended[&ImageId(0)]);
    assert_eq!(s1.mount_from, None);
}

#[test]
fn the_queue_is_dropped_when_the_sync_stops_and_nothing_is_over_budget() {
    let mut budget = Budget::new(2);
    for i in 0..5 {
        let layer = format!("l{i}");
        budget.queue(wanted(i, "r", &[&layer, "other"]));
    }
    let first = budget.start_next().unwrap();
    assert_eq!(first.jobs, 1, "half of 2 while others wait");
    // The rest share `other` with the first: they wait.
    assert_eq!(budget.start_next(), None);
    assert_eq!(budget.waiting(), 4);
    assert_eq!(budget.drop_queued().len(), 4);
    budget.finished(first.id, true);
    assert_eq!(
        (budget.in_use(), budget.running(), budget.start_next()),
        (0, 0, None)
    );
    // An unknown image finishing changes nothing.
    budget.finished(ImageId(99), true);
    assert_eq!(budget.in_use(), 0);
}

/// A start names its image's blobs once each (its copy takes up their upload sessions).
#[test]
fn a_start_names_its_blobs_once_each() {
    let mut budget = Budget::new(4);
    budget.queue(wanted(0, "app", &["config", "layer", "layer"]));
    let start = budget.start_next().unwrap();
    let mut expected = vec![blob("config"), blob("layer")];
    expected.sort_unstable();
    assert_eq!(start.blobs, expected);
}
