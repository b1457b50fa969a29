//! `tug ls REPO` (a repository's tags) and `tug catalog REGISTRY` (its repositories): every
//! page of the list, one name per line, or JSON.

use std::time::Instant as Clock;

use tug_core::listing::{ListKind, ListPlan, Listing};
use tug_core::terminal_safe::terminal_safe;
use tug_core::{Instant, Reference};

use crate::cli::verbs::{CatalogArgs, LsArgs, ReachArgs};
use crate::exit_code::CliError;

use crate::output::outln;

pub fn ls(args: LsArgs) -> Result<(), CliError> {
    if args.referrers {
        return super::referrers::ls(args);
    }
    let repo = super::parse_reference("repository", &args.repository)?;
    if repo.tag.is_some() || repo.digest.is_some() {
        return Err(CliError::Usage(format!(
            "repository: {:?} names a tag or digest; give the repository alone",
            args.repository
        )));
    }
    let kind = ListKind::Tags {
        repository: repo.repository.clone(),
    };
    let listed = list(&repo, kind, args.page_size, &args.reach)?;
    if args.json {
        let name = listed.name.unwrap_or(repo.repository);
        outln!(
            "{}",
            serde_json::json!({"name": name, "tags": listed.items})
        );
    } else {
        // One tag per line, whatever a registry puts in one.
        for tag in listed.items {
            outln!("{}", terminal_safe(&tag));
        }
    }
    Ok(())
}

pub fn catalog(args: CatalogArgs) -> Result<(), CliError> {
    let host = args
        .registry
        .strip_prefix(tug_core::reference::DOCKER_PREFIX)
        .unwrap_or(&args.registry)
        .trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(CliError::Usage(format!(
            "registry: {:?} is not a host[:port]",
            args.registry
        )));
    }
    // A reference on the registry, for its settings and credentials.
    let r = super::parse_reference("registry", &format!("{host}/catalog"))?;
    let listed = list(&r, ListKind::Catalog, args.page_size, &args.reach)?;
    if args.json {
        outln!("{}", serde_json::json!({"repositories": listed.items}));
    } else {
        for repo in listed.items {
            outln!("{}", terminal_safe(&repo));
        }
    }
    Ok(())
}

fn list(
    r: &Reference,
    kind: ListKind,
    page_size: Option<u32>,
    reach: &ReachArgs,
) -> Result<tug_core::listing::Listed, CliError> {
    let origin = Clock::now();
    let (transport, config) = super::reach(r, reach)?;
    let plan = ListPlan {
        registry: r.api_host().to_owned(),
        kind,
        page_size,
    };
    let listing = Listing::new(plan, &config, Instant::ZERO);
    super::run(listing, origin, &transport, Listing::poll)
}
