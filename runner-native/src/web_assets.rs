//! The web page's files, embedded at build time from `web/dist` (see `build.rs`).

/// One embedded file.
pub struct Asset {
    /// Its path under the page's root, `/`-separated, without a leading `/`.
    pub path: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The file at `path` (relative, `/`-separated).
pub fn get(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether the page was built into this binary.
pub fn built() -> bool {
    get("index.html").is_some()
}

/// Where the page was looked for when this binary was built.
pub fn dist_dir() -> &'static str {
    DIST
}

/// The `Content-Type` for a file name.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" | "ts" | "conf" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
