//! The fallback tag's index updated: `GET` it (`404`: there is none yet), add the referrers
//! it lacks, `PUT` it back under the tag when anything was added.

use std::collections::HashMap;

use crate::engine::{Cx, Failure, Outbox, Parts, Protocol, Redirect, Response, Step};
use crate::error::Error;
use crate::http::{Body, HeaderMap, HeaderValue, Method};
use crate::manifest::OCI_INDEX;
use crate::one_shot::Output;

use super::index::merged_index;
use super::{fallback_tag, AttachPlan, Attached, REFERRERS_ACCEPT};

/// A request of the update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Call {
    /// `GET` the index the fallback tag names.
    Get,
    /// `PUT` the merged index under the tag.
    Put,
}

#[derive(Debug)]
pub(super) struct Calls {
    plan: AttachPlan,
    tag: String,
    /// The merged index to put, and how many entries it added.
    merged: Option<(Vec<u8>, usize)>,
    attempts: HashMap<Call, u32>,
    redirect: Redirect,
    outputs: Outbox<Output<Attached>>,
    done: bool,
}

impl Calls {
    pub(super) fn new(plan: AttachPlan, outputs: Outbox<Output<Attached>>) -> Calls {
        Calls {
            tag: fallback_tag(&plan.subject),
            plan,
            merged: None,
            attempts: HashMap::new(),
            redirect: Redirect::default(),
            outputs,
            done: false,
        }
    }

    fn finish(&mut self, result: Result<Attached, Error>) {
        if !self.done {
            self.done = true;
            self.outputs.push(Output::Finished(result));
        }
    }

    /// The tag's index (`None`: there is none) merged: put it, or end when it lists all.
    fn merge(&mut self, existing: Option<&[u8]>, cx: &mut Cx<Call>) -> Result<(), Failure> {
        let merged = merged_index(existing, &self.plan.referrers).map_err(|m| {
            Failure::Error(Error::Protocol {
                action: self.describe(Call::Get),
                message: format!("the index tagged {}: {m}", self.tag),
            })
        })?;
        match merged {
            Some(merged) => {
                self.merged = Some(merged);
                cx.issue(Step::Op(Call::Put));
            }
            None => {
                let tag = self.tag.clone();
                self.finish(Ok(Attached { tag, added: 0 }));
            }
        }
        Ok(())
    }
}

impl Protocol for Calls {
    type Step = Call;
    type Output = Output<Attached>;

    fn outbox(&mut self) -> &mut Outbox<Self::Output> {
        &mut self.outputs
    }

    fn describe(&self, call: Call) -> String {
        let (registry, repo, tag) = (&self.plan.registry, &self.plan.repository, &self.tag);
        match call {
            Call::Get => format!("fetching referrers tag {registry}/{repo}:{tag}"),
            Call::Put => format!("updating referrers tag {registry}/{repo}:{tag}"),
        }
    }

    fn request(&mut self, call: Call, cx: &Cx<Call>) -> Result<Option<Parts>, Error> {
        let mut url = cx
            .endpoint
            .manifest(&self.plan.repository, &self.tag)
            .map_err(|e| Error::InvalidInput {
                message: format!("cannot build a URL for {}: {e}", self.plan.registry),
            })?;
        let mut headers = HeaderMap::new();
        match call {
            Call::Get => {
                if let Some(u) = self.redirect.target.clone() {
                    url = u;
                }
                headers.insert("accept", HeaderValue::from_static(REFERRERS_ACCEPT));
                Ok(Some(Parts::get(url, headers)))
            }
            Call::Put => {
                let Some((bytes, _)) = &self.merged else {
                    return Ok(None);
                };
                headers.insert("content-type", HeaderValue::from_static(OCI_INDEX));
                Ok(Some(Parts {
                    method: Method::PUT,
                    url,
                    headers,
                    body: Body::Bytes(bytes.clone()),
                }))
            }
        }
    }

    fn start(&mut self, cx: &mut Cx<Call>) {
        if self.plan.referrers.is_empty() {
            let tag = self.tag.clone();
            self.finish(Ok(Attached { tag, added: 0 }));
            return;
        }
        cx.issue(Step::Op(Call::Get));
    }

    fn redirect(&mut self, call: Call) -> Option<&mut Redirect> {
        (call == Call::Get).then_some(&mut self.redirect)
    }

    fn on_response(
        &mut self,
        call: Call,
        response: Response<'_>,
        cx: &mut Cx<Call>,
    ) -> Result<(), Failure> {
        match (call, response.status()) {
            (Call::Get, 200) => self.merge(Some(response.body), cx),
            (Call::Get, 404) => self.merge(None, cx),
            (Call::Put, 200 | 201) => {
                let tag = self.tag.clone();
                let added = self.merged.as_ref().map_or(0, |m| m.1);
                self.finish(Ok(Attached { tag, added }));
                Ok(())
            }
            _ => Err(Failure::Status),
        }
    }

    fn retry_as(&mut self, call: Call) -> Option<(Call, &mut u32)> {
        self.redirect.clear();
        Some((call, self.attempts.entry(call).or_insert(1)))
    }

    fn fail(&mut self, _: Option<Call>, error: Error, _: &mut Cx<Call>) {
        self.finish(Err(error));
    }

    fn finished(&self) -> bool {
        self.done
    }
}
