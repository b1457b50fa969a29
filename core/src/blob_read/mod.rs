//! One blob read from a registry as a stream, verified: `GET` the blob, pass its bytes on
//! in order as they arrive ([`Output::Data`]) while hashing them, and end with a digest
//! mismatch when they are not what the digest names. A transfer that breaks resumes with
//! `Range` from the last byte passed on. No size is needed up front (the response says it).

use crate::config::RegistryConfig;
use crate::digest::{Digest, Hasher};
use crate::engine::{Cx, Engine, Failure, Outbox, Parts, Protocol, Redirect, Response, Step};
use crate::error::Error;
use crate::http::{content_range_start, HeaderMap, HeaderValue, ResponseHead};
use crate::one_shot::Output;
use crate::retry::Attempts;
use crate::session::Session;
use crate::time::Instant;

/// The blob to read.
#[derive(Clone, Debug)]
pub struct BlobPlan {
    /// The registry's API host (and port).
    pub registry: String,
    /// The repository, e.g. `team/app`.
    pub repository: String,
    /// The blob.
    pub digest: Digest,
    /// The most bytes to accept (a config blob read into memory: its descriptor's size);
    /// more fails the read.
    pub max_size: Option<u64>,
}

/// What a blob read delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobReport {
    /// The blob, verified.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// A verified read of one blob.
#[derive(Debug)]
pub struct BlobRead {
    engine: Engine<Reading>,
}

impl BlobRead {
    /// Starts reading `plan`'s blob with `config` at `now`, with the version check.
    pub fn new(plan: BlobPlan, config: &RegistryConfig, now: Instant) -> BlobRead {
        let session = Session::new(&plan.registry, config, now).scoped(&plan.repository, "pull");
        let reading = Reading {
            hasher: Hasher::new(plan.digest.algorithm()),
            plan,
            pos: 0,
            size: None,
            skip: 0,
            receiving: false,
            redirect: Redirect::default(),
            attempts: Attempts::from(0),
            outputs: Outbox::default(),
            done: false,
        };
        BlobRead {
            engine: Engine::new(reading, session),
        }
    }
}

crate::engine::engine_api!(BlobRead, Output<BlobReport>);

/// The one request of a blob read (tried again from where it stopped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Get;

#[derive(Debug)]
struct Reading {
    plan: BlobPlan,
    /// Bytes passed on so far.
    pos: u64,
    /// The blob's size, once a response said it.
    size: Option<u64>,
    /// Bytes of the current response to drop before `pos` (a `200` to a ranged request).
    skip: u64,
    /// Whether the current response's body is the blob's bytes.
    receiving: bool,
    hasher: Hasher,
    redirect: Redirect,
    attempts: Attempts,
    outputs: Outbox<Output<BlobReport>>,
    done: bool,
}

impl Reading {
    fn finish(&mut self, result: Result<BlobReport, Error>) {
        if !self.done {
            self.done = true;
            self.outputs.push(Output::Finished(result));
        }
    }

    /// The whole body came: the blob, if its bytes are what the digest names.
    fn verify(&mut self) {
        let hasher = std::mem::replace(&mut self.hasher, Hasher::new(self.plan.digest.algorithm()));
        let actual = hasher.finish();
        let result = if actual == self.plan.digest {
            Ok(BlobReport {
                digest: actual,
                size: self.pos,
            })
        } else {
            Err(Error::DigestMismatch {
                what: format!("blob {} of {}", self.plan.digest, self.plan.repository),
                expected: self.plan.digest.clone(),
                actual,
            })
        };
        self.finish(result);
    }

    fn too_large(&self, size: u64) -> Option<Error> {
        let max = self.plan.max_size?;
        (size > max).then(|| Error::Protocol {
            action: self.describe(Get),
            message: format!("the blob is larger than its {max} bytes"),
        })
    }
}

/// The total size a `200`'s `Content-Length` or a `206`'s `Content-Range` (`…/total`) says.
fn size_of(head: &ResponseHead, status: u16) -> Option<u64> {
    match status {
        200 => head.header("content-length")?.trim().parse().ok(),
        _ => head
            .header("content-range")?
            .rsplit('/')
            .next()?
            .trim()
            .parse()
            .ok(),
    }
}

impl Protocol for Reading {
    type Step = Get;
    type Output = Output<BlobReport>;

    fn outbox(&mut self) -> &mut Outbox<Self::Output> {
        &mut self.outputs
    }

    fn describe(&self, _: Get) -> String {
        format!(
            "downloading blob {} of {}/{}",
            self.plan.digest, self.plan.registry, self.plan.repository
        )
    }

    fn request(&mut self, _: Get, cx: &Cx<Get>) -> Result<Option<Parts>, Error> {
        let mut headers = HeaderMap::new();
        if self.pos > 0 {
            if let Ok(v) = HeaderValue::try_from(format!("bytes={}-", self.pos)) {
                headers.insert("range", v);
            }
        }
        let url = match &self.redirect.target {
            Some(u) => u.clone(),
            None => cx
                .endpoint
                .blob(&self.plan.repository, &self.plan.digest)
                .map_err(|e| Error::InvalidInput {
                    message: format!("cannot build a URL for {}: {e}", self.plan.registry),
                })?,
        };
        Ok(Some(Parts::get(url, headers)))
    }

    fn start(&mut self, cx: &mut Cx<Get>) {
        cx.issue(Step::Op(Get));
    }

    fn on_head(&mut self, _: Get, head: &ResponseHead, _: &mut Cx<Get>) -> bool {
        let status = head.status.as_u16();
        let start = head.header("content-range").and_then(content_range_start);
        match (status, start) {
            (206, Some(start)) if start <= self.pos => self.skip = self.pos - start,
            // The server ignored the range: drop what came before it.
            (200, _) => self.skip = self.pos,
            _ => return false,
        }
        if let Some(size) = size_of(head, status) {
            if let Some(error) = self.too_large(size) {
                self.finish(Err(error));
                return false;
            }
            self.size = Some(size);
        }
        self.receiving = true;
        true
    }

    fn on_data(&mut self, _: Get, data: &[u8], _: &mut Cx<Get>) {
        if !self.receiving || self.done {
            return;
        }
        let skip = usize::try_from(self.skip)
            .unwrap_or(usize::MAX)
            .min(data.len());
        self.skip -= skip as u64;
        let data = &data[skip..];
        if data.is_empty() {
            return;
        }
        let pos = self.pos.saturating_add(data.len() as u64);
        if let Some(error) = self.too_large(pos) {
            self.finish(Err(error));
            return;
        }
        self.pos = pos;
        self.hasher.update(data);
        self.outputs.push(Output::Data(data.to_vec()));
    }

    fn redirect(&mut self, _: Get) -> Option<&mut Redirect> {
        Some(&mut self.redirect)
    }

    fn on_response(
        &mut self,
        _: Get,
        response: Response<'_>,
        cx: &mut Cx<Get>,
    ) -> Result<(), Failure> {
        if self.done {
            return Ok(());
        }
        if self.receiving {
            self.receiving = false;
            match self.size {
                Some(size) if self.pos < size => {
                    // The body ended before the blob did: ask for the rest.
                    let reason = format!("the response ended at byte {} of {size}", self.pos);
                    if !self.retry(Get, None, reason.clone(), cx) {
                        return Err(Failure::Error(Error::Protocol {
                            action: self.describe(Get),
                            message: reason,
                        }));
                    }
                }
                _ => self.verify(),
            }
            return Ok(());
        }
        // Asked for the rest of a blob whose every byte had come (the connection broke after
        // the last one): nothing is left, so what came is checked as the whole.
        if response.status() == 416 && self.pos > 0 && self.size == Some(self.pos) {
            self.verify();
            return Ok(());
        }
        // A range other than the one asked for (a cache or proxy on the way): ask again.
        if response.status() == 206
            && self.retry(Get, None, "the registry sent another range".into(), cx)
        {
            return Ok(());
        }
        Err(Failure::Status)
    }

    fn retry_as(&mut self, _: Get) -> Option<(Get, &mut u32)> {
        self.redirect.clear();
        self.receiving = false;
        Some((Get, self.attempts.retrying_at(self.pos)))
    }

    fn fail(&mut self, _: Option<Get>, error: Error, _: &mut Cx<Get>) {
        self.finish(Err(error));
    }

    fn finished(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests;
