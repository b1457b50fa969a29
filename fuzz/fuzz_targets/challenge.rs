//! The small parsers of text a registry (or a user) sends: `WWW-Authenticate` challenges,
//! registry error bodies, image references and digests. The first input byte picks the
//! parser; the rest is its input. Besides not panicking, parsed values must print and parse
//! back to themselves.
//!
//! Mode 5 is where credentials go: a challenge (line 1) on a response to a request for a URL
//! (line 2, absolute or relative to the registry), then a redirect (line 3): a challenge from
//! another origin is refused, a token request with the password never goes over plain HTTP
//! from a registry reached over HTTPS, and `Authorization` reaches only the registry's
//! origin — whatever the realm, the request URL or the redirect say.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tug_core::challenge::parse_challenges;
use tug_core::fuzzing::auth_probe;
use tug_core::registry_error::RegistryErrors;
use tug_core::{Digest, Reference};

fn challenges(s: &str) {
    for c in parse_challenges(s) {
        let _ = c.param("realm");
        let _ = c.param("service");
        let _ = c.param("scope");
        assert_eq!(
            c.scheme,
            c.scheme.to_ascii_lowercase(),
            "property: challenge schemes are lowercased"
        );
    }
}

fn registry_errors(b: &[u8]) {
    let e = RegistryErrors::parse(b);
    let shown = e.to_string();
    let _ = e.has_code("BLOB_UNKNOWN");
    if let Some(text) = &e.text {
        assert!(
            text.chars().count() <= 200,
            "property: the excerpt of an error body is at most 200 characters"
        );
        assert!(
            !text.chars().any(|c| c.is_control() && c != ' '),
            "property: the excerpt of an error body has no control characters"
        );
    }
    let _ = shown;
}

fn reference(s: &str) {
    if let Ok(r) = s.parse::<Reference>() {
        let _ = r.api_host();
        let _ = r.manifest_ref();
        let _ = r.is_loopback();
        let shown = r.to_string();
        let again: Reference = shown.parse().unwrap_or_else(|e| {
            panic!("property: {s:?} parsed, but its display {shown:?} does not: {e}")
        });
        assert_eq!(again, r, "property: {s:?} -> {shown:?} parses differently");
    }
}

fn digest(s: &str) {
    if let Ok(d) = s.parse::<Digest>() {
        let _ = d.short();
        let _ = d.algorithm().name();
        let shown = d.to_string();
        assert_eq!(shown, s, "property: a parsed digest displays as its input");
        assert_eq!(shown.parse::<Digest>().ok(), Some(d));
    }
}

/// Changes a URL's scheme (`http` ⇄ `https`) or port, for probes of neighbouring origins.
fn neighbours(u: &url::Url) -> Vec<url::Url> {
    let mut out = Vec::new();
    let mut other = u.clone();
    let flipped = if u.scheme() == "https" {
        "http"
    } else {
        "https"
    };
    if other.set_scheme(flipped).is_ok() {
        out.push(other);
    }
    let mut port = u.clone();
    let next = u.port_or_known_default().map_or(1, |p| p.wrapping_add(1));
    if port.set_port(Some(next)).is_ok() {
        out.push(port);
    }
    out
}

fn credentials_route(selector: u8, text: &str) {
    let registry = ["r.example", "r.example:5000", "127.0.0.1:5000", "[::1]:443"]
        [usize::from(selector >> 4) % 4];
    let plain = selector & 8 != 0;
    let mut lines = text.split('\n');
    let challenge = lines.next().unwrap_or("");
    let target = lines.next().unwrap_or("/v2/");
    let redirect = lines.next().unwrap_or("");
    let base_scheme = if plain { "http" } else { "https" };
    let Ok(base) = url::Url::parse(&format!("{base_scheme}://{registry}/v2/")) else {
        return;
    };
    let Ok(url) = base.join(target.trim()) else {
        return;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return;
    }
    let mut probes = vec![url.clone(), base.clone()];
    probes.extend(neighbours(&base));
    probes.extend(neighbours(&url));
    if let Ok(next) = url.join(redirect.trim()) {
        probes.push(next);
    }
    let Some(p) = auth_probe(registry, plain, &url, challenge, &probes) else {
        return;
    };
    assert_eq!(p.base.origin(), base.origin());
    if url.origin() != base.origin() {
        assert!(
            p.outcome.is_err() && p.token.is_none(),
            "property: a challenge from {url} (not the registry {base}) was followed: {p:?}"
        );
    }
    if let Some((token_url, with_credentials)) = &p.token {
        assert!(
            !with_credentials || token_url.scheme() == "https" || base.scheme() == "http",
            "property: the password would go over plain HTTP to {token_url} from {base}"
        );
    }
    for (probe, authorized) in probes.iter().zip(&p.authorized) {
        assert!(
            !authorized || probe.origin() == base.origin(),
            "property: Authorization would reach {probe}, not the registry {base}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if which % 6 == 5 {
        credentials_route(which, &text);
        return;
    }
    match which % 5 {
        0 => challenges(&text),
        1 => registry_errors(rest),
        2 => reference(&text),
        3 => digest(&text),
        _ => {
            // All of them on the same input.
            challenges(&text);
            registry_errors(rest);
            reference(&text);
            digest(&text);
        }
    }
});
