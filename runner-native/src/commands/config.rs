//! `tug config`: the effective settings and where each comes from.

use crate::cli::ConfigArgs;
use crate::exit_code::CliError;

pub fn run(args: ConfigArgs) -> Result<(), CliError> {
    let settings = crate::config::Settings::load()?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&settings.json()).unwrap_or_default()
        );
    } else {
        print!("{}", settings.text());
    }
    Ok(())
}
