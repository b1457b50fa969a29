//! tug-core driven on tokio with reqwest: the loop a Rust program on tokio writes to push
//! and pull images. Every protocol decision (requests, statuses, auth, retries, deadlines,
//! progress) is the core's; this program carries bytes and time, and prints the core's
//! events as JSON lines on standard error.

mod layout;
mod transport;

use std::collections::HashMap;
use std::env;
use std::path::PathBuf;

use tokio::time::Instant as Clock;
use tug_core::archive::{pulled_layout, INDEX_JSON, MAX_METADATA_LEN};
use tug_core::host::{Action, Drive, Happened, Store};
use tug_core::{pull, push, Credentials, Input, Instant, Platform, Reference, RegistryConfig};

use crate::transport::Transport;

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

/// `push LAYOUT IMAGE` pushes the layout's image; `pull IMAGE LAYOUT` pulls IMAGE (for this
/// machine's platform) into a layout, named by its tag. `--plain-http` anywhere: no HTTPS.
/// Credentials come from `TUG_USERNAME` and `TUG_PASSWORD`, as for `tug`; a private CA
/// from `SSL_CERT_FILE`.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = env::args().skip(1).collect();
    let plain_http = args.iter().any(|a| a == "--plain-http").then_some(true);
    args.retain(|a| a != "--plain-http");
    let (push, image, layout) = match args.as_slice() {
        [verb, layout, image] if verb == "push" => (true, image, PathBuf::from(layout)),
        [verb, image, layout] if verb == "pull" => (false, image, PathBuf::from(layout)),
        _ => anyhow::bail!(
            "usage: tug-tokio-runner [--plain-http] push LAYOUT IMAGE | pull IMAGE LAYOUT"
        ),
    };
    let image = Reference::parse_registry(image)?;
    let credentials = match (env::var("TUG_USERNAME"), env::var("TUG_PASSWORD")) {
        (Ok(username), Ok(password)) => Some(Credentials { username, password }),
        _ => None,
    };
    let registry = RegistryConfig {
        scheme: image.scheme(plain_http),
        credentials,
        user_agent: "tug-tokio-runner".into(),
        ..Default::default()
    };
    if push {
        let contents = layout::read(&layout)?;
        let built = contents.select_for_push(None)?.push_plan(&image);
        let files = built.layout_files()?;
        let transport = Transport::new(&layout, &files)?;
        let op = push::Push::new(built.plan, registry.into(), Instant::ZERO);
        let r = drive(op, transport, |_| Ok(())).await?;
        let (digest, blobs, retries) = (r.manifest_digest, r.blobs_uploaded, r.retries);
        let repository = format!("{}/{}", image.registry, image.repository);
        println!("pushed {repository}@{digest} ({blobs} blobs uploaded, {retries} retries)");
    } else {
        let platform = Platform::default_for_arch(env::consts::ARCH);
        let plan = pull::PullPlan::of(&image, platform);
        let op = pull::Pull::new(plan, registry.into(), Instant::ZERO);
        let transport = Transport::new(&layout, &[])?;
        let r = drive(op, transport, |s| layout::apply(&layout, s.into())).await?;
        // The image joins those the layout's index.json names.
        let index = layout::read_file(&layout, INDEX_JSON, MAX_METADATA_LEN)?;
        for op in pulled_layout::finishing_ops(&r, &image.manifest_ref(), index.as_deref())? {
            layout::apply(&layout, op)?;
        }
        let (digest, blobs, retries) = (&r.root.digest, r.blobs_downloaded, r.retries);
        println!("pulled {image}@{digest} ({blobs} blobs downloaded, {retries} retries)");
    }
    Ok(())
}
