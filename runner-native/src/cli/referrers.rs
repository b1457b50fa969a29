//! `--referrers` / `--no-referrers` of `tug copy` and `tug sync`, in the command line's layer;
//! what they do is the core's (`tug_core::copy`, `CopyPlan::referrers`).

/// `--referrers` / `--no-referrers`, for `tug copy` and `tug sync`.
#[derive(clap::Args, Debug, Default)]
pub struct ReferrersArgs {
    /// Copy what is attached to the image (signatures, SBOMs, attestations: the OCI 1.1
    /// referrers API, or the `sha256-<hex>` tag index and cosign's `.sig`/`.att`/`.sbom`
    /// tags) after it (the default).
    #[arg(long, overrides_with = "no_referrers")]
    pub referrers: bool,
    /// Copy the image alone, not what is attached to it.
    #[arg(long, overrides_with = "referrers")]
    pub no_referrers: bool,
}

impl ReferrersArgs {
    /// Whether referrers are copied.
    pub fn enabled(&self) -> bool {
        if self.no_referrers {
            false
        } else {
            self.referrers || tug_core::referrers::COPY_BY_DEFAULT
        }
    }
}
