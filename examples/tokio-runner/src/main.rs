//! tug-core driven on tokio with reqwest: the loop a Rust program on tokio writes to push
//! and pull images. Every protocol decision (requests, statuses, auth, retries, deadlines,
//! progress) is the core's; this program carries bytes and time, and prints the core's
//! events as JSON lines on standard error.

mod layout;
mod transport;

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Parser;
use tokio::time::Instant as Clock;
use tug_core::archive::{pulled_layout, INDEX_JSON, MAX_METADATA_LEN};
use tug_core::host::{Action, Drive, Happened, Store};
use tug_core::{pull, push, Credentials, Input, Instant, Platform, Reference, RegistryConfig};

use crate::transport::Transport;

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
    /// The core's settings for reaching `image`'s registry.
    fn config(&self, image: &Reference) -> RegistryConfig {
        let credentials = (self.user.clone().zip(self.password.clone()))
            .map(|(username, password)| Credentials { username, password });
        RegistryConfig {
            scheme: image.scheme(self.plain_http.then_some(true)),
            credentials,
            user_agent: "tug-tokio-runner".into(),
            ..Default::default()
        }
    }
}

/// Runs `op` to its end: sends its requests, keeps a pull's blobs with `store`, prints its
/// events, and feeds back what happened and when. Ctrl-C cancels it.
async fn drive<O: Drive>(
    mut op: O,
    transport: Transport,
    mut store: impl FnMut(Store) -> anyhow::Result<()>,
) -> anyhow::Result<O::Report> {
    let origin = Clock::now();
    // A full queue holds the request tasks back.
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let (mut in_flight, mut store_error) = (HashMap::new(), None);
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let mut timer = None;
        while let Some(action) = op.poll_action() {
            match action {
                Action::Send(req) => {
                    drop(in_flight.insert(req.id, transport.spawn(req, tx.clone())))
                }
                // Dropping a request's task handle stops it.
                Action::Abort(id) => drop(in_flight.remove(&id)),
                Action::Store(s) => {
                    if let Err(e) = store(s) {
                        store_error.get_or_insert(e);
                        op.cancel();
                    }
                }
                Action::Event(json) => eprintln!("{json}"),
                Action::Timeout(at) => timer = Some(origin + at.since_origin()),
                Action::Finished(result) => {
                    return store_error.map_or(result.map_err(Into::into), Err)
                }
            }
        }
        let now = || Instant::from_duration(origin.elapsed());
        // We hold a sender: the channel never closes while we wait.
        let result = tokio::select! {
            Some(happened) = rx.recv() => {
                if let Happened::End(id) | Happened::Failed(id, _) = &happened {
                    in_flight.remove(id);
                }
                op.handle(now(), happened)
            }
            () = tokio::time::sleep_until(timer.unwrap_or(origin)), if timer.is_some() => {
                op.handle_input(now(), Input::Timeout)
            }
            _ = &mut interrupt => {
                op.cancel();
                continue;
            }
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
            let contents = layout::read(&layout)?;
            let built = contents.select_for_push(name.as_deref())?.push_plan(&image);
            let files = built.layout_files()?;
            let transport = Transport::new(registry.ca.as_deref(), &layout, &files)?;
            let config = registry.config(&image).into();
            let op = push::Push::new(built.plan, config, Instant::ZERO);
            let r = drive(op, transport, |_| Ok(())).await?;
            let (digest, blobs, retries) = (r.manifest_digest, r.blobs_uploaded, r.retries);
            println!("pushed {image}@{digest} ({blobs} blobs uploaded, {retries} retries)");
        }
        Command::Pull {
            image,
            layout,
            registry,
        } => {
            let platform = Platform::default_for_arch(std::env::consts::ARCH);
            let config = registry.config(&image).into();
            let op = pull::Pull::new(pull::PullPlan::of(&image, platform), config, Instant::ZERO);
            let transport = Transport::new(registry.ca.as_deref(), &layout, &[])?;
            let r = drive(op, transport, |s| layout::apply(&layout, s.into())).await?;
            // The image joins those the layout's index.json names.
            let index = layout::read_file(&layout, INDEX_JSON, MAX_METADATA_LEN)?;
            for op in pulled_layout::finishing_ops(&r, &image.manifest_ref(), index.as_deref())? {
                layout::apply(&layout, op)?;
            }
            let (digest, blobs, retries) = (&r.root.digest, r.blobs_downloaded, r.retries);
            println!("pulled {image}@{digest} ({blobs} blobs downloaded, {retries} retries)");
        }
    }
    Ok(())
}
