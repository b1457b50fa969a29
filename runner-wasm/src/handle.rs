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

/// The `cancelled` error `done` rejects with.
pub fn cancelled_error() -> JsValue {
    crate::errors::from_core(&tug_core::Error::Cancelled)
}

/// `work`, unless `cancel()` comes first: then `work` is dropped where it waits (a write the
/// output never finishes, say) and the result is the `cancelled` error.
pub async fn unless_cancelled<T>(
    work: impl Future<Output = Result<T, JsValue>>,
    cancel: &mut UnboundedReceiver<()>,
) -> Result<T, JsValue> {
    use futures_util::future::{select, Either};
    use futures_util::StreamExt as _;
    let work = std::pin::pin!(work);
    match select(work, cancel.next()).await {
        Either::Left((result, _)) => result,
        Either::Right((Some(()), _)) => Err(cancelled_error()),
        // The handle is gone: nobody can cancel any more.
        Either::Right((None, work)) => work.await,
    }
}
