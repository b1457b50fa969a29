//! The driving loop: one task owns the push state machine, hands its requests to the
//! transport, feeds every response and timer back in, and shows its events.

use std::time::Instant as Clock;

use futures_lite::FutureExt as _;
use tug_core::push::{Event, Output, Push, PushReport};
use tug_core::{Error, Instant};

use crate::transport::{Message, Transport};

/// Runs `push` to completion.
pub async fn drive_push(
    mut push: Push,
    origin: Clock,
    transport: &Transport,
    mut on_event: impl FnMut(&Event),
) -> Result<PushReport, Error> {
    let now = || Instant::from_duration(origin.elapsed());
    let (tx, rx) = async_channel::bounded::<Message>(64);
    loop {
        while let Some(output) = push.poll() {
            match output {
                Output::Send(req) => transport.spawn(req, tx.clone()),
                Output::Event(e) => on_event(&e),
                Output::Finished(result) => return result,
            }
        }
        let next = async { rx.recv().await.ok() };
        let message = match push.poll_timeout() {
            Some(deadline) => {
                let wait = deadline.saturating_since(now());
                let timer = async {
                    async_io::Timer::after(wait).await;
                    None
                };
                next.or(timer).await
            }
            None => next.await,
        };
        let t = now();
        // A message about a request the core no longer waits on (after a failure) is
        // expected and harmless, so misuse results are ignored here.
        let _ = match message {
            Some(Message::Sent(id, data)) => push.handle_body_sent(id, &data, t),
            Some(Message::Head(id, head)) => push.handle_response(id, head, t),
            Some(Message::Chunk(id, data)) => push.handle_body_chunk(id, &data, t),
            Some(Message::End(id)) => push.handle_body_end(id, t),
            Some(Message::Failed(id, err)) => push.handle_transport_error(id, err, t),
            None => {
                push.handle_timeout(t);
                Ok(())
            }
        };
    }
}
