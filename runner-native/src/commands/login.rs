//! `tug login REGISTRY` checks credentials against the registry (its version check, with a
//! token from its token server when it uses one) and keeps them; `tug logout` forgets them.

use std::time::Instant as Clock;

use tug_core::fetch::{self, Fetch};
use tug_core::Instant;

use crate::cli::{LoginArgs, LogoutArgs};
use crate::config::Settings;
use crate::credentials;
use crate::driver::drive;
use crate::exit_code::CliError;
use crate::output::errln;
use crate::transport::{NoBodies, Transport};

/// The registry host from what the user typed (`https://host/`, `host:port`, `docker.io`).
fn host(registry: &str) -> String {
    let r = registry
        .trim_start_matches(tug_core::reference::DOCKER_PREFIX)
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    r.split('/').next().unwrap_or(r).to_owned()
}

pub fn login(args: LoginArgs) -> Result<(), CliError> {
    let registry = host(&args.registry);
    let creds = credentials::from_args(&args.registry_args.credentials)?.ok_or_else(|| {
        CliError::Usage(
            "tug login needs -u USER with --password-stdin (or TUG_USERNAME and TUG_PASSWORD)"
                .into(),
        )
    })?;
    let api_host = if credentials::registry_matches(&registry, tug_core::reference::DOCKER_HUB) {
        tug_core::reference::DOCKER_HUB_API.to_owned()
    } else {
        registry.clone()
    };
    let reference: tug_core::Reference = format!("{registry}/x")
        .parse()
        .map_err(|e| CliError::Usage(format!("registry: {e}")))?;
    let mut settings = Settings::load()?;
    settings.apply_flags(&args.registry_args.connect);
    let (tls, config) = settings.connection(&reference, &args.registry_args, Some(creds.clone()));
    let transport = Transport::new(&tls, NoBodies).map_err(|e| CliError::Input(e.to_string()))?;
    let check = Fetch::new(&api_host, "", &config, Instant::ZERO);
    smol::block_on(drive(check, Clock::now(), &transport, |fetch, io| {
        while let Some(output) = fetch.poll() {
            match output {
                fetch::Output::Send(req) => io.send(req),
                fetch::Output::Abort(id) => io.abort(id),
                fetch::Output::Ready => return Some(Ok(())),
                fetch::Output::Timeout(at) => io.wake_at(at),
                _ => {}
            }
        }
        fetch.fatal_error().cloned().map(Err)
    }))?;
    let place = credentials::remember(&registry, &creds)?;
    errln!(
        "Login succeeded for {} at {registry}; credentials kept in {place}",
        creds.username
    );
    Ok(())
}

pub fn logout(args: LogoutArgs) -> Result<(), CliError> {
    let registry = host(&args.registry);
    if credentials::forget(&registry)? {
        errln!("Removed the credentials for {registry}");
    } else {
        errln!("No credentials were kept for {registry}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::host;

    #[test]
    fn a_registry_is_taken_as_docker_takes_it_or_with_skopeo_s_prefix() {
        for given in [
            "r.example:5000",
            "docker://r.example:5000",
            "https://r.example:5000/v2/",
            "http://r.example:5000",
            "r.example:5000/team/app",
        ] {
            assert_eq!(host(given), "r.example:5000", "{given}");
        }
    }
}
