//! The registry verbs (`ls`, `catalog`, `digest`, `manifest`, `tag`, `delete`, `blob`): each
//! one core operation ([`tug_core::listing`], [`tug_core::manifest_ops`],
//! [`tug_core::blob_read`]) driven to its end,
//! with the same TLS, credential, retry and `-v` options as `tug pull`. What is here reaches
//! the registry and prints; what to ask it and what its answers mean is the core's.

pub mod blob;
pub mod list;
pub mod manifest;
pub mod modify;
pub mod referrers;

use std::time::Instant as Clock;

use tug_core::one_shot::Output;
use tug_core::{Operation, Reference, RegistryConfig};

use crate::cli::verbs::ReachArgs;
use crate::config::Settings;
use crate::credentials;
use crate::driver::drive;
use crate::exit_code::CliError;
use crate::output::noteln;
use crate::transport::{NoBodies, Transport};

/// `text` as an image reference, `docker://` allowed.
pub fn parse_reference(what: &str, text: &str) -> Result<Reference, CliError> {
    Reference::parse_registry(text).map_err(|e| CliError::Usage(format!("{what}: {e}")))
}

/// The transport and core config to reach `r`'s registry with `args` (flags, then the
/// config file and environment, as for a pull; credentials from the flags or the store).
pub fn reach(r: &Reference, args: &ReachArgs) -> Result<(Transport, RegistryConfig), CliError> {
    let mut settings = Settings::load()?;
    settings.apply_flags(&args.retry);
    settings.apply_flags(&args.registry.connect);
    crate::verbose::note(&format!("settings: {}", settings.summary()));
    let creds = credentials::for_registries(
        &args.registry.credentials,
        &r.registry,
        &[&credentials::scope(r)],
    )?
    .pop()
    .flatten();
    let (tls, config) = settings.connection(r, &args.registry, creds);
    let transport = Transport::new(&tls, NoBodies).map_err(|e| CliError::Input(e.to_string()))?;
    Ok((transport, config))
}

/// Drives `op` to its end (a one-shot core operation, see [`tug_core::one_shot`]), telling
/// retries and notes on standard error.
pub fn run<O: Operation, R>(
    op: O,
    origin: Clock,
    transport: &Transport,
    poll: impl Fn(&mut O) -> Option<Output<R>>,
) -> Result<R, CliError> {
    run_reading(op, origin, transport, poll, |_| Ok(()))
}

/// [`run`], handing the bytes the operation reads (`Output::Data`, in order) to `on_data`;
/// an error there stops the operation and is the result.
pub fn run_reading<O: Operation, R>(
    op: O,
    origin: Clock,
    transport: &Transport,
    poll: impl Fn(&mut O) -> Option<Output<R>>,
    on_data: impl FnMut(&[u8]) -> Result<(), CliError>,
) -> Result<R, CliError> {
    smol::block_on(run_reading_async(op, origin, transport, poll, on_data))
}

/// [`run`] as a future, so several operations can run at once on one thread.
pub async fn run_async<O: Operation, R>(
    op: O,
    origin: Clock,
    transport: &Transport,
    poll: impl Fn(&mut O) -> Option<Output<R>>,
) -> Result<R, CliError> {
    run_reading_async(op, origin, transport, poll, |_| Ok(())).await
}

async fn run_reading_async<O: Operation, R>(
    op: O,
    origin: Clock,
    transport: &Transport,
    poll: impl Fn(&mut O) -> Option<Output<R>>,
    mut on_data: impl FnMut(&[u8]) -> Result<(), CliError>,
) -> Result<R, CliError> {
    drive(op, origin, transport, |op, io| {
        while let Some(output) = poll(op) {
            match output {
                Output::Send(req) => io.send(req),
                Output::Abort(id) => io.abort(id),
                Output::Retrying(r) => noteln!("{}", crate::progress::retry_line(&r)),
                Output::PlainHttpFallback { host } => {
                    noteln!("{}", crate::progress::plain_http_line(&host))
                }
                Output::Resolved { reference, digest } => noteln!("{reference} is {digest}"),
                Output::Data(bytes) => {
                    if let Err(e) = on_data(&bytes) {
                        op.cancel();
                        return Some(Err(e));
                    }
                }
                Output::Timeout(at) => io.wake_at(at),
                Output::Finished(result) => return Some(result.map_err(CliError::from)),
            }
        }
        None
    })
    .await
}
