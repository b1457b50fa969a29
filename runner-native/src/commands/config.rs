//! `tug config`: the effective settings and where each comes from.

use crate::cli::ConfigArgs;
use crate::exit_code::CliError;
use crate::output::outln;

pub fn run(args: ConfigArgs) -> Result<(), CliError> {
    let settings = crate::config::Settings::load()?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&settings.json()).unwrap_or_default()
        );
    } else {
        // Values from the user's files and environment: shown, never obeyed.
        let text = settings.text();
        let safe = tug_core::terminal_safe::terminal_safe_lines(&text);
        crate::output::Stream::Stdout.write(safe.as_bytes());
    }
    Ok(())
}
