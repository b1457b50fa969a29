//! The driving loop: one task owns an operation's state machine, hands its requests to the
//! transport, and feeds every response, body chunk, error and timer back in. What to do
//! with each output is the caller's `drain`; the timer is the one the drain's `Timeout`
//! output names ([`Io::wake_at`]).

use std::cell::Cell;
use std::time::Instant as Clock;

use async_channel::{Receiver, Sender};
use futures_lite::FutureExt as _;
use tug_core::{Instant, Operation};

use crate::transport::{Message, Transport};

/// What a drain function gets to act on outputs: the transport, the reply channel and the
/// timer.
pub struct Io<'a> {
    transport: &'a Transport,
    tx: &'a Sender<Message>,
    timer: Cell<Option<Instant>>,
}

impl Io<'_> {
    /// Sets the timer: the drain ended with `Output::Timeout(at)`.
    pub fn wake_at(&self, at: Instant) {
        self.timer.set(Some(at));
    }

    /// Sends a request the operation asked for.
    pub fn send(&self, req: tug_core::http::Request) {
        self.transport.spawn(req, self.tx.clone());
    }

    /// Stops a request the operation gave up on (`Output::Abort`).
    pub fn abort(&self, id: tug_core::http::RequestId) {
        self.transport.drop_request(id);
    }
}

/// Runs `op` until `drain` (called after every input, to handle all queued outputs) returns
/// the final result.
pub async fn drive<O: Operation, R>(
    op: O,
    origin: Clock,
    transport: &Transport,
    drain: impl FnMut(&mut O, &Io<'_>) -> Option<R>,
) -> R {
    drive_with(
        op,
        origin,
        transport,
        None::<Receiver<()>>,
        |_, _| {},
        drain,
    )
    .await
}

/// [`drive`], also handing what arrives on `extra` (inputs from elsewhere than the
/// registry, such as blobs made while the operation runs) to `on_extra`.
pub async fn drive_with<O: Operation, R, X>(
    mut op: O,
    origin: Clock,
    transport: &Transport,
    mut extra: Option<Receiver<X>>,
    mut on_extra: impl FnMut(&mut O, X),
    mut drain: impl FnMut(&mut O, &Io<'_>) -> Option<R>,
) -> R {
    let now = || Instant::from_duration(origin.elapsed());
    let (tx, rx) = async_channel::bounded::<Message>(crate::transport::QUEUE);
    let io = Io {
        transport,
        tx: &tx,
        timer: Cell::new(None),
    };
    // Asked to stop: the operation winds down (a push lets its chunks on their way finish,
    // so the next run goes on after them); the stop is not heard again.
    let mut stopping = false;
    loop {
        if let Some(result) = drain(&mut op, &io) {
            return result;
        }
        // A stop is seen at once even while the transport always has a message ready (on a
        // fast link it does: the stop below, polled after the messages, only wakes an idle
        // loop, and a Ctrl-C waited for the whole transfer).
        if !stopping && crate::interrupt::requested() {
            stopping = true;
            op.wind_down();
            continue;
        }
        let next = async { Event::Message(rx.recv().await.ok()) };
        let stop = async {
            match stopping {
                true => std::future::pending().await,
                false => crate::interrupt::interrupted().await,
            }
            Event::Interrupt
        };
        let from_extra = async {
            match &extra {
                Some(x) => Event::Extra(x.recv().await.ok()),
                None => std::future::pending().await,
            }
        };
        let next = next.or(stop).or(from_extra);
        let message = match io.timer.get() {
            Some(deadline) => {
                let wait = deadline.saturating_since(now());
                let timer = async {
                    async_io::Timer::after(wait).await;
                    Event::Timer
                };
                next.or(timer).await
            }
            None => next.await,
        };
        let t = now();
        // An input or a cancel: the drain after it says the timer again, if there is one.
        // What comes on `extra` may not touch the operation: the timer stays until a drain
        // names another.
        if !matches!(message, Event::Extra(_)) {
            io.timer.set(None);
        }
        match message {
            Event::Message(Some(m)) => feed(&mut op, m, t),
            Event::Message(None) | Event::Timer => {
                let _ = op.handle_input(t, tug_core::Input::Timeout);
            }
            Event::Interrupt => {
                stopping = true;
                op.wind_down();
            }
            Event::Extra(Some(x)) => on_extra(&mut op, x),
            // Nothing more will come that way.
            Event::Extra(None) => extra = None,
        }
    }
}

/// What woke the loop.
enum Event<X> {
    Message(Option<Message>),
    Timer,
    Interrupt,
    Extra(Option<X>),
}

/// Hands a transport message to an operation. The core accepts messages about requests it
/// gave up on, so a `Misuse` is a bug in this runner.
pub fn feed(op: &mut impl Operation, message: Message, t: Instant) {
    match &message {
        Message::Head(id, head) => crate::verbose::response(*id, head),
        Message::Failed(id, err) => crate::verbose::failure(*id, err),
        _ => {}
    }
    use tug_core::Input;
    let result = match message {
        Message::Sent(id, data) => op.handle_input(t, Input::BodySent(id, &data)),
        Message::Progress(id, n) => op.handle_input(t, Input::BodyProgress(id, n)),
        Message::Head(id, head) => op.handle_input(t, Input::Response(id, head)),
        Message::Chunk(id, data) => op.handle_input(t, Input::BodyChunk(id, &data)),
        Message::End(id) => op.handle_input(t, Input::BodyEnd(id)),
        Message::Failed(id, err) => op.handle_input(t, Input::TransportError(id, err)),
    };
    debug_assert!(result.is_ok(), "runner misuse: {result:?}");
}
