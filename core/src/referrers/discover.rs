//! The discovery's protocol: the image's digest (when named by a tag), then the referrers
//! API; on `404` (or an answer that is not an index) the fallback tag's index instead; and
//! cosign's `.sig` / `.att` / `.sbom` tags either way (cosign writes those whatever the
//! registry supports). A tag that is not there is nothing attached, not an error.

use std::collections::HashMap;

use url::Url;

use crate::digest::Digest;
use crate::engine::{Cx, Failure, Outbox, Parts, Protocol, Redirect, Response, Step};
use crate::error::Error;
use crate::http::{HeaderMap, HeaderValue, ResponseHead};
use crate::listing::pager::Pager;
use crate::manifest::{self, MANIFEST_ACCEPT, OCI_INDEX};
use crate::one_shot::Output;

use super::index::{referrer_of_tagged, referrers_of_index};
use super::{
    cosign_tag, fallback_tag, DiscoverPlan, Referrer, Referrers, COSIGN_SUFFIXES, REFERRERS_ACCEPT,
};

/// A request of the discovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Call {
    /// `GET` the manifest the tag names, for its digest.
    Resolve,
    /// `GET /v2/<name>/referrers/<digest>`.
    Api,
    /// `GET` the fallback tag's index.
    Index,
    /// `GET` the manifest of cosign tag number `n` of [`COSIGN_SUFFIXES`].
    Cosign(usize),
}

/// Statuses of the referrers API that say the registry does not have it: fall back.
const UNSUPPORTED: [u16; 5] = [400, 404, 405, 406, 501];

#[derive(Debug)]
pub(super) struct Calls {
    plan: DiscoverPlan,
    subject: Option<Digest>,
    api: bool,
    by_subject: Vec<Referrer>,
    /// The referrers API's next page (its last page's `Link`), the page last asked (what a
    /// `Link` is relative to), and the pages read so far.
    api_next: Option<Url>,
    api_asked: Option<Url>,
    api_pages: Pager,
    /// What each cosign tag held, by its number.
    tagged: Vec<Option<Referrer>>,
    pending: usize,
    attempts: HashMap<Call, u32>,
    redirects: HashMap<Call, Redirect>,
    outputs: Outbox<Output<Referrers>>,
    done: bool,
}

impl Calls {
    pub(super) fn new(plan: DiscoverPlan, outputs: Outbox<Output<Referrers>>) -> Calls {
        Calls {
            subject: plan.reference.parse().ok(),
            plan,
            api: false,
            by_subject: Vec::new(),
            api_next: None,
            api_asked: None,
            api_pages: Pager::default(),
            tagged: vec![None; COSIGN_SUFFIXES.len()],
            pending: 0,
            attempts: HashMap::new(),
            redirects: HashMap::new(),
            outputs,
            done: false,
        }
    }

    fn finish(&mut self, result: Result<Referrers, Error>) {
        if !self.done {
            self.done = true;
            self.outputs.push(Output::Finished(result));
        }
    }

    fn issue(&mut self, call: Call, cx: &mut Cx<Call>) {
        self.pending += 1;
        cx.issue(Step::Op(call));
    }

    /// One request answered: when it was the last, the result.
    fn answered(&mut self) {
        self.pending = self.pending.saturating_sub(1);
        if self.pending > 0 {
            return;
        }
        let Some(subject) = self.subject.clone() else {
            return;
        };
        // A cosign tag holding what another tag or a referrer naming the subject holds is
        // kept too: each tag is copied as a tag (found by probing: `.att` identical to
        // `.sig`, or a referrer tagged `.sig` as well, never reached the target).
        let mut referrers = std::mem::take(&mut self.by_subject);
        referrers.extend(self.tagged.iter_mut().filter_map(Option::take));
        self.finish(Ok(Referrers {
            subject,
            api: self.api,
            referrers,
        }));
    }

    /// The tag of `call`'s manifest request.
    fn tag(&self, call: Call) -> Option<String> {
        let subject = self.subject.as_ref()?;
        match call {
            Call::Index => Some(fallback_tag(subject)),
            Call::Cosign(n) => Some(cosign_tag(subject, COSIGN_SUFFIXES.get(n)?)),
            Call::Resolve | Call::Api => None,
        }
    }

    fn protocol(&self, call: Call, message: String) -> Failure {
        Failure::Error(Error::Protocol {
            action: self.describe(call),
            message,
        })
    }

    /// The registry does not answer the referrers API: read the fallback tag's index (unless
    /// the repository's tags are known and it is not among them).
    fn fall_back(&mut self, cx: &mut Cx<Call>) {
        if self.may_be_tagged(Call::Index) {
            self.issue(Call::Index, cx);
        }
    }

    /// Whether `call`'s tag may exist (the plan's known tags list it, or they are unknown).
    fn may_be_tagged(&self, call: Call) -> bool {
        self.tag(call)
            .is_some_and(|tag| self.plan.known.may_have(&tag))
    }

    fn on_api(
        &mut self,
        head: &ResponseHead,
        body: &[u8],
        cx: &mut Cx<Call>,
    ) -> Result<(), Failure> {
        let content_type = head.header("content-type").unwrap_or("");
        let is_index = content_type.split(';').next().unwrap_or("").trim() == OCI_INDEX
            || serde_json::from_slice::<serde_json::Value>(body)
                .is_ok_and(|v| v.get("manifests").is_some_and(|m| m.is_array()));
        if !is_index {
            // Something answers there, but not the API (a catch-all page): fall back.
            self.fall_back(cx);
            return Ok(());
        }
        self.api = true;
        let page = referrers_of_index(body)
            .map_err(|m| self.protocol(Call::Api, format!("the referrers list: {m}")))?;
        if let Some(asked) = &self.api_asked {
            let read = self.api_pages.read(asked.clone(), page.len());
            read.map_err(|m| self.protocol(Call::Api, m))?;
        }
        self.by_subject.extend(page);
        // A registry may answer in pages, the next one named by `Link`.
        let next = match (head.header("link"), &self.api_asked) {
            (Some(link), Some(asked)) => crate::listing::link::next_page(link, asked)
                .map_err(|m| self.protocol(Call::Api, m))?,
            _ => None,
        };
        if let Some(next) = next {
            let follow = self.api_pages.may_follow(&next);
            follow.map_err(|m| self.protocol(Call::Api, m))?;
            self.api_next = Some(next);
            if let Some(r) = self.redirects.get_mut(&Call::Api) {
                r.clear();
            }
            self.attempts.remove(&Call::Api);
            self.issue(Call::Api, cx);
        }
        Ok(())
    }
}

impl Protocol for Calls {
    type Step = Call;
    type Output = Output<Referrers>;

    fn outbox(&mut self) -> &mut Outbox<Self::Output> {
        &mut self.outputs
    }

    fn describe(&self, call: Call) -> String {
        let (registry, repo) = (&self.plan.registry, &self.plan.repository);
        let subject = self
            .subject
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        match call {
            Call::Resolve => format!(
                "fetching manifest {registry}/{repo}:{}",
                self.plan.reference
            ),
            Call::Api => format!("listing the referrers of {registry}/{repo}@{subject}"),
            Call::Index | Call::Cosign(_) => format!(
                "fetching referrers tag {registry}/{repo}:{}",
                self.tag(call).unwrap_or_default()
            ),
        }
    }

    fn request(&mut self, call: Call, cx: &Cx<Call>) -> Result<Option<Parts>, Error> {
        let repo = &self.plan.repository;
        let mut headers = HeaderMap::new();
        let bad_url = |e: url::ParseError| Error::InvalidInput {
            message: format!("cannot build a URL for {}: {e}", self.plan.registry),
        };
        let url = match call {
            Call::Resolve => cx
                .endpoint
                .manifest(repo, &self.plan.reference)
                .map_err(bad_url)?,
            Call::Api => match (&self.api_next, &self.subject) {
                (Some(next), _) => next.clone(),
                (None, Some(subject)) => cx.endpoint.referrers(repo, subject).map_err(bad_url)?,
                (None, None) => return Ok(None),
            },
            Call::Index | Call::Cosign(_) => {
                let Some(tag) = self.tag(call) else {
                    return Ok(None);
                };
                cx.endpoint.manifest(repo, &tag).map_err(bad_url)?
            }
        };
        let accept = match call {
            Call::Api => REFERRERS_ACCEPT,
            _ => MANIFEST_ACCEPT,
        };
        headers.insert("accept", HeaderValue::from_static(accept));
        if call == Call::Api {
            // What the page's `Link` is relative to.
            self.api_asked = Some(url.clone());
        }
        let url = match self.redirects.get(&call).and_then(|r| r.target.clone()) {
            Some(u) => u,
            None => url,
        };
        Ok(Some(Parts::get(url, headers)))
    }

    fn start(&mut self, cx: &mut Cx<Call>) {
        if self.subject.is_some() {
            self.begin(cx);
        } else {
            cx.issue(Step::Op(Call::Resolve));
        }
    }

    fn redirect(&mut self, call: Call) -> Option<&mut Redirect> {
        Some(self.redirects.entry(call).or_default())
    }

    fn on_response(
        &mut self,
        call: Call,
        response: Response<'_>,
        cx: &mut Cx<Call>,
    ) -> Result<(), Failure> {
        let status = response.status();
        let (head, body) = (response.head, response.body);
        match call {
            Call::Resolve if status == 200 => {
                let digest = Digest::sha256_of(body);
                if let Some(reported) = head.header("docker-content-digest") {
                    let matches = reported
                        .trim()
                        .parse::<Digest>()
                        .is_ok_and(|d| d.algorithm() != digest.algorithm() || d == digest);
                    if !matches {
                        let message = format!(
                            "it reports digest {reported:?} for a manifest whose digest is {digest}"
                        );
                        return Err(self.protocol(call, message));
                    }
                }
                self.subject = Some(digest);
                self.begin(cx);
                return Ok(());
            }
            Call::Api if status == 200 => self.on_api(head, body, cx)?,
            Call::Api if UNSUPPORTED.contains(&status) => self.fall_back(cx),
            Call::Index if status == 200 => {
                let tag = self.tag(call).unwrap_or_default();
                self.by_subject = referrers_of_index(body)
                    .map_err(|m| self.protocol(call, format!("the index tagged {tag}: {m}")))?;
            }
            Call::Cosign(n) if status == 200 => {
                let tag = self.tag(call).unwrap_or_default();
                let media_type = manifest::media_type_of(head.header("content-type"), body)
                    .ok_or_else(|| {
                        self.protocol(
                            call,
                            "the manifest is neither a known media type nor JSON".into(),
                        )
                    })?;
                let digest = Digest::sha256_of(body);
                let found = referrer_of_tagged(&tag, &media_type, digest, body)
                    .map_err(|m| self.protocol(call, m))?;
                if let Some(slot) = self.tagged.get_mut(n) {
                    *slot = Some(found);
                }
            }
            // Not tagged: nothing attached that way.
            Call::Index | Call::Cosign(_) if status == 404 => {}
            _ => return Err(Failure::Status),
        }
        self.answered();
        Ok(())
    }

    fn retry_as(&mut self, call: Call) -> Option<(Call, &mut u32)> {
        if let Some(r) = self.redirects.get_mut(&call) {
            r.clear();
        }
        Some((call, self.attempts.entry(call).or_insert(1)))
    }

    fn fail(&mut self, _: Option<Call>, error: Error, _: &mut Cx<Call>) {
        self.finish(Err(error));
    }

    fn finished(&self) -> bool {
        self.done
    }
}

impl Calls {
    /// The subject is known: ask the API (or, where the registry is known to lack it, the
    /// fallback tag) and cosign's tags at once — only the tags that may exist. With nothing
    /// to ask, nothing is attached.
    fn begin(&mut self, cx: &mut Cx<Call>) {
        if self.plan.known.api == Some(false) {
            self.fall_back(cx);
        } else {
            self.issue(Call::Api, cx);
        }
        for n in 0..COSIGN_SUFFIXES.len() {
            if self.may_be_tagged(Call::Cosign(n)) {
                self.issue(Call::Cosign(n), cx);
            }
        }
        if self.pending == 0 {
            self.answered();
        }
    }
}
