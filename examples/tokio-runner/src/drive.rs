//! The driving loop on tokio: this task owns the operation; request tasks report over a
//! channel; the one timer is the instant the last drain's `Timeout` output named.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant as Clock;
use tug_core::http::{Request, RequestId};
use tug_core::{Input, Instant, Operation};

use crate::transport::{Message, Transport};

/// Messages queued from request tasks: a full queue makes them wait (back-pressure).
const QUEUE: usize = 64;

/// What a drain acts with: sending, aborting, and setting the timer.
pub struct Io {
    transport: Transport,
    tx: mpsc::Sender<Message>,
    in_flight: HashMap<RequestId, AbortHandle>,
    timer: Option<Instant>,
}

impl Io {
    /// Sends a request the operation asked for (`Output::Send`).
    pub fn send(&mut self, req: Request) {
        let id = req.id;
        let task = self.transport.spawn(req, self.tx.clone());
        self.in_flight.insert(id, task);
    }

    /// Stops a request the operation gave up on (`Output::Abort`).
    pub fn abort(&mut self, id: RequestId) {
        if let Some(task) = self.in_flight.remove(&id) {
            task.abort();
        }
    }

    /// Wakes the loop at `at` unless an input comes first (`Output::Timeout`).
    pub fn wake_at(&mut self, at: Instant) {
        self.timer = Some(at);
    }
}

/// Runs `op` until `drain` (called after every input, to handle all queued outputs) returns
/// the result; then stops whatever is still in flight. Ctrl-C cancels the operation.
pub async fn drive<O: Operation, R>(
    mut op: O,
    origin: Clock,
    transport: Transport,
    mut drain: impl FnMut(&mut O, &mut Io) -> Option<R>,
) -> R {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let mut io = Io {
        transport,
        tx,
        in_flight: HashMap::new(),
        timer: None,
    };
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        if let Some(result) = drain(&mut op, &mut io) {
            io.in_flight.values().for_each(AbortHandle::abort);
            return result;
        }
        // The drain after the next input names the timer again, if one is still pending.
        let timer = io.timer.take();
        let deadline = async {
            match timer {
                Some(at) => tokio::time::sleep_until(origin + at.since_origin()).await,
                None => std::future::pending().await,
            }
        };
        let message = tokio::select! {
            // `io` holds a sender: the channel never closes while we wait.
            message = rx.recv() => message,
            () = deadline => None,
            _ = &mut interrupt => {
                op.cancel();
                continue;
            }
        };
        if let Some(Message::End(id) | Message::Failed(id, _)) = &message {
            io.in_flight.remove(id);
        }
        let now = Instant::from_duration(origin.elapsed());
        let result = match message {
            Some(Message::Sent(id, data)) => op.handle_input(now, Input::BodySent(id, &data)),
            Some(Message::Head(id, head)) => op.handle_input(now, Input::Response(id, head)),
            Some(Message::Chunk(id, data)) => op.handle_input(now, Input::BodyChunk(id, &data)),
            Some(Message::End(id)) => op.handle_input(now, Input::BodyEnd(id)),
            Some(Message::Failed(id, e)) => op.handle_input(now, Input::TransportError(id, e)),
            None => op.handle_input(now, Input::Timeout),
        };
        // Inputs about requests the core gave up on are accepted: an error is a bug here.
        debug_assert!(result.is_ok(), "runner misuse: {result:?}");
    }
}
