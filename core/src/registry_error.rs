//! Error bodies registries send: `{"errors":[{"code","message","detail"}]}` or plain text.

use std::fmt;

use serde::Deserialize;

use crate::terminal_safe::terminal_safe;

/// One entry of a registry's `errors` array.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RegistryErrorEntry {
    /// Machine-readable code, e.g. `BLOB_UNKNOWN`, `DIGEST_INVALID`, `UNAUTHORIZED`.
    #[serde(default)]
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// The `detail`, when it is text (distribution's `UNKNOWN: unknown error` says what
    /// went wrong only there, e.g. `invalid URL on layer`).
    #[serde(default, deserialize_with = "text_only")]
    pub detail: Option<String>,
}

/// A `detail` that is a string, at most 200 characters of it; any other JSON is none.
fn text_only<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(value
        .as_str()
        .map(|s| s.chars().take(200).collect::<String>())
        .filter(|s| !s.trim().is_empty()))
}

#[derive(Deserialize)]
struct Envelope {
    errors: Vec<RegistryErrorEntry>,
}

/// What a registry said in an error response body.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RegistryErrors {
    /// The structured errors, if the body was the standard JSON envelope.
    pub entries: Vec<RegistryErrorEntry>,
    /// Otherwise a short, printable excerpt of the body (never a raw dump).
    pub text: Option<String>,
}

impl RegistryErrors {
    /// Parses an error body of any shape.
    pub fn parse(body: &[u8]) -> RegistryErrors {
        RegistryErrors::parse_hiding(body, None)
    }

    /// Parses an error body, what `hide` blanks out (an operation's secrets) taken out of
    /// it before anything is cut or cleaned (an excerpt cut through an echoed password, or
    /// markup, control characters and spaces dropped from it, would no longer match it),
    /// and again from the words made of it.
    pub fn parse_hiding(body: &[u8], hide: Option<&dyn Fn(&str) -> String>) -> RegistryErrors {
        let head = &body[..body.len().min(512)];
        let binary =
            head.contains(&0) || std::str::from_utf8(head).is_err_and(|e| e.error_len().is_some());
        let redacted;
        let body = match (hide, binary) {
            (Some(hide), false) => {
                redacted = hide(&String::from_utf8_lossy(body));
                redacted.as_bytes()
            }
            _ => body,
        };
        if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
            if !env.errors.is_empty() {
                return RegistryErrors {
                    entries: env.errors,
                    text: None,
                };
            }
        }
        // Bytes that are not text (a blob sent where an error was expected) are described,
        // never shown.
        if binary {
            return RegistryErrors {
                entries: Vec::new(),
                text: Some(format!("a body of {} bytes that is not text", body.len())),
            };
        }
        let body = String::from_utf8_lossy(body);
        // A proxy's or a load balancer's HTML page: its words, not its markup.
        let body = match looks_like_html(&body) {
            true => html_text(&body),
            false => body.into_owned(),
        };
        let text: String = body
            .chars()
            .filter(|c| !c.is_control() || *c == ' ')
            .collect();
        let text = match hide {
            Some(hide) => hide(&text),
            None => text,
        };
        let text: String = text.chars().take(200).collect();
        let text = text.trim();
        RegistryErrors {
            entries: Vec::new(),
            text: (!text.is_empty()).then(|| text.to_owned()),
        }
    }

    /// Whether any entry has `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.entries.iter().any(|e| e.code == code)
    }
}

/// Whether a body is an HTML page (`<!DOCTYPE html>`, `<html>`, `<head>`, `<body>`, …).
fn looks_like_html(body: &str) -> bool {
    let start = body
        .trim_start()
        .get(..16)
        .unwrap_or(body.trim_start())
        .to_ascii_lowercase();
    [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<title",
        "<h1",
        "<center",
    ]
    .iter()
    .any(|tag| start.starts_with(tag))
}

/// The words of an HTML page: its markup, scripts and styles gone, entities of the
/// common kind decoded, runs of space made one.
fn html_text(body: &str) -> String {
    let mut out = String::with_capacity(body.len().min(1024));
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let after = &rest[open..];
        let lower = after.get(..8).unwrap_or(after).to_ascii_lowercase();
        // Skip what a script or style holds, not only its tags.
        let closing = ["<script", "<style"]
            .iter()
            .find(|t| lower.starts_with(**t))
            .map(|t| format!("</{}", &t[1..]));
        rest = match closing {
            Some(end) => {
                let found = after.to_ascii_lowercase().find(&end);
                match found.and_then(|i| after[i..].find('>').map(|j| i + j + 1)) {
                    Some(i) => &after[i..],
                    None => "",
                }
            }
            None => match after.find('>') {
                Some(i) => &after[i + 1..],
                None => "",
            },
        };
    }
    out.push_str(rest);
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for RegistryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return f.write_str(self.text.as_deref().unwrap_or("(no details)"));
        }
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            // The registry's words: shown, never obeyed by a terminal.
            let (code, message) = (terminal_safe(&e.code), terminal_safe(&e.message));
            match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => write!(f, "{code}: {message}")?,
                (false, true) => f.write_str(&code)?,
                _ => f.write_str(&message)?,
            }
            // The catch-all code says nothing of its own: its detail does.
            if let Some(detail) = e.detail.as_deref().filter(|_| e.code == "UNKNOWN") {
                write!(f, " ({})", terminal_safe(detail))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn an_html_page_shows_its_words_not_its_markup() {
        let page = br#"<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head><title>431 Request Header Fields Too Large</title>
<style>body { color: red }</style><script>var x = "<b>";</script></head>
<body><center><h1>431 Request Header Fields Too Large</h1></center>
<hr><center>nginx&nbsp;1.22</center></body></html>"#;
        let shown = RegistryErrors::parse(page).to_string();
        assert_eq!(
            shown,
            "431 Request Header Fields Too Large 431 Request Header Fields Too Large nginx 1.22"
        );
        // Text that only mentions a tag stays as it is.
        let plain = RegistryErrors::parse(b"use <b> for bold").to_string();
        assert_eq!(plain, "use <b> for bold");
    }

    #[test]
    fn a_body_that_is_not_text_is_described_not_shown() {
        let mut blob = b"big.bin\x000000644\x00".to_vec();
        blob.extend((0..2000u32).map(|i| (i * 7) as u8));
        let e = RegistryErrors::parse(&blob);
        assert_eq!(e.to_string(), "a body of 2016 bytes that is not text");
        // Text cut inside a character at the excerpt's end is still text.
        let text = "é".repeat(300);
        assert!(RegistryErrors::parse(text.as_bytes())
            .to_string()
            .starts_with("éé"));
    }

    #[test]
    fn standard_envelope() {
        let e = RegistryErrors::parse(
            br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:x"}]}"#,
        );
        assert!(e.has_code("BLOB_UNKNOWN"));
        assert_eq!(e.to_string(), "BLOB_UNKNOWN: blob unknown to registry");
    }

    /// distribution's catch-all `UNKNOWN: unknown error` says what went wrong only in its
    /// `detail`: shown (text only, cut short); other codes' details are not.
    #[test]
    fn the_detail_of_an_unknown_error_is_shown() {
        let e = RegistryErrors::parse(
            br#"{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":"invalid URL on layer"},{"code":"UNKNOWN","message":"unknown error","detail":{"a":1}}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "UNKNOWN: unknown error (invalid URL on layer); UNKNOWN: unknown error"
        );
        let long = format!(
            r#"{{"errors":[{{"code":"UNKNOWN","detail":"{}"}}]}}"#,
            "x".repeat(500)
        );
        assert_eq!(e.entries[0].detail.as_deref(), Some("invalid URL on layer"));
        assert_eq!(
            RegistryErrors::parse(long.as_bytes()).entries[0]
                .detail
                .as_ref()
                .map(String::len),
            Some(200)
        );
    }

    #[test]
    fn plain_text_is_excerpted() {
        let e = RegistryErrors::parse(b"404 page not found\n");
        assert_eq!(e.to_string(), "404 page not found");
        let long = vec![b'x'; 10_000];
        assert_eq!(RegistryErrors::parse(&long).to_string().len(), 200);
        assert_eq!(RegistryErrors::parse(b"").to_string(), "(no details)");
    }
}
