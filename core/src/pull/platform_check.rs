//! A single image pulled for a platform asked for (`PullPlan::platform_required`): with no
//! index to choose from, its config is read first and must name that platform (or none, as
//! an artifact's does), as `docker pull --platform` holds it; else the pull fails before any
//! blob moves, naming both platforms. The same check picks among an index's entries that
//! name no platform when none names the one asked for (`crate::platform_search`).

use crate::digest::Hasher;
use crate::engine::{Cx, Protocol, Reporting, Step as EngineStep};
use crate::error::Error;
use crate::platform_search::Verdict;
use crate::session::MAX_BODY_IN_MEMORY;

use super::event::Event;
use super::step::Step;
use super::Pulling;

impl Pulling {
    /// Whether manifest job `m` (just fetched) is an image to hold to the platform: a
    /// single image (the root) with the platform asked for, or an index entry naming none
    /// tried for it; and a config small enough to read in memory.
    pub(super) fn needs_platform_check(&self, m: usize) -> bool {
        let job = &self.manifests[m];
        let small = job
            .fetched
            .as_ref()
            .is_some_and(|i| i.config.size <= MAX_BODY_IN_MEMORY as u64);
        let single = job.root && self.plan.platform_required;
        (single || job.unplatformed) && !self.plan.all_platforms && small
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
        if self.manifests[m].unplatformed {
            return self.on_unplatformed_config(m, body, cx);
        }
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

    /// The config of job `m`, an index entry naming no platform, is in: the image when it
    /// serves the platform asked for (or names none, as a single image's may), and the
    /// search ends; else dropped for the next entry.
    fn on_unplatformed_config(
        &mut self,
        m: usize,
        config: &[u8],
        cx: &mut Cx<Step>,
    ) -> Result<(), Error> {
        self.pending_manifests -= 1;
        let verdict = self.unplatformed.as_mut().map(|s| s.judge(config));
        match verdict {
            Some(Verdict::Other) => {
                self.manifests[m].fetched = None;
                return self.try_unplatformed(cx);
            }
            Some(Verdict::Serves(platform)) => {
                self.unplatformed = None;
                if let Some(image) = &self.manifests[m].fetched {
                    let digest = image.manifest.digest.clone();
                    self.event(Event::PlatformChosen { platform, digest });
                }
            }
            None => {}
        }
        if self.pending_manifests == 0 {
            let action = self.describe(Step::Config(m));
            self.start_blobs(cx)
                .map_err(|message| Error::Protocol { action, message })?;
        }
        Ok(())
    }
}
