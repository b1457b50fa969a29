//! The few JavaScript globals the runner uses, bound by hand so the same code runs in a
//! browser window, a worker and Node.js (no `window` needed).

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch(url, init)`.
    #[wasm_bindgen(js_name = fetch)]
    pub fn fetch_with_init(url: &str, init: &web_sys::RequestInit) -> js_sys::Promise;

    /// The global `setTimeout(handler, ms)`; returns the timer's handle (a number in
    /// browsers, an object in Node.js).
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(handler: &js_sys::Function, ms: f64) -> JsValue;

    /// The global `clearTimeout(handle)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: &JsValue);

    /// `performance.now()`: milliseconds since the page or process started.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub fn performance_now() -> f64;

    /// `crypto.getRandomValues(array)`: fills a typed array from the runtime's entropy.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(array: &js_sys::Uint32Array);

    /// The streams API's `DecompressionStream` (browsers, Node.js ≥ 18).
    pub type DecompressionStream;

    /// `new DecompressionStream(format)`; throws for a format the runtime lacks.
    #[wasm_bindgen(constructor, catch)]
    pub fn new(format: &str) -> Result<DecompressionStream, JsValue>;
}

/// `stream.pipeThrough(transform)`: a `DecompressionStream` is a readable/writable pair.
pub fn pipe_through(
    stream: &web_sys::ReadableStream,
    transform: &DecompressionStream,
) -> web_sys::ReadableStream {
    use wasm_bindgen::JsCast as _;
    stream.pipe_through(transform.unchecked_ref::<web_sys::ReadableWritablePair>())
}

/// Whether this runs in a browser (a window or a worker) rather than a server runtime such
/// as Node.js. Browsers enforce CORS and hide redirects from `fetch`; Node.js does neither.
pub fn is_browser() -> bool {
    let global = js_sys::global();
    ["document", "WorkerGlobalScope"]
        .iter()
        .any(|name| js_sys::Reflect::has(&global, &JsValue::from_str(name)).unwrap_or(false))
}

/// The page's protocol (`https:`) in a browser, if there is one.
pub fn page_protocol() -> Option<String> {
    let location = js_sys::Reflect::get(&js_sys::global(), &"location".into()).ok()?;
    js_sys::Reflect::get(&location, &"protocol".into())
        .ok()?
        .as_string()
}

/// Property `name` of `obj`, if it is set and not `undefined`/`null`.
pub fn get(obj: &JsValue, name: &str) -> Option<JsValue> {
    if obj.is_undefined() || obj.is_null() {
        return None;
    }
    js_sys::Reflect::get(obj, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// 64 random bits from `crypto.getRandomValues`: the seed of the core's retry jitter, so
/// that clients retrying at once do not retry in step.
pub fn random_seed() -> u64 {
    let words = js_sys::Uint32Array::new_with_length(2);
    get_random_values(&words);
    (u64::from(words.get_index(0)) << 32) | u64::from(words.get_index(1))
}
