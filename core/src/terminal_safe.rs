//! Text from outside (a registry's error message, a tag or platform in a file, a history
//! record) made safe to show: control characters and the Unicode controls that reorder
//! text are written as escapes, so such text cannot move the cursor, erase or recolour a
//! line, or make a failure read as a success.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1) and bidirectional-override character
/// escaped as `\x1b` / `\u{202e}`. Newlines are escaped too: one field stays one line.
/// Idempotent: the escapes contain no control characters.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape_where(text, needs_escape)
}

/// Like [`terminal_safe`] for text of several lines: `\n` (and `\t`) stay as they are.
pub fn terminal_safe_lines(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| needs_escape(c) && c != '\n' && c != '\t')
}

/// `text` with the characters `escape` picks written as escapes (borrowed when there are none).
fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escape(out: &mut String, c: char) {
    let n = u32::from(c);
    if n < 0x100 {
        out.push_str(&format!("\\x{n:02x}"));
    } else {
        out.push_str(&format!("\\u{{{n:x}}}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn controls_become_visible_escapes() {
        let hostile = "denied\x1b[2K\r\x1b[1A\x1b[32mPushed sha256:ok\u{9b}31m\u{202e}gnp.exe\x07";
        let safe = terminal_safe(hostile);
        assert!(!safe.chars().any(|c| c.is_control()), "{safe}");
        assert_eq!(
            safe,
            "denied\\x1b[2K\\x0d\\x1b[1A\\x1b[32mPushed sha256:ok\\x9b31m\\u{202e}gnp.exe\\x07"
        );
        assert_eq!(terminal_safe(&safe), safe, "idempotent");
    }

    #[test]
    fn plain_text_is_borrowed_and_lines_keep_their_breaks() {
        assert!(matches!(terminal_safe("sha256:ab ü 🚀"), Cow::Borrowed(_)));
        assert_eq!(terminal_safe("a\nb"), "a\\x0ab");
        assert_eq!(terminal_safe_lines("a\n\tb\x1b"), "a\n\tb\\x1b");
    }
}
