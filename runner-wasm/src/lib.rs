//! tug-wasm: the browser and Node.js runner of the tug protocol core, built with
//! wasm-bindgen. This first part exposes reference parsing; the fetch-driven push runner
//! and its JS API come with the web page.

use wasm_bindgen::prelude::*;

/// The version of the tug core this package carries.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Normalises an image reference the way the CLI does (`busybox` →
/// `docker.io/library/busybox`), or throws an error naming what is wrong.
#[wasm_bindgen(js_name = normalizeReference)]
pub fn normalize_reference(reference: &str) -> Result<String, JsError> {
    let parsed: tug_core::Reference = reference
        .parse()
        .map_err(|e: tug_core::reference::ReferenceError| JsError::new(&e.to_string()))?;
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_crate_version() {
        assert_eq!(super::version(), env!("CARGO_PKG_VERSION"));
    }
}
