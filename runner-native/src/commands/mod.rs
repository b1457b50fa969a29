//! One module per subcommand.

pub mod copy;
pub mod history;
pub mod inspect;
pub mod login;
pub mod pull;
pub mod push;
pub mod store;

/// `tug config`: the effective settings and where each comes from.
pub fn config(args: crate::cli::ConfigArgs) -> Result<(), crate::exit_code::CliError> {
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
