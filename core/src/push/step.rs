//! The kinds of request a push makes, each tied to the blob it serves.

/// What an in-flight request is for. Blob indices are into the push's unique blobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `HEAD` the blob: does the registry have it?
    Head(usize),
    /// `POST` to open an upload session.
    Open(usize),
    /// Monolithic `PUT <location>?digest=` with the whole blob.
    Put(usize),
    /// `PATCH <location>` with bytes `start..end`.
    Patch(usize, u64, u64),
    /// `PATCH <location>` with the bytes of a blob made while it is sent, from `start` on,
    /// ending at `end` at most (sooner where the blob ends).
    Stream(usize, u64, u64),
    /// Closing `PUT <location>?digest=` with no body, after the chunks.
    Close(usize),
    /// `GET <location>`: how much of the upload the registry has, after a failure.
    Status(usize),
    /// `PUT` manifest number `n`: the plan's children in order, then (at `n ==
    /// children.len()`) the manifest named by the reference.
    Manifest(usize),
    /// A timer, never a request: streamed blob `b`'s last chunk came back short and the
    /// runner has not said where its bytes end within a stall timeout (a registry that
    /// answered before the body was all sent). The upload goes on from the registry's
    /// offset: an empty chunk if the bytes did end there.
    EndLate(usize),
}

impl Step {
    /// The unique blob this step serves.
    pub(crate) fn blob(self) -> Option<usize> {
        match self {
            Step::Head(b)
            | Step::Open(b)
            | Step::Put(b)
            | Step::Patch(b, ..)
            | Step::Stream(b, ..)
            | Step::Close(b)
            | Step::Status(b)
            | Step::EndLate(b) => Some(b),
            Step::Manifest(_) => None,
        }
    }

    /// Offset in the blob of the first byte this step's body carries.
    pub(crate) fn body_start(self) -> u64 {
        match self {
            Step::Patch(_, start, _) | Step::Stream(_, start, _) => start,
            _ => 0,
        }
    }
}
