//! What the fault and quirk tests start from: a registry behind the harness's fault proxy,
//! and an image in an OCI layout in an [`Env`] of its own.

use std::path::PathBuf;

use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{FaultProxy, FixtureImage, ImageSpec, ProxiedRequest, Registry, Tug};

use super::Env;

/// A registry, the fault proxy in front of it, and an image as the OCI layout `layout`
/// (tagged `v1`) in an [`Env`].
pub struct Scene {
    pub registry: Registry,
    pub proxy: FaultProxy,
    pub env: Env,
    pub layout: PathBuf,
    pub fixture: FixtureImage,
}

impl Scene {
    /// A plain-HTTP registry behind a proxy, and the image `spec` describes.
    pub fn new(spec: &ImageSpec) -> Scene {
        Scene::on(Registry::plain(), spec)
    }

    /// `registry` behind a proxy, and the image `spec` describes.
    pub fn on(registry: Registry, spec: &ImageSpec) -> Scene {
        let proxy = FaultProxy::start(&registry);
        let env = Env::new();
        let layout = env.path("layout");
        let fixture = write_oci_layout(&layout, spec, "v1");
        Scene {
            registry,
            proxy,
            env,
            layout,
            fixture,
        }
    }

    /// tug in the scene's world.
    pub fn tug(&self) -> Tug {
        self.env.tug()
    }

    /// The bytes of every blob of the image (config and layers).
    pub fn blob_bytes(&self) -> u64 {
        self.fixture.config.len() as u64 + self.fixture.layers.iter().map(|l| l.size).sum::<u64>()
    }

    /// The proxy's request log, for failure messages.
    pub fn log(&self) -> String {
        log(&self.proxy.requests())
    }
}

/// A proxy's request log, one line per request, for failure messages.
pub fn log(requests: &[ProxiedRequest]) -> String {
    requests
        .iter()
        .map(|r| {
            format!(
                "{} {} [{}] -> {:?} (registry {:?}, Range {:?} -> {:?}) fault={:?} fwd={} \
                 discarded={} resp={}\n",
                r.method,
                r.path(),
                r.header("content-range").unwrap_or(""),
                r.status,
                r.upstream_status,
                r.upstream_range,
                r.range,
                r.fault,
                r.request_body_forwarded,
                r.request_body_discarded,
                r.response_body_forwarded
            )
        })
        .collect()
}
