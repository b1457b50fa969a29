//! Property tests of `WWW-Authenticate` parsing: any challenges written the RFC 7235 way are
//! read back exactly, and no input makes the parser panic.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use proptest::prelude::*;
use tug_core::challenge::parse_challenges;

/// A scheme, and parameters with values that need quoting (commas, quotes, backslashes).
fn challenge() -> impl Strategy<Value = (String, Vec<(String, String)>)> {
    (
        "[A-Za-z][A-Za-z0-9]{0,9}",
        prop::collection::vec(("[a-zA-Z][a-zA-Z_]{0,7}", "[ -~]{0,24}"), 1..5),
    )
}

fn quote(v: &str) -> String {
    let mut out = String::from('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn written_challenges_are_read_back(challenges in prop::collection::vec(challenge(), 1..4), spaced in any::<bool>()) {
        let sep = if spaced { ", " } else { "," };
        let header = challenges
            .iter()
            .map(|(scheme, params)| {
                let ps: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
                format!("{scheme} {}", ps.join(sep))
            })
            .collect::<Vec<_>>()
            .join(sep);
        let parsed = parse_challenges(&header);
        prop_assert_eq!(parsed.len(), challenges.len(), "{}", header);
        for (got, (scheme, params)) in parsed.iter().zip(&challenges) {
            prop_assert_eq!(&got.scheme, &scheme.to_ascii_lowercase());
            let want: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
            prop_assert_eq!(&got.params, &want);
        }
    }

    #[test]
    fn arbitrary_headers_never_panic(header in ".{0,200}") {
        let _ = parse_challenges(&header);
    }
}
