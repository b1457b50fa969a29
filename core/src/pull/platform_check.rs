//! A single image pulled for a platform asked for (`PullPlan::platform_required`): with no
//! index to choose from, its config is read first and must name that platform (or none, as
//! an artifact's does), as `docker pull --platform` holds it; else the pull fails before any
//! blob moves, naming both platforms.

use crate::digest::Hasher;
use crate::engine::{Cx, Protocol, Step as EngineStep};
use crate::error::Error;
use crate::session::MAX_BODY_IN_MEMORY;

use super::step::Step;
use super::Pulling;

impl Pulling {
    /// Whether manifest job `m` (just fetched) is a single image to hold to the platform:
    /// the root, the platform asked for, and a config small enough to read in memory.
    pub(super) fn needs_platform_check(&self, m: usize) -> bool {
        let job = &self.manifests[m];
        let small = job
            .fetched
            .as_ref()
            .is_some_and(|i| i.config.size <= MAX_BODY_IN_MEMORY as u64);
        job.root && self.plan.platform_required && !self.plan.all_platforms && small
    }

    /// Asks for job `m`'s config; the blobs wait for it.
    pub(super) fn check_platform(&mut self, m: usize, cx: &mut Cx<Step>) {
        let job = &mut self.manifests[m];
        job.redirect.clear();
        job.attempts = 1;
        self.pending_manifests += 1;
        cx.issue(EngineStep::Op(Step::Config(m)));
    }

    /// The config of job `m` is in: checked against its digest, then its platform against
    /// the one asked for.
    pub(super) fn on_config(
        &mut self,
        m: usize,
        body: &[u8],
        cx: &mut Cx<Step>,
    ) -> Result<(), Error> {
        let Some(image) = &self.manifests[m].fetched else {
            return Ok(());
        };
        let expected = &image.config.digest;
        let mut h = Hasher::new(expected.algorithm());
        h.update(body);
        let actual = h.finish();
        if &actual != expected {
            return Err(Error::DigestMismatch {
                what: format!("config of {}", self.plan.reference),
                expected: expected.clone(),
                actual,
            });
        }
        let name = crate::reference::named(&self.plan.repository, &self.plan.reference);
        if let Some(message) = self.plan.platform.refuses_single_image(&name, body) {
            return Err(Error::InvalidInput { message });
        }
        self.pending_manifests -= 1;
        if self.pending_manifests == 0 {
            let action = self.describe(Step::Config(m));
            self.start_blobs(cx)
                .map_err(|message| Error::Protocol { action, message })?;
        }
        Ok(())
    }
}
