//! The deadlines of one request in flight, kept by the core from the times of the inputs
//! about it: a host needs no timer per request (the operation's one timer covers them).

use std::time::Duration;

use crate::http::{Deadlines, TransportError, TransportErrorKind};
use crate::time::Instant;

/// When request's last byte moved, and what it is held to (see [`Deadlines`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    deadlines: Deadlines,
    /// When it was handed to the runner.
    sent: Instant,
    /// When the last input about it came (a byte sent or received, its head).
    moved: Instant,
    /// Whether its response head came.
    answered: bool,
}

impl Watch {
    /// A request handed to the runner at `now`.
    pub(crate) fn start(deadlines: Deadlines, now: Instant) -> Watch {
        Watch {
            deadlines,
            sent: now,
            moved: now,
            answered: false,
        }
    }

    /// A request not handed to the runner yet: nothing is due.
    pub(crate) fn idle() -> Watch {
        Watch::start(Deadlines::default(), Instant::ZERO)
    }

    /// An input about the request came at `now` (`head`: its response head).
    pub(crate) fn moved(&mut self, now: Instant, head: bool) {
        self.moved = self.moved.max(now);
        self.answered |= head;
    }

    /// When the request fails if nothing moves first. Before its head, a request whose
    /// body the runtime cannot see leave is held to its head deadline alone (its bytes
    /// move unseen); every other request to its stall deadline.
    pub(crate) fn due(&self) -> Option<Instant> {
        match (self.answered, self.deadlines.head) {
            (false, Some(head)) => Some(self.sent + head),
            _ => self.deadlines.stall.map(|stall| self.moved + stall),
        }
    }

    /// Why the request fails at `now`, if a deadline passed.
    pub(crate) fn expired(&self, now: Instant) -> Option<TransportError> {
        if self.due()? > now {
            return None;
        }
        let message = match (self.answered, self.deadlines.head) {
            (false, Some(head)) => format!("no response within {} of sending", secs(head)),
            _ => format!("no byte moved for {}", secs(self.deadlines.stall?)),
        };
        Some(TransportError {
            kind: TransportErrorKind::Timeout,
            message,
        })
    }
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Instant {
        Instant::from_duration(Duration::from_secs(s))
    }

    const STALL: Deadlines = Deadlines {
        stall: Some(Duration::from_secs(60)),
        head: None,
    };

    #[test]
    fn a_request_fails_when_nothing_moved_for_its_stall_deadline() {
        let mut w = Watch::start(STALL, at(0));
        assert_eq!(w.due(), Some(at(60)));
        w.moved(at(50), false);
        assert!(w.expired(at(100)).is_none());
        let e = w.expired(at(110)).unwrap();
        assert_eq!(e.kind, TransportErrorKind::Timeout);
        assert!(e.message.contains("no byte moved for 60 s"), "{e}");
    }

    #[test]
    fn an_unseen_upload_is_held_to_its_head_deadline_then_to_its_stall() {
        let d = Deadlines {
            head: Some(Duration::from_secs(300)),
            ..STALL
        };
        let mut w = Watch::start(d, at(10));
        // Unseen bytes move; only the head deadline counts before the answer.
        assert!(w.expired(at(200)).is_none());
        assert!(w
            .expired(at(310))
            .unwrap()
            .message
            .contains("no response within 300 s"));
        w.moved(at(250), true);
        assert_eq!(w.due(), Some(at(310)));
    }

    #[test]
    fn no_deadlines_never_expire() {
        let w = Watch::start(Deadlines::default(), at(0));
        assert_eq!(w.due(), None);
        assert!(w.expired(at(1_000_000)).is_none());
    }
}
