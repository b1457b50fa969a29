//! tug-core driven on tokio with reqwest: the loop a Rust program on tokio writes to push
//! and pull images. Every protocol decision (requests, statuses, auth, retries, progress)
//! is the core's; this program carries bytes and time, and prints the core's events as
//! JSON lines on standard error.

mod layout;
mod transport;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Parser;
use tokio::time::Instant as Clock;
use tug_core::archive::BlobLocation;
use tug_core::http::{Request, RequestId};
use tug_core::{
    pull, push, Credentials, Input, Instant, Operation, Platform, Reference, RegistryConfig,
};

use crate::layout::PulledLayout;
use crate::transport::{Message, Transport};

/// Pushes an OCI layout to a registry, or pulls an image into one.
#[derive(Parser)]
#[command(name = "tug-tokio-runner")]
enum Command {
    /// Pushes the layout's image (the one named `--name`, or its only one) to IMAGE.
    Push {
        layout: PathBuf,
        #[arg(value_parser = Reference::parse_registry)]
        image: Reference,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        registry: Registry,
    },
    /// Pulls IMAGE (for this machine's platform) into a layout, named by its tag.
    Pull {
        #[arg(value_parser = Reference::parse_registry)]
        image: Reference,
        layout: PathBuf,
        #[command(flatten)]
        registry: Registry,
    },
}

/// How to reach the registry.
#[derive(clap::Args)]
struct Registry {
    #[arg(long, requires = "password")]
    user: Option<String>,
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// A PEM file of certificates to trust besides the system's.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Plain HTTP; otherwise the core picks (HTTPS, falling back to HTTP on loopback).
    #[arg(long)]
    plain_http: bool,
}

impl Registry {
    /// The core's registry settings for `image`, and a transport reading `blob_files`.
    fn config(
        self,
        image: &Reference,
        files: Vec<PathBuf>,
    ) -> anyhow::Result<(RegistryConfig, Transport)> {
        let config = RegistryConfig {
            scheme: image.scheme(self.plain_http.then_some(true)),
            credentials: (self.user.zip(self.password))
                .map(|(username, password)| Credentials { username, password }),
            user_agent: "tug-tokio-runner".into(),
            ..Default::default()
        };
        Ok((config, Transport::new(self.ca.as_deref(), files)?))
    }
}

/// What an operation's output asks of the driving loop (short-lived: its size is no matter).
#[allow(clippy::large_enum_variant)]
enum Step<R> {
    Send(Request),
    Abort(RequestId),
    Show(Option<serde_json::Value>),
    WakeAt(Instant),
    Done(R),
}

/// Runs `op` until `next` (its next output as a step; `None`: wait for an input) says it is
/// done; then stops whatever is still in flight. Ctrl-C cancels the operation.
async fn drive<O: Operation, R>(
    mut op: O,
    transport: Transport,
    mut next: impl FnMut(&mut O) -> Option<Step<R>>,
) -> R {
    let origin = Clock::now();
    // A full queue holds the request tasks back.
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let mut in_flight = HashMap::new();
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let mut timer = None;
        while let Some(step) = next(&mut op) {
            match step {
                Step::Send(req) => drop(in_flight.insert(req.id, transport.spawn(req, tx.clone()))),
                Step::Abort(id) => in_flight.remove(&id).iter().for_each(|t| t.abort()),
                Step::Show(event) => event.iter().for_each(|e| eprintln!("{e}")),
                Step::WakeAt(at) => timer = Some(origin + at.since_origin()),
                Step::Done(result) => {
                    in_flight.values().for_each(|t| t.abort());
                    return result;
                }
            }
        }
        let message = tokio::select! {
            // We hold a sender: the channel never closes while we wait.
            message = rx.recv() => message,
            () = tokio::time::sleep_until(timer.unwrap_or(origin)), if timer.is_some() => None,
            _ = &mut interrupt => {
                op.cancel();
                continue;
            }
        };
        if let Some(Message::End(id) | Message::Failed(id, _)) = &message {
            in_flight.remove(id);
        }
        let now = Instant::from_duration(origin.elapsed());
        let result = match message {
            Some(Message::Sent(id, data)) => op.handle_input(now, Input::BodySent(id, &data)),
            Some(Message::Head(id, head)) => op.handle_input(now, Input::Response(id, head)),
            Some(Message::Chunk(id, data)) => op.handle_input(now, Input::BodyChunk(id, &data)),
            Some(Message::End(id)) => op.handle_input(now, Input::BodyEnd(id)),
            Some(Message::Failed(id, e)) => op.handle_input(now, Input::TransportError(id, e)),
            None => op.handle_input(now, Input::Timeout),
        };
        // Inputs about requests the core gave up on are accepted: an error is a bug here.
        debug_assert!(result.is_ok(), "runner misuse: {result:?}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Command::parse() {
        Command::Push {
            layout,
            image,
            name,
            registry,
        } => {
            let contents = layout::read(&layout).await?;
            let built = contents.select_for_push(name.as_deref())?.push_plan(&image);
            let mut files = Vec::new();
            for blob in &built.sources {
                match &blob.location {
                    BlobLocation::File { path } => files.push(layout.join(path)),
                    other => bail!("blob {} is not a layout file: {other:?}", blob.digest),
                }
            }
            let (registry, transport) = registry.config(&image, files)?;
            let config = push::PushConfig {
                registry,
                ..Default::default()
            };
            let op = push::Push::new(built.plan, config, Instant::ZERO);
            let report = drive(op, transport, |op| {
                Some(match op.poll()? {
                    push::Output::Send(req) => Step::Send(req),
                    push::Output::Abort(id) => Step::Abort(id),
                    push::Output::Event(event) => Step::Show(event.json()),
                    push::Output::Timeout(at) => Step::WakeAt(at),
                    push::Output::Finished(result) => Step::Done(result),
                })
            });
            let r = report.await?;
            let (digest, blobs, retries) = (r.manifest_digest, r.blobs_uploaded, r.retries);
            println!("pushed {image}@{digest} ({blobs} blobs uploaded, {retries} retries)");
        }
        Command::Pull {
            image,
            layout,
            registry,
        } => {
            let plan = pull::PullPlan {
                registry: image.api_host().to_owned(),
                repository: image.repository.clone(),
                reference: image.manifest_ref(),
                platform: Platform::default_for_arch(std::env::consts::ARCH),
                all_platforms: false,
                have: Vec::new(),
                manifests_only: false,
            };
            let (registry, transport) = registry.config(&image, Vec::new())?;
            let config = pull::PullConfig {
                registry,
                ..Default::default()
            };
            let op = pull::Pull::new(plan, config, Instant::ZERO);
            let (mut sink, mut sink_error) = (PulledLayout::new(&layout), None);
            let result = drive(op, transport, |op| loop {
                // Blob bytes go to the layout; everything else is for the loop.
                let output = match op.poll()?.store_in(&mut sink) {
                    Ok(Some(output)) => output,
                    Ok(None) => continue,
                    Err(e) => {
                        sink_error = Some(e);
                        op.cancel();
                        continue;
                    }
                };
                return Some(match output {
                    pull::Output::Send(req) => Step::Send(req),
                    pull::Output::Abort(id) => Step::Abort(id),
                    pull::Output::Event(event) => Step::Show(event.json()),
                    pull::Output::Timeout(at) => Step::WakeAt(at),
                    pull::Output::Finished(result) => Step::Done(result),
                    _ => continue,
                });
            });
            let result = result.await;
            if let Some(e) = sink_error {
                bail!("{}: {e}", layout.display());
            }
            let report = result?;
            sink.finish(&report, &image.manifest_ref())
                .with_context(|| layout.display().to_string())?;
            let (digest, blobs, retries) =
                (&report.root.digest, report.blobs_downloaded, report.retries);
            println!("pulled {image}@{digest} ({blobs} blobs downloaded, {retries} retries)");
        }
    }
    Ok(())
}
