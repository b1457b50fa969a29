//! `tug completion SHELL` and `tug man DIR`: shell completion scripts and man pages, made
//! from the same clap definitions as the command line itself, so they never fall behind it.

use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionArgs, ManArgs};
use crate::exit_code::CliError;
use crate::output::{errln, Stream};

/// Prints the completion script for `args.shell` on standard output.
pub fn completion(args: CompletionArgs) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_owned();
    clap_complete::generate(args.shell, &mut cmd, name, &mut Stream::Stdout.writer());
    Ok(())
}

/// Writes one man page per command (and subcommand) into `args.dir`.
pub fn man(args: ManArgs) -> Result<(), CliError> {
    let failed = |e: std::io::Error| CliError::Input(format!("{}: {e}", args.dir.display()));
    std::fs::create_dir_all(&args.dir).map_err(failed)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Built, every subcommand has its full name (`tug-history-show`).
    cmd.build();
    write_pages(cmd, &args.dir).map_err(failed)?;
    errln!("tug: man pages written to {}", args.dir.display());
    Ok(())
}

/// The page of `cmd`, then of each of its visible subcommands, each naming tug and its
/// version as the source.
fn write_pages(cmd: clap::Command, dir: &std::path::Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir)?;
    }
    clap_mangen::Man::new(cmd)
        .source(format!("tug {}", env!("CARGO_PKG_VERSION")))
        .manual("tug manual")
        .generate_to(dir)?;
    Ok(())
}
