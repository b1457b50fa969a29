//! The small parsers of text a registry (or a user) sends: `WWW-Authenticate` challenges,
//! registry error bodies, image references and digests. The first input byte picks the
//! parser; the rest is its input. Besides not panicking, parsed values must print and parse
//! back to themselves.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tug_core::challenge::parse_challenges;
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

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
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
