//! How a drain of `poll()` ends: with the operation's next timer, once (str0m's
//! `Output::Timeout`), so a runner sets its timer from the last output and cannot forget it.
//! Written once for every operation (the engine's `poll`, and the copy's, which drives two).

use crate::time::Instant;

/// Where the current drain of an operation's `poll()` is: queued outputs come first; when
/// the queue is empty, the drain ends with the timer, once; then `None` until something acts
/// on the operation again ([`Drain::restart`]).
#[derive(Debug, Default)]
pub(crate) struct Drain {
    /// The drain ended (the timer, or `None` when there is none, was handed out).
    ended: bool,
}

impl Drain {
    /// Something acted on the operation (an input, a cancel, a call that may queue outputs
    /// or move its timer): the next drain ends with the timer again.
    pub(crate) fn restart(&mut self) {
        self.ended = false;
    }

    /// What `poll` returns: the `queued` output if there is one; else, once per drain, the
    /// operation's timer (`timeout`, `None` when it has none — always so once it finished)
    /// made an output by `timer`; else `None`.
    pub(crate) fn next<O>(
        &mut self,
        queued: Option<O>,
        timeout: impl FnOnce() -> Option<Instant>,
        timer: impl FnOnce(Instant) -> O,
    ) -> Option<O> {
        if queued.is_some() {
            // More to do: this drain goes on, and ends with the timer as it is then.
            self.ended = false;
            return queued;
        }
        if std::mem::replace(&mut self.ended, true) {
            return None;
        }
        timeout().map(timer)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use std::time::Duration;

    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn queued_outputs_then_the_timer_once_then_nothing() {
        let mut drain = Drain::default();
        let mut queue = vec![Err(1), Err(2)].into_iter();
        let mut poll = |d: &mut Drain, timeout: Option<Instant>| {
            d.next(queue.next(), || timeout, Ok::<Instant, i32>)
        };
        assert_eq!(poll(&mut drain, Some(at(5))), Some(Err(1)));
        assert_eq!(poll(&mut drain, Some(at(5))), Some(Err(2)));
        assert_eq!(poll(&mut drain, Some(at(5))), Some(Ok(at(5))));
        assert_eq!(poll(&mut drain, Some(at(5))), None);
        assert_eq!(poll(&mut drain, Some(at(5))), None);
        drain.restart();
        assert_eq!(poll(&mut drain, Some(at(7))), Some(Ok(at(7))));
        assert_eq!(poll(&mut drain, Some(at(7))), None);
    }

    #[test]
    fn no_timer_ends_the_drain_with_nothing() {
        let mut drain = Drain::default();
        assert_eq!(drain.next(None::<Instant>, || None, |t| t), None);
        // The drain ended: a timer appearing later is not handed out before a restart.
        assert_eq!(drain.next(None, || Some(at(1)), |t| t), None);
        drain.restart();
        assert_eq!(drain.next(None, || Some(at(1)), |t| t), Some(at(1)));
    }

    #[test]
    fn an_output_queued_after_the_end_is_followed_by_the_timer_again() {
        let mut drain = Drain::default();
        assert_eq!(drain.next(None, || Some(at(1)), |t| t), Some(at(1)));
        assert_eq!(
            drain.next(Some(at(100)), || Some(at(2)), |t| t),
            Some(at(100))
        );
        assert_eq!(drain.next(None, || Some(at(2)), |t| t), Some(at(2)));
        assert_eq!(drain.next(None, || Some(at(2)), |t| t), None);
    }
}
