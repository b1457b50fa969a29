//! Pushes with adaptive concurrency over a simulated link, in virtual time: request bodies
//! share the link's capacity (each upload limited to `per_flow`), every answer comes a
//! round trip after its request is sent, and the capacity changes during the push.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tug_core::concurrency::{Change, Reason};
use tug_core::http::{Body, Method, Request, RequestId};
use tug_core::push::{Event, PushConfig, PushReport};
use tug_core::{Error, Instant, Scheme};
use tug_sansio_kit::images::{image, Image};
use tug_sansio_kit::ops::push::PushPlug;
use tug_sansio_kit::{Driver, Fault, RegistryModel};

const TICK: Duration = Duration::from_millis(10);
const MB: f64 = 1_000_000.0;

struct LinkSpec {
    /// Capacity (bytes/s) from each instant on.
    schedule: Vec<(Instant, f64)>,
    per_flow: f64,
    round_trip: Duration,
}

impl LinkSpec {
    fn capacity(&self, t: Instant) -> f64 {
        self.schedule
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map_or(0.0, |(_, c)| *c)
    }
}

/// Where a request in flight is on the link.
#[derive(Default)]
struct OnLink {
    /// Body bytes sent so far.
    sent: usize,
    /// Fractional bytes owed from earlier ticks.
    credit: f64,
    /// When the answer arrives, once the body is out.
    answer_at: Option<Instant>,
}

struct LinkRun {
    result: Result<PushReport, Error>,
    events: Vec<Event>,
    requests: Vec<Request>,
    /// The most distinct blobs with a request in flight at once.
    max_blobs_in_flight: usize,
    /// (time, window) after every change.
    windows: Vec<(Instant, usize)>,
    /// Every answered request with the status it got, in the order answered.
    answered: Vec<(Request, u16)>,
}

fn blob_of(req: &Request, plan_blob_of_path: &HashMap<String, usize>) -> Option<usize> {
    if let Body::BlobRange { blob, .. } = req.body {
        return Some(blob);
    }
    let path = req.url.path();
    plan_blob_of_path
        .iter()
        .find(|(digest, _)| path.ends_with(digest.as_str()))
        .map(|(_, b)| *b)
}

/// Pushes `img` over the link with the kit's driver, stepped by hand: every tick, the
/// bodies in flight move their share of the link; an answer comes a round trip after its
/// body is out.
fn run_on_link(
    model: &mut RegistryModel,
    img: &Image,
    config: PushConfig,
    link: &LinkSpec,
) -> LinkRun {
    let plug = PushPlug::new(img.plan.clone(), &img.data, config);
    let mut driver = Driver::new(plug, vec![model]);
    let digests: HashMap<String, usize> = img
        .plan
        .blobs
        .iter()
        .enumerate()
        .map(|(i, b)| (b.digest.to_string(), i))
        .collect();
    // Requests of one upload session carry no digest in their path: remember whose
    // session each upload URL belongs to.
    let mut session_blob: HashMap<String, usize> = HashMap::new();
    let mut on_link: HashMap<RequestId, OnLink> = HashMap::new();
    let mut run = LinkRun {
        result: Err(Error::Cancelled),
        events: Vec::new(),
        requests: Vec::new(),
        max_blobs_in_flight: 0,
        windows: Vec::new(),
        answered: Vec::new(),
    };
    let mut events_seen = 0;
    for _ in 0..1_000_000 {
        for e in &driver.plug.events[events_seen..] {
            if let Event::Concurrency(c) = e {
                run.windows.push((driver.now, c.to));
            }
        }
        events_seen = driver.plug.events.len();
        if let Some(result) = driver.result.take() {
            run.result = result;
            run.events = std::mem::take(&mut driver.plug.events);
            run.requests = driver.requests.into_iter().map(|(_, r)| r).collect();
            return run;
        }
        on_link.retain(|id, _| driver.flights.iter().any(|f| f.req.id == *id));
        for f in &driver.flights {
            if let Entry::Vacant(new) = on_link.entry(f.req.id) {
                if let Body::BlobRange { blob, .. } = f.req.body {
                    assert!(
                        !driver.flights.iter().any(|g| g.req.id != f.req.id
                            && matches!(g.req.body, Body::BlobRange { blob: other, .. } if other == blob)),
                        "two bodies of blob {blob} in flight at once"
                    );
                }
                let answer_at = f.body.is_empty().then(|| driver.now + link.round_trip);
                new.insert(OnLink {
                    answer_at,
                    ..OnLink::default()
                });
            }
        }
        let blobs: HashSet<usize> = driver
            .flights
            .iter()
            .filter_map(|f| {
                blob_of(&f.req, &digests).or_else(|| session_blob.get(f.req.url.path()).copied())
            })
            .collect();
        run.max_blobs_in_flight = run.max_blobs_in_flight.max(blobs.len());
        let timeout = driver.timer;
        if timeout.is_some_and(|t| t <= driver.now) {
            driver.timeout();
            continue;
        }
        if driver.flights.is_empty() {
            match timeout {
                Some(t) => {
                    driver.now = t;
                    driver.timeout();
                    continue;
                }
                None => panic!("the push stalled: nothing in flight, no timer"),
            }
        }
        // One tick: bodies move, answers that are due arrive.
        let sending = on_link.values().filter(|f| f.answer_at.is_none()).count();
        let share = if sending > 0 {
            link.per_flow
                .min(link.capacity(driver.now) / sending as f64)
                * TICK.as_secs_f64()
        } else {
            0.0
        };
        driver.now = driver.now + TICK;
        let moving: Vec<(usize, RequestId)> = driver
            .flights
            .iter()
            .enumerate()
            .filter(|(_, f)| on_link[&f.req.id].answer_at.is_none())
            .map(|(i, f)| (i, f.req.id))
            .collect();
        for (i, id) in moving {
            let len = driver.flights[i].body.len();
            let f = on_link.get_mut(&id).unwrap();
            f.credit += share;
            let n = (f.credit as usize).min(len - f.sent);
            f.credit -= n as f64;
            let start = f.sent;
            f.sent += n;
            if f.sent == len {
                f.answer_at = Some(driver.now + link.round_trip);
            }
            if n > 0 {
                let piece = driver.flights[i].body[start..start + n].to_vec();
                driver.body_sent(i, &piece);
            }
        }
        let due: Vec<RequestId> = driver
            .flights
            .iter()
            .filter(|f| {
                on_link[&f.req.id]
                    .answer_at
                    .is_some_and(|t| t <= driver.now)
            })
            .map(|f| f.req.id)
            .rev()
            .collect();
        for id in due {
            for (req, head) in driver.respond(&[id]) {
                let Some(head) = head else { continue };
                if let (Some(b), Some(location)) = (
                    blob_of(&req, &digests).or_else(|| session_blob.get(req.url.path()).copied()),
                    head.header("location"),
                ) {
                    if let Ok(url) = req.url.join(location) {
                        session_blob.insert(url.path().to_owned(), b);
                    }
                }
                run.answered.push((req, head.status.as_u16()));
            }
        }
    }
    panic!("the push did not finish");
}

fn config(jobs: usize) -> PushConfig {
    PushConfig {
        registry: tug_core::RegistryConfig {
            scheme: Scheme::Http,
            ..PushConfig::default().registry
        },
        transfer: tug_core::TransferConfig {
            jobs,
            adaptive: true,
            ..PushConfig::default().transfer
        },
        monolithic_max: 64 * 1024,
        chunk_size: 128 * 1024,
        ..PushConfig::default()
    }
}

fn changes(run: &LinkRun) -> Vec<&Change> {
    run.events
        .iter()
        .filter_map(|e| match e {
            Event::Concurrency(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// Every blob's accepted `PATCH`es, in the order answered, start where the one before
/// ended and end at the blob's size: chunks of one blob are never sent out of order (the
/// driver also checks that no two bodies of one blob are ever in flight together).
fn assert_chunks_sequential(run: &LinkRun, img: &Image) {
    let mut next: HashMap<usize, u64> = HashMap::new();
    for (r, status) in &run.answered {
        if r.method != Method::PATCH {
            continue;
        }
        assert_ne!(*status, 416, "a chunk out of place: {}", r.url);
        let Body::BlobRange { blob, start, end } = r.body else {
            panic!("a PATCH without a blob range");
        };
        let range = r.headers["content-range"].to_str().unwrap();
        assert_eq!(range, format!("{start}-{}", end - 1));
        if *status != 202 {
            continue;
        }
        let expected = next.get(&blob).copied().unwrap_or(0);
        assert_eq!(
            start, expected,
            "blob {blob}: a chunk at {start} after one that ended at {expected}"
        );
        next.insert(blob, end);
    }
    for (blob, end) in next {
        assert_eq!(
            end,
            img.data[blob].len() as u64,
            "blob {blob} not sent whole"
        );
    }
}

/// 2 MB/s for the first 40 s, then 8 MB/s; each upload at most 0.5 MB/s: the best window
/// is 4, then 16 — more than `jobs` = 8.
#[test]
fn the_window_follows_the_link_and_chunks_stay_in_order() {
    let sizes: Vec<usize> = std::iter::once(2_000)
        .chain((0..240).map(|i| 400_000 + 1_000 * i))
        .collect();
    let img = image(&sizes);
    let link = LinkSpec {
        schedule: vec![
            (Instant::ZERO, 2.0 * MB),
            (Instant::from_millis(12_000), 8.0 * MB),
        ],
        per_flow: 0.5 * MB,
        round_trip: Duration::from_millis(20),
    };
    let mut model = RegistryModel::default();
    let run = run_on_link(&mut model, &img, config(8), &link);
    let report = run.result.as_ref().expect("push succeeds");
    assert_eq!(report.blobs_uploaded, sizes.len());
    for (d, data) in img.plan.blobs.iter().zip(&img.data) {
        assert_eq!(model.blobs.get(&d.digest.to_string()), Some(data));
    }
    assert_chunks_sequential(&run, &img);
    assert_eq!(model.count("PATCH") as u64, model.patch_sizes.len() as u64);
    assert!(run.max_blobs_in_flight <= 8, "{}", run.max_blobs_in_flight);

    let changes = changes(&run);
    for c in &changes {
        assert!((1..=8).contains(&c.to), "{c:?}");
    }
    let slow = Instant::from_millis(40_000);
    // On the slow link the window comes down from 8 to around the knee (4)…
    let lowest_slow = run
        .windows
        .iter()
        .filter(|(t, _)| *t < slow)
        .map(|(_, w)| *w)
        .min()
        .expect("the window moved on the slow link");
    assert!(lowest_slow <= 5, "{:?}", run.windows);
    // … and is at the bound once the link is faster (it may have gone up before: on a
    // link where more flows change nothing, probes up are kept or not by a hair).
    let before_fast = run
        .windows
        .iter()
        .rev()
        .find(|(t, _)| *t <= slow)
        .map_or(8, |(_, w)| *w);
    assert!(
        before_fast == 8 || run.windows.iter().any(|(t, w)| *t > slow && *w == 8),
        "{:?}",
        run.windows
    );
    let (_, last) = run.windows.last().unwrap();
    assert!(*last >= 7, "{:?}", run.windows);
}

#[test]
fn overload_halves_the_window_and_the_push_still_finishes() {
    let sizes: Vec<usize> = std::iter::once(2_000)
        .chain((0..24).map(|_| 300_000))
        .collect();
    let img = image(&sizes);
    let link = LinkSpec {
        schedule: vec![(Instant::ZERO, 8.0 * MB)],
        per_flow: 1.0 * MB,
        round_trip: Duration::from_millis(20),
    };
    let mut model = RegistryModel::default();
    // The 11th, 12th and 13th PATCH get a 503: one burst.
    for after in [10, 0, 0] {
        model.fault(
            Fault::on(Method::PATCH, "/blobs/uploads/")
                .status(503)
                .after(after),
        );
    }
    let run = run_on_link(&mut model, &img, config(8), &link);
    let report = run.result.as_ref().expect("push succeeds");
    assert_eq!(report.blobs_uploaded, sizes.len());
    assert!(report.retries >= 3);
    let changes = changes(&run);
    let cut = changes
        .iter()
        .find(|c| c.reason == Reason::Congestion)
        .expect("the 503s halve the window");
    assert_eq!((cut.from, cut.to), (8, 4));
    // The three 503s came in one burst: one halving.
    assert_eq!(
        changes
            .iter()
            .filter(|c| c.reason == Reason::Congestion)
            .count(),
        1
    );
    // A failed chunk is asked about and sent again from where the registry stands.
    assert_eq!(model.count("PATCH") - 3, model.patch_sizes.len());
    assert_chunks_sequential(&run, &img);
}

#[test]
fn fixed_jobs_never_change() {
    let sizes: Vec<usize> = std::iter::once(2_000)
        .chain((0..30).map(|_| 300_000))
        .collect();
    let img = image(&sizes);
    let link = LinkSpec {
        schedule: vec![(Instant::ZERO, 2.0 * MB)],
        per_flow: 0.5 * MB,
        round_trip: Duration::from_millis(20),
    };
    let mut model = RegistryModel::default();
    let run = run_on_link(
        &mut model,
        &img,
        PushConfig {
            transfer: tug_core::TransferConfig {
                adaptive: false,
                ..config(6).transfer
            },
            ..config(6)
        },
        &link,
    );
    run.result.as_ref().expect("push succeeds");
    assert!(changes(&run).is_empty());
    assert_eq!(run.max_blobs_in_flight, 6);
    assert_chunks_sequential(&run, &img);
}
