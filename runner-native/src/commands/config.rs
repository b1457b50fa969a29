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
        crate::output::Stream::Stdout.write(settings.text().as_bytes());
    }
    Ok(())
}
