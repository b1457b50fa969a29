//! A `Push` of a small fixed plan, driven by fuzzer-chosen responses.
//!
//! The input picks a setup (jobs, chunking, dry run, scheme, credentials, authentication,
//! plan quirks, blobs made late or while they are sent), then a list of actions. Each action plays the runner or the registry: answer
//! one of the requests in flight as the test kit's registry model would (or with one
//! deviation), or by hand (body bytes reported sent or counted, a status, headers such as
//! Location, Range, Docker-Content-Digest, WWW-Authenticate, OCI-Chunk-Min-Length, Retry-After built
//! from arbitrary values, a body in chunks, the end), fail it with a transport error, move
//! the clock, fire timers, cancel, or call an input with a stray request id.
//!
//! When the actions run out, every request still in flight fails with a non-retryable
//! transport error and timers fire, so the push must finish within a bound.
//!
//! Nothing about the outcome is asserted, only that the core does not panic, that it keeps
//! its contracts with the runner (checked by the test kit's push plug and driver: blob ranges
//! inside the blob, one `Finished`, nothing after it, no request id reused, inputs about
//! requests in flight taken, no due timer left after a timeout), and that it never stalls
//! (waiting with nothing in flight and no timer).

#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tug_core::http::{
    Body, HeaderMap, HeaderName, HeaderValue, Method, Request, ResponseHead, StatusCode,
    TransportError, TransportErrorKind,
};
use tug_core::push::{PlanBlob, PlanManifest, PushConfig, PushPlan, ResumableUpload};
use tug_core::retry::RetryPolicy;
use tug_core::{Credentials, Digest, Scheme};
use tug_sansio_kit::model::basic;
use tug_sansio_kit::ops::push::{Ends, PushPlug};
use tug_sansio_kit::{Answering, BearerAuth, Driver, LocationStyle, RegistryModel};

/// Most actions taken from one input.
const MAX_ACTIONS: usize = 3_000;
/// Most headers on one response.
const MAX_HEADERS: usize = 8;

#[derive(Arbitrary, Debug)]
struct Input {
    setup: Setup,
    actions: Vec<Action>,
}

#[derive(Arbitrary, Debug)]
struct Setup {
    jobs: u8,
    monolithic: SizeChoice,
    chunk: SizeChoice,
    dry_run: bool,
    scheme: SchemeChoice,
    host: HostChoice,
    credentials: Option<(String, String)>,
    by_digest: bool,
    max_attempts: u8,
    empty_blob: bool,
    /// `mount_from`: none, a plausible repository, or any text.
    mount_from: Option<Option<String>>,
    /// Where blobs were seen (blob index, repositories): from a state file, so anything.
    mount_sources: Vec<(u8, Vec<String>)>,
    /// How many child manifests (as of a multi-platform index) go before the main one.
    children: u8,
    /// Upload sessions "a previous run" left: read back from a state file, so anything.
    resume: Vec<ResumeChoice>,
    seed: u64,
    /// The retry time budget (`--retry-max-wait`), if any.
    budget_ms: Option<u16>,
    /// 0: manifest digest wrong; 1: blob digest wrong; 2: reference names another digest.
    quirk: u8,
    /// Blobs (bit `i`: blob `i`) still being made when the push starts: they come later
    /// (`Action::Late`), and the manifests after them.
    late: u8,
    /// How the registry model wants to be authenticated.
    auth: AuthChoice,
    /// Blobs (bit `i`: blob `i`) made while they are sent, when none is late: they go by a
    /// key, stream their bytes and are told to have ended as they are sent to their end
    /// (`Action::Late`), the manifests after them.
    streamed: u8,
    /// Tell the streamed blobs' ends with a digest their bytes do not have.
    ends_lie: bool,
    /// What an earlier version check learned (`RegistryConfig::reached`: plain HTTP?, Basic
    /// asked?): the push then begins without its own check.
    reached: Option<(bool, bool)>,
}

#[derive(Arbitrary, Debug)]
enum AuthChoice {
    None,
    /// The setup's credentials, as Basic.
    Basic,
    /// A token from `https://auth.example/token` (or `/token` on the registry).
    Bearer,
}

#[derive(Arbitrary, Debug)]
struct ResumeChoice {
    /// Blob `n` of the plan, or (if None) a digest the plan does not have.
    blob: Option<u8>,
    location: ResumeLocation,
}

#[derive(Arbitrary, Debug)]
enum ResumeLocation {
    /// An upload URL on the registry.
    OnRegistry(u16),
    /// An upload URL on another host.
    Elsewhere(String),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum SizeChoice {
    Zero,
    One,
    Seven,
    Hundred,
    Default,
    Any(u64),
}

impl SizeChoice {
    fn value(&self, default: u64) -> u64 {
        match self {
            SizeChoice::Zero => 0,
            SizeChoice::One => 1,
            SizeChoice::Seven => 7,
            SizeChoice::Hundred => 100,
            SizeChoice::Default => default,
            SizeChoice::Any(n) => *n,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum SchemeChoice {
    Https,
    Http,
    HttpsThenHttp,
}

#[derive(Arbitrary, Debug)]
enum HostChoice {
    Example,
    Loopback,
    Localhost,
    Ipv6,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Action {
    /// Plays the runner and the registry for one request in flight (`pick` modulo their
    /// number): report body bytes sent, deliver the head, body chunks, and the end — each
    /// part optional, so responses interleave and arrive in pieces.
    Respond {
        pick: u8,
        sent: Option<Sent>,
        head: Option<HeadSpec>,
        body: Option<RespBody>,
        end: bool,
        dt_ms: u16,
    },
    /// Answers one request in flight as the test kit's registry model does (all body bytes
    /// reported sent; with `have`, the registry has the blob a HEAD or a mount asks about),
    /// so inputs reach deep states cheaply and spend their fuzzed answers where they matter.
    Auto { pick: u8, have: bool },
    /// Like `Auto`, but the answer deviates in one way: another status, a header replaced
    /// (or added) with a fuzzed value, or a header dropped.
    Deviate {
        pick: u8,
        have: bool,
        status: Option<StatusChoice>,
        header: Option<(NameChoice, ValueChoice)>,
        drop: Option<NameChoice>,
    },
    /// The request failed below HTTP.
    Fail {
        pick: u8,
        kind: Kind,
        message: String,
        dt_ms: u16,
    },
    /// The clock moves (or a stale `now` arrives), then timers are checked.
    Time { back: bool, ms: u64 },
    /// The clock jumps to the next timer.
    FireTimer,
    /// The user cancels.
    Cancel,
    /// A runner bug: an input about a request id the push may not know.
    Stray { id: u64, op: u8 },
    /// A pending blob is ready (`pick` modulo their number), or, once none is left, the
    /// manifests come.
    Late { pick: u8 },
}

#[derive(Arbitrary, Debug)]
enum Sent {
    All {
        pieces: u8,
    },
    Prefix(u16),
    Corrupt {
        at: u16,
        xor: u8,
    },
    Extra(Vec<u8>),
    /// A count of bytes sent (any, `u64::MAX` too), then the body's bytes.
    Counted(u64),
}

#[derive(Arbitrary, Debug)]
struct HeadSpec {
    status: StatusChoice,
    headers: Vec<(NameChoice, ValueChoice)>,
}

#[derive(Arbitrary, Debug)]
enum StatusChoice {
    S200,
    S201,
    S202,
    S204,
    S206,
    S307,
    S400,
    S401,
    S403,
    S404,
    S405,
    S408,
    S416,
    S429,
    S500,
    S502,
    S503,
    S504,
    Any(u16),
}

impl StatusChoice {
    fn code(&self) -> u16 {
        match self {
            StatusChoice::S200 => 200,
            StatusChoice::S201 => 201,
            StatusChoice::S202 => 202,
            StatusChoice::S204 => 204,
            StatusChoice::S206 => 206,
            StatusChoice::S307 => 307,
            StatusChoice::S400 => 400,
            StatusChoice::S401 => 401,
            StatusChoice::S403 => 403,
            StatusChoice::S404 => 404,
            StatusChoice::S405 => 405,
            StatusChoice::S408 => 408,
            StatusChoice::S416 => 416,
            StatusChoice::S429 => 429,
            StatusChoice::S500 => 500,
            StatusChoice::S502 => 502,
            StatusChoice::S503 => 503,
            StatusChoice::S504 => 504,
            StatusChoice::Any(n) => *n,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum NameChoice {
    Location,
    Range,
    DockerContentDigest,
    WwwAuthenticate,
    OciChunkMinLength,
    RetryAfter,
    ContentLength,
    ContentRange,
    DockerUploadUuid,
    Raw(String),
}

impl NameChoice {
    fn name(&self) -> Option<HeaderName> {
        let s = match self {
            NameChoice::Location => "location",
            NameChoice::Range => "range",
            NameChoice::DockerContentDigest => "docker-content-digest",
            NameChoice::WwwAuthenticate => "www-authenticate",
            NameChoice::OciChunkMinLength => "oci-chunk-min-length",
            NameChoice::RetryAfter => "retry-after",
            NameChoice::ContentLength => "content-length",
            NameChoice::ContentRange => "content-range",
            NameChoice::DockerUploadUuid => "docker-upload-uuid",
            NameChoice::Raw(s) => return HeaderName::from_bytes(s.as_bytes()).ok(),
        };
        Some(HeaderName::from_static(s))
    }
}

#[derive(Arbitrary, Debug)]
enum ValueChoice {
    /// Any text.
    Raw(String),
    /// Any bytes (obs-text included, as a real HTTP stack may hand over).
    Bytes(Vec<u8>),
    /// A number.
    Number(Num),
    /// `0-<n>`.
    RangeTo(Num),
    /// `bytes=0-<n>`.
    RangeBytesTo(Num),
    /// `<a>-<b>`.
    Range(Num, Num),
    /// `0-<last byte of the picked request's body + delta>`: mostly right.
    RangeNear(i8),
    /// A relative upload location, keeping a `_state` query as distribution does.
    LocationRelative(String),
    /// An absolute upload location on another host.
    LocationAbsolute(String),
    /// The digest of blob `n` of the plan.
    BlobDigest(u8),
    /// The manifest's digest.
    ManifestDigest,
    /// `Bearer realm=..,service=..,scope=..`.
    Bearer {
        realm: String,
        service: String,
        scope: String,
    },
    /// `Bearer` with a usable realm (absolute or relative), service and scope, maybe an error.
    BearerUsable {
        relative: bool,
        error: Option<String>,
    },
    /// `Basic realm=..`.
    Basic(String),
}

/// A number for a header, biased towards the edges where arithmetic breaks.
#[derive(Arbitrary, Debug)]
enum Num {
    Small(u16),
    /// `u64::MAX - (n % 4)`.
    NearMax(u8),
    /// `2^(n % 64)`, plus or minus one.
    Pow2 {
        exp: u8,
        delta: i8,
    },
    Any(u64),
}

impl Num {
    fn value(&self) -> u64 {
        match self {
            Num::Small(n) => u64::from(*n),
            Num::NearMax(n) => u64::MAX - u64::from(n % 4),
            Num::Pow2 { exp, delta } => {
                (1u64 << (exp % 64)).wrapping_add_signed(i64::from(delta.signum()))
            }
            Num::Any(n) => *n,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum RespBody {
    Raw(Vec<u8>),
    Errors(Vec<(String, String)>),
    /// A long body, in chunks of `chunk` bytes.
    Long {
        len: u16,
        chunk: u8,
    },
    /// A token endpoint's answer.
    Token {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<Num>,
    },
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Connect,
    Tls,
    NotTls,
    Io,
    Timeout,
    Source,
    Other,
}

impl Kind {
    fn kind(&self) -> TransportErrorKind {
        match self {
            Kind::Connect => TransportErrorKind::Connect,
            Kind::Tls => TransportErrorKind::Tls,
            Kind::NotTls => TransportErrorKind::NotTls,
            Kind::Io => TransportErrorKind::Io,
            Kind::Timeout => TransportErrorKind::Timeout,
            Kind::Source => TransportErrorKind::Source,
            Kind::Other => TransportErrorKind::Other,
        }
    }
}

/// What the actions need to know of the plan.
struct Plan {
    data: Vec<Vec<u8>>,
    digests: Vec<Digest>,
    manifest_digest: Digest,
    /// Pending blobs not given yet: plan index and the real blob.
    late: Vec<(usize, PlanBlob)>,
    /// The manifests of a plan with pending blobs, until given.
    manifests: Option<(PlanManifest, Vec<PlanManifest>)>,
}

type PushDriver<'m> = Driver<'m, PushPlug<'static>>;

impl Plan {
    fn value(&self, v: &ValueChoice, body: &Body) -> Option<HeaderValue> {
        let text = match v {
            ValueChoice::Raw(s) => s.clone(),
            ValueChoice::Bytes(b) => return HeaderValue::from_bytes(b).ok(),
            ValueChoice::Number(n) => n.value().to_string(),
            ValueChoice::RangeTo(n) => format!("0-{}", n.value()),
            ValueChoice::RangeBytesTo(n) => format!("bytes=0-{}", n.value()),
            ValueChoice::Range(a, b) => format!("{}-{}", a.value(), b.value()),
            ValueChoice::RangeNear(delta) => {
                let end = match body {
                    Body::BlobRange { end, .. } => *end,
                    other => other.len(),
                };
                let last = end.saturating_sub(1).wrapping_add_signed(i64::from(*delta));
                format!("0-{last}")
            }
            ValueChoice::LocationRelative(s) => {
                format!("/v2/fuzz/app/blobs/uploads/{s}?_state=st%3D1")
            }
            ValueChoice::LocationAbsolute(s) => format!("https://uploads.example:8443/u/{s}"),
            ValueChoice::BlobDigest(n) => {
                let i = usize::from(*n) % self.digests.len();
                self.digests[i].to_string()
            }
            ValueChoice::ManifestDigest => self.manifest_digest.to_string(),
            ValueChoice::Bearer {
                realm,
                service,
                scope,
            } => format!("Bearer realm=\"{realm}\",service=\"{service}\",scope=\"{scope}\""),
            ValueChoice::BearerUsable { relative, error } => {
                let realm = if *relative {
                    "/token"
                } else {
                    "https://auth.example/token"
                };
                let mut v = format!(
                    "Bearer realm=\"{realm}\",service=\"registry.example\",\
                     scope=\"repository:fuzz/app:pull,push\""
                );
                if let Some(e) = error {
                    v.push_str(&format!(",error={e:?}"));
                }
                v
            }
            ValueChoice::Basic(realm) => format!("Basic realm=\"{realm}\""),
        };
        HeaderValue::from_str(&text).ok()
    }

    /// With `have`, the registry has the blob `req` (a HEAD, or a mount) asks about.
    fn have(&self, model: &mut RegistryModel, req: &Request) {
        let digest = match req.method {
            Method::HEAD => req.url.path().rsplit('/').next().map(str::to_owned),
            Method::POST => req
                .url
                .query_pairs()
                .find(|(k, _)| k == "mount")
                .map(|(_, v)| v.into_owned()),
            _ => None,
        };
        if let Some(digest) = digest {
            let data = self
                .digests
                .iter()
                .position(|d| d.to_string() == digest)
                .map(|i| self.data[i].clone())
                .unwrap_or_default();
            model.blobs.insert(digest, data);
        }
    }

    /// Gives the push a pending blob (or, when none is left, the manifests), as a runner
    /// does when a layer's compression ends. The push must take each exactly once.
    fn give_late(&mut self, driver: &mut PushDriver<'_>, pick: u8) {
        // Handing something over acts on the push as an input does: the next drain sets the
        // timer (with nothing left to hand over, the timer stays).
        if !self.late.is_empty() || self.manifests.is_some() || driver.plug.has_untold_ends() {
            driver.timer = None;
        }
        // Streamed blobs sent to their end are told to have ended (then the manifests).
        let _ = driver.plug.tell_ends();
        let push = &mut driver.plug.push;
        if !self.late.is_empty() {
            let (i, blob) = self.late.remove(usize::from(pick) % self.late.len());
            let r = push.handle_blob_ready(i, blob.digest.clone(), blob.size);
            assert!(r.is_ok(), "a pending blob was refused: {r:?}");
            let again = push.handle_blob_ready(i, blob.digest, blob.size);
            assert!(again.is_err(), "a blob given twice was taken");
        } else if let Some((manifest, children)) = self.manifests.take() {
            let r = push.handle_manifests(manifest.clone(), children.clone());
            assert!(r.is_ok(), "the manifests were refused: {r:?}");
            assert!(push.handle_manifests(manifest, children).is_err());
        }
        // A push may wait on nothing else only while blobs, ends or manifests are still to
        // come.
        driver.plug.may_idle =
            !self.late.is_empty() || self.manifests.is_some() || driver.plug.awaiting_ends();
        driver.drain();
    }

    /// Answers request number `pick` as the model registry would, after `tweak` had its way
    /// with the answer.
    fn auto(
        &self,
        driver: &mut PushDriver<'_>,
        pick: u8,
        have: bool,
        tweak: impl FnOnce(&Request, &mut ResponseHead),
    ) {
        let Some(i) = driver.pick(usize::from(pick)) else {
            driver.now = driver.now + driver.pace.latency;
            return;
        };
        if have {
            self.have(driver.models[0], &driver.flights[i].req);
        }
        driver.answer(i, &Answering::default(), |f, reply| {
            tweak(&f.req, &mut reply.head)
        });
    }

    fn act(&mut self, driver: &mut PushDriver<'_>, action: &Action) {
        match action {
            Action::Auto { pick, have } => self.auto(driver, *pick, *have, |_, _| {}),
            Action::Deviate {
                pick,
                have,
                status,
                header,
                drop,
            } => {
                driver.clean = false;
                self.auto(driver, *pick, *have, |req, head| {
                    if let Some(s) = status {
                        head.status = StatusCode::from_u16(s.code())
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                    if let Some(n) = drop.as_ref().and_then(NameChoice::name) {
                        head.headers.remove(n);
                    }
                    if let Some((n, v)) = header {
                        if let (Some(n), Some(v)) = (n.name(), self.value(v, &req.body)) {
                            head.headers.insert(n, v);
                        }
                    }
                })
            }
            Action::Respond {
                pick,
                sent,
                head,
                body,
                end,
                dt_ms,
            } => {
                driver.now = driver.now + Duration::from_millis(u64::from(*dt_ms));
                let Some(i) = driver.pick(usize::from(*pick)) else {
                    return;
                };
                let id = driver.flights[i].req.id;
                let req_body = driver.flights[i].req.body.clone();
                let bytes = driver.flights[i].body.clone();
                if let Some(sent) = sent {
                    let pieces: Vec<Vec<u8>> = match sent {
                        Sent::All { pieces } => {
                            let n = usize::from(*pieces % 8) + 1;
                            let step = bytes.len().div_ceil(n).max(1);
                            bytes.chunks(step).map(<[u8]>::to_vec).collect()
                        }
                        Sent::Prefix(n) => vec![bytes[..usize::from(*n).min(bytes.len())].to_vec()],
                        Sent::Corrupt { at, xor } => {
                            let mut bytes = bytes.clone();
                            if !bytes.is_empty() {
                                let at = usize::from(*at) % bytes.len();
                                bytes[at] ^= xor | 1;
                            }
                            vec![bytes]
                        }
                        Sent::Extra(extra) => vec![bytes.clone(), extra.clone()],
                        Sent::Counted(n) => {
                            if let Some(i) = driver.position(id) {
                                driver.body_progress(i, *n);
                            }
                            vec![bytes.clone()]
                        }
                    };
                    for piece in pieces {
                        if let Some(i) = driver.position(id) {
                            driver.body_sent(i, &piece);
                        }
                    }
                }
                if let (Some(h), Some(i)) = (head, driver.position(id)) {
                    let mut headers = HeaderMap::new();
                    for (name, value) in h.headers.iter().take(MAX_HEADERS) {
                        if let (Some(n), Some(v)) = (name.name(), self.value(value, &req_body)) {
                            headers.append(n, v);
                        }
                    }
                    let status = StatusCode::from_u16(h.status.code())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    driver.head(i, ResponseHead { status, headers });
                }
                if let Some(b) = body {
                    for piece in body_pieces(b) {
                        if let Some(i) = driver.position(id) {
                            driver.chunk(i, &piece);
                        }
                    }
                }
                // A runner ends a response only after its head (ending one before is a runner
                // bug; see the fuzz README).
                if let (true, Some(i)) = (*end, driver.position(id)) {
                    if driver.flights[i].head {
                        driver.end(i);
                    }
                }
            }
            Action::Fail {
                pick,
                kind,
                message,
                dt_ms,
            } => {
                driver.now = driver.now + Duration::from_millis(u64::from(*dt_ms));
                if let Some(i) = driver.pick(usize::from(*pick)) {
                    let error = TransportError {
                        kind: kind.kind(),
                        message: message.clone(),
                    };
                    driver.fail(i, error);
                }
            }
            Action::Time { back: true, ms } => driver.stale(Duration::from_millis(*ms)),
            Action::Time { back: false, ms } => driver.advance(Duration::from_millis(*ms)),
            Action::FireTimer => driver.fire(),
            Action::Cancel => driver.cancel(),
            Action::Late { pick } => self.give_late(driver, *pick),
            Action::Stray { id, op } => driver.stray(*id, *op),
        }
    }
}

/// The pieces of a response body a `Respond` action sends.
fn body_pieces(b: &RespBody) -> Vec<Vec<u8>> {
    match b {
        RespBody::Raw(bytes) => vec![bytes.clone()],
        RespBody::Errors(entries) => {
            let items: Vec<String> = entries
                .iter()
                .take(4)
                .map(|(code, message)| {
                    format!("{{\"code\":{code:?},\"message\":{message:?},\"detail\":null}}")
                })
                .collect();
            vec![format!("{{\"errors\":[{}]}}", items.join(",")).into_bytes()]
        }
        RespBody::Token {
            token,
            access_token,
            expires_in,
        } => {
            let mut fields = Vec::new();
            if let Some(t) = token {
                fields.push(format!("\"token\":{t:?}"));
            }
            if let Some(t) = access_token {
                fields.push(format!("\"access_token\":{t:?}"));
            }
            if let Some(e) = expires_in {
                fields.push(format!("\"expires_in\":{}", e.value()));
            }
            vec![format!("{{{}}}", fields.join(",")).into_bytes()]
        }
        RespBody::Long { len, chunk } => {
            let filler = vec![b'x'; usize::from(*len) * 2];
            let step = usize::from(*chunk).max(1) * 256;
            filler.chunks(step).map(<[u8]>::to_vec).collect()
        }
    }
}
/// Makes the blobs `setup.late` names pending: their plan entries become estimates and the
/// manifests placeholders; the real ones are returned for later.
/// Pending blobs (plan index and the real blob), and the manifests to give after them.
type LateParts = (
    Vec<(usize, PlanBlob)>,
    Option<(PlanManifest, Vec<PlanManifest>)>,
);

fn make_late(setup: &Setup, plan: &mut PushPlan) -> LateParts {
    let late: Vec<(usize, PlanBlob)> = (0..plan.blobs.len().min(8))
        .filter(|i| setup.late & (1 << i) != 0)
        .map(|i| (i, plan.blobs[i].clone()))
        .collect();
    if late.is_empty() {
        return (late, None);
    }
    for (i, _) in &late {
        plan.blobs[*i] = PlanBlob {
            digest: Digest::sha256_of(format!("estimate {i}").as_bytes()),
            size: u64::from(setup.late) * 1000,
        };
        plan.pending.push(*i);
    }
    let real = (plan.manifest.clone(), std::mem::take(&mut plan.children));
    let placeholder = b"placeholder".to_vec();
    plan.manifest = PlanManifest {
        digest: Digest::sha256_of(&placeholder),
        bytes: placeholder,
        media_type: real.0.media_type.clone(),
    };
    (late, Some(real))
}

/// Makes the blobs `setup.streamed` names (when none is late) blobs made while they are
/// sent: they go by a key with an estimate for their size, and the manifests are
/// placeholders; the real manifest is returned, for after their ends.
fn make_streamed(setup: &Setup, plan: &mut PushPlan) -> Option<PlanManifest> {
    if !plan.pending.is_empty() || !plan.children.is_empty() {
        return None;
    }
    let streamed: Vec<usize> = (0..plan.blobs.len().min(8))
        .filter(|i| setup.streamed & (1 << i) != 0)
        .collect();
    if streamed.is_empty() {
        return None;
    }
    for &i in &streamed {
        let key = Digest::sha256_of(format!("plain {}", plan.blobs[i].digest).as_bytes());
        plan.blobs[i] = PlanBlob {
            digest: key,
            size: u64::from(setup.streamed) * 10,
        };
    }
    plan.streamed = streamed;
    let real = plan.manifest.clone();
    let placeholder = b"placeholder".to_vec();
    plan.manifest = PlanManifest {
        digest: Digest::sha256_of(&placeholder),
        bytes: placeholder,
        media_type: real.media_type.clone(),
    };
    Some(real)
}

fn plan_and_data(setup: &Setup) -> (PushPlan, Vec<Vec<u8>>) {
    let config_blob =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#.to_vec();
    let layer: Vec<u8> = (0..300u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let mut data = vec![config_blob.clone(), layer.clone(), config_blob];
    if setup.empty_blob {
        data.push(Vec::new());
    }
    let mut blobs: Vec<PlanBlob> = data
        .iter()
        .map(|d| PlanBlob {
            digest: Digest::sha256_of(d),
            size: d.len() as u64,
        })
        .collect();
    if setup.quirk == 1 {
        blobs[1].digest = Digest::sha256_of(b"not the layer");
    }
    let manifest_bytes = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{}\",\"size\":{}}},\
         \"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{}\",\"size\":{}}}]}}",
        blobs[0].digest, blobs[0].size, blobs[1].digest, blobs[1].size
    )
    .into_bytes();
    let mut manifest_digest = Digest::sha256_of(&manifest_bytes);
    if setup.quirk == 0 {
        manifest_digest = Digest::sha256_of(b"not the manifest");
    }
    let reference = match (setup.quirk, setup.by_digest) {
        (2, _) => Digest::sha256_of(b"another manifest").to_string(),
        (_, true) => manifest_digest.to_string(),
        (_, false) => "v1.0".to_owned(),
    };
    let registry = match &setup.host {
        HostChoice::Example => "registry.example:5000".to_owned(),
        HostChoice::Loopback => "127.0.0.1:5000".to_owned(),
        HostChoice::Localhost => "localhost".to_owned(),
        HostChoice::Ipv6 => "[::1]:5000".to_owned(),
        HostChoice::Raw(s) => s.clone(),
    };
    let blobs_for_resume: Vec<Digest> = blobs.iter().map(|b| b.digest.clone()).collect();
    let registry_for_resume = registry.clone();
    // Children are image manifests of the same blobs (as the platforms of an index), told
    // apart by an annotation: the registry model takes them once the blobs are there.
    let children: Vec<PlanManifest> = (0..setup.children % 3)
        .map(|i| {
            let bytes = format!(
                "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
                 \"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{}\",\"size\":{}}},\
                 \"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{}\",\"size\":{}}}],\
                 \"annotations\":{{\"child\":\"{i}\"}}}}",
                blobs[0].digest, blobs[0].size, blobs[1].digest, blobs[1].size
            )
            .into_bytes();
            PlanManifest {
                digest: Digest::sha256_of(&bytes),
                bytes,
                media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
            }
        })
        .collect();
    let plan = PushPlan {
        registry,
        repository: "fuzz/app".to_owned(),
        reference,
        blobs,
        manifest: PlanManifest {
            bytes: manifest_bytes,
            media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
            digest: manifest_digest,
        },
        mount_from: setup
            .mount_from
            .as_ref()
            .map(|m| m.clone().unwrap_or_else(|| "fuzz/base".to_owned())),
        mount_sources: setup
            .mount_sources
            .iter()
            .take(12)
            .map(|(n, places)| {
                let digest = blobs_for_resume[usize::from(*n) % blobs_for_resume.len()].clone();
                (digest, places.iter().take(4).cloned().collect())
            })
            .collect(),
        resume: setup
            .resume
            .iter()
            .take(4)
            .map(|r| ResumableUpload {
                digest: match r.blob {
                    Some(n) => blobs_for_resume[usize::from(n) % blobs_for_resume.len()].clone(),
                    None => Digest::sha256_of(b"not in the plan"),
                },
                location: match &r.location {
                    ResumeLocation::OnRegistry(n) => format!(
                        "https://{registry_for_resume}/v2/fuzz/app/blobs/uploads/r{n}?_state=s"
                    ),
                    ResumeLocation::Elsewhere(s) => format!("https://uploads.example/{s}"),
                    ResumeLocation::Raw(s) => s.clone(),
                },
                // What the earlier run saw confirmed: none, the ambiguous one byte, or more
                // (right or wrong: the registry's reports decide).
                committed: match &r.location {
                    ResumeLocation::OnRegistry(n) => u64::from(n % 3),
                    _ => 0,
                },
            })
            .collect(),
        children,
        pending: Vec::new(),
        streamed: Vec::new(),
    };
    (plan, data)
}

/// The registry model for `setup`: on the plan's registry, wanting what `auth` says, with
/// the upload sessions the plan resumes (holding what the earlier run saw confirmed).
fn model_for(setup: &Setup, plan: &PushPlan, data: &[Vec<u8>]) -> RegistryModel {
    let mut model = RegistryModel::at(&plan.registry);
    model.location_style = LocationStyle::RelativeWithState;
    match setup.auth {
        AuthChoice::None => {}
        AuthChoice::Basic => {
            model.required_auth = Some(match &setup.credentials {
                Some((u, p)) => basic(u, p),
                None => "Basic (credentials the client does not have)".to_owned(),
            });
        }
        AuthChoice::Bearer => {
            model.bearer = Some(BearerAuth::default());
            model.realm = Some("https://auth.example/token".to_owned());
        }
    }
    for (r, resume) in setup.resume.iter().zip(&plan.resume) {
        if let ResumeLocation::OnRegistry(n) = r.location {
            let blob = r.blob.map(|b| &data[usize::from(b) % data.len()]);
            let held = blob.map_or(&[][..], |b| &b[..(resume.committed as usize).min(b.len())]);
            model.uploads.insert(format!("r{n}"), held.to_vec());
        }
    }
    model
}

fuzz_target!(|input: Input| {
    let setup = &input.setup;
    let (mut plan, data) = plan_and_data(setup);
    let digests = plan.blobs.iter().map(|b| b.digest.clone()).collect();
    let manifest_digest = plan.manifest.digest.clone();
    let (late, manifests) = make_late(setup, &mut plan);
    let streamed = make_streamed(setup, &mut plan);
    let config = PushConfig {
        registry: tug_core::RegistryConfig {
            scheme: match setup.scheme {
                SchemeChoice::Https => Scheme::Https,
                SchemeChoice::Http => Scheme::Http,
                SchemeChoice::HttpsThenHttp => Scheme::HttpsThenHttp,
            },
            credentials: setup
                .credentials
                .as_ref()
                .map(|(username, password)| Credentials {
                    username: username.clone(),
                    password: password.clone(),
                }),
            retry: RetryPolicy {
                max_attempts: u32::from(setup.max_attempts % 5),
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(30),
                seed: setup.seed,
                budget: setup
                    .budget_ms
                    .map(|ms| Duration::from_millis(u64::from(ms))),
            },
            // No deadline, or one that slow scripted answers may miss.
            stall_timeout: Duration::from_millis((setup.seed >> 8) % 3 * 700),
            // Both kinds of runtime: bodies seen leaving, or not.
            body_progress: if setup.seed & 4 == 0 {
                tug_core::limits::BodyProgress::Seen
            } else {
                tug_core::limits::BodyProgress::Unseen
            },
            user_agent: "tug-fuzz".to_owned(),
            reached: setup
                .reached
                .map(|(http, basic)| tug_core::config::Reached {
                    host: plan.registry.clone(),
                    scheme: if http { Scheme::Http } else { Scheme::Https },
                    basic,
                }),
        },
        transfer: tug_core::TransferConfig {
            jobs: usize::from(setup.jobs % 5),
            // Both ways of choosing the blobs in flight.
            adaptive: setup.jobs & 0x80 != 0,
            progress_interval: Duration::from_millis(200),
        },
        monolithic_max: setup.monolithic.value(16 * 1024 * 1024),
        chunk_size: setup.chunk.value(64 * 1024 * 1024),
        dry_run: setup.dry_run,
    };
    let mut model = model_for(setup, &plan, &data);
    let mut plug = PushPlug::new(plan.clone(), &data, config);
    if let Some(manifest) = streamed {
        let ends = Ends {
            late: false,
            lie: setup.ends_lie,
        };
        plug = plug.ends(&plan, ends, manifest);
    }
    plug.may_idle = !late.is_empty() || manifests.is_some() || plug.awaiting_ends();
    let mut driver = Driver::new(plug, vec![&mut model]);
    let mut ctx = Plan {
        data,
        digests,
        manifest_digest,
        late,
        manifests,
    };
    driver.check_live();
    for action in input.actions.iter().take(MAX_ACTIONS) {
        if driver.finished() {
            break;
        }
        ctx.act(&mut driver, action);
        driver.check_live();
    }
    // Wind down: what is still pending comes (a runner always ends its first pass), every
    // request in flight fails for good, timers fire.
    while !driver.finished()
        && (!ctx.late.is_empty() || ctx.manifests.is_some() || driver.plug.has_untold_ends())
    {
        ctx.give_late(&mut driver, 0);
    }
    tug_fuzz::play::wind_down(&mut driver, "push");
    if let Some(result) = &driver.result {
        if let Err(e) = result {
            let _ = e.to_string();
        }
        tug_fuzz::describe("push", result);
    }
    for e in &driver.plug.events {
        let _ = format!("{e:?}");
    }
    driver.check_after_finished();
});
