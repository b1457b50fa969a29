//! A pulled image written as a tar into a JS `WritableStream` (a file from the File System
//! Access API, or a download a service worker streams), one verified blob at a time: each
//! blob is written once the core has checked its digest, so the file never holds a byte
//! that did not match; blobs go in the order they finish, which neither format minds (an
//! OCI archive names blobs by digest, a `docker save` tar lists its entries in
//! `manifest.json`, written last). A `docker save` tar's layers are decoded first (its
//! entries are uncompressed tars, whose size the header needs); an OCI archive's blobs go
//! as they are.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use tug_core::archive::docker_save_export::{SaveContent, SaveEntry, SaveImage};
use tug_core::archive::{pulled_layout, tar_writer, INDEX_JSON, OCI_LAYOUT_FILE};
use tug_core::place::FileKind;
use tug_core::pull::PulledImage;
use tug_core::{Digest, ErrorClass};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use crate::blob_source::read_all;
use crate::docker_archive::uncompressed;
use crate::errors::js_error;
use crate::fetch_transport::describe_js_error;

/// The OCI layout marker file and its content, as the CLI writes them.
const OCI_LAYOUT: (&str, &[u8]) = (OCI_LAYOUT_FILE, pulled_layout::OCI_LAYOUT_CONTENT);

/// The archive format named by the `format` option (`docker-archive`, the default, or
/// `oci-archive`: skopeo's transport names, as the CLI's `-o` takes them).
pub fn format_of(name: Option<&str>) -> Result<FileKind, JsValue> {
    match name {
        None => Ok(FileKind::DockerArchive),
        Some(n) if n == FileKind::DockerArchive.transport() => Ok(FileKind::DockerArchive),
        Some(n) if n == FileKind::OciArchive.transport() => Ok(FileKind::OciArchive),
        // A value the option does not take, as `Options` words one (`usage`).
        Some(n) => Err(js_error(
            ErrorClass::Usage,
            &format!(
                "option \"format\" must be one of [{:?}, {:?}], not {n:?}",
                FileKind::DockerArchive.transport(),
                FileKind::OciArchive.transport()
            ),
        )),
    }
}

/// The tar being written.
pub struct ArchiveStream {
    /// The output's writer; `None`: the tar is kept in memory (`parts`), to be a `Blob`.
    writer: Option<JsValue>,
    parts: js_sys::Array,
    /// Whether a `write()` is in flight (the output has not settled it yet).
    writing: Rc<Cell<bool>>,
    format: FileKind,
    /// `registry/repository:tag`, for `RepoTags` and the OCI ref name.
    name: String,
    /// A docker save's entries, once its config is in.
    entries: Option<Vec<SaveEntry>>,
    /// The image's config digest and its layers (known once the manifests are).
    image: Option<SaveImage>,
    /// Blobs that came before the config (a docker save names layers by the config's diffIDs).
    waiting: Vec<(Digest, Blob)>,
    written: HashMap<Digest, ()>,
    /// Bytes written so far.
    pub bytes: u64,
}

impl ArchiveStream {
    /// A tar of `format` into `stream` (a `WritableStream`), for the image named `name`.
    /// A stream that cannot be written is a `usage` error: one another writer holds
    /// (locked), or not a `WritableStream` at all.
    pub fn new(stream: &JsValue, format: FileKind, name: String) -> Result<Self, JsValue> {
        let writer = call(stream, "getWriter", &[]).map_err(|e| {
            js_error(
                ErrorClass::Usage,
                &format!(
                    "output: not a WritableStream this pull can write to ({}); give a new or unlocked stream",
                    describe_js_error(&e)
                ),
            )
        })?;
        Ok(Self::with(Some(writer), format, name))
    }

    /// A tar of `format` kept in memory, for the image named `name`: [`ArchiveStream::finish`]
    /// gives it as a `Blob`.
    pub fn in_memory(format: FileKind, name: String) -> Self {
        Self::with(None, format, name)
    }

    fn with(writer: Option<JsValue>, format: FileKind, name: String) -> Self {
        ArchiveStream {
            writer,
            parts: js_sys::Array::new(),
            writing: Rc::default(),
            format,
            name,
            entries: None,
            image: None,
            waiting: Vec::new(),
            written: HashMap::new(),
            bytes: 0,
        }
    }

    /// Whether the output can be written: a stream already closed or errored is a `usage`
    /// error before anything is pulled.
    pub async fn check_open(&self) -> Result<(), JsValue> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let closed = js_sys::Reflect::get(writer, &"closed".into())?;
        // An open stream's `closed` is pending: the already-settled value wins the race.
        let open = JsValue::from_str("open");
        let race = js_sys::Promise::race(&js_sys::Array::of2(
            &closed,
            &js_sys::Promise::resolve(&open),
        ));
        let state = match JsFuture::from(race).await {
            Ok(v) if v == open => return Ok(()),
            Ok(_) => "closed".to_owned(),
            Err(e) => format!("errored ({})", describe_js_error(&e)),
        };
        Err(js_error(
            ErrorClass::Usage,
            &format!("output: the stream is already {state}; give a new one"),
        ))
    }

    /// The manifests are in: an OCI archive's `oci-layout`, `index.json` and manifest go first.
    pub async fn start(&mut self, image: &PulledImage) -> Result<(), JsValue> {
        if self.format != FileKind::OciArchive {
            // A docker save tar holds every layer's bytes: no foreign one.
            let save = SaveImage::of(&image.config, &image.layers)
                .map_err(|e| js_error(e.class(), &e.to_string()))?;
            self.image = Some(save);
            return Ok(());
        }
        let m = &image.manifest;
        // The core's index.json, as every embedding writes it (the tag as `ref.name`).
        let tag = pulled_layout::archive_ref_name(Some(&self.name));
        let index = pulled_layout::index_json(&m.media_type, &m.digest, m.bytes.len() as u64, tag);
        self.bytes_entry(OCI_LAYOUT.0, OCI_LAYOUT.1).await?;
        self.bytes_entry(INDEX_JSON, &index).await?;
        self.bytes_entry(&blob_path(&m.digest), &m.bytes).await
    }

    /// Blob `digest`, verified by the core, goes into the tar (or waits for the config).
    pub async fn blob(&mut self, digest: Digest, blob: Blob) -> Result<(), JsValue> {
        if self.format == FileKind::OciArchive {
            if self.written.insert(digest.clone(), ()).is_none() {
                self.blob_entry(&blob_path(&digest), &blob).await?;
            }
            return Ok(());
        }
        let image = self
            .image
            .as_ref()
            .ok_or_else(|| invalid("a blob came before the manifest".into()))?;
        if digest == image.config {
            let config = read_all(&blob)
                .await
                .map_err(|e| invalid(describe_js_error(&e)))?;
            let entries = image
                .entries(&config, Some(&self.name))
                .map_err(|e| js_error(e.class(), &e.to_string()))?;
            self.bytes_entry(&entries[0].name, &config).await?;
            self.entries = Some(entries);
            for (d, b) in std::mem::take(&mut self.waiting) {
                self.layer(&d, &b).await?;
            }
            return Ok(());
        }
        if self.entries.is_none() {
            self.waiting.push((digest, blob));
            return Ok(());
        }
        self.layer(&digest, &blob).await
    }

    /// A docker save's layer entry for blob `digest`, decoded and checked against its diffID.
    async fn layer(&mut self, digest: &Digest, blob: &Blob) -> Result<(), JsValue> {
        let entry = self.entries.as_ref().and_then(|entries| {
            entries.iter().find_map(|e| match &e.content {
                SaveContent::Layer { layer, diff_id } if layer.digest == *digest => {
                    Some((e.name.clone(), layer.clone(), diff_id.clone()))
                }
                _ => None,
            })
        });
        let Some((name, layer, diff_id)) = entry else {
            return Ok(());
        };
        if self.written.insert(digest.clone(), ()).is_some() {
            return Ok(());
        }
        let tar = uncompressed(blob, &layer, &diff_id).await?;
        self.blob_entry(&name, &tar).await
    }

    /// Every blob is in: a docker save's `manifest.json` and `repositories`, the end blocks,
    /// and the stream is closed (a file is then put in place, a download completes). Gives
    /// the bytes written, and the tar kept in memory if there was no stream.
    pub async fn finish(mut self) -> Result<(u64, Option<Blob>), JsValue> {
        if self.format == FileKind::DockerArchive {
            let entries = self
                .entries
                .take()
                .ok_or_else(|| invalid("the image's config never arrived".into()))?;
            for e in &entries {
                match &e.content {
                    SaveContent::Layer { layer, .. }
                        if !self.written.contains_key(&layer.digest) =>
                    {
                        return Err(invalid(format!("layer {} was not written", layer.digest)));
                    }
                    SaveContent::Bytes(bytes) if e.name != entries[0].name => {
                        self.bytes_entry(&e.name, bytes).await?;
                    }
                    _ => {}
                }
            }
        }
        self.write(
            &js_sys::Uint8Array::from(&tar_writer::END_OF_ARCHIVE[..]),
            1024,
        )
        .await?;
        let Some(writer) = &self.writer else {
            return Ok((self.bytes, Some(Blob::new_with_blob_sequence(&self.parts)?)));
        };
        JsFuture::from(promise(call(writer, "close", &[])?)?).await?;
        Ok((self.bytes, None))
    }

    /// What gives up from outside the task writing: the stream is aborted, so a file picked
    /// with the File System Access API keeps what it had (nothing of this pull), and a
    /// download fails and is removed.
    pub fn aborter(&self) -> Aborter {
        Aborter {
            writer: self.writer.clone().unwrap_or(JsValue::UNDEFINED),
            writing: self.writing.clone(),
        }
    }

    async fn bytes_entry(&mut self, name: &str, bytes: &[u8]) -> Result<(), JsValue> {
        self.entry(name, bytes.len() as u64, &js_sys::Uint8Array::from(bytes))
            .await
    }

    async fn blob_entry(&mut self, name: &str, blob: &Blob) -> Result<(), JsValue> {
        self.entry(name, blob.size() as u64, blob).await
    }

    async fn entry(&mut self, name: &str, size: u64, data: &JsValue) -> Result<(), JsValue> {
        let header = tar_writer::file_header(name, size).map_err(|e| invalid(e.to_string()))?;
        self.write(
            &js_sys::Uint8Array::from(header.as_slice()),
            header.len() as u64,
        )
        .await?;
        self.write(data, size).await?;
        let pad = tar_writer::padding(size);
        if pad > 0 {
            self.write(&js_sys::Uint8Array::new_with_length(pad as u32), pad as u64)
                .await?;
        }
        Ok(())
    }

    async fn write(&mut self, data: &JsValue, len: u64) -> Result<(), JsValue> {
        let Some(writer) = &self.writer else {
            self.parts.push(data);
            self.bytes += len;
            return Ok(());
        };
        let p = promise(call(writer, "write", std::slice::from_ref(data))?)?;
        self.writing.set(true);
        let written = JsFuture::from(p).await;
        self.writing.set(false);
        written.map_err(|e| {
            // A sink that only takes bytes (a Node.js file's stream, unwrapped) fails on the
            // first blob: say what it must take.
            let hint = if data.is_instance_of::<Blob>() && e.is_instance_of::<js_sys::TypeError>() {
                " (the output must take Blob chunks as well as Uint8Array ones)"
            } else {
                ""
            };
            js_error(
                ErrorClass::Input,
                &format!("cannot write the file: {}{hint}", describe_js_error(&e)),
            )
        })?;
        self.bytes += len;
        Ok(())
    }
}

/// Aborts the stream an [`ArchiveStream`] writes, wherever its writer is.
pub struct Aborter {
    writer: JsValue,
    writing: Rc<Cell<bool>>,
}

impl Aborter {
    /// Aborts the stream with `reason`: later writes fail, and the stream's own `abort()`
    /// runs — at once, waited for here, when no write is in flight; else once the output
    /// settles that write (the Streams standard lets no sink be aborted mid-write), not
    /// waited for: a write that never ends (a paused download) holds nothing up.
    pub async fn abort(&self, reason: &JsValue) {
        if self.writer.is_undefined() {
            return;
        }
        let Ok(p) = call(&self.writer, "abort", std::slice::from_ref(reason)).and_then(promise)
        else {
            return;
        };
        if self.writing.get() {
            // Nobody waits for it: its rejection (an output that failed) is no one's error.
            let _ = call(&p, "catch", &[Closure::once_into_js(|_: JsValue| {})]);
            return;
        }
        let _ = JsFuture::from(p).await;
    }
}

/// Where an OCI archive keeps blob `d`.
fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().name(), d.hex())
}

fn invalid(message: String) -> JsValue {
    js_error(ErrorClass::Input, &message)
}

/// `obj[method](...args)`.
fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = js_sys::Reflect::get(obj, &method.into())?
        .dyn_into()
        .map_err(|_| invalid(format!("the output stream has no {method}()")))?;
    f.apply(obj, &args.iter().collect::<js_sys::Array>())
}

fn promise(v: JsValue) -> Result<js_sys::Promise, JsValue> {
    Ok(js_sys::Promise::resolve(&v))
}
