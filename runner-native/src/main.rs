//! `tug`: the command-line runner of the tug protocol core.

mod archive_writer;
mod cli;
mod commands;
mod credentials;
mod driver;
mod exit_code;
mod interrupt;
mod oci_dir;
mod progress;
mod source;
mod transport;
mod upload_state;
mod verbose;
mod web_assets;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    interrupt::install();
    if cli.verbose {
        verbose::enable();
    }
    let result = match cli.command {
        cli::Command::Push(args) => commands::push::run(args),
        cli::Command::Inspect(args) => commands::inspect::run(args),
        cli::Command::Copy(args) => commands::copy::run(args),
        cli::Command::Pull(args) => commands::pull::run(args),
        cli::Command::Images(args) => commands::store::images(args),
        cli::Command::Rm(args) => commands::store::rm(args),
        cli::Command::Prune(args) => commands::store::prune(args),
        cli::Command::Save(args) => commands::store::save(args),
        cli::Command::Load(args) => commands::store::load(args),
        cli::Command::Login(args) => commands::login::login(args),
        cli::Command::Logout(args) => commands::login::logout(args),
        cli::Command::Web(args) => commands::web::run(args),
    };
    match result {
        Ok(()) => ExitCode::from(exit_code::OK as u8),
        Err(e) => {
            eprintln!("tug: error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("tug: hint: {hint}");
            }
            ExitCode::from(e.code() as u8)
        }
    }
}
