//! What a push or a pull tells as it goes and at its end, the same way for both: progress
//! (per blob, then overall) at most once per interval, and one `Finished` with the report.

use crate::error::Error;
use crate::progress::Progress;

use super::outbox::Reports;
use super::{Accountant, Cx, Protocol};

/// The report a protocol's success gives.
pub(crate) type ReportOf<P> = <<P as Protocol>::Output as Reports>::Report;
/// The events a protocol shows.
pub(crate) type EventOf<P> = <<P as Protocol>::Output as Reports>::Event;

/// A protocol that reports progress and ends with a report (push, pull).
pub(crate) trait Reporting: Protocol<Output: Reports> {
    /// Its progress accounting.
    fn accountant(&mut self) -> &mut Accountant;

    /// The progress of each blob moving now.
    fn blob_progress(&self) -> Vec<EventOf<Self>>;

    /// Byte and blob counts so far (the accountant adds rate, ETA and time).
    fn counts(&self) -> Progress;

    /// The report of a success.
    fn report(&self, cx: &Cx<Self::Step>) -> ReportOf<Self>;

    /// The operation ended: nothing acts any more.
    fn closed(&mut self);

    /// Shows `event` to the user.
    fn event(&mut self, event: EventOf<Self>) {
        self.outbox().push(Self::Output::event(event));
    }

    /// Reports per-blob and overall progress, at most once per interval unless `force`.
    fn maybe_progress(&mut self, force: bool, cx: &Cx<Self::Step>) {
        if !self.accountant().tick(cx.now, force) {
            return;
        }
        for event in self.blob_progress() {
            self.event(event);
        }
        let counts = self.counts();
        let progress = self.accountant().progress(cx.now, counts, cx.retries);
        self.outbox().push(Self::Output::progress(progress));
    }

    /// The operation succeeded: its report.
    fn succeed(&mut self, cx: &Cx<Self::Step>) {
        let report = self.report(cx);
        self.finish(Ok(report), cx);
    }

    /// The operation ends with `result` (unless it has already); a success reports its
    /// last progress first.
    fn finish(&mut self, result: Result<ReportOf<Self>, Error>, cx: &Cx<Self::Step>) {
        if self.outbox().ended() {
            return;
        }
        if result.is_ok() {
            self.maybe_progress(true, cx);
        }
        self.closed();
        self.outbox().finish(result);
    }
}
