//! The driving loop, as in the native runner: one task owns an operation's state machine,
//! hands its requests to the transport, and feeds every response, body chunk, error, timer
//! and cancellation back in. What to do with each output is the caller's `drain`.

use std::future::poll_fn;
use std::task::Poll;

use futures_channel::mpsc::{self, Receiver, Sender, UnboundedReceiver};
use futures_util::{FutureExt as _, StreamExt as _};
use tug_core::{Instant, Operation};

use crate::fetch_transport::{Message, Transport, QUEUE};
use crate::timer::{Clock, Timer};

/// What a drain function gets to act on outputs.
pub struct Io {
    transport: Transport,
    tx: Sender<Message>,
}

impl Io {
    /// Sends a request the operation asked for.
    pub fn send(&self, req: tug_core::http::Request) {
        self.transport.spawn(req, self.tx.clone());
    }
}

/// What woke the loop.
enum Wake {
    Message(Message),
    Timer,
    Cancel,
}

/// Runs `op` until `drain` (called after every input, to handle all queued outputs) returns
/// the final result; then aborts whatever is still in flight. A message on `cancel` cancels
/// the operation (it then finishes with `Error::Cancelled`).
pub async fn drive<O: Operation, R>(
    mut op: O,
    clock: Clock,
    transport: Transport,
    cancel: UnboundedReceiver<()>,
    mut drain: impl FnMut(&mut O, &Io) -> Option<R>,
) -> R {
    let (tx, mut rx): (Sender<Message>, Receiver<Message>) = mpsc::channel(QUEUE);
    let io = Io { transport, tx };
    let mut cancel = Some(cancel);
    let mut timer: Option<(Instant, Timer)> = None;
    loop {
        if let Some(result) = drain(&mut op, &io) {
            io.transport.abort_all();
            return result;
        }
        // Keep the timer while the deadline stays the same; a new deadline gets a new one.
        let deadline = op.poll_timeout();
        if timer.as_ref().map(|(at, _)| *at) != deadline {
            timer = deadline.map(|at| (at, Timer::after(at.saturating_since(clock.now()))));
        }
        let wake = poll_fn(|cx| {
            if let Some(c) = cancel.as_mut() {
                match c.poll_next_unpin(cx) {
                    Poll::Ready(Some(())) => return Poll::Ready(Wake::Cancel),
                    // The handle is gone: nobody can cancel any more.
                    Poll::Ready(None) => cancel = None,
                    Poll::Pending => {}
                }
            }
            if let Poll::Ready(Some(m)) = rx.poll_next_unpin(cx) {
                return Poll::Ready(Wake::Message(m));
            }
            if let Some((_, t)) = timer.as_mut() {
                if t.poll_unpin(cx).is_ready() {
                    return Poll::Ready(Wake::Timer);
                }
            }
            Poll::Pending
        })
        .await;
        let now = clock.now();
        match wake {
            Wake::Message(m) => {
                if let Err(tug_core::Misuse::UnknownRequest(id)) = feed(&mut op, m, now) {
                    io.transport.abort(id);
                }
            }
            Wake::Timer => {
                timer = None;
                let _ = op.handle_input(now, tug_core::Input::Timeout);
            }
            Wake::Cancel => op.cancel(),
        }
    }
}

/// Hands a transport message to an operation. Messages about requests the operation no
/// longer waits on (after a failure, or one it failed itself: a body too large or too
/// slow) are expected: the caller aborts that request when told it is unknown.
fn feed(op: &mut impl Operation, message: Message, now: Instant) -> Result<(), tug_core::Misuse> {
    match message {
        Message::Head(id, head) => op.handle_input(now, tug_core::Input::Response(id, head)),
        Message::Chunk(id, data) => op.handle_input(now, tug_core::Input::BodyChunk(id, &data)),
        Message::End(id) => op.handle_input(now, tug_core::Input::BodyEnd(id)),
        Message::Failed(id, err) => op.handle_input(now, tug_core::Input::TransportError(id, err)),
    }
}
