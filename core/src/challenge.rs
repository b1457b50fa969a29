//! `WWW-Authenticate` challenge parsing (RFC 7235): several challenges per header, quoted
//! strings with commas and escapes, case-insensitive scheme and parameter names.

/// One authentication challenge, e.g. `Bearer realm="https://auth",service="registry"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercased (`basic`, `bearer`).
    pub scheme: String,
    /// Parameters in order, names lowercased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (lowercase).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge in one `WWW-Authenticate` header value. Malformed parts are skipped,
/// never a panic.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.advance_while(|b| b == b' ' || b == b'\t' || b == b',');
        if p.at_end() {
            return out;
        }
        let scheme = p.token();
        if scheme.is_empty() {
            p.i += 1; // skip a stray character
            continue;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
        };
        // Parameters: `name = value` separated by commas, until a token not followed by '='.
        loop {
            p.skip_spaces();
            let start = p.i;
            let name = p.token();
            p.skip_spaces();
            if name.is_empty() || p.peek() != Some(b'=') {
                p.i = start;
                // token68 (e.g. `Basic abc==`) or the next challenge: leave the rest to the outer loop.
                if !name.is_empty() && challenge.params.is_empty() && p.peek_is_token68() {
                    p.advance_while(|b| b != b',');
                }
                break;
            }
            p.i += 1; // '='
            p.skip_spaces();
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token()
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
            p.skip_spaces();
            if p.peek() == Some(b',') {
                p.i += 1;
                p.advance_while(|b| b == b' ' || b == b'\t' || b == b',');
                continue;
            }
            break;
        }
        out.push(challenge);
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn advance_while(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }
    fn skip_spaces(&mut self) {
        self.advance_while(|b| b == b' ' || b == b'\t');
    }
    fn token(&mut self) -> String {
        let start = self.i;
        self.advance_while(is_tchar);
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }
    fn peek_is_token68(&self) -> bool {
        let rest = &self.s[self.i..];
        let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
        !rest[..end].contains(&b' ')
    }
    fn quoted(&mut self) -> String {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn basic_realm() {
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn bearer_with_commas_in_quotes_and_several_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push", Basic realm="x\"y""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c[1].scheme, "basic");
        assert_eq!(c[1].param("realm"), Some("x\"y"));
    }

    #[test]
    fn case_insensitive_and_garbage_tolerant() {
        let c = parse_challenges("BASIC REALM=foo, ,,Negotiate abc==, Bearer");
        let schemes: Vec<_> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "negotiate", "bearer"]);
        assert_eq!(c[0].param("realm"), Some("foo"));
        for junk in ["", "=", "\"", "a=\"unterminated", ",,,", "x y z = = ="] {
            let _ = parse_challenges(junk);
        }
    }
}
