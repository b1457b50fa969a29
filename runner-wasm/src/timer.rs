//! Time for the core: `now` from `performance.now()`, and timers from `setTimeout` that are
//! cleared when dropped (a pending timer keeps Node.js alive, and a stale one wakes nobody).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tug_core::Instant;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::js;

/// The origin an operation measures its [`Instant`]s from.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin_ms: f64,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Clock {
        Clock {
            origin_ms: js::performance_now(),
        }
    }

    /// Time since the origin, as the core counts it.
    pub fn now(&self) -> Instant {
        Instant::from_duration(self.elapsed())
    }

    /// Time since the origin.
    pub fn elapsed(&self) -> Duration {
        let ms = (js::performance_now() - self.origin_ms).max(0.0);
        Duration::from_secs_f64(ms / 1000.0)
    }
}

/// The longest delay `setTimeout` takes (a signed 32-bit millisecond count).
const MAX_DELAY_MS: f64 = 2_147_483_647.0;

/// Resolves once `delay` has passed. Dropping it clears the timer.
pub struct Timer {
    handle: JsValue,
    fired: JsFuture,
}

impl Timer {
    /// A timer that fires after `delay`.
    pub fn after(delay: Duration) -> Timer {
        let ms = (delay.as_secs_f64() * 1000.0).ceil().min(MAX_DELAY_MS);
        let mut handle = JsValue::UNDEFINED;
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            handle = js::set_timeout(&resolve, ms);
        });
        Timer {
            handle,
            fired: JsFuture::from(promise),
        }
    }
}

impl Future for Timer {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.fired).poll(cx).map(|_| ())
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        js::clear_timeout(&self.handle);
    }
}
