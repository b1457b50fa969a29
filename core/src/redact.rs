//! Keeping secrets out of what tug shows and records. A registry or token server may echo a
//! password, a Basic value or a token in an error, and URLs may carry user info or signed
//! queries: [`Secrets`] blanks out an operation's own credentials and tokens from every
//! error it ends with, and [`scrub`] takes user info and queries out of any text.

use url::Url;

use crate::error::Error;
use crate::registry_error::RegistryErrors;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are not searched for: blanking every `ab` out of a message
/// would make it unreadable, and such a password is no secret anyway.
pub const MIN_SECRET_LEN: usize = 4;

/// Query parameters tug itself writes that carry no secret (a mount's blob and source, a
/// closing digest, a listing's page), kept in a shown URL so `-v` says what was asked.
const SHOWN_PARAMETERS: [&str; 5] = ["mount", "from", "digest", "n", "last"];

/// A URL as it may be shown or recorded: without user info or fragment, and of its query
/// only [`SHOWN_PARAMETERS`] (a registry's own parameters, such as upload state, go).
pub fn url_shown(url: &Url) -> String {
    let mut url = url.clone();
    strip_user_info(&mut url);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| SHOWN_PARAMETERS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    url.set_fragment(None);
    url.to_string()
}

/// Removes a URL's user info: a request never carries credentials in its URL (an HTTP
/// client would turn them into an `Authorization` header for whatever host it names).
pub fn strip_user_info(url: &mut Url) {
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_password(None);
        let _ = url.set_username("");
    }
}

/// Removes what could carry a secret from text: the user info and the query of every URL,
/// and a `user:password@` in front of a registry name (a reference given with one).
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '>' | ')' | '`'))
            .unwrap_or(tail.len());
        let (url, after) = tail.split_at(end);
        let authority_end = url.find('/').unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        out.push_str(authority.rsplit('@').next().unwrap_or(authority));
        out.push_str(path.split(['?', '#']).next().unwrap_or(path));
        rest = after;
    }
    out.push_str(rest);
    out.split(' ')
        .map(without_user_info)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where a `user[:password]@` in front of a registry name ends: the last `@` that a host
/// follows, with a path or alone (a digest's `@` is followed by `algorithm:hex`, neither),
/// whatever `/` or `@` the password holds.
pub(crate) fn user_info_end(text: &str) -> Option<usize> {
    text.rmatch_indices('@').map(|(at, _)| at).find(|&at| {
        let after = text[at + 1..].trim_end_matches(['"', '\'', ')', '>', ']', '`', ',', ':', '.']);
        after.contains('/') || is_host(after)
    })
}

/// Whether `text` is a registry host alone: `host`, `host:port` or `[v6]:port` (a digest,
/// `sha256:…`, has no port of at most five digits).
fn is_host(text: &str) -> bool {
    let chars = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
    };
    match text.rsplit_once(':') {
        Some((host, port)) => {
            chars(host)
                && !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
        }
        None => chars(text) && (text.contains('.') || text == "localhost"),
    }
}

/// A word of text without a `user:password@` in front of its registry name; quotes or
/// brackets before it stay. The user info ends at the last `@` that a host and a path
/// follow (a digest's `@` is followed by neither), whatever `/` or `@` the password holds.
fn without_user_info(word: &str) -> String {
    let body = word.trim_start_matches(['"', '\'', '(', '<', '[', '`']);
    let lead = &word[..word.len() - body.len()];
    match user_info_end(body) {
        Some(at) if body[..at].contains(':') => format!("{lead}{}", &body[at + 1..]),
        _ => word.to_owned(),
    }
}

/// `text` with the hex digits of its `%XX` escapes in lower case.
fn lower_hex_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_percent = 0;
    for c in text.chars() {
        if after_percent > 0 {
            out.push(c.to_ascii_lowercase());
            after_percent -= 1;
        } else {
            out.push(c);
            if c == '%' {
                after_percent = 2;
            }
        }
    }
    out
}

/// Secret strings to blank out of text: an operation's password, its Basic value and the
/// tokens it was given, and the forms they travel in.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Every form to replace as it is, longest first.
    forms: Vec<String>,
    /// The secrets as given, also looked for in text with its escapes decoded.
    plain: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} kept)", self.forms.len())
    }
}

/// How many times text is decoded in search of a secret (a password percent-encoded into a
/// URL that is itself percent-encoded into another is decoded twice).
const DECODINGS: usize = 3;

/// `bytes` (each from the range of the original text `from` gives) decoded once of the
/// escapes a secret may come back in: percent escapes (`%2F`, any subset of characters
/// encoded, either case), JSON's backslash escapes (`\/`, `\"`, `\\`, `\uXXXX`) and HTML
/// entities (`&lt;`, `&#39;`); with, for each decoded byte, the range of the original text
/// it came from.
fn decoded(bytes: &[u8], from: &[(usize, usize)]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let (mut out, mut spans) = (Vec::with_capacity(bytes.len()), Vec::new());
    let hex = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
    };
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let (decoded, len): (Vec<u8>, usize) = match rest {
            [b'%', a, b, ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                (vec![hex(&rest[1..3]).unwrap_or(0) as u8], 3)
            }
            [b'\\', b'u', ..]
                if rest.len() >= 6 && rest[2..6].iter().all(u8::is_ascii_hexdigit) =>
            {
                let c = hex(&rest[2..6])
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                (c.to_string().into_bytes(), 6)
            }
            [b'\\', c @ (b'/' | b'"' | b'\\'), ..] => (vec![*c], 2),
            [b'&', ..] => match html_entity(rest) {
                Some((c, len)) => (c.to_string().into_bytes(), len),
                None => (vec![b'&'], 1),
            },
            [b, ..] => (vec![*b], 1),
            [] => break,
        };
        let span = (from[i].0, from[i + len - 1].1);
        for b in decoded {
            out.push(b);
            spans.push(span);
        }
        i += len;
    }
    (out, spans)
}

/// The character an HTML entity at the start of `text` stands for (`&lt;`, `&amp;`,
/// `&#39;`, `&#x27;`, …: an HTML page or a JSON body written for one may escape an echoed
/// secret so), and the entity's length.
fn html_entity(text: &[u8]) -> Option<(char, usize)> {
    let end = text.iter().take(10).position(|&b| b == b';')?;
    let name = std::str::from_utf8(&text[1..end]).ok()?;
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

impl Secrets {
    /// Adds `secret` and the forms it travels in: percent-encoded (as a form body or a
    /// query carries it, `+` or `%20` for a space, either case of hex digits) and base64
    /// (standard and URL-safe, with and without padding), which a server may echo back.
    /// Strings shorter than [`MIN_SECRET_LEN`] are not kept.
    pub fn add(&mut self, secret: &str) {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        use base64::Engine as _;
        if secret.len() >= MIN_SECRET_LEN && !self.plain.iter().any(|s| s == secret) {
            self.plain.push(secret.to_owned());
        }
        self.add_exact(secret);
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let query = form.replace('+', "%20");
        for encoded in [form, query] {
            let lower = lower_hex_escapes(&encoded);
            self.add_exact(&encoded);
            self.add_exact(&lower);
        }
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            self.add_exact(&engine.encode(secret));
        }
    }

    /// Adds `secret` as it is (unless it is too short or known already).
    fn add_exact(&mut self, secret: &str) {
        if secret.len() >= MIN_SECRET_LEN && !self.forms.iter().any(|s| s == secret) {
            self.forms.push(secret.to_owned());
            // The longest first: a secret inside another is blanked with it.
            self.forms.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Whether there is no secret to blank out.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// [`RegistryErrors::parse_hiding`] with these secrets (none: the body as it is).
    pub fn parse_errors(&self, body: &[u8]) -> RegistryErrors {
        let hide = |text: &str| self.redact(text);
        let hide: Option<&dyn Fn(&str) -> String> = match self.is_empty() {
            true => None,
            false => Some(&hide),
        };
        RegistryErrors::parse_hiding(body, hide)
    }

    /// Adds every secret of `other`.
    pub fn extend(&mut self, other: &Secrets) {
        for s in &other.plain {
            self.add(s);
        }
    }

    /// `text` with every secret replaced by [`MASK`]: each form as it is, then each secret
    /// however much of it is percent-, JSON- or HTML-escaped (a path keeps `/`, RFC 3986
    /// keeps `:@`, a JSON body writes `\/` or `\u00e9`, a page `&lt;`: no list of encoders
    /// is complete).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.forms {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        if !out.contains(['%', '\\', '&']) {
            return out;
        }
        let mut cut: Vec<(usize, usize)> = Vec::new();
        let (mut plain, mut spans) = (
            out.as_bytes().to_vec(),
            (0..out.len()).map(|i| (i, i + 1)).collect::<Vec<_>>(),
        );
        for _ in 0..DECODINGS {
            let (next, next_spans) = decoded(&plain, &spans);
            if next == plain {
                break;
            }
            (plain, spans) = (next, next_spans);
            for secret in &self.plain {
                let s = secret.as_bytes();
                let mut i = 0;
                while i + s.len() <= plain.len() {
                    let (start, end) = (spans[i].0, spans[i + s.len() - 1].1);
                    // Whole characters only (a decoded match always is; never panic).
                    let whole = out.is_char_boundary(start) && out.is_char_boundary(end);
                    if &plain[i..i + s.len()] == s && whole {
                        cut.push((start, end));
                        i += s.len();
                    } else {
                        i += 1;
                    }
                }
            }
        }
        if cut.is_empty() {
            return out;
        }
        cut.sort_unstable();
        let mut shown = String::with_capacity(out.len());
        let mut at = 0;
        for (start, end) in cut {
            if start >= at {
                shown.push_str(&out[at..start]);
                shown.push_str(MASK);
                at = end;
            } else if end > at {
                at = end;
            }
        }
        shown.push_str(&out[at..]);
        shown
    }

    /// `error` with every secret blanked out of its words, those a registry sent included.
    pub fn redact_error(&self, error: Error) -> Error {
        if self.forms.is_empty() {
            return error;
        }
        let r = |s: String| self.redact(&s);
        match error {
            Error::Registry {
                action,
                status,
                errors,
                by,
            } => Error::Registry {
                action: r(action),
                status,
                errors: self.redact_registry_errors(errors),
                by,
            },
            Error::Auth { message } => Error::Auth {
                message: r(message),
            },
            Error::DigestMismatch {
                what,
                expected,
                actual,
            } => Error::DigestMismatch {
                what: r(what),
                expected,
                actual,
            },
            Error::Protocol { action, message } => Error::Protocol {
                action: r(action),
                message: r(message),
            },
            Error::Transport { action, mut error } => {
                error.message = r(error.message);
                Error::Transport {
                    action: r(action),
                    error,
                }
            }
            Error::InvalidInput { message } => Error::InvalidInput {
                message: r(message),
            },
            other => other,
        }
    }

    fn redact_registry_errors(&self, mut errors: RegistryErrors) -> RegistryErrors {
        for e in &mut errors.entries {
            e.code = self.redact(&e.code);
            e.message = self.redact(&e.message);
            e.detail = e.detail.as_deref().map(|d| self.redact(d));
        }
        errors.text = errors.text.map(|t| self.redact(&t));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn scrub_removes_user_info_and_queries() {
        assert_eq!(
            scrub("PUT https://bob:hunter2@reg.example/v2/x/blobs/uploads/1?_state=abc&digest=sha256:1 failed"),
            "PUT https://reg.example/v2/x/blobs/uploads/1 failed"
        );
        assert_eq!(scrub("bob:hunter2@reg.example/app:1"), "reg.example/app:1");
        assert_eq!(
            scrub("bob:hun/ter@2@reg.example/app:1 and more"),
            "reg.example/app:1 and more"
        );
        // A registry alone (a sync's destination, tug login's argument).
        assert_eq!(
            scrub(r#"destination "bob:hunter2@127.0.0.1:45102": bad"#),
            r#"destination "127.0.0.1:45102": bad"#
        );
        assert_eq!(scrub("bob:hunter2@reg.example"), "reg.example");
        assert_eq!(
            scrub(r#"reference "reg:5000/app@sha256:abcd": bad"#),
            r#"reference "reg:5000/app@sha256:abcd": bad"#
        );
        assert_eq!(
            scrub("docker://bob:a/b@reg.example/app@sha256:abcd"),
            "reg.example/app@sha256:abcd"
        );
        assert_eq!(
            scrub("reg.example/app@sha256:abcd"),
            "reg.example/app@sha256:abcd"
        );
        assert_eq!(
            scrub(r#"invalid image reference "bob:hunter2@reg.example:5000/app:1": bad"#),
            r#"invalid image reference "reg.example:5000/app:1": bad"#
        );
        assert_eq!(
            scrub("the token server https://a:b@t.example/token?key=k answered 500"),
            "the token server https://t.example/token answered 500"
        );
    }

    #[test]
    fn urls_are_shown_without_user_info_or_query() {
        let url = Url::parse("https://alice:pw@auth.example:8443/token?key=k#f").unwrap();
        assert_eq!(url_shown(&url), "https://auth.example:8443/token");
        let mut url = url;
        strip_user_info(&mut url);
        assert_eq!(url.as_str(), "https://auth.example:8443/token?key=k#f");
        // What tug writes itself (a mount, a closing digest, a page) is kept; the rest goes.
        let mount = Url::parse(
            "https://r.example/v2/b/app/blobs/uploads/?mount=sha256%3Aab&from=a%2Fapp&_state=s3cr",
        )
        .unwrap();
        assert_eq!(
            url_shown(&mount),
            "https://r.example/v2/b/app/blobs/uploads/?mount=sha256%3Aab&from=a%2Fapp"
        );
        let token =
            Url::parse("https://t.example/token?service=r&scope=repository:a:pull").unwrap();
        assert_eq!(url_shown(&token), "https://t.example/token");
    }

    #[test]
    fn every_secret_is_blanked_out_of_every_word_of_an_error() {
        let mut secrets = Secrets::default();
        secrets.add("S3cr3t-PW");
        secrets.add("ab");
        secrets.add("tok-S3cr3t-PW-long");
        let e = Error::Registry {
            action: "pushing".into(),
            status: 400,
            errors: RegistryErrors::parse(
                br#"{"errors":[{"code":"DENIED","message":"you sent S3cr3t-PW and tok-S3cr3t-PW-long, ab"}]}"#,
            ),
            by: None,
        };
        let shown = secrets.redact_error(e).to_string();
        assert_eq!(
            shown,
            "pushing: registry answered 400: DENIED: you sent *** and ***, ab"
        );
        let e = Error::Auth {
            message: "the token server answered 401: bad password S3cr3t-PW".into(),
        };
        assert!(!secrets.redact_error(e).to_string().contains("S3cr3t"));
        let text = RegistryErrors::parse(b"<html>S3cr3t-PW</html>");
        let e = Error::Registry {
            action: "x".into(),
            status: 500,
            errors: text,
            by: None,
        };
        assert!(!secrets.redact_error(e).to_string().contains("S3cr3t"));
    }

    #[test]
    fn a_secret_is_blanked_out_in_the_forms_it_travels_in() {
        let mut secrets = Secrets::default();
        secrets.add("IDTOKsecret+/=Q");
        secrets.add("pass word!");
        for echoed in [
            "refresh_token=IDTOKsecret%2B%2F%3DQ&scope=x",
            "refresh_token=IDTOKsecret%2b%2f%3dQ",
            "SURUT0tzZWNyZXQrLz1R",
            "SURUT0tzZWNyZXQrLz1R&x",
            "password=pass+word%21",
            "password=pass%20word%21",
            "cGFzcyB3b3JkIQ==",
            "cGFzcyB3b3JkIQ",
        ] {
            let shown = secrets.redact(echoed);
            assert!(
                !shown.contains("IDTOK")
                    && !shown.contains("word%21")
                    && !shown.contains("word!")
                    && !shown.contains("SURUT0tz")
                    && !shown.contains("cGFzcyB3"),
                "{echoed} -> {shown}"
            );
        }
        assert_eq!(lower_hex_escapes("a%2B%3Db"), "a%2b%3db");
    }

    /// However an encoder escapes it (a path keeps `/`, RFC 3986 keeps `:@`, JSON writes
    /// `\/` or `\u00e9`, HTML `&amp;`), a secret is blanked out, and nothing else is.
    #[test]
    fn a_secret_is_blanked_out_however_it_is_escaped() {
        let mut secrets = Secrets::default();
        secrets.add("p@ss:w/rd+%S3cr3t=&");
        secrets.add("Sécr3t é/ü");
        for echoed in [
            "PUT /v2/a/blobs/uploads/1/p%40ss%3Aw/rd%2B%25S3cr3t%3D%26 failed",
            "path p@ss:w/rd%2B%25S3cr3t%3D%26 end",
            "user:p%40ss%3Aw/rd%2b%25S3cr3t%3d%26",
            r#"{"message": "bad password p@ss:w\/rd+%S3cr3t=&"}"#,
            "S%C3%A9cr3t%20%C3%A9/%C3%BC",
            r#"{"detail": "S\u00e9cr3t \u00e9\/\u00fc"}"#,
            "Sécr3t%20é%2Fü",
            "twice: p%2540ss%253Aw/rd%252B%2525S3cr3t%253D%2526",
            r#"{"message": "bad p@ss:w/rd+%S3cr3t=&amp;"}"#,
            "<p>p&#64;ss&#x3a;w/rd+%S3cr3t&#61;&amp;</p>",
        ] {
            let shown = secrets.redact(echoed);
            assert!(
                !shown.contains("S3cr3t") && !shown.contains("cr3t") && shown.contains(MASK),
                "{echoed} -> {shown}"
            );
        }
        assert_eq!(
            secrets.redact("a%2Fb %zz \\ \\u12 é"),
            "a%2Fb %zz \\ \\u12 é",
            "text without a secret is left as it is"
        );
        assert_eq!(
            secrets.redact("x p%40ss%3Aw/rd%2B%25S3cr3t%3D%26 y"),
            "x *** y"
        );
    }

    /// Found by probing with a registry echoing the password: an excerpt cut through it,
    /// or cleaned of the markup, control characters or spaces in it, no longer matched it
    /// when the error was redacted.
    #[test]
    fn secrets_are_blanked_out_before_the_body_is_excerpted_or_cleaned() {
        let mut secrets = Secrets::default();
        secrets.add("S3cretPassw0rdXYZ1234");
        secrets.add("S3cr<et  pa\tss");
        let plain = format!("{}S3cretPassw0rdXYZ1234", "A".repeat(190));
        let long_detail = format!(
            r#"{{"errors":[{{"code":"UNKNOWN","message":"x","detail":"{}S3cretPassw0rdXYZ1234"}}]}}"#,
            "A".repeat(190)
        );
        let bodies = [
            plain,
            long_detail,
            "<html><body>bad S3cr<et  pa\tss here</body></html>".to_owned(),
            "bad password S3cr<et  pa\tss".to_owned(),
            r#"{"errors":[{"code":"DENIED","message":"bad S3cr&lt;et  pa\tss"}]}"#.to_owned(),
        ];
        for body in bodies {
            let errors = secrets.parse_errors(body.as_bytes());
            let error = Error::Registry {
                action: "x".into(),
                status: 500,
                errors,
                by: None,
            };
            let shown = secrets.redact_error(error).to_string();
            for part in ["S3cretPassw0rd", "S3cr", "pa\tss", "et pa", "et  pa"] {
                assert!(!shown.contains(part), "{body} -> {shown}");
            }
        }
    }
}
