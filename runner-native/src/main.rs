//! `tug`: the command-line runner of the tug protocol core.

mod archive_writer;
mod blob_places;
mod cli;
mod commands;
mod compress;
mod compressed_source;
mod config;
mod credentials;
mod decode;
mod driver;
mod exit_code;
mod file_ext;
mod history;
mod interrupt;
mod layer_check;
mod layout_writer;
mod live_mark;
mod locked_temp;
mod memory;
mod oci_dir;
mod out_path;
mod output;
mod places;
mod progress;
mod push_bodies;
mod safe_fs;
mod save_stream;
mod source;
mod state_file;
mod stdin;
mod terminal;
mod transport;
mod upload_state;
mod verbose;
mod web_assets;

use std::process::ExitCode;

use clap::Parser;

use crate::output::errln;

fn main() -> ExitCode {
    memory::configure();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A flag skopeo or crane spell otherwise: say what tug takes instead.
            let args: Vec<String> = std::env::args().skip(1).collect();
            let foreign = cli::foreign_flags::hint(&args).filter(|_| e.use_stderr());
            let _ = e.print();
            if let Some(hint) = foreign {
                eprintln!("tug: hint: {hint}");
            }
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    interrupt::install();
    if cli.verbose {
        verbose::enable();
        transport::log_requests_with(verbose::request);
    }
    let result = match cli.command {
        cli::Command::Push(args) => {
            let (source, target) = (args.source.clone(), args.target.clone());
            recorded("push", &source, &target, |settings, rec| {
                commands::push::run(args, settings, rec)
            })
        }
        cli::Command::Inspect(args) => commands::inspect::run(args),
        cli::Command::Copy(args) => {
            let (source, target) = (args.source.clone(), args.target.clone());
            recorded("copy", &source, &target, |settings, rec| {
                commands::copy::run(args, settings, rec)
            })
        }
        cli::Command::Sync(args) => {
            let target = args.places.last().cloned().unwrap_or_default();
            let sources = args.places[..args.places.len().saturating_sub(1)].join(" ");
            recorded("sync", &sources, &target, |settings, rec| {
                commands::sync::run(args, settings, rec)
            })
        }
        cli::Command::Pull(args) => {
            let target = match &args.output {
                Some(out) => out.display().to_string(),
                None => "store".to_owned(),
            };
            let source = args.image.clone();
            recorded("pull", &source, &target, |settings, rec| {
                commands::pull::run(args, settings, rec)
            })
        }
        cli::Command::Images(args) => commands::store::images(args),
        cli::Command::Rm(args) => commands::store::rm(args),
        cli::Command::Prune(args) => commands::store::prune(args),
        cli::Command::Save(args) => commands::store::save(args),
        cli::Command::Load(args) => commands::store::load(args).map(drop),
        cli::Command::Login(args) => commands::login::login(args),
        cli::Command::Logout(args) => commands::login::logout(args),
        cli::Command::Web(args) => commands::web::run(args),
        cli::Command::History(args) => commands::history::run(args),
        cli::Command::Config(args) => commands::config::run(args),
        cli::Command::Completion(args) => commands::completion::completion(args),
        cli::Command::Man(args) => commands::completion::man(args),
        cli::Command::Ls(args) => commands::verbs::list::ls(args),
        cli::Command::Catalog(args) => commands::verbs::list::catalog(args),
        cli::Command::Digest(args) => commands::verbs::manifest::digest(args),
        cli::Command::Manifest(args) => commands::verbs::manifest::manifest(args),
        cli::Command::Tag(args) => commands::verbs::modify::tag(args),
        cli::Command::Delete(args) => commands::verbs::modify::delete(args),
        cli::Command::Blob(args) => commands::verbs::blob::blob(args),
    };
    // Output that could not be written (a full disk, not a closed pipe) fails the command.
    let result = result.and_then(|()| match output::stdout_failure() {
        Some(e) => Err(exit_code::CliError::Input(format!(
            "cannot write to standard output: {e}"
        ))),
        None => Ok(()),
    });
    match result {
        Ok(()) => ExitCode::from(exit_code::OK as u8),
        Err(e) => {
            // Whatever the error quotes (a URL, a reference) loses user info and queries.
            errln!("tug: error: {}", tug_core::redact::scrub(&e.to_string()));
            if let Some(hint) = e.hint() {
                errln!("tug: hint: {hint}");
            }
            ExitCode::from(e.code() as u8)
        }
    }
}

/// Runs a push, pull or copy with the settings, and appends its record to the history.
fn recorded(
    command: &str,
    source: &str,
    target: &str,
    run: impl FnOnce(config::Settings, &mut history::Recorder) -> Result<(), exit_code::CliError>,
) -> Result<(), exit_code::CliError> {
    let mut recorder = history::Recorder::new(command, source, target);
    let result = config::Settings::load().and_then(|settings| run(settings, &mut recorder));
    recorder.save(&result);
    result
}
