//! Whether stderr can take a progress display redrawn in place (ANSI cursor movement). On
//! Windows the console is switched to virtual-terminal processing first (Windows 10 and
//! later); a console that refuses, or `TERM=dumb`, gets plain lines instead of stray escapes.

use std::io::IsTerminal;

/// Whether the display on stderr may be redrawn in place; asks (and on Windows sets up) the
/// console once per call.
pub fn stderr_redraws() -> bool {
    let term = std::env::var("TERM").ok();
    redraws(
        std::io::stderr().is_terminal(),
        anstyle_query::windows::enable_ansi_colors(),
        term.as_deref(),
    )
}

/// The decision: a terminal, whose console took ANSI sequences (`None`: not Windows, where
/// terminals always do), and whose `TERM` is not `dumb`.
fn redraws(is_terminal: bool, ansi_enabled: Option<bool>, term: Option<&str>) -> bool {
    is_terminal && ansi_enabled.unwrap_or(true) && term != Some("dumb")
}

#[cfg(test)]
mod tests {
    use super::redraws;

    #[test]
    fn a_terminal_redraws_unless_its_console_or_term_says_it_cannot() {
        assert!(redraws(true, None, Some("xterm-256color")));
        assert!(redraws(true, None, None), "Windows sets no TERM");
        assert!(
            redraws(true, Some(true), None),
            "a Windows 10 console with VT enabled"
        );
        assert!(!redraws(true, Some(false), None), "an old Windows console");
        assert!(!redraws(true, None, Some("dumb")));
        assert!(!redraws(false, None, Some("xterm")), "a pipe or a file");
    }
}
