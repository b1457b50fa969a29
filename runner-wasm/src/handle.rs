//! The handle `push` and `pull` return: `{ done, cancel }`, a plain object (so it can be
//! destructured) whose `cancel` needs no `this`.

use futures_channel::mpsc::{self, UnboundedReceiver};
use std::future::Future;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// Starts `work` (given the receiving end of the cancel signal) and returns the handle.
pub fn start<F>(work: impl FnOnce(UnboundedReceiver<()>) -> F) -> JsValue
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let (cancel_tx, cancel_rx) = mpsc::unbounded();
    let done = future_to_promise(work(cancel_rx));
    let cancel = Closure::<dyn FnMut()>::new(move || {
        // After the end nobody listens: cancelling a finished operation does nothing.
        let _ = cancel_tx.unbounded_send(());
    });
    let handle = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&handle, &"done".into(), &done);
    let _ = js_sys::Reflect::set(&handle, &"cancel".into(), &cancel.into_js_value());
    handle.into()
}

/// Whether `cancel()` was called already (checked before the operation starts).
pub fn cancelled(cancel: &mut UnboundedReceiver<()>) -> bool {
    cancel.try_recv().is_ok()
}
