//! A pull into an OCI layout the host writes: each blob goes to a temporary file until the
//! core has verified it (`write`, then `rename` into `blobs/<alg>/<hex>`, or `remove`), and
//! once the pull succeeded the manifests, `oci-layout` and `index.json` are written.

use std::collections::VecDeque;

use tug_core::archive::pulled_layout;
use tug_core::pull::{self, Pull, PullConfig, PullPlan, PullReport};
use tug_core::{Digest, Instant, Platform, Reference};

use crate::bindings::exports::tug::core::sansio::{Failure, FileRename, FileWrite, Input, Output};
use crate::convert;
use crate::options::{self, Options};

/// A pull from a registry into a layout.
pub struct LayoutPull {
    source: Reference,
    pull: Pull,
    /// Outputs to hand out before polling the pull again (the layout's files at the end).
    queued: VecDeque<Output>,
    done: bool,
    now: Instant,
}

/// The layout path of blob `digest`.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

/// Where blob `digest` is written until it is verified.
fn temp_path(digest: &Digest) -> String {
    format!(
        "blobs/{}/.partial-{}",
        digest.algorithm().name(),
        digest.hex()
    )
}

fn whole_file(path: String, data: Vec<u8>) -> Output {
    Output::Write(FileWrite {
        path,
        offset: 0,
        data: convert::latin1(&data),
    })
}

impl LayoutPull {
    /// A pull of `source` (for `options.platform`, default `linux/amd64`).
    pub fn new(source: &str, options: &str) -> Result<LayoutPull, Failure> {
        let source = options::reference(source)?;
        let options = Options::parse(options, "pull")?;
        let platform = options
            .platform()?
            .unwrap_or_else(|| Platform::default_for_arch("x86_64"));
        let plan = PullPlan {
            registry: source.api_host().to_owned(),
            repository: source.repository.clone(),
            reference: source.manifest_ref(),
            platform,
            all_platforms: false,
            have: Vec::new(),
            manifests_only: false,
        };
        let config = PullConfig {
            registry: options.registry_config(&source)?,
            transfer: options.transfer_config()?,
        };
        Ok(LayoutPull {
            pull: Pull::new(plan, config, Instant::ZERO),
            source,
            queued: VecDeque::new(),
            done: false,
            now: Instant::ZERO,
        })
    }

    pub fn poll(&mut self) -> Option<Output> {
        if let Some(output) = self.queued.pop_front() {
            return Some(output);
        }
        if self.done {
            return None;
        }
        loop {
            let output = match self.pull.poll()? {
                pull::Output::Send(req) => {
                    let id = req.id;
                    match convert::request(req, &|_, _, _| None) {
                        Some(req) => Output::Send(req),
                        None => {
                            convert::undescribable(&mut self.pull, self.now, id);
                            continue;
                        }
                    }
                }
                pull::Output::Abort(id) => Output::Abort(id.0),
                pull::Output::Write {
                    digest,
                    offset,
                    data,
                } => Output::Write(FileWrite {
                    path: temp_path(&digest),
                    offset,
                    data: convert::latin1(&data),
                }),
                pull::Output::Commit { digest } => Output::Rename(FileRename {
                    source: temp_path(&digest),
                    target: blob_path(&digest),
                }),
                pull::Output::Discard { digest } => Output::Remove(temp_path(&digest)),
                pull::Output::Event(event) => match event.json() {
                    Some(json) => Output::Event(json.to_string()),
                    None => continue,
                },
                pull::Output::Timeout(at) => Output::WaitUntil(convert::nanos(at)),
                pull::Output::Finished(result) => {
                    self.done = true;
                    match result {
                        Ok(report) => {
                            self.queued = self.layout_files(&report);
                            self.queued
                                .push_back(Output::Finished(Ok(self.report(&report))));
                            return self.queued.pop_front();
                        }
                        Err(e) => Output::Finished(Err(convert::error(&e))),
                    }
                }
            };
            return Some(output);
        }
    }

    /// The pulled manifests, `oci-layout`, and `index.json` naming the image by its tag.
    fn layout_files(&self, report: &PullReport) -> VecDeque<Output> {
        let manifests = report.images.iter().map(|i| &i.manifest);
        let mut files: VecDeque<Output> = std::iter::once(&report.root)
            .chain(manifests)
            .map(|m| whole_file(blob_path(&m.digest), m.bytes.clone()))
            .collect();
        let root = &report.root;
        let index = pulled_layout::index_json(
            &root.media_type,
            &root.digest,
            root.bytes.len() as u64,
            &self.source.manifest_ref(),
        );
        files.push_back(whole_file(
            "oci-layout".into(),
            pulled_layout::OCI_LAYOUT_CONTENT.to_vec(),
        ));
        files.push_back(whole_file("index.json".into(), index));
        files
    }

    /// The pull report as JSON.
    fn report(&self, r: &PullReport) -> String {
        serde_json::json!({
            "image": self.source.to_string(),
            "manifest_digest": r.root.digest.to_string(),
            "blobs_downloaded": r.blobs_downloaded,
            "bytes_downloaded": r.bytes_downloaded,
            "retries": r.retries,
            "plain_http": r.plain_http,
            "elapsed_ms": r.elapsed.as_millis() as u64,
        })
        .to_string()
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), String> {
        self.now = self.now.max(now);
        convert::feed(&mut self.pull, now, input)
    }

    pub fn cancel(&mut self) {
        self.pull.cancel();
    }
}
