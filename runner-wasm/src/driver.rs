//! The driving loop, as in the native runner: one task owns an operation's state machine,
//! hands its requests to the transport, and feeds every response, body chunk, error, timer
//! and cancellation back in. What to do with each output is the caller's `drain`; the timer
//! is the one the drain's `Timeout` output names ([`Io::wake_at`]).

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use futures_channel::mpsc::{self, Receiver, Sender, UnboundedReceiver};
use futures_util::{FutureExt as _, StreamExt as _};
use tug_core::{Instant, Operation};

use crate::fetch_transport::{Message, Transport, QUEUE};
use crate::timer::{Clock, Timer};

/// What a drain function gets to act on outputs: the transport, the reply channel and the
/// timer.
pub struct Io {
    transport: Transport,
    tx: Sender<Message>,
    timer: Cell<Option<Instant>>,
    /// What must finish before the next input is read (a slow output catching up).
    hold: RefCell<Option<Pin<Box<dyn Future<Output = ()>>>>>,
}

impl Io {
    /// Reads no more input until `until` finishes: the network waits for a consumer that
    /// fell behind (bytes stay in the registry, not in memory).
    pub fn hold_until(&self, until: impl Future<Output = ()> + 'static) {
        *self.hold.borrow_mut() = Some(Box::pin(until));
    }

    /// Sets the timer: the drain ended with `Output::Timeout(at)`.
    pub fn wake_at(&self, at: Instant) {
        self.timer.set(Some(at));
    }

    /// Sends a request the operation asked for.
    pub fn send(&self, req: tug_core::http::Request) {
        self.transport.spawn(req, self.tx.clone());
    }

    /// Sends a request with `body` in place of the one it describes.
    pub fn send_with_body(&self, req: tug_core::http::Request, body: wasm_bindgen::JsValue) {
        self.transport.spawn_with_body(req, body, self.tx.clone());
    }

    /// Reports request `id` failed without sending it.
    pub fn fail(&self, id: tug_core::http::RequestId, error: tug_core::http::TransportError) {
        self.transport.fail(id, error, self.tx.clone());
    }

    /// Stops a request the operation gave up on (`Output::Abort`).
    pub fn abort(&self, id: tug_core::http::RequestId) {
        self.transport.abort(id);
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
/// the operation (it then finishes with `Error::Cancelled`), also while a hold waits (an
/// output that never finishes a write holds nothing back after a Cancel); the receiver is
/// the caller's again afterwards, for what it waits on after the operation.
pub async fn drive<O: Operation, R>(
    mut op: O,
    clock: Clock,
    transport: Transport,
    cancel: &mut UnboundedReceiver<()>,
    mut drain: impl FnMut(&mut O, &Io) -> Option<R>,
) -> R {
    let (tx, mut rx): (Sender<Message>, Receiver<Message>) = mpsc::channel(QUEUE);
    let io = Io {
        transport,
        tx,
        timer: Cell::new(None),
        hold: RefCell::new(None),
    };
    let mut cancel = Some(cancel);
    let mut cancelled = false;
    let mut timer: Option<(Instant, Timer)> = None;
    loop {
        if let Some(result) = drain(&mut op, &io) {
            io.transport.abort_all();
            return result;
        }
        let held = io.hold.borrow_mut().take();
        if let Some(mut held) = held.filter(|_| !cancelled) {
            let cancel_came = poll_fn(|cx| {
                if let Some(c) = cancel.as_mut() {
                    match c.poll_next_unpin(cx) {
                        Poll::Ready(Some(())) => return Poll::Ready(true),
                        Poll::Ready(None) => cancel = None,
                        Poll::Pending => {}
                    }
                }
                held.poll_unpin(cx).map(|()| false)
            })
            .await;
            if cancel_came {
                // What was held back is dropped: the operation stops, nothing waits for it.
                cancelled = true;
                op.cancel();
                continue;
            }
        }
        // Keep the timer while the deadline stays the same; a new deadline gets a new one.
        let deadline = io.timer.get();
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
        // An input: the drain after it names the timer again, if there is one.
        io.timer.set(None);
        match wake {
            Wake::Message(m) => feed(&mut op, m, now),
            Wake::Timer => {
                timer = None;
                let _ = op.handle_input(now, tug_core::Input::Timeout);
            }
            Wake::Cancel => {
                cancelled = true;
                op.cancel();
            }
        }
    }
}

/// Hands a transport message to an operation. The core accepts messages about requests it
/// gave up on, so a `Misuse` is a bug in this runner.
fn feed(op: &mut impl Operation, message: Message, now: Instant) {
    let result = match message {
        Message::Head(id, head) => op.handle_input(now, tug_core::Input::Response(id, head)),
        Message::Chunk(id, data) => op.handle_input(now, tug_core::Input::BodyChunk(id, &data)),
        Message::End(id) => op.handle_input(now, tug_core::Input::BodyEnd(id)),
        Message::Progress(id, n) => op.handle_input(now, tug_core::Input::BodyProgress(id, n)),
        Message::Failed(id, err) => op.handle_input(now, tug_core::Input::TransportError(id, err)),
    };
    debug_assert!(result.is_ok(), "runner misuse: {result:?}");
}
