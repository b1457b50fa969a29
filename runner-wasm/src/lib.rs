//! tug-wasm: the browser and Node.js runner of the tug protocol core, built with
//! wasm-bindgen. It drives `tug-core`'s state machines on the JS event loop: requests go
//! out with `fetch` (+ `AbortController`), request bodies are `Blob.slice`s of the user's
//! file (no layer is copied into wasm memory), timers are `setTimeout`, time is
//! `performance.now()`. Retries, authentication and progress all come from the core.
//!
//! The JS API (TypeScript declarations are generated with the package):
//!
//! ```js
//! import init, { version, inspect, push, pull, parseReference, limits } from './pkg/tug_wasm.js'; // Node.js: pkg-node, no init
//! await init();
//! const images = await inspect(file);                     // Image[]
//! const { done, cancel } = push(file, '127.0.0.1:5000/team/app:v1',
//!                               { plainHttp: true }, (ev) => console.log(ev.event));
//! const { manifestDigest } = await done;                  // rejects with Error.code
//! const { tar } = await pull('127.0.0.1:5000/team/app:v1', { plainHttp: true }).done;
//! ```

mod archive_stream;
mod blob_parts;
mod blob_source;
mod copy;
mod docker_archive;
mod driver;
mod errors;
mod events;
mod fetch_transport;
mod handle;
mod inspect;
mod js;
mod limits;
mod options;
mod pull;
mod pulled_blobs;
mod push;
mod timer;

use tug_core::reference::ReferenceError;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** One image of an image file. */
export interface Image {
  index: number;
  tags: string[];
  /** `os/architecture[/variant]` from the image config, if it says. */
  platform: string | null;
  manifestDigest: string;
  configDigest: string;
  /** "docker-save" | "docker-save-oci" | "oci-archive" */
  format: string;
  layers: { digest: string; size: number; mediaType: string }[];
  totalSize: number;
}
/** Registry access shared by push and pull. */
export interface RegistryOptions {
  username?: string;
  password?: string;
  /** true: http://; false: https://; unset: https://, or http:// for a loopback registry that speaks it. */
  plainHttp?: boolean;
  /** Blobs in flight at once (default 4; `limits().jobs`). */
  jobs?: number;
  /** Whether the blobs in flight follow the measured throughput, up to `jobs` (default
   *  true); false keeps `jobs` fixed, as the CLI's `--fixed-jobs`. */
  adaptive?: boolean;
  /** Attempts per request before giving up (default 5; `limits().retries`). */
  retries?: number;
  /** Seconds a request may move no byte before it fails and is retried (default 60, as the
   *  CLI's `--stall-timeout`; 0: no limit). The core keeps these deadlines. */
  stallTimeout?: number;
  /** Seconds after the operation's first failure past which nothing is retried, as the
   *  CLI's `--retry-max-wait` (default: only `retries` limits retries). */
  retryMaxWait?: number;
  /** Milliseconds before the first retry, doubled for each later one, each wait drawn
   *  between half and all of that (default 1000, as the CLI's `--retry-delay`). */
  retryDelay?: number;
  /** The retry jitter's seed (default: from `crypto`). */
  seed?: number;
  /** The `User-Agent` requests carry where the runtime lets it be set (Node.js; a browser
   *  sends its own). */
  userAgent?: string;
}
export interface PushOptions extends RegistryOptions {
  /** Which image of a multi-image file: its index or one of its tags. */
  image?: number | string;
  /** Push this platform's image alone (`os/arch[/variant]`), as `tug push --platform`;
   *  without it a multi-platform index is pushed whole. */
  platform?: string;
  /** Bytes per PATCH chunk (default 64 MiB in a browser, 16 MiB in Node.js; `limits().chunkSize`). */
  chunkSize?: number;
  /** Blobs up to this size go in one PUT (default: chunkSize). */
  monolithicMax?: number;
  /** In a browser, how each chunk goes to `XMLHttpRequest`: "blob" (default), the file's
   *  slice, or "buffer", the slice read into the page first (one copy per chunk in flight). */
  uploadBody?: "blob" | "buffer";
  /** Upload sessions a previous push left open (its `upload_session` events, kept until
   *  `upload_session_closed`): a blob the registry still lacks goes on from the offset its
   *  session confirms, or starts over if the registry forgot it. */
  resume?: ResumableUpload[];
}
/** An open upload session, as an `upload_session` event reports it. */
export interface ResumableUpload {
  digest: string;
  /** The session URL (absolute), as the registry gave it. */
  location: string;
  /** Bytes the registry confirmed holding. */
  committed: number;
}
export interface PullOptions extends RegistryOptions {
  /** The platform to take from a multi-platform image (default linux/amd64). */
  platform?: string;
  /** Write the archive here as it arrives (a file's `createWritable()`, a download's stream)
   *  instead of resolving to a `tar` Blob: each blob once verified; aborted on failure and on
   *  `cancel()` (which settles `done` at once, even while a write is pending). It gets both
   *  `Uint8Array` and `Blob` chunks: a sink that takes bytes only (a Node.js file's) must
   *  read a `Blob`'s (`new Uint8Array(await chunk.arrayBuffer())`). A locked, closed or
   *  errored stream is a `usage` error. */
  output?: WritableStream<Uint8Array | Blob>;
  /** The archive's format, written to `output` or resolved as `tar`: "docker-archive"
   *  (default, `docker save`) or "oci-archive". */
  format?: "docker-archive" | "oci-archive";
}
/** What `platforms()` found. */
export interface Platforms {
  /** Whether the reference names a multi-platform index. */
  index: boolean;
  digest: string;
  /** `os/arch[/variant]` of each image of the index, in its order. */
  platforms: string[];
  /** The platform a pull of an index takes when given none. A single image is pulled
   *  whatever its platform: give a pull of one no `platform`, or it must be the image's. */
  default: string;
}
/** What happened to one blob, in milliseconds since the operation started: the records of
 *  `tug history show` (the core folds them from the events, for every runner). */
export interface BlobTiming {
  digest: string;
  size: number;
  start_ms: number;
  end_ms: number;
  /** `pushed`, `downloaded`, `skipped`, `mounted`, or `unfinished` (the operation ended first). */
  outcome: string;
  /** Bytes an earlier run had moved (a resumed upload or download). */
  resumed_from?: number;
  retries: number;
}
export interface PushResult {
  manifestDigest: string;
  bytesSent: number;
  blobsSkipped: number;
  blobsPushed: number;
  retries: number;
  durationMs: number;
  blobTimings: BlobTiming[];
}
export interface CopyOptions extends RegistryOptions {
  /** How to reach the source: its own credentials and scheme (the top-level ones are the target's,
   *  never sent to the source); `retries` and `stallTimeout` are the top-level ones unless given. */
  source?: { username?: string; password?: string; plainHttp?: boolean; retries?: number; stallTimeout?: number };
  /** The one platform to copy from a multi-platform image; without it every platform and the
   *  index itself are copied, unchanged (as crane and regctl copy, and `tug copy`). */
  platform?: string;
  /** Copy every platform and the index itself: the default; kept for callers that say so. */
  allPlatforms?: boolean;
  /** Bytes per PATCH chunk (default 16 MiB, browsers too: each is gathered in memory and sent by `fetch`). */
  chunkSize?: number;
  /** Upload sessions a previous copy left open (its `upload_session` events), as a push's. */
  resume?: ResumableUpload[];
  /** Copy what is attached to the image (signatures, SBOMs, attestations: the referrers API,
   *  the `sha256-<hex>` tag index, cosign's tags) after it: the default, as `tug copy`;
   *  `false` copies the image alone. Each copied is a `referrer_copied` event; one the source's
   *  index lists but the source no longer has is a `referrer_missing` event, not a failure. */
  referrers?: boolean;
}
export interface CopyResult {
  manifestDigest: string;
  bytesSent: number;
  blobsSkipped: number;
  blobsCopied: number;
  retries: number;
  durationMs: number;
  blobTimings: BlobTiming[];
}
export interface PullResult {
  manifestDigest: string;
  /** The image as an archive of `format` (a `docker save` one by default: docker load,
   *  skopeo docker-archive:); absent with `output`. */
  tar?: Blob;
  /** With `output`: the archive's length. */
  bytesWritten?: number;
  bytesReceived: number;
  retries: number;
  durationMs: number;
  blobTimings: BlobTiming[];
}
/** The same objects as the CLI's `--progress json` lines: `event` names the kind. An
 *  `onEvent` that throws stops nothing; its first error goes to `console.error`. */
export interface TugEvent {
  event: string;
  [field: string]: unknown;
}
/** A running push or pull. `done` rejects with a TugError. */
export interface Handle<T> {
  done: Promise<T>;
  cancel(): void;
}
/** A range of an option and its default (`min`/`max` absent: unbounded). */
export interface Limit {
  min?: number;
  max?: number;
  default: number;
}
/** The ranges and defaults of the options, as the CLI's flags have them. */
export interface Limits {
  jobs: Limit;
  retries: Limit;
  chunkSize: Limit;
  monolithicMax: Limit;
  /** `uploadBody`'s values and default. */
  uploadBody: { values: string[]; default: string };
}
/** The parts of an image reference, as the CLI parses it. */
export interface ParsedReference {
  /** Registry host (and port), `docker.io` when none was given. */
  registry: string;
  /** Repository path, e.g. `team/app` or `library/busybox`. */
  repository: string;
  tag: string | null;
  digest: string | null;
  /** What is pushed or pulled under `/manifests/`: the digest, else the tag, else `latest`. */
  reference: string;
  /** The reference in full, its tag made explicit (`:latest` when neither tag nor digest). */
  name: string;
}
/** Why `parseReference` refused a text: `code` `input` and `part`, the part at fault; or
 * `code` `usage` (and no `part`) for what is not a string. */
export interface ReferenceError extends TugError {
  part?: "registry" | "repository" | "tag" | "digest";
}
export interface TugError extends Error {
  code: "usage" | "input" | "auth" | "not_found" | "registry" | "network" | "cors" | "cancelled";
  /** The blobs' timings up to the failure, when the transfer had started. */
  blobTimings?: BlobTiming[];
}
"#;

/// The version of the tug core this package carries.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Normalises an image reference the way the CLI does (`busybox` →
/// `docker.io/library/busybox`), or throws an error naming what is wrong (`.code` `usage`
/// for what is not a string, `input` with `.part` for a bad reference).
#[wasm_bindgen(js_name = normalizeReference)]
pub fn normalize_reference(
    #[wasm_bindgen(unchecked_param_type = "string")] reference: JsValue,
) -> Result<String, JsValue> {
    let parsed = reference_of(reference)?;
    Ok(parsed.to_string())
}

/// A reference a caller gave to parse: a string with the CLI's grammar, else an `Error`
/// with `.code` `usage` (not a string) or `input` (not a reference, with `.part` naming
/// the part at fault).
fn reference_of(value: JsValue) -> Result<tug_core::Reference, JsValue> {
    let text = text_of(value, "reference")?;
    text.parse().map_err(|e: ReferenceError| {
        let error = errors::js_error(tug_core::ErrorClass::Input, &e.to_string());
        let _ = js_sys::Reflect::set(&error, &"part".into(), &e.part.name().into());
        error
    })
}

/// Parses an image reference with the CLI's grammar (`busybox` is
/// `docker.io/library/busybox`): its parts and its full name, the tag made explicit. Throws
/// an `Error` whose `.code` is `input` and `.part` says which part is wrong (`usage` for
/// what is not a string).
#[wasm_bindgen(js_name = parseReference, unchecked_return_type = "ParsedReference")]
pub fn parse_reference(
    #[wasm_bindgen(unchecked_param_type = "string")] reference: JsValue,
) -> Result<JsValue, JsValue> {
    let parsed = reference_of(reference)?;
    Ok(events::to_js(&serde_json::json!({
        "registry": parsed.registry,
        "repository": parsed.repository,
        "tag": parsed.tag,
        "digest": parsed.digest.as_ref().map(|d| d.to_string()),
        "reference": parsed.manifest_ref(),
        "name": parsed.with_default_tag().to_string(),
    })))
}

/// The ranges and defaults of the transfer options (`jobs`, `retries`, `chunkSize`,
/// `monolithicMax`): the core's, as the CLI has them; `chunkSize` is a push's default here
/// (64 MiB in a browser, 16 MiB in Node.js). An option outside its range is a `usage` error.
#[wasm_bindgen(unchecked_return_type = "Limits")]
pub fn limits() -> JsValue {
    events::to_js(&limits::describe(js::is_browser()))
}

/// What an image file (a `docker save` tar, Docker 25+ included, or an OCI archive) holds.
/// Reads only tar headers and small metadata files.
#[wasm_bindgen(unchecked_return_type = "Promise<Image[]>")]
pub fn inspect(#[wasm_bindgen(unchecked_param_type = "Blob")] file: JsValue) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let file = blob_of(file)?;
        let contents = inspect::resolve(&file).await?;
        Ok(events::to_js(&inspect::describe(&contents)))
    })
}

/// Pushes the image in `file` to `target` (`host:port/repository:tag`).
#[wasm_bindgen(unchecked_return_type = "Handle<PushResult>")]
pub fn push(
    #[wasm_bindgen(unchecked_param_type = "Blob")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] target: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PushOptions | undefined")] options: JsValue,
    #[wasm_bindgen(js_name = onEvent, unchecked_param_type = "((event: TugEvent) => void) | undefined")]
    on_event: JsValue,
) -> JsValue {
    handle::start(move |cancel| async move {
        let file = blob_of(file)?;
        events::Listener::check(&on_event)?;
        push::run(file, text_of(target, "target")?, options, on_event, cancel).await
    })
}

/// What a JS value is, for an error about an argument: its `typeof`, or `null`.
fn kind_of(value: &JsValue) -> String {
    match value.js_typeof().as_string().as_deref() {
        Some("object") if value.is_null() => "null".to_owned(),
        Some(kind) => kind.to_owned(),
        None => "something else".to_owned(),
    }
}

/// An image reference a caller gave (`what`: the argument's name): a string, else a `usage`
/// error naming what it got, as `done`'s rejection like every other bad argument (never a
/// `TypeError` thrown by the call).
fn text_of(value: JsValue, what: &str) -> Result<String, JsValue> {
    value.as_string().ok_or_else(|| {
        errors::js_error(
            tug_core::ErrorClass::Usage,
            &format!(
                "the {what} must be a string (host/repository:tag), not {}",
                kind_of(&value)
            ),
        )
    })
}

/// The image file a caller gave: a `Blob` (a browser's `File`, Node's `fs.openAsBlob`),
/// else a `usage` error naming what it got (never an exception out of a task).
fn blob_of(file: JsValue) -> Result<web_sys::Blob, JsValue> {
    use wasm_bindgen::JsCast as _;
    file.dyn_into::<web_sys::Blob>().map_err(|got| {
        let what = kind_of(&got);
        errors::js_error(
            tug_core::ErrorClass::Usage,
            &format!(
                "the image file must be a Blob (a File, or fs.openAsBlob(path) in Node.js), not {what}"
            ),
        )
    })
}

/// Pulls `image` (`host:port/repository:tag` or `@digest`) into a `docker save` archive.
#[wasm_bindgen(unchecked_return_type = "Handle<PullResult>")]
pub fn pull(
    #[wasm_bindgen(unchecked_param_type = "string")] image: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PullOptions | undefined")] options: JsValue,
    #[wasm_bindgen(js_name = onEvent, unchecked_param_type = "((event: TugEvent) => void) | undefined")]
    on_event: JsValue,
) -> JsValue {
    handle::start(move |cancel| async move {
        events::Listener::check(&on_event)?;
        pull::run(text_of(image, "image")?, options, on_event, cancel).await
    })
}

/// The platforms of `image`: an index's, or the single image's; reads manifests only.
#[wasm_bindgen(unchecked_return_type = "Handle<Platforms>")]
pub fn platforms(
    #[wasm_bindgen(unchecked_param_type = "string")] image: JsValue,
    #[wasm_bindgen(unchecked_param_type = "RegistryOptions | undefined")] options: JsValue,
) -> JsValue {
    handle::start(move |cancel| async move {
        pull::platforms(text_of(image, "image")?, options, cancel).await
    })
}

/// Copies `source` to `target` (both `host:port/repository:tag` or `@digest`), registry to
/// registry: blobs the target has are skipped, within one registry they are mounted.
#[wasm_bindgen(unchecked_return_type = "Handle<CopyResult>")]
pub fn copy(
    #[wasm_bindgen(unchecked_param_type = "string")] source: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] target: JsValue,
    #[wasm_bindgen(unchecked_param_type = "CopyOptions | undefined")] options: JsValue,
    #[wasm_bindgen(js_name = onEvent, unchecked_param_type = "((event: TugEvent) => void) | undefined")]
    on_event: JsValue,
) -> JsValue {
    handle::start(move |cancel| async move {
        let source = text_of(source, "source")?;
        events::Listener::check(&on_event)?;
        copy::run(
            source,
            text_of(target, "target")?,
            options,
            on_event,
            cancel,
        )
        .await
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_crate_version() {
        assert_eq!(super::version(), env!("CARGO_PKG_VERSION"));
    }
}
