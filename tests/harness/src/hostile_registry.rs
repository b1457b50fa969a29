//! The well-behaved part of a [`HostileServer`](crate::HostileServer): an in-memory Registry V2
//! happy path that serves the images of an OCI layout (pull) and accepts uploads (push), so a
//! test scripts only the requests it wants to go wrong and hands the rest to
//! [`MiniRegistry::answer`].

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;

use crate::fixtures::REF_NAME;
use crate::hashing::sha256_digest;
use crate::hostile::{Reply, SeenRequest};

/// Serves manifests (by tag and digest) and blobs of one repository from memory, and accepts
/// chunked and monolithic uploads and manifest `PUT`s into it.
#[derive(Debug)]
pub struct MiniRegistry {
    repository: String,
    /// `tag` or `sha256:…` → (bytes, media type).
    manifests: Mutex<HashMap<String, (Vec<u8>, String)>>,
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    /// Upload id → bytes received so far.
    uploads: Mutex<HashMap<String, Vec<u8>>>,
}

impl MiniRegistry {
    /// An empty repository `repository`.
    pub fn new(repository: &str) -> MiniRegistry {
        MiniRegistry {
            repository: repository.to_owned(),
            manifests: Mutex::new(HashMap::new()),
            blobs: Mutex::new(HashMap::new()),
            uploads: Mutex::new(HashMap::new()),
        }
    }

    /// A repository holding every tagged image of the OCI layout `dir` (manifests, indexes
    /// and blobs).
    ///
    /// # Panics
    ///
    /// If the layout cannot be read.
    pub fn from_layout(repository: &str, dir: &Path) -> MiniRegistry {
        let r = MiniRegistry::new(repository);
        let blobs = dir.join("blobs/sha256");
        for e in fs::read_dir(&blobs).expect("read blobs/sha256").flatten() {
            let bytes = fs::read(e.path()).expect("read blob");
            let digest = format!("sha256:{}", e.file_name().to_string_lossy());
            r.blobs.lock().unwrap().insert(digest, bytes);
        }
        let index: Value =
            serde_json::from_slice(&fs::read(dir.join("index.json")).expect("read index.json"))
                .expect("index.json is JSON");
        for m in index["manifests"].as_array().expect("manifests array") {
            let digest = m["digest"].as_str().expect("digest").to_owned();
            let media_type = m["mediaType"].as_str().expect("mediaType").to_owned();
            let bytes = r.blob(&digest).expect("manifest blob in the layout");
            if let Some(tag) = m["annotations"][REF_NAME].as_str() {
                r.put_manifest(tag, &bytes, &media_type);
            }
            r.put_manifest(&digest, &bytes, &media_type);
        }
        r
    }

    /// Stores a manifest under `reference` (and its digest).
    pub fn put_manifest(&self, reference: &str, bytes: &[u8], media_type: &str) {
        let mut m = self.manifests.lock().unwrap();
        let entry = (bytes.to_vec(), media_type.to_owned());
        m.insert(sha256_digest(bytes), entry.clone());
        m.insert(reference.to_owned(), entry);
    }

    /// A blob's bytes.
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        self.blobs.lock().unwrap().get(digest).cloned()
    }

    /// A manifest's bytes and media type, by tag or digest.
    pub fn manifest(&self, reference: &str) -> Option<(Vec<u8>, String)> {
        self.manifests.lock().unwrap().get(reference).cloned()
    }

    /// The bytes an open upload holds.
    pub fn upload(&self, id: &str) -> Option<Vec<u8>> {
        self.uploads.lock().unwrap().get(id).cloned()
    }

    /// The happy-path answer to `req`: `/v2/`, manifests and blobs (`GET`, `HEAD`, `PUT`),
    /// uploads (`POST`, `PATCH`, `PUT`, status `GET`); 404 for anything else.
    pub fn answer(&self, req: &SeenRequest) -> Reply {
        let path = req.path();
        if path == "/v2/" {
            return Reply::body(200, "application/json", "{}");
        }
        let Some(rest) = path
            .strip_prefix("/v2/")
            .and_then(|p| p.strip_prefix(self.repository.as_str()))
        else {
            return Reply::registry_error(404, "NAME_UNKNOWN", "repository name not known");
        };
        let method = req.method.as_str();
        if let Some(reference) = rest.strip_prefix("/manifests/") {
            return self.answer_manifest(method, reference, req);
        }
        if let Some(id) = rest.strip_prefix("/blobs/uploads/") {
            return self.answer_upload(method, id, req);
        }
        if let Some(digest) = rest.strip_prefix("/blobs/") {
            return match (method, self.blob(digest)) {
                ("GET" | "HEAD", Some(bytes)) => {
                    Reply::body(200, "application/octet-stream", bytes)
                        .with_header("Docker-Content-Digest", digest)
                }
                _ => Reply::registry_error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
            };
        }
        Reply::registry_error(404, "NOT_FOUND", "not found")
    }

    fn answer_manifest(&self, method: &str, reference: &str, req: &SeenRequest) -> Reply {
        if method == "PUT" {
            let media_type = req.header("content-type").unwrap_or("").to_owned();
            self.put_manifest(reference, &req.body, &media_type);
            let location = format!(
                "/v2/{}/manifests/{}",
                self.repository,
                sha256_digest(&req.body)
            );
            return Reply::status(201)
                .with_header("Location", &location)
                .with_header("Docker-Content-Digest", &sha256_digest(&req.body));
        }
        match self.manifest(reference) {
            Some((bytes, media_type)) => {
                let digest = sha256_digest(&bytes);
                Reply::body(200, &media_type, bytes).with_header("Docker-Content-Digest", &digest)
            }
            None => Reply::registry_error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
        }
    }

    fn answer_upload(&self, method: &str, id_and_query: &str, req: &SeenRequest) -> Reply {
        let id = id_and_query.trim_end_matches('/');
        let location = |id: &str| format!("/v2/{}/blobs/uploads/{id}", self.repository);
        let range = |len: usize| format!("0-{}", len.saturating_sub(1));
        let mut uploads = self.uploads.lock().unwrap();
        match method {
            "POST" if id.is_empty() => {
                let id = format!("u{}", uploads.len() + 1);
                uploads.insert(id.clone(), Vec::new());
                Reply::status(202)
                    .with_header("Location", &location(&id))
                    .with_header("Range", "0-0")
                    .with_header("Docker-Upload-UUID", &id)
            }
            "PATCH" | "PUT" | "GET" => {
                let Some(held) = uploads.get_mut(id) else {
                    return Reply::registry_error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
                };
                if method == "GET" {
                    return Reply::status(204)
                        .with_header("Location", &location(id))
                        .with_header("Range", &range(held.len()));
                }
                held.extend_from_slice(&req.body);
                if method == "PATCH" {
                    return Reply::status(202)
                        .with_header("Location", &location(id))
                        .with_header("Range", &range(held.len()));
                }
                let digest = req
                    .target
                    .split_once("digest=")
                    .map(|(_, d)| d.split('&').next().unwrap_or("").replace("%3A", ":"))
                    .unwrap_or_default();
                if sha256_digest(held) != digest {
                    return Reply::registry_error(
                        400,
                        "DIGEST_INVALID",
                        "provided digest did not match uploaded content",
                    );
                }
                let bytes = uploads.remove(id).unwrap_or_default();
                self.blobs.lock().unwrap().insert(digest.clone(), bytes);
                Reply::status(201)
                    .with_header(
                        "Location",
                        &format!("/v2/{}/blobs/{digest}", self.repository),
                    )
                    .with_header("Docker-Content-Digest", &digest)
            }
            _ => Reply::registry_error(405, "UNSUPPORTED", "unsupported"),
        }
    }
}
