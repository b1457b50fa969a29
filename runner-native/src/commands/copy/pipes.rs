//! The upload bodies of `tug copy`: one pipe per upload request, carrying the bytes the core
//! reads from the source to the thread that sends them to the target.
//!
//! The copy loop never waits on a pipe: a loop blocked on a full pipe stops hearing the
//! target's transport, whose upload threads (the pipes' readers) report their progress
//! through it — a deadlock once its queue fills. Instead a pipe that holds [`PIPE_CHUNKS`]
//! pieces makes the loop stop reading the *source's* messages ([`Pipes::backlogged`]) until
//! a reader takes one ([`Pipes::room`]): the source is held back, the target never is.

use std::collections::HashMap;
use std::io::{self, Read};

use async_channel::{Receiver, Sender};
use tug_core::http::RequestId;

/// Pieces a pipe holds before the source is held back.
pub const PIPE_CHUNKS: usize = 4;

/// One piece of an upload body, or why the body cannot be finished.
type Piece = Result<Vec<u8>, String>;

/// Every open pipe, by the upload request it feeds.
pub struct Pipes {
    open: HashMap<RequestId, Sender<Piece>>,
    /// Readers say here that they took a piece (a pipe may have room again).
    took_tx: Sender<()>,
    took_rx: Receiver<()>,
}

impl Pipes {
    pub fn new() -> Pipes {
        let (took_tx, took_rx) = async_channel::bounded(1);
        Pipes {
            open: HashMap::new(),
            took_tx,
            took_rx,
        }
    }

    /// Opens the pipe for upload `id`; the reader is the request's body.
    pub fn open(&mut self, id: RequestId) -> PipeReader {
        let (tx, rx) = async_channel::unbounded();
        self.open.insert(id, tx);
        PipeReader {
            rx,
            took: self.took_tx.clone(),
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Bytes for upload `id` (dropped if its request is gone: the core hears of that from
    /// the transport).
    pub fn data(&mut self, id: RequestId, data: Vec<u8>) {
        if let Some(pipe) = self.open.get(&id) {
            if pipe.try_send(Ok(data)).is_err() {
                self.open.remove(&id);
            }
        }
    }

    /// Upload `id`'s body is complete: its reader ends after the pieces still in the pipe.
    pub fn end(&mut self, id: RequestId) {
        self.open.remove(&id);
    }

    /// Upload `id`'s body cannot be finished: its reader fails with `message`.
    pub fn fail(&mut self, id: RequestId, message: String) {
        if let Some(pipe) = self.open.remove(&id) {
            let _ = pipe.try_send(Err(message));
        }
    }

    /// Forgets the pipes whose readers are gone (an upload that failed before the core
    /// ended its body): their pieces will never be taken, so they must not hold the source
    /// back.
    pub fn forget_closed(&mut self) {
        self.open.retain(|_, pipe| !pipe.is_closed());
    }

    /// Whether a pipe is full: the loop reads nothing more from the source until
    /// [`Pipes::room`].
    pub fn backlogged(&self) -> bool {
        self.open.values().any(|p| p.len() >= PIPE_CHUNKS)
    }

    /// Waits until a reader takes a piece.
    pub async fn room(&self) {
        let _ = self.took_rx.recv().await;
    }
}

/// The reading end of a pipe: an upload's body. Dropped (its request done or failed), it
/// wakes the loop, which may have been waiting on this pipe for room.
pub struct PipeReader {
    rx: Receiver<Piece>,
    took: Sender<()>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv_blocking() {
                Ok(Ok(data)) => {
                    // A wake-up already pending says the same: it need not be sent twice.
                    let _ = self.took.try_send(());
                    self.buf = data;
                    self.pos = 0;
                }
                Ok(Err(message)) => return Err(io::Error::other(message)),
                Err(_) => return Ok(0), // the stream ended
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.rx.close();
        let _ = self.took.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_whose_reader_is_gone_holds_nothing_back() {
        let mut pipes = Pipes::new();
        let id = RequestId(7);
        let reader = pipes.open(id);
        for _ in 0..PIPE_CHUNKS {
            pipes.data(id, vec![1; 10]);
        }
        assert!(pipes.backlogged());
        // The upload failed: its body is dropped unread, and the loop is woken.
        drop(reader);
        assert!(pipes.took_rx.try_recv().is_ok(), "the loop hears it");
        pipes.forget_closed();
        assert!(!pipes.backlogged(), "the source is read again");
    }
}
