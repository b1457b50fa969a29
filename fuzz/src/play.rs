//! Plays a [`script`](crate::script)'s actions on the test kit's driver: `auto` answers a
//! request in flight from the registry model (changed as the line says), `head` / `body` /
//! `data` / `end` / `fail` answer it by hand, `time` / `stale` / `fire` / `cancel` / `stray`
//! are the runner's. It works for any operation; `open` and `close` (the fetch's own) are
//! left to the target.

use std::time::Duration;

use tug_core::http::{ResponseHead, StatusCode, TransportError};
use tug_sansio_kit::driver::apply_edits;
use tug_sansio_kit::{Driver, Pace, Plug};

use crate::script::{Action, Setup};

/// Most steps of the wind-down after the actions ran out.
pub const FINISH_BOUND: usize = 10_000;

/// How long an `auto` answer takes.
pub const ANSWER_TIME: Duration = Duration::from_millis(3);

/// How the registry answers in every target: [`ANSWER_TIME`] a response, 4 KiB body chunks.
pub const PACE: Pace = Pace {
    latency: ANSWER_TIME,
    chunk: 4096,
};

/// Plays `actions` on `driver` until the operation finishes, checking its contract after
/// each one (the targets whose scripts hold only the common actions).
pub fn play<P: Plug>(driver: &mut Driver<'_, P>, setup: &Setup, actions: &[Action]) {
    driver.check_live();
    for action in actions {
        if driver.finished() {
            break;
        }
        act(driver, setup, action);
        driver.check_live();
    }
}

/// Lets the operation end once the script's actions ran out, and checks that it did
/// within [`FINISH_BOUND`] wind-down steps (liveness); `what` names it in the failure.
pub fn wind_down<P: Plug>(driver: &mut Driver<'_, P>, what: &str) {
    for _ in 0..FINISH_BOUND {
        if driver.finished() || !driver.wind_down_step() {
            break;
        }
    }
    assert!(
        driver.finished(),
        "liveness: the {what} did not finish within {FINISH_BOUND} wind-down steps"
    );
}

/// Runs one action; returns `false` for actions it does not know (`open`, `close`).
pub fn act<P: Plug>(driver: &mut Driver<'_, P>, setup: &Setup, action: &Action) -> bool {
    if driver.finished() {
        return !matches!(action, Action::Open { .. } | Action::Close(_));
    }
    match action {
        Action::Auto { pick, opts, edits } => match driver.pick(*pick) {
            Some(i) => {
                if crate::verbose() {
                    let f = &driver.flights[i];
                    eprintln!("AUTO {} {} {}", f.req.id, f.req.method, f.req.url);
                }
                driver.answer(i, &opts.answering(edits), |_, _| {});
            }
            None => driver.now = driver.now + ANSWER_TIME,
        },
        Action::Head {
            pick,
            status,
            edits,
        } => {
            if let Some(i) = driver.pick(*pick) {
                let mut head = ResponseHead::new(200);
                head.status = StatusCode::from_u16(*status).unwrap_or(StatusCode::IM_A_TEAPOT);
                apply_edits(&mut head, edits);
                driver.head(i, head);
            }
        }
        Action::Body { pick, bytes } => {
            if let Some(i) = driver.pick(*pick) {
                driver.chunk(i, bytes);
            }
        }
        Action::Data {
            pick,
            blob,
            from,
            to,
        } => {
            let blobs = &setup.blobs;
            if let (Some(i), false) = (driver.pick(*pick), blobs.is_empty()) {
                let d = &blobs[blob % blobs.len()];
                let a = usize::try_from(*from).unwrap_or(usize::MAX).min(d.len());
                let b = usize::try_from(*to)
                    .unwrap_or(usize::MAX)
                    .min(d.len())
                    .max(a);
                driver.chunk(i, &d[a..b]);
            }
        }
        Action::End { pick } => {
            if let Some(i) = driver.pick(*pick) {
                driver.end(i);
            }
        }
        Action::Fail {
            pick,
            kind,
            message,
        } => {
            driver.now = driver.now + Duration::from_millis(1);
            if let Some(i) = driver.pick(*pick) {
                let error = TransportError {
                    kind: *kind,
                    message: message.clone(),
                };
                driver.fail(i, error);
            }
        }
        Action::Time(ms) => driver.advance(Duration::from_millis(*ms)),
        Action::Stale(ms) => driver.stale(Duration::from_millis(*ms)),
        Action::Fire => driver.fire(),
        Action::Cancel => driver.cancel(),
        Action::Stray { id, op } => driver.stray(*id, *op),
        Action::Open { .. } | Action::Close(_) => return false,
    }
    true
}
