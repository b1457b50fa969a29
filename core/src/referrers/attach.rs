//! The fallback tag's index updated: `GET` it (`404`: there is none yet), add the referrers
//! it lacks, `PUT` it back under the tag when anything was added. The registry has no
//! conditional `PUT`, so another writer that read the index before this one put it may put
//! its own merge over it: a while after its `PUT` ([`VERIFY_AFTER`]) the index is read back,
//! and if it lacks an entry this one added, merged and put again, at most [`REWRITES`] times.

use std::collections::HashMap;
use std::time::Duration;

use crate::engine::{Cx, Failure, Outbox, Parts, Protocol, Redirect, Response, Step};
use crate::error::Error;
use crate::http::{Body, HeaderMap, HeaderValue, Method};
use crate::manifest::OCI_INDEX;
use crate::one_shot::Output;

use super::index::merged_index;
use super::{fallback_tag, AttachPlan, Attached, REFERRERS_ACCEPT};

/// How long after its `PUT` the index is read back: a concurrent writer's merge, read before
/// that `PUT`, is put within about one round trip of it.
/// (A sync of many images waits this long for each into such a registry: kept short.)
pub(crate) const VERIFY_AFTER: Duration = Duration::from_millis(200);

/// How many times the index is merged and put again when another writer replaced it.
pub(crate) const REWRITES: u32 = 3;

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
    /// How many entries the first merge added (what the update reports).
    added: usize,
    /// How many times the index was put.
    puts: u32,
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
            added: 0,
            puts: 0,
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
            // Read back after a put and still lacking one: another writer replaced it.
            Some((_, lost)) if self.puts > REWRITES => {
                return Err(Failure::Error(Error::Protocol {
                    action: self.describe(Call::Put),
                    message: format!(
                        "another writer replaced the index tagged {} {} times; {lost} of the \
                         referrers put in it are not listed",
                        self.tag, self.puts
                    ),
                }));
            }
            Some(merged) => {
                if self.puts == 0 {
                    self.added = merged.1;
                }
                self.merged = Some(merged);
                self.attempts.remove(&Call::Put);
                cx.issue(Step::Op(Call::Put));
            }
            None => {
                let tag = self.tag.clone();
                let added = self.added;
                self.finish(Ok(Attached { tag, added }));
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
            // Read back a while later: what it added must still be listed.
            (Call::Put, 200 | 201) => {
                self.puts += 1;
                self.attempts.remove(&Call::Get);
                self.redirect.clear();
                cx.schedule(VERIFY_AFTER, Step::Op(Call::Get));
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
