//! The input format of the response-driven targets (`pull_responses`, `fetch_responses`): a
//! small line-based script, so seeds are readable text that is easy to write and review, and
//! libFuzzer's mutations (digits, header text, JSON bodies, swapped lines) stay meaningful.
//!
//! Every line is one command; its first word names it, the rest are its arguments. Unknown
//! lines are ignored, so any bytes are a valid input. Setup lines (what the registry holds
//! and how the operation is configured) apply wherever they appear; action lines run in
//! order. Byte texts (`blob`, `manifest`, `body`, header values) take the escapes `\n`
//! `\r` `\t` `\0` `\\` `\xHH` and the templates `{bN}` / `{nN}` (digest / size of blob N)
//! and `{mN}` / `{sN}` (digest / size of manifest N).
//!
//! Setup:
//!
//! ```text
//! registry HOST[:PORT]        default registry.example:5000
//! repo NAME                   default fuzz/app
//! ref TAG|DIGEST              default v1
//! platform OS/ARCH[/VARIANT]  default linux/amd64
//! all-platforms | manifests-only
//! have DIGEST                 a blob the runner already has
//! scheme https|http|fallback  fallback: HTTPS, then plain HTTP for loopback
//! creds USER:PASSWORD
//! jobs N | attempts N | delay MS | max-delay MS | budget MS | seed N
//! blob BYTES                  the registry holds this blob (blob 0, 1, ... in order)
//! manifest TYPE|- BYTES       ... and this manifest (served with Content-Type TYPE)
//! tag N                       the tag names manifest N (default 0)
//! auth basic|bearer           the registry wants credentials / a token
//! redirect abs|rel            blob GETs are redirected to storage (another host / a path)
//! norange                     the registry ignores Range (answers 200 with the whole blob)
//! ```
//!
//! Setup of `verbs_responses` (which operation, and its plan):
//!
//! ```text
//! verb tags|catalog|get|get-platform|tag|delete|discover|attach|probe|blob
//! page N                      tags / catalog: ask for N names a page
//! new-tag TAG                 tag: one more new tag (default `v2`)
//! known-api yes|no            discover: what is known of the referrers API
//! known-tag TAG               discover: the repository's tags are known, TAG among them
//! max-size N                  blob: accept at most N bytes
//! ```
//!
//! Setup of `copy_responses` (the script's registry is the source; the target is empty):
//!
//! ```text
//! target HOST[:PORT]          default target.example:5000
//! target-repo NAME | target-ref TAG|DIGEST     default copied/app, v1
//! target-auth basic|bearer    the target wants credentials / a token (realm auth2.example)
//! mirror                      an empty mirror (mirror.example:5000) is asked first
//! upload-chunk N | mono N     the target's PATCH size / the largest single-PUT blob
//! ```
//!
//! Actions (`PICK` chooses a request in flight, modulo their number, oldest first):
//!
//! ```text
//! auto PICK [status=N] [cut=N] [chunk=N] [nobody] [noend]
//!     answer as the registry model would; `cut` breaks the connection after N body
//!     bytes; `noend` leaves the response open. Following lines `h NAME: VALUE` set a
//!     header, `-h NAME` drops one.
//! head PICK STATUS            a response head of your own, with the following `h` lines
//! body PICK BYTES             a body chunk
//! data PICK BLOB FROM TO      bytes FROM..TO of blob BLOB as a body chunk
//! end PICK                    the body ends
//! fail PICK KIND [MESSAGE]    a transport error: connect tls nottls io timeout source other
//! time MS | stale MS | fire   the clock moves (and timers are checked) / a stale `now` /
//!                             the clock jumps to the next timer
//! cancel
//! stray ID OP                 an input (OP 0-4) about a request id not in flight
//! open BLOB|DIGEST START END  (fetch) open a stream of a blob's byte range
//! close STREAM                (fetch) the consumer of stream number STREAM is gone
//! ```

use std::time::Duration;

use tug_core::http::TransportErrorKind;
use tug_core::{Credentials, Digest, Scheme};
use tug_sansio_kit::model::basic;
pub use tug_sansio_kit::HeaderEdit;
use tug_sansio_kit::{Answering, BearerAuth, LocationStyle, RegistryModel};

/// Most action lines run from one input.
pub const MAX_ACTIONS: usize = 2_000;

/// How the registry model wants to be authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    None,
    Basic,
    Bearer,
}

/// Where the registry model sends blob downloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirect {
    None,
    /// To `https://storage.example/blobs/<digest>`.
    Absolute,
    /// To `/storage/<digest>` on the registry itself.
    Relative,
}

/// A manifest the registry model serves.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub media_type: Option<String>,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

/// What the setup lines say.
#[derive(Clone, Debug)]
pub struct Setup {
    pub registry: String,
    pub repository: String,
    pub reference: String,
    pub platform: String,
    pub all_platforms: bool,
    pub manifests_only: bool,
    pub have: Vec<String>,
    pub scheme: Scheme,
    pub credentials: Option<Credentials>,
    pub jobs: usize,
    pub attempts: u32,
    pub delay: Duration,
    pub max_delay: Duration,
    pub budget: Option<Duration>,
    pub seed: u64,
    pub blobs: Vec<Vec<u8>>,
    pub manifests: Vec<Manifest>,
    pub tag: usize,
    pub auth: AuthMode,
    pub redirect: Redirect,
    pub ranges: bool,
    /// `verbs_responses`: which operation.
    pub verb: String,
    pub page_size: Option<u32>,
    pub new_tags: Vec<String>,
    pub known_api: Option<bool>,
    pub known_tags: Option<Vec<String>>,
    pub max_size: Option<u64>,
    /// `copy_responses`: the target, and how the copy goes.
    pub target: String,
    pub target_repository: String,
    pub target_reference: String,
    pub target_auth: AuthMode,
    pub mirror: bool,
    pub upload_chunk: u64,
    pub monolithic_max: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            registry: "registry.example:5000".into(),
            repository: "fuzz/app".into(),
            reference: "v1".into(),
            platform: "linux/amd64".into(),
            all_platforms: false,
            manifests_only: false,
            have: Vec::new(),
            scheme: Scheme::Https,
            credentials: None,
            jobs: 2,
            attempts: 3,
            delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            budget: None,
            seed: 1,
            blobs: Vec::new(),
            manifests: Vec::new(),
            tag: 0,
            auth: AuthMode::None,
            redirect: Redirect::None,
            ranges: true,
            verb: "tags".into(),
            page_size: None,
            new_tags: Vec::new(),
            known_api: None,
            known_tags: None,
            max_size: None,
            target: "target.example:5000".into(),
            target_repository: "copied/app".into(),
            target_reference: "v1".into(),
            target_auth: AuthMode::None,
            mirror: false,
            upload_chunk: 700,
            monolithic_max: 1000,
        }
    }
}

impl Setup {
    /// The registry the setup describes, as the test kit's model: the registry on
    /// `registry` holding the blobs and manifests (each by digest, manifest `tag` by the
    /// reference when that is a tag), wanting the credentials or a token as `auth` says,
    /// redirecting blob downloads as `redirect` says, honouring Range unless `norange`.
    pub fn model(&self) -> RegistryModel {
        let mut model = RegistryModel::at(&self.registry);
        model.location_style = LocationStyle::RelativeWithState;
        for blob in &self.blobs {
            model.put_blob(blob);
        }
        let repo = &self.repository;
        for m in &self.manifests {
            let media_type = m.media_type.clone().unwrap_or_default();
            model.manifests.insert(
                format!("{repo}:{}", m.digest),
                (m.bytes.clone(), media_type),
            );
        }
        if let (Some(m), false) = (self.manifests.get(self.tag), self.reference.contains(':')) {
            let media_type = m.media_type.clone().unwrap_or_default();
            model.manifests.insert(
                format!("{repo}:{}", self.reference),
                (m.bytes.clone(), media_type),
            );
        }
        self.require_auth(&mut model, self.auth, "https://auth.example/token");
        match self.redirect {
            Redirect::None => {}
            Redirect::Absolute => {
                model.redirect_blobs = true;
                model.redirect_base = Some("https://storage.example/blobs".to_owned());
            }
            Redirect::Relative => {
                model.redirect_blobs = true;
                model.redirect_base = Some("/storage".to_owned());
            }
        }
        model.ignore_ranges = !self.ranges;
        model
    }
}

impl Setup {
    /// How the operation reaches the registry in every target: the scheme,
    /// credentials and retry policy of the script; no stall deadline or one that slow
    /// answers may miss, and bodies seen leaving or not, both picked by `seed`.
    pub fn registry_config(&self) -> tug_core::RegistryConfig {
        tug_core::RegistryConfig {
            scheme: self.scheme,
            credentials: self.credentials.clone(),
            retry: tug_core::retry::RetryPolicy {
                max_attempts: self.attempts,
                base_delay: self.delay,
                max_delay: self.max_delay,
                seed: self.seed,
                budget: self.budget,
            },
            stall_timeout: Duration::from_millis((self.seed >> 8) % 3 * 700),
            body_progress: if self.seed & 4 == 0 {
                tug_core::limits::BodyProgress::Seen
            } else {
                tug_core::limits::BodyProgress::Unseen
            },
            user_agent: "tug-fuzz".into(),
            reached: None,
        }
    }

    /// How many blobs move at once: the script's `jobs`, adaptive or fixed by `seed`.
    pub fn transfer_config(&self) -> tug_core::TransferConfig {
        tug_core::TransferConfig {
            jobs: self.jobs,
            adaptive: self.seed % 2 == 1,
            progress_interval: Duration::from_millis(200),
        }
    }
}

impl Setup {
    /// The copy's target (`copy_responses`): an empty registry on `target`, wanting the
    /// same credentials or a token (realm `auth2.example`) as `target-auth` says.
    pub fn target_model(&self) -> RegistryModel {
        let mut model = RegistryModel::at(&self.target);
        model.location_style = LocationStyle::RelativeWithState;
        self.require_auth(&mut model, self.target_auth, "https://auth2.example/token");
        model
    }

    /// `model` wants `auth`: the script's credentials, or a token from `realm`.
    fn require_auth(&self, model: &mut RegistryModel, auth: AuthMode, realm: &str) {
        match auth {
            AuthMode::None => {}
            AuthMode::Basic => {
                // Without credentials nothing the client can send is right.
                let expected = match &self.credentials {
                    Some(c) => basic(&c.username, &c.password),
                    None => "Basic (credentials the client does not have)".to_owned(),
                };
                model.required_auth = Some(expected);
            }
            AuthMode::Bearer => {
                model.bearer = Some(BearerAuth::default());
                model.realm = Some(realm.to_owned());
            }
        }
    }
}

/// Options of `auto`.
#[derive(Clone, Debug, Default)]
pub struct AutoOpts {
    pub status: Option<u16>,
    pub cut: Option<usize>,
    pub chunk: Option<usize>,
    pub no_body: bool,
    pub no_end: bool,
}

impl AutoOpts {
    /// How the driver answers, with these options and header changes.
    pub fn answering(&self, edits: &[HeaderEdit]) -> Answering {
        Answering {
            status: self.status,
            edits: edits.to_vec(),
            chunk: self.chunk,
            cut: self.cut,
            no_body: self.no_body,
            no_end: self.no_end,
        }
    }
}

/// Where an `open` reads from.
#[derive(Clone, Debug)]
pub enum BlobRef {
    Index(usize),
    Digest(Digest),
}

/// One action line.
#[derive(Clone, Debug)]
pub enum Action {
    Auto {
        pick: usize,
        opts: AutoOpts,
        edits: Vec<HeaderEdit>,
    },
    Head {
        pick: usize,
        status: u16,
        edits: Vec<HeaderEdit>,
    },
    Body {
        pick: usize,
        bytes: Vec<u8>,
    },
    Data {
        pick: usize,
        blob: usize,
        from: u64,
        to: u64,
    },
    End {
        pick: usize,
    },
    Fail {
        pick: usize,
        kind: TransportErrorKind,
        message: String,
    },
    Time(u64),
    Stale(u64),
    Fire,
    Cancel,
    Stray {
        id: u64,
        op: u8,
    },
    Open {
        blob: BlobRef,
        start: u64,
        end: u64,
    },
    Close(u64),
}

/// A parsed input.
#[derive(Clone, Debug)]
pub struct Script {
    pub setup: Setup,
    pub actions: Vec<Action>,
}

/// Decodes the escapes `\n \r \t \0 \\ \xHH`; anything else after `\` stays as it is.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            let c = s[i + 1];
            let simple = match c {
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'0' => Some(0),
                b'\\' => Some(b'\\'),
                _ => None,
            };
            if let Some(b) = simple {
                out.push(b);
                i += 2;
                continue;
            }
            if c == b'x' && i + 3 < s.len() {
                if let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&s[i + 2..i + 4]), 16) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Replaces `{bN}` `{nN}` `{mN}` `{sN}` with digests and sizes of blobs and manifests.
pub fn expand(s: &[u8], blobs: &[(Digest, u64)], manifests: &[(Digest, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'{' && i + 2 < s.len() && b"bnms".contains(&s[i + 1]) {
            let digits = s[i + 2..].iter().take_while(|b| b.is_ascii_digit()).count();
            let close = i + 2 + digits;
            if digits > 0 && digits <= 4 && s.get(close) == Some(&b'}') {
                let n: usize = std::str::from_utf8(&s[i + 2..close])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(usize::MAX);
                let table = if matches!(s[i + 1], b'b' | b'n') {
                    blobs
                } else {
                    manifests
                };
                if let Some((digest, size)) = table.get(n) {
                    let text = if matches!(s[i + 1], b'b' | b'm') {
                        digest.to_string()
                    } else {
                        size.to_string()
                    };
                    out.extend_from_slice(text.as_bytes());
                    i = close + 1;
                    continue;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn split_word(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&b| b == b' ') {
        Some(p) => (&line[..p], &line[p + 1..]),
        None => (line, &[]),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn words(b: &[u8]) -> Vec<String> {
    text(b).split_whitespace().map(str::to_owned).collect()
}

fn num<T: std::str::FromStr + Default>(w: Option<&String>) -> T {
    w.and_then(|w| w.parse().ok()).unwrap_or_default()
}

fn millis(rest: &[u8]) -> Duration {
    Duration::from_millis(num::<u64>(words(rest).first()))
}

fn kind(name: &str) -> TransportErrorKind {
    match name {
        "connect" => TransportErrorKind::Connect,
        "tls" => TransportErrorKind::Tls,
        "nottls" => TransportErrorKind::NotTls,
        "timeout" => TransportErrorKind::Timeout,
        "source" => TransportErrorKind::Source,
        "other" => TransportErrorKind::Other,
        _ => TransportErrorKind::Io,
    }
}

/// `NAME: VALUE` of an `h` line.
fn header_edit(rest: &[u8], tables: &Tables) -> Option<HeaderEdit> {
    let colon = rest.iter().position(|&b| b == b':')?;
    let name = text(&rest[..colon]).trim().to_owned();
    let mut value = &rest[colon + 1..];
    if value.first() == Some(&b' ') {
        value = &value[1..];
    }
    Some(HeaderEdit::Set(name, tables.bytes(value)))
}

struct Tables {
    blobs: Vec<(Digest, u64)>,
    manifests: Vec<(Digest, u64)>,
}

impl Tables {
    fn bytes(&self, raw: &[u8]) -> Vec<u8> {
        expand(&unescape(raw), &self.blobs, &self.manifests)
    }

    fn text(&self, raw: &[u8]) -> String {
        String::from_utf8_lossy(&self.bytes(raw)).into_owned()
    }
}

impl Script {
    /// Parses an input; never fails (unknown or malformed lines are skipped).
    pub fn parse(data: &[u8]) -> Script {
        let lines: Vec<&[u8]> = data
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect();
        let mut setup = Setup::default();

        // Blobs first (raw bytes), then manifests in order (each may name blobs and the
        // manifests before it), then everything else with every digest known.
        let mut tables = Tables {
            blobs: Vec::new(),
            manifests: Vec::new(),
        };
        for line in &lines {
            if let (b"blob", rest) = split_word(line) {
                let bytes = unescape(rest);
                tables
                    .blobs
                    .push((Digest::sha256_of(&bytes), bytes.len() as u64));
                setup.blobs.push(bytes);
            }
        }
        for line in &lines {
            if let (b"manifest", rest) = split_word(line) {
                let (media_type, body) = split_word(rest);
                let bytes = tables.bytes(body);
                let digest = Digest::sha256_of(&bytes);
                tables.manifests.push((digest.clone(), bytes.len() as u64));
                setup.manifests.push(Manifest {
                    media_type: (media_type != b"-").then(|| text(media_type)),
                    bytes,
                    digest,
                });
            }
        }

        let mut actions: Vec<Action> = Vec::new();
        // Whether the last action line may still take `h` lines.
        let mut open_head = false;
        for line in &lines {
            let (cmd, rest) = split_word(line);
            let w = words(&tables.bytes(rest));
            let pick = || num::<usize>(w.first());
            let mut takes_headers = false;
            match cmd {
                b"registry" => setup.registry = tables.text(rest),
                b"repo" => setup.repository = tables.text(rest),
                b"ref" => setup.reference = tables.text(rest),
                b"platform" => setup.platform = tables.text(rest),
                b"all-platforms" => setup.all_platforms = true,
                b"manifests-only" => setup.manifests_only = true,
                b"have" => setup.have.push(tables.text(rest)),
                b"scheme" => {
                    setup.scheme = match rest {
                        b"http" => Scheme::Http,
                        b"fallback" => Scheme::HttpsThenHttp,
                        _ => Scheme::Https,
                    }
                }
                b"creds" => {
                    let t = tables.text(rest);
                    let (u, p) = t.split_once(':').unwrap_or((t.as_str(), ""));
                    setup.credentials = Some(Credentials {
                        username: u.to_owned(),
                        password: p.to_owned(),
                    });
                }
                b"jobs" => setup.jobs = num::<usize>(w.first()) % 9,
                b"attempts" => setup.attempts = num::<u32>(w.first()) % 9,
                b"delay" => setup.delay = millis(rest),
                b"max-delay" => setup.max_delay = millis(rest),
                b"budget" => setup.budget = Some(millis(rest)),
                b"seed" => setup.seed = num(w.first()),
                b"tag" => setup.tag = num(w.first()),
                b"auth" => {
                    setup.auth = match rest {
                        b"basic" => AuthMode::Basic,
                        b"bearer" => AuthMode::Bearer,
                        _ => AuthMode::None,
                    }
                }
                b"redirect" => {
                    setup.redirect = match rest {
                        b"rel" => Redirect::Relative,
                        _ => Redirect::Absolute,
                    }
                }
                b"norange" => setup.ranges = false,
                b"verb" => setup.verb = tables.text(rest).trim().to_owned(),
                b"page" => setup.page_size = w.first().and_then(|n| n.parse().ok()),
                b"new-tag" if setup.new_tags.len() < 8 => setup.new_tags.push(tables.text(rest)),
                b"known-api" => setup.known_api = Some(rest == b"yes"),
                b"known-tag" => setup
                    .known_tags
                    .get_or_insert_with(Vec::new)
                    .push(tables.text(rest)),
                b"max-size" => setup.max_size = w.first().and_then(|n| n.parse().ok()),
                b"target" => setup.target = tables.text(rest),
                b"target-repo" => setup.target_repository = tables.text(rest),
                b"target-ref" => setup.target_reference = tables.text(rest),
                b"target-auth" => {
                    setup.target_auth = match rest {
                        b"basic" => AuthMode::Basic,
                        b"bearer" => AuthMode::Bearer,
                        _ => AuthMode::None,
                    }
                }
                b"mirror" => setup.mirror = true,
                b"upload-chunk" => setup.upload_chunk = num::<u64>(w.first()).clamp(1, 1 << 20),
                b"mono" => setup.monolithic_max = num::<u64>(w.first()).min(1 << 20),
                b"h" | b"-h" if open_head => {
                    let edit = if cmd == b"h" {
                        header_edit(rest, &tables)
                    } else {
                        Some(HeaderEdit::Drop(text(rest).trim().to_owned()))
                    };
                    if let (
                        Some(edit),
                        Some(Action::Auto { edits, .. } | Action::Head { edits, .. }),
                    ) = (edit, actions.last_mut())
                    {
                        if edits.len() < 16 {
                            edits.push(edit);
                        }
                    }
                    takes_headers = true;
                }
                b"auto" => {
                    let mut opts = AutoOpts::default();
                    for o in w.iter().skip(1) {
                        let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
                        match k {
                            "status" => opts.status = v.parse().ok(),
                            "cut" => opts.cut = v.parse().ok(),
                            "chunk" => opts.chunk = v.parse().ok(),
                            "nobody" => opts.no_body = true,
                            "noend" => opts.no_end = true,
                            _ => {}
                        }
                    }
                    actions.push(Action::Auto {
                        pick: pick(),
                        opts,
                        edits: Vec::new(),
                    });
                    takes_headers = true;
                }
                b"head" => {
                    actions.push(Action::Head {
                        pick: pick(),
                        status: num(w.get(1)),
                        edits: Vec::new(),
                    });
                    takes_headers = true;
                }
                b"body" => {
                    let (p, bytes) = split_word(rest);
                    actions.push(Action::Body {
                        pick: num(Some(&text(p))),
                        bytes: tables.bytes(bytes),
                    });
                }
                b"data" => actions.push(Action::Data {
                    pick: pick(),
                    blob: num(w.get(1)),
                    from: num(w.get(2)),
                    to: num(w.get(3)),
                }),
                b"end" => actions.push(Action::End { pick: pick() }),
                b"fail" => {
                    let message = w.get(2..).map(|m| m.join(" ")).unwrap_or_default();
                    actions.push(Action::Fail {
                        pick: pick(),
                        kind: kind(w.get(1).map(String::as_str).unwrap_or("")),
                        message,
                    });
                }
                b"time" => actions.push(Action::Time(num(w.first()))),
                b"stale" => actions.push(Action::Stale(num(w.first()))),
                b"fire" => actions.push(Action::Fire),
                b"cancel" => actions.push(Action::Cancel),
                b"stray" => actions.push(Action::Stray {
                    id: num(w.first()),
                    op: num(w.get(1)),
                }),
                b"open" => {
                    let blob = match w.first().map(|t| t.parse::<Digest>()) {
                        Some(Ok(d)) => BlobRef::Digest(d),
                        _ => BlobRef::Index(num(w.first())),
                    };
                    actions.push(Action::Open {
                        blob,
                        start: num(w.get(1)),
                        end: num(w.get(2)),
                    });
                }
                b"close" => actions.push(Action::Close(num(w.first()))),
                _ => {}
            }
            open_head = takes_headers;
            if actions.len() >= MAX_ACTIONS {
                break;
            }
        }
        Script { setup, actions }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_templates() {
        assert_eq!(unescape(br"a\nb\x41\\\q\x4"), b"a\nbA\\\\q\\x4".to_vec());
        let d = Digest::sha256_of(b"x");
        let out = expand(b"{b0}/{n0}/{b1}/{m0}{", &[(d.clone(), 1)], &[]);
        assert_eq!(out, format!("{d}/1/{{b1}}/{{m0}}{{").into_bytes());
    }

    #[test]
    fn parses_setup_and_actions() {
        let s = Script::parse(
            b"blob abc\nmanifest - {\"d\":\"{b0}\",\"n\":{n0}}\nref {m0}\nauto 1 cut=5\nh Location: /x\n-h Range\ntime 10\nh Ignored: 1\n",
        );
        assert_eq!(s.setup.blobs, vec![b"abc".to_vec()]);
        assert_eq!(s.setup.reference, s.setup.manifests[0].digest.to_string());
        assert_eq!(s.actions.len(), 2);
        let Action::Auto { pick, opts, edits } = &s.actions[0] else {
            panic!()
        };
        assert_eq!((*pick, opts.cut, edits.len()), (1, Some(5), 2));
    }

    #[test]
    fn parses_the_verbs_and_copy_setup() {
        let s = Script::parse(
            b"verb discover\npage 3\nnew-tag a\nnew-tag b\nknown-api no\nknown-tag t\nmax-size 9\ntarget t.example\ntarget-repo x/y\ntarget-ref v9\ntarget-auth bearer\nmirror\nupload-chunk 0\nmono 5\n",
        );
        let u = &s.setup;
        assert_eq!(u.verb, "discover");
        assert_eq!((u.page_size, u.max_size), (Some(3), Some(9)));
        assert_eq!(u.new_tags, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(u.known_api, Some(false));
        assert_eq!(u.known_tags, Some(vec!["t".to_owned()]));
        assert_eq!(
            (
                u.target.as_str(),
                u.target_repository.as_str(),
                u.target_reference.as_str()
            ),
            ("t.example", "x/y", "v9")
        );
        assert_eq!(u.target_auth, AuthMode::Bearer);
        assert!(u.mirror);
        assert_eq!((u.upload_chunk, u.monolithic_max), (1, 5));
    }
}
