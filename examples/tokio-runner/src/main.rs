//! tug-core driven on tokio with reqwest: the loop a Rust program on tokio writes to push
//! and pull images. Every protocol decision (requests, statuses, auth, retries, progress)
//! is the core's; this program carries bytes and time, and prints the core's events as
//! JSON lines on standard error.
//!
//! ```text
//! tug-tokio-runner push LAYOUT IMAGE [--name NAME] [OPTIONS]   an OCI layout to a registry
//! tug-tokio-runner pull IMAGE LAYOUT [OPTIONS]                 an image into an OCI layout
//! OPTIONS: --user USER --password PASSWORD --ca PEM-FILE --plain-http
//! ```

mod drive;
mod layout;
mod transport;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use tokio::time::Instant as Clock;
use tug_core::archive::BlobLocation;
use tug_core::{pull, push, Credentials, Instant, Platform, Reference, RegistryConfig};

use crate::drive::{drive, Io};
use crate::layout::PulledLayout;
use crate::transport::Transport;

/// The command line: a command, its two places, and options.
struct Args {
    command: String,
    places: Vec<String>,
    name: Option<String>,
    credentials: Option<Credentials>,
    ca: Option<PathBuf>,
    plain_http: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut words = std::env::args().skip(1);
    let command = words
        .next()
        .context("usage: tug-tokio-runner push|pull ...")?;
    let (mut places, mut name, mut user, mut password, mut ca) = (vec![], None, None, None, None);
    let mut plain_http = false;
    while let Some(word) = words.next() {
        let mut value = || {
            words
                .next()
                .with_context(|| format!("{word} needs a value"))
        };
        match word.as_str() {
            "--name" => name = Some(value()?),
            "--user" => user = Some(value()?),
            "--password" => password = Some(value()?),
            "--ca" => ca = Some(PathBuf::from(value()?)),
            "--plain-http" => plain_http = true,
            _ if word.starts_with("--") => bail!("unknown option {word}"),
            _ => places.push(word),
        }
    }
    let credentials = match (user, password) {
        (Some(username), Some(password)) => Some(Credentials { username, password }),
        (None, None) => None,
        _ => bail!("--user and --password go together"),
    };
    if places.len() != 2 {
        bail!("{command} takes two places, not {}", places.len());
    }
    Ok(Args {
        command,
        places,
        name,
        credentials,
        ca,
        plain_http,
    })
}

/// How to reach `image`'s registry: the core picks the scheme (HTTPS, with the plain-HTTP
/// fallback on loopback) unless `--plain-http`.
fn registry_config(image: &Reference, args: &Args) -> RegistryConfig {
    RegistryConfig {
        scheme: image.scheme(args.plain_http.then_some(true)),
        credentials: args.credentials.clone(),
        user_agent: "tug-tokio-runner".into(),
        ..RegistryConfig::default()
    }
}

/// Pushes the image of the layout `dir` (the one named `--name`, or its only one) to `image`.
async fn push(args: &Args, dir: &Path, image: &Reference) -> anyhow::Result<()> {
    let contents = layout::read(dir).await?;
    let selection = contents.select_for_push(args.name.as_deref())?;
    let built = selection.push_plan(image);
    let mut files = Vec::new();
    for blob in &built.sources {
        match &blob.location {
            BlobLocation::File { path } => files.push(dir.join(path)),
            other => bail!(
                "blob {} is not a file of the layout: {other:?}",
                blob.digest
            ),
        }
    }
    let transport = Transport::new(args.ca.as_deref(), files)?;
    let config = push::PushConfig {
        registry: registry_config(image, args),
        ..Default::default()
    };
    let op = push::Push::new(built.plan, config, Instant::ZERO);
    let report = drive(op, Clock::now(), transport, |op, io: &mut Io| {
        while let Some(output) = op.poll() {
            match output {
                push::Output::Send(req) => io.send(req),
                push::Output::Abort(id) => io.abort(id),
                push::Output::Event(event) => show(event.json()),
                push::Output::Timeout(at) => io.wake_at(at),
                push::Output::Finished(result) => return Some(result),
            }
        }
        None
    })
    .await?;
    println!(
        "pushed {image}@{} ({} blobs uploaded, {} retries)",
        report.manifest_digest, report.blobs_uploaded, report.retries
    );
    Ok(())
}

/// Pulls `image` (for this machine's platform) into the layout `dir`, named by its tag.
async fn pull(args: &Args, image: &Reference, dir: &Path) -> anyhow::Result<()> {
    let mut sink = PulledLayout::create(dir)?;
    let plan = pull::PullPlan {
        registry: image.api_host().to_owned(),
        repository: image.repository.clone(),
        reference: image.manifest_ref(),
        platform: Platform::default_for_arch(std::env::consts::ARCH),
        all_platforms: false,
        have: Vec::new(),
        manifests_only: false,
    };
    let config = pull::PullConfig {
        registry: registry_config(image, args),
        ..Default::default()
    };
    let op = pull::Pull::new(plan, config, Instant::ZERO);
    let transport = Transport::new(args.ca.as_deref(), Vec::new())?;
    let mut sink_error = None;
    let result = drive(op, Clock::now(), transport, |op, io: &mut Io| {
        while let Some(output) = op.poll() {
            // Blob bytes go to the layout; everything else is for the loop.
            let output = match output.store_in(&mut sink) {
                Ok(Some(output)) => output,
                Ok(None) => continue,
                Err(e) => {
                    sink_error = Some(e);
                    op.cancel();
                    continue;
                }
            };
            match output {
                pull::Output::Send(req) => io.send(req),
                pull::Output::Abort(id) => io.abort(id),
                pull::Output::Event(event) => show(event.json()),
                pull::Output::Timeout(at) => io.wake_at(at),
                pull::Output::Finished(result) => return Some(result),
                _ => {}
            }
        }
        None
    })
    .await;
    if let Some(e) = sink_error {
        bail!("{}: {e}", dir.display());
    }
    let report = result?;
    sink.finish(&report, &image.manifest_ref())?;
    println!(
        "pulled {image}@{} ({} blobs downloaded, {} retries)",
        report.root.digest, report.blobs_downloaded, report.retries
    );
    Ok(())
}

/// Prints one of the core's events as a JSON line.
fn show(event: Option<serde_json::Value>) {
    if let Some(event) = event {
        eprintln!("{event}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let place = |i: usize| args.places[i].as_str();
    let reference =
        |text: &str| Reference::parse_registry(text).with_context(|| format!("image {text}"));
    match args.command.as_str() {
        "push" => push(&args, Path::new(place(0)), &reference(place(1))?).await,
        "pull" => pull(&args, &reference(place(0))?, Path::new(place(1))).await,
        other => bail!("unknown command {other}: push or pull"),
    }
}
