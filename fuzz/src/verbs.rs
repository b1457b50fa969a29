//! The one-shot registry operations (tag lists and catalogs, manifest get / tag / delete,
//! referrers discovery and attach, the version probe, a verified blob read) as one driver
//! [`Plug`], and the rule on where credentials may go that every response target checks.
//!
//! Each of them polls a [`tug_core::one_shot::Output`] of its own report type; the plug
//! turns those into the driver's outputs, keeps what the operation reads
//! ([`Output::Data`]) and checks each request against the [`HostRule`].

use std::fmt::Debug;

use tug_core::blob_read::{BlobRead, BlobReport};
use tug_core::challenge::parse_challenges;
use tug_core::config::Reached;
use tug_core::http::{Body, Request};
use tug_core::listing::{Listed, Listing};
use tug_core::manifest_ops::{ManifestOp, ManifestReport};
use tug_core::one_shot::Output;
use tug_core::probe::Probe;
use tug_core::referrers::{Attach, Attached, Discovery, Referrers};
use tug_core::{Digest, Operation, Scheme};
use tug_sansio_kit::driver::{Cx, Out, Plug, SendBody};
use url::Url;

use crate::script::{Action, HeaderEdit};

/// A one-shot operation: its `poll`, under one name.
pub trait OneShot: Operation {
    /// What it ends with when it succeeds.
    type Report: Debug;
    /// The operation's next output.
    fn next_output(&mut self) -> Option<Output<Self::Report>>;
}

macro_rules! one_shot {
    ($ty:ty, $report:ty) => {
        impl OneShot for $ty {
            type Report = $report;
            fn next_output(&mut self) -> Option<Output<$report>> {
                self.poll()
            }
        }
    };
}

one_shot!(Listing, Listed);
one_shot!(ManifestOp, ManifestReport);
one_shot!(Discovery, Referrers);
one_shot!(Attach, Attached);
one_shot!(Probe, Reached);
one_shot!(BlobRead, BlobReport);

/// Where a request may carry an `Authorization` header: the registry's own host (and
/// port), or a token realm a challenge named — never a redirect target, a next-page link or
/// blob storage on another host; and over plain HTTP only when the registry is reached so.
#[derive(Clone, Debug)]
pub struct HostRule {
    /// The registry's host and port as the plan names them.
    registries: Vec<(String, Option<u16>)>,
    /// Hosts (and ports) a challenge named as its realm.
    realms: Vec<(String, Option<u16>)>,
    /// Whether the registries are reached over HTTPS only (no plain-HTTP fallback).
    https_only: bool,
}

/// `host[:port]` as a URL would have it.
fn host_port(authority: &str) -> (String, Option<u16>) {
    match Url::parse(&format!("https://{authority}/")) {
        Ok(u) => (u.host_str().unwrap_or("").to_owned(), u.port()),
        Err(_) => (authority.to_ascii_lowercase(), None),
    }
}

impl HostRule {
    /// The rule for operations on `registries` reached with `scheme`, where the challenges
    /// may be the model's own (`model_realms`, absolute URLs) or any `WWW-Authenticate`
    /// value the script's actions send.
    pub fn new(
        registries: &[&str],
        scheme: Scheme,
        model_realms: &[&str],
        actions: &[Action],
    ) -> HostRule {
        let registries: Vec<(String, Option<u16>)> =
            registries.iter().map(|r| host_port(r)).collect();
        let mut realms = Vec::new();
        for realm in model_realms {
            if let Ok(u) = Url::parse(realm) {
                realms.push((u.host_str().unwrap_or("").to_owned(), u.port()));
            }
        }
        for action in actions {
            let edits = match action {
                Action::Auto { edits, .. } | Action::Head { edits, .. } => edits,
                _ => continue,
            };
            for edit in edits {
                let HeaderEdit::Set(name, value) = edit else {
                    continue;
                };
                if !name.eq_ignore_ascii_case("www-authenticate") {
                    continue;
                }
                let Ok(value) = std::str::from_utf8(value) else {
                    continue;
                };
                for challenge in parse_challenges(value) {
                    let Some(realm) = challenge.param("realm") else {
                        continue;
                    };
                    // Relative realms resolve against the registry, which is allowed anyway.
                    if let Ok(u) = Url::parse(realm) {
                        realms.push((u.host_str().unwrap_or("").to_owned(), u.port()));
                    }
                }
            }
        }
        HostRule {
            registries,
            realms,
            https_only: scheme == Scheme::Https,
        }
    }

    /// Panics if `req` carries an `Authorization` header where it must not.
    pub fn check(&self, req: &Request) {
        if !req.headers.contains_key("authorization") {
            return;
        }
        let at = (req.url.host_str().unwrap_or("").to_owned(), req.url.port());
        assert!(
            self.registries.contains(&at) || self.realms.contains(&at),
            "contract: Authorization sent to {}, neither the registry nor a token realm",
            req.url
        );
        assert!(
            !(self.https_only && req.url.scheme() == "http"),
            "contract: Authorization sent over plain HTTP to {} though the registry is reached over HTTPS",
            req.url
        );
    }
}

/// A one-shot operation as the driver's plug.
pub struct OneShotPlug<O: OneShot> {
    pub op: O,
    /// What it read ([`Output::Data`]), in order.
    pub data: Vec<u8>,
    /// Tags it resolved, with their digests.
    pub resolved: Vec<(String, Digest)>,
    /// The most bytes it may pass on.
    pub max_data: Option<u64>,
    pub hosts: HostRule,
}

impl<O: OneShot> OneShotPlug<O> {
    pub fn new(op: O, hosts: HostRule, max_data: Option<u64>) -> Self {
        OneShotPlug {
            op,
            data: Vec::new(),
            resolved: Vec::new(),
            max_data,
            hosts,
        }
    }
}

impl<O: OneShot> Plug for OneShotPlug<O> {
    type Op = O;
    type Report = O::Report;

    fn op(&mut self) -> &mut O {
        &mut self.op
    }

    fn op_ref(&self) -> &O {
        &self.op
    }

    fn next(&mut self, _cx: &Cx) -> Option<Out<O::Report>> {
        Some(match self.op.next_output()? {
            Output::Send(req) => {
                self.hosts.check(&req);
                let body = match &req.body {
                    Body::Bytes(b) => b.clone(),
                    _ => Vec::new(),
                };
                Out::Send {
                    req,
                    to: 0,
                    body: SendBody::Bytes(body),
                }
            }
            Output::Abort(id) => Out::Abort(id),
            Output::Data(bytes) => {
                self.data.extend_from_slice(&bytes);
                if let Some(max) = self.max_data {
                    assert!(
                        self.data.len() as u64 <= max,
                        "contract: a read limited to {max} bytes passed on {}",
                        self.data.len()
                    );
                }
                Out::Other
            }
            Output::Resolved { reference, digest } => {
                self.resolved.push((reference, digest));
                Out::Other
            }
            Output::Retrying(_) | Output::PlainHttpFallback { .. } => Out::Other,
            Output::Timeout(at) => Out::Timeout(at),
            Output::Finished(result) => Out::Finished(result),
        })
    }
}

/// Any plug, with each request checked against the [`HostRule`] of the model it goes to
/// (a copy's sources and target each have their own).
pub struct HostChecked<P: Plug> {
    pub inner: P,
    /// The rule of model `i`.
    pub rules: Vec<HostRule>,
}

impl<P: Plug> Plug for HostChecked<P> {
    type Op = P::Op;
    type Report = P::Report;

    fn op(&mut self) -> &mut P::Op {
        self.inner.op()
    }

    fn op_ref(&self) -> &P::Op {
        self.inner.op_ref()
    }

    fn next(&mut self, cx: &Cx) -> Option<Out<P::Report>> {
        let out = self.inner.next(cx)?;
        if let Out::Send { req, to, .. } = &out {
            if let Some(rule) = self.rules.get(*to) {
                rule.check(req);
            }
        }
        Some(out)
    }

    fn may_idle(&self) -> bool {
        self.inner.may_idle()
    }

    fn between(&mut self, answered: usize, idle: bool) {
        self.inner.between(answered, idle);
    }
}
