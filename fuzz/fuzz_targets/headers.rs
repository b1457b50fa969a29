//! The response headers the state machines read, through the very functions they use
//! (`tug_core::fuzzing`): `Content-Range` (pull and fetch, after a ranged `GET`), `Range`
//! (push, after a `PATCH` or an upload status), `Retry-After` with `Date`, and `Location`
//! (resolved against the registry, `digest=` merged into its query for the closing `PUT`),
//! plus the API URLs built from a registry, repository and reference. A `Location` is also a
//! redirect: after the registry's own Basic or Bearer challenge, a request to where it points
//! carries `Authorization` exactly when it is the registry's origin (scheme, host, port).
//!
//! Input lines: 1 a header value for every parser (and the Location), 2 a `Date`, 3 a
//! registry host, 4 a repository, 5 a reference. The first 16 bytes are also read as two
//! numbers for round trips: what the core itself would write or a well-behaved registry
//! sends must read back as that number.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tug_core::fuzzing::{
    api_urls, auth_probe, content_range_start, range_end, resolve_location, retry_after,
    with_digest,
};
use tug_core::http::ResponseHead;
use tug_core::{Digest, Scheme};

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for seconds since 1970, for years up
/// to 9999 (Howard Hinnant's civil-from-days).
fn http_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        months[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn head(retry: &str, date: Option<&str>) -> ResponseHead {
    let h = ResponseHead::new(503).with_header("Retry-After", retry);
    match date {
        Some(d) => h.with_header("Date", d),
        None => h,
    }
}

/// A redirect to `target`: after the registry's own challenge, `Authorization` goes there
/// exactly when it is the registry's origin.
fn redirect(registry: &str, plain: bool, target: &url::Url) {
    if !matches!(target.scheme(), "http" | "https") {
        return;
    }
    for challenge in [
        r#"Basic realm="registry""#,
        r#"Bearer realm="https://auth.example/token",service="registry""#,
    ] {
        let Ok(base) = resolve_location(
            registry,
            if plain { Scheme::Http } else { Scheme::Https },
            "/v2/",
        ) else {
            return;
        };
        let Some(p) = auth_probe(
            registry,
            plain,
            &base,
            challenge,
            std::slice::from_ref(target),
        ) else {
            return;
        };
        assert_eq!(
            p.authorized,
            [target.origin() == base.origin()],
            "property: Authorization to the redirect target {target} from {base} ({challenge})"
        );
    }
}

fn location(registry: &str, value: &str) {
    for scheme in [Scheme::Https, Scheme::Http, Scheme::HttpsThenHttp] {
        let Ok(url) = resolve_location(registry, scheme, value.trim()) else {
            continue;
        };
        redirect(registry, scheme == Scheme::Http, &url);
        let digest = Digest::sha256_of(value.as_bytes());
        let put = with_digest(&url, &digest);
        assert_eq!(
            (put.scheme(), put.host_str(), put.port(), put.path()),
            (url.scheme(), url.host_str(), url.port(), url.path()),
            "property: merging digest= moved the upload location"
        );
        // Every other parameter kept, in order; a digest the location named replaced.
        let mut pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != "digest")
            .collect();
        pairs.push(("digest".into(), digest.to_string()));
        let got: Vec<(String, String)> = put.query_pairs().into_owned().collect();
        assert_eq!(
            got, pairs,
            "property: merging digest= lost query parameters or kept a second digest"
        );
        // A plain path (no scheme, no authority, nothing the URL parser rewrites) stays
        // on the registry.
        let v = value.trim();
        if v.starts_with('/')
            && !v.starts_with("//")
            && v.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        {
            let base = resolve_location(registry, scheme, "/").expect("the base resolves");
            assert_eq!(
                (url.host_str(), url.port()),
                (base.host_str(), base.port()),
                "property: the relative Location {v:?} left the registry"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let value = lines.next().unwrap_or("");
    let date = lines.next();
    let registry = lines.next();
    let repository = lines.next().unwrap_or("fuzz/app");
    let reference = lines.next().unwrap_or("v1");

    // The parsers on whatever arrived.
    let _ = content_range_start(value);
    let _ = range_end(value);
    let _ = retry_after(&head(value, date));
    let _ = retry_after(&head(value, Some(value)));
    if let Some(d) = date {
        // The same date on both sides: no wait.
        if let Some(wait) = retry_after(&head(d, Some(d))) {
            assert!(
                wait == Duration::ZERO || d.trim().parse::<u64>().is_ok(),
                "property: Retry-After equal to Date means no wait, got {wait:?}"
            );
        }
    }
    for r in [
        "registry.example:5000",
        "127.0.0.1:5000",
        "[::1]:5000",
        "localhost",
    ] {
        location(r, value);
    }
    if let Some(r) = registry {
        location(r, value);
        let digest = Digest::sha256_of(data);
        for url in api_urls(r, Scheme::Https, repository, &digest, reference)
            .into_iter()
            .flatten()
        {
            let _ = url.as_str();
        }
    }

    // Round trips of well-formed values.
    if data.len() >= 16 {
        let a = u64::from_le_bytes(data[..8].try_into().unwrap());
        let b = u64::from_le_bytes(data[8..16].try_into().unwrap());
        assert_eq!(content_range_start(&format!("bytes {a}-{b}/*")), Some(a));
        assert_eq!(content_range_start(&format!("bytes {a}-{b}/{b}")), Some(a));
        assert_eq!(range_end(&format!("0-{b}")), Some(b));
        assert_eq!(range_end(&format!("bytes=0-{b}")), Some(b));
        assert_eq!(range_end(&format!(" {a}-{b} ")), Some(b));
        assert_eq!(
            retry_after(&head(&a.to_string(), None)),
            Some(Duration::from_secs(a))
        );
        // Dates from 1970 to 9999, a wait of up to a day.
        let at = a % 253_402_300_800;
        let wait = b % 86_400;
        if at + wait < 253_402_300_800 {
            let now = http_date(at);
            let then = http_date(at + wait);
            assert_eq!(
                retry_after(&head(&then, Some(&now))),
                Some(Duration::from_secs(wait)),
                "property: Retry-After {then:?} against Date {now:?}"
            );
            assert_eq!(
                retry_after(&head(&now, Some(&then))),
                Some(Duration::ZERO),
                "property: a Retry-After date in the past means no wait"
            );
        }
    }
});
