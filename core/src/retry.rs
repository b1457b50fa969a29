//! Retry policy: which failures are worth another try, and when to try again
//! (exponential backoff with equal jitter from a seeded generator, honouring `Retry-After`).

use std::time::Duration;

use crate::http::{ResponseHead, TransportError, TransportErrorKind};
use crate::limits;

/// A retry an operation plans: reported to the user as it is decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retrying {
    /// What is retried, e.g. `uploading blob sha256:ab12…`.
    pub what: String,
    /// The attempt about to be made (2 = first retry).
    pub attempt: u32,
    /// How long until it is made.
    pub delay: Duration,
    /// Why the last one failed.
    pub reason: String,
    /// The blob the retried request moves, if it moves one (what a history or a page
    /// counts the retry against).
    pub blob: Option<crate::digest::Digest>,
}

/// How persistent to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, counting the first.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled each time. Each wait is drawn between half
    /// its ceiling and the ceiling, so the attempts always span a given outage.
    pub base_delay: Duration,
    /// Upper bound of any one wait, including `Retry-After`.
    pub max_delay: Duration,
    /// Seed of the jitter generator: runners pass entropy (OS entropy natively,
    /// `crypto.getRandomValues` in a browser) so clients do not retry in step; tests pass
    /// fixed seeds (the default is fixed) so runs are reproducible.
    pub seed: u64,
    /// Give up retrying once this long has passed since the operation's first failure
    /// (`None`: only `max_attempts` limits retries).
    pub budget: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: crate::limits::DEFAULT_RETRIES,
            base_delay: crate::limits::DEFAULT_RETRY_DELAY,
            max_delay: Duration::from_secs(30),
            seed: 0x7ac3_11f0_94e2_5d01,
            budget: None,
        }
    }
}

/// Whether a status is transient: 408, 429, 500, 502, 503, 504.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Registry error codes that say what is wrong for good, even under a transient status:
/// distribution answers a manifest it will not verify (a foreign layer's URL its config
/// does not allow) with `500`, `MANIFEST_BLOB_UNKNOWN` among its errors.
const PERMANENT_CODES: [&str; 1] = ["MANIFEST_BLOB_UNKNOWN"];

/// Whether an answer with `status` and error `body` is transient: a transient status
/// ([`is_retryable_status`]) whose errors do not say why it is not ([`PERMANENT_CODES`]).
pub fn is_retryable_answer(status: u16, body: &[u8]) -> bool {
    if !is_retryable_status(status) {
        return false;
    }
    let errors = crate::registry_error::RegistryErrors::parse(body);
    !PERMANENT_CODES.iter().any(|code| errors.has_code(code))
}

/// Whether a transport failure may go away by itself. A local source that cannot be read,
/// a TLS failure (bad certificate), a server that answers HTTPS in plain HTTP, a request
/// or response the browser blocked (CORS, mixed content), a proxy wanting credentials and a
/// host name the name service does not know will not.
pub fn is_retryable_transport(err: &TransportError) -> bool {
    !matches!(
        err.kind,
        TransportErrorKind::Source
            | TransportErrorKind::Tls
            | TransportErrorKind::NotTls
            | TransportErrorKind::Blocked
            | TransportErrorKind::MixedContent
            | TransportErrorKind::ProxyAuth
            | TransportErrorKind::NoSuchHost
    )
}

/// `Retry-After` as seconds, or as an HTTP date measured against the response's own `Date`
/// header (the core has no clock; without `Date` a date counts as absent).
pub(crate) fn retry_after(head: &ResponseHead) -> Option<Duration> {
    let value = head.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    let now = parse_http_date(head.header("date")?.trim())?;
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since 1970 of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    // A four-digit year, as IMF-fixdate has: larger ones overflowed the day count below.
    if parts.next()? != "GMT"
        || !(1..=9999).contains(&year)
        || !(1..=31).contains(&day)
        || h > 23
        || m > 59
        || sec > 60
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()?
        .checked_mul(86_400)?
        .checked_add(h * 3600 + m * 60 + sec)
}

/// A transfer's attempts, started afresh each time it gets [`limits::RETRY_PROGRESS`] past
/// the furthest it had got: a big blob over a link that breaks now and then is moved to its
/// end, while one that keeps breaking before a MiB more moves fails after its attempts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempts {
    /// The attempts made since they last started afresh (the engine adds one per retry).
    count: u32,
    /// How far the transfer had got when they last started afresh (kept when it starts over
    /// from an earlier byte, so bytes moved again are not progress).
    mark: u64,
}

impl Attempts {
    /// The first attempt of a transfer that starts at byte `from`.
    pub(crate) fn from(from: u64) -> Attempts {
        Attempts {
            count: 1,
            mark: from,
        }
    }

    /// The count for the retry of a transfer that has got to byte `reached`: the attempts
    /// start afresh first if that is far enough past the mark.
    pub(crate) fn retrying_at(&mut self, reached: u64) -> &mut u32 {
        if reached >= self.mark.saturating_add(limits::RETRY_PROGRESS) {
            *self = Attempts::from(reached);
        }
        &mut self.count
    }
}

/// The backoff generator for one operation.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    policy: RetryPolicy,
    state: u64,
    first_failure: Option<crate::time::Instant>,
    /// The wait of the last retry the time budget refused, until said.
    refused: Option<Duration>,
}

impl Backoff {
    pub(crate) fn new(policy: RetryPolicy) -> Backoff {
        let state = policy.seed | 1;
        Backoff {
            policy,
            state,
            first_failure: None,
            refused: None,
        }
    }

    /// Whether a retry `delay` from `now` stays within the time budget.
    pub(crate) fn within_budget(&mut self, now: crate::time::Instant, delay: Duration) -> bool {
        let first = *self.first_failure.get_or_insert(now);
        let within = self
            .policy
            .budget
            .is_none_or(|budget| (now + delay).saturating_since(first) <= budget);
        if !within {
            self.refused = Some(delay);
        }
        within
    }

    /// Why the last failure was not retried, when the time budget said no (a `Retry-After`
    /// past it, say): words to add to its error, which alone would not tell.
    pub(crate) fn why_not_retried(&mut self) -> String {
        match (self.refused.take(), self.policy.budget) {
            (Some(wait), Some(budget)) => format!(
                " (not retried: the next try would come in {} s, past the {} s allowed for \
                 retries)",
                wait.as_secs_f64().ceil(),
                budget.as_secs()
            ),
            _ => String::new(),
        }
    }

    pub(crate) fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The wait before attempt number `attempt` (2 for the first retry): equal jitter over
    /// the ceiling `base * 2^(attempt-2)`, capped (between half of it and all of it: full
    /// jitter, from zero, let five attempts give up on an outage of a second or two); at
    /// least `server_hint` when the server gave one.
    pub(crate) fn delay(&mut self, attempt: u32, server_hint: Option<Duration>) -> Duration {
        let exp = attempt.saturating_sub(2).min(20);
        let ceiling = self
            .policy
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.policy.max_delay);
        let jittered = ceiling.mul_f64(0.5 + 0.5 * self.next_unit());
        match server_hint {
            Some(hint) => hint.min(self.policy.max_delay).max(jittered),
            None => jittered,
        }
    }

    /// xorshift64*: a uniform value in [0, 1).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// A host the name service does not know is a typo, said at once (skopeo does not
    /// retry it either); a refused or broken connection is tried again.
    #[test]
    fn no_such_host_is_not_retried_a_refused_connection_is() {
        let err = |kind| TransportError::new(kind, "x".to_owned());
        assert!(!is_retryable_transport(&err(
            TransportErrorKind::NoSuchHost
        )));
        assert!(is_retryable_transport(&err(TransportErrorKind::Connect)));
        assert!(is_retryable_transport(&err(TransportErrorKind::Io)));
    }

    #[test]
    fn the_retry_policy_defaults_to_the_declared_attempts() {
        assert_eq!(
            RetryPolicy::default().max_attempts,
            crate::limits::DEFAULT_RETRIES
        );
    }

    #[test]
    fn delays_grow_are_capped_and_deterministic() {
        let policy = RetryPolicy::default();
        let mut a = Backoff::new(policy.clone());
        let mut b = Backoff::new(policy.clone());
        for attempt in 2..12 {
            let da = a.delay(attempt, None);
            assert_eq!(da, b.delay(attempt, None));
            assert!(da <= policy.max_delay);
            let ceiling = (policy.base_delay * (1 << (attempt - 2))).min(policy.max_delay);
            assert!(da <= ceiling);
            assert!(
                da >= ceiling / 2,
                "attempt {attempt}: {da:?} of {ceiling:?}"
            );
        }
    }

    /// Whatever the seed, the default attempts wait at least 7.5 s in all before giving
    /// up, so a registry down for a few seconds (a restart, a fail-over) is ridden out;
    /// and at most 15 s, so a registry down for good is said soon.
    #[test]
    fn the_default_attempts_span_an_outage_of_seconds() {
        for seed in [0, 1, 7, 0x7ac3_11f0_94e2_5d01, u64::MAX, 12_345_678_901] {
            let policy = RetryPolicy {
                seed,
                ..RetryPolicy::default()
            };
            let mut backoff = Backoff::new(policy.clone());
            let total: Duration = (2..=policy.max_attempts)
                .map(|attempt| backoff.delay(attempt, None))
                .sum();
            assert!(
                total >= Duration::from_millis(7_500),
                "seed {seed}: {total:?}"
            );
            assert!(total <= Duration::from_secs(15), "seed {seed}: {total:?}");
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut b = Backoff::new(RetryPolicy::default());
        assert!(b.delay(2, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
        assert_eq!(
            b.delay(2, Some(Duration::from_secs(999))),
            Duration::from_secs(30)
        );
        let head = ResponseHead::new(429).with_header("Retry-After", " 3 ");
        assert_eq!(retry_after(&head), Some(Duration::from_secs(3)));
        let dated = ResponseHead::new(503)
            .with_header("Date", "Sun, 06 Nov 1994 08:49:37 GMT")
            .with_header("Retry-After", "Sun, 06 Nov 1994 08:51:07 GMT");
        assert_eq!(retry_after(&dated), Some(Duration::from_secs(90)));
        let undated =
            ResponseHead::new(503).with_header("Retry-After", "Sun, 06 Nov 1994 08:51:07 GMT");
        assert_eq!(retry_after(&undated), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Mon, 23 Nov 2026 19:19:12 GMT"),
            Some(1_795_461_552)
        );
        for junk in [
            "",
            "Sun, 99 Nov 1994 08:49:37 GMT",
            "yesterday",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            // Found by the `headers` fuzz target: overflowed the day count.
            "Sun, 06 Nov 99999999999999999 08:49:37 GMT",
            "Sun, 06 Nov -9223372036854775808 08:49:37 GMT",
            "Sun, 06 Nov 10000 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(junk), None, "{junk}");
        }
    }

    #[test]
    fn classification() {
        assert!(is_retryable_status(503));
        let refused = br#"{"errors":[{"code":"UNKNOWN","detail":{}},{"code":"MANIFEST_BLOB_UNKNOWN","detail":"sha256:a"}]}"#;
        assert!(!is_retryable_answer(500, refused));
        assert!(is_retryable_answer(
            500,
            br#"{"errors":[{"code":"UNKNOWN"}]}"#
        ));
        assert!(is_retryable_answer(503, b"busy"));
        assert!(!is_retryable_answer(400, b""));
        assert!(!is_retryable_status(404));
        assert!(!is_retryable_status(401));
    }
}
