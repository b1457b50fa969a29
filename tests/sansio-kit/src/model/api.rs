//! The Registry V2 API of the model, once a request is past faults and authentication: the
//! version check, blobs, upload sessions (POST, mount, PATCH, PUT, status), manifests and
//! (with [`RegistryModel::referrers_api`]) the referrers API.

use std::collections::HashMap;

use tug_core::http::{Method, Request, ResponseHead};
use tug_core::Digest;

use super::{error_body, error_reply, header, LocationStyle, RegistryModel, Reply};

impl RegistryModel {
    /// Answers an API request at `path`.
    pub(super) fn api(&mut self, req: &Request, path: &str, body: &[u8]) -> Reply {
        if let (Some(status), true) = (self.patch_status, req.method == Method::PATCH) {
            return error_reply(status, "UNSUPPORTED", "chunked upload unsupported");
        }
        if path == "/v2/" {
            let head = ResponseHead::new(200)
                .with_header("Content-Type", "application/json")
                .with_header("Docker-Distribution-API-Version", "registry/2.0");
            return Reply::new(head, b"{}".to_vec());
        }
        if let Some(digest) = self.redirected_path(path) {
            let digest = digest.to_owned();
            return self.serve_blob(&digest, req);
        }
        let parts: Vec<&str> = path.trim_start_matches("/v2/").split('/').collect();
        let blobs_at = parts.iter().position(|p| *p == "blobs");
        let manifests_at = parts.iter().position(|p| *p == "manifests");
        let referrers_at = parts.iter().position(|p| *p == "referrers");
        let not_found = || Reply::new(ResponseHead::new(404), b"404 page not found\n".to_vec());
        if !path.starts_with("/v2/") {
            return not_found();
        }
        if let (true, "GET", Some(i), None, None) = (
            self.referrers_api,
            req.method.as_str(),
            referrers_at,
            blobs_at,
            manifests_at,
        ) {
            if i > 0 {
                return self.referrers(&parts[..i].join("/"), part(&parts, i + 1));
            }
        }
        match (req.method.as_str(), blobs_at, manifests_at) {
            (_, Some(0), _) | (_, _, Some(0)) => not_found(),
            ("HEAD", Some(i), _) => self.head_blob(&parts[..i].join("/"), part(&parts, i + 1)),
            ("GET", Some(i), _) if part(&parts, i + 1) == "uploads" => {
                self.upload_status(&parts[..i].join("/"), part(&parts, i + 2))
            }
            ("GET", Some(i), _) => self.get_blob(part(&parts, i + 1), req),
            ("POST", Some(i), _) if part(&parts, i + 1) == "uploads" => {
                self.start_upload(&parts[..i].join("/"), req)
            }
            ("PATCH", Some(i), _) => {
                self.patch(&parts[..i].join("/"), part(&parts, i + 2), req, body)
            }
            ("PUT", Some(i), _) => {
                self.close_upload(&parts[..i].join("/"), part(&parts, i + 2), req, body)
            }
            ("GET" | "HEAD", None, Some(i)) => {
                self.get_manifest(&parts[..i].join("/"), part(&parts, i + 1), req)
            }
            ("PUT", None, Some(i)) => {
                self.put_manifest_request(&parts[..i].join("/"), part(&parts, i + 1), req, body)
            }
            _ => not_found(),
        }
    }

    /// The digest a path under [`RegistryModel::redirect_base`], when that is a path on the
    /// registry itself, names.
    fn redirected_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        let base = self
            .redirect_base
            .as_deref()
            .filter(|b| b.starts_with('/'))?;
        let rest = path.strip_prefix(base.trim_end_matches('/'))?;
        rest.strip_prefix('/')
            .filter(|d| !d.is_empty() && !d.contains('/'))
    }

    fn head_blob(&mut self, repo: &str, digest: &str) -> Reply {
        if self.repo_scoped && !self.links.contains(&format!("{repo}@{digest}")) {
            return Reply::head(ResponseHead::new(404));
        }
        match self.blobs.get(digest) {
            Some(b) => Reply::head(
                ResponseHead::new(200)
                    .with_header("Content-Length", &b.len().to_string())
                    .with_header("Docker-Content-Digest", digest),
            ),
            None => Reply::head(ResponseHead::new(404)),
        }
    }

    fn upload_status(&mut self, repo: &str, id: &str) -> Reply {
        let Some(upload) = self.uploads.get(id) else {
            return error_reply(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
        };
        let last = upload.len().saturating_sub(1);
        Reply::head(
            ResponseHead::new(204)
                .with_header("Range", &format!("0-{last}"))
                .with_header("Location", &self.location_for(repo, id)),
        )
    }

    fn get_blob(&mut self, digest: &str, req: &Request) -> Reply {
        if self.redirect_blobs {
            let base = self
                .redirect_base
                .as_deref()
                .unwrap_or("http://storage.example");
            let location = format!("{}/{digest}", base.trim_end_matches('/'));
            return Reply::head(ResponseHead::new(307).with_header("Location", &location));
        }
        self.serve_blob(digest, req)
    }

    fn start_upload(&mut self, repo: &str, req: &Request) -> Reply {
        let pairs: HashMap<String, String> = req
            .url
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        if let (Some(d), Some(from)) = (pairs.get("mount"), pairs.get("from")) {
            if self
                .bearer
                .as_ref()
                .is_some_and(|b| b.hidden.contains(from))
            {
                let realm = self.realm.as_deref().unwrap_or("http://auth.example/token");
                let challenge = format!(
                    r#"Bearer realm="{realm}",service="registry.example",scope="repository:{repo}:pull,push repository:{from}:pull",error="insufficient_scope""#
                );
                let head = ResponseHead::new(401).with_header("WWW-Authenticate", &challenge);
                return Reply::new(head, error_body("UNAUTHORIZED", "authentication required"));
            }
            let linked = !self.repo_scoped || self.links.contains(&format!("{from}@{d}"));
            if self.lying_mounts || (linked && self.blobs.contains_key(d)) {
                self.links.insert(format!("{repo}@{d}"));
                let head = ResponseHead::new(201)
                    .with_header("Location", &format!("/v2/{repo}/blobs/{d}"))
                    .with_header("Docker-Content-Digest", d);
                return Reply::head(head);
            }
        }
        let id = format!("u{}", self.next_upload);
        self.next_upload += 1;
        self.uploads.insert(id.clone(), Vec::new());
        if self.location_style == LocationStyle::RelativeWithState {
            self.stated_uploads.insert(id.clone());
        }
        let mut head = ResponseHead::new(202)
            .with_header("Location", &self.location_for(repo, &id))
            .with_header("Range", "0-0")
            .with_header("Docker-Upload-UUID", &id);
        if let Some(min) = self.min_chunk {
            head = head.with_header("OCI-Chunk-Min-Length", &min.to_string());
        }
        Reply::head(head)
    }

    fn patch(&mut self, repo: &str, id: &str, req: &Request, body: &[u8]) -> Reply {
        if !self.state_ok(req, id) {
            return error_reply(400, "BLOB_UPLOAD_INVALID", "bad _state");
        }
        let location = self.location_for(repo, id);
        let Some(upload) = self.uploads.get_mut(id) else {
            return error_reply(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
        };
        // Without `Content-Range` (a body streamed as it is made) the bytes are appended,
        // as distribution does.
        let start: u64 = match header(req, "content-range") {
            Some(range) => range
                .split('-')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(u64::MAX),
            None => upload.len() as u64,
        };
        if start != upload.len() as u64 {
            return error_reply(416, "BLOB_UPLOAD_INVALID", "bad range");
        }
        self.patch_sizes.push(body.len() as u64);
        let accept = self.short_accept.map_or(body.len(), |n| {
            usize::try_from(n).unwrap_or(usize::MAX).min(body.len())
        });
        self.short_accept = None;
        upload.extend_from_slice(&body[..accept]);
        let mut last = upload.len().saturating_sub(1) as i128;
        if self.range_skew_count > 0 {
            self.range_skew_count -= 1;
            last += i128::from(self.range_skew);
            if self.range_skew == i64::MAX {
                last = i128::from(u64::MAX);
            }
        }
        let last = last.clamp(0, i128::from(u64::MAX)) as u64;
        Reply::head(
            ResponseHead::new(202)
                .with_header("Location", &location)
                .with_header("Range", &format!("0-{last}")),
        )
    }

    fn close_upload(&mut self, repo: &str, id: &str, req: &Request, body: &[u8]) -> Reply {
        if !self.state_ok(req, id) {
            return error_reply(400, "BLOB_UPLOAD_INVALID", "bad _state");
        }
        let digest = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "digest")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let Some(mut data) = self.uploads.remove(id) else {
            return error_reply(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
        };
        data.extend_from_slice(body);
        if Digest::sha256_of(&data).to_string() != digest {
            return error_reply(
                400,
                "DIGEST_INVALID",
                "provided digest did not match uploaded content",
            );
        }
        self.links.insert(format!("{repo}@{digest}"));
        self.blobs.insert(digest.clone(), data);
        Reply::head(
            ResponseHead::new(201)
                .with_header("Docker-Content-Digest", &digest)
                .with_header("Location", &format!("/v2/{repo}/blobs/{digest}")),
        )
    }

    /// `GET /v2/<repo>/referrers/<digest>`: an index of the repository's manifests whose
    /// `subject` is `digest`, as a registry with the OCI 1.1 referrers API answers.
    fn referrers(&self, repo: &str, digest: &str) -> Reply {
        let prefix = format!("{repo}:sha256:");
        let mut found: Vec<(&String, serde_json::Value)> = Vec::new();
        for (key, (bytes, media_type)) in &self.manifests {
            let Ok(m) = serde_json::from_slice::<serde_json::Value>(bytes) else {
                continue;
            };
            if !key.starts_with(&prefix) || m["subject"]["digest"].as_str() != Some(digest) {
                continue;
            }
            let artifact_type = m["artifactType"]
                .as_str()
                .or(m["config"]["mediaType"].as_str())
                .unwrap_or("");
            let entry = serde_json::json!({
                "mediaType": media_type, "digest": Digest::sha256_of(bytes).to_string(),
                "size": bytes.len(), "artifactType": artifact_type,
            });
            found.push((key, entry));
        }
        found.sort_by(|a, b| a.0.cmp(b.0));
        let manifests: Vec<_> = found.into_iter().map(|(_, e)| e).collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let head = ResponseHead::new(200)
            .with_header("Content-Type", "application/vnd.oci.image.index.v1+json");
        Reply::new(head, index.to_string().into_bytes())
    }

    fn get_manifest(&mut self, repo: &str, reference: &str, req: &Request) -> Reply {
        let Some((bytes, media_type)) = self.manifests.get(&format!("{repo}:{reference}")) else {
            return error_reply(404, "MANIFEST_UNKNOWN", "manifest unknown");
        };
        let reported = self
            .lying_manifest_digest
            .clone()
            .unwrap_or_else(|| Digest::sha256_of(bytes).to_string());
        let mut head = ResponseHead::new(200)
            .with_header("Docker-Content-Digest", &reported)
            .with_header("Content-Length", &bytes.len().to_string());
        if !media_type.is_empty() {
            head = head.with_header("Content-Type", media_type);
        }
        let body = if req.method == Method::HEAD {
            Vec::new()
        } else {
            bytes.clone()
        };
        Reply::new(head, body)
    }

    fn put_manifest_request(
        &mut self,
        repo: &str,
        reference: &str,
        req: &Request,
        body: &[u8],
    ) -> Reply {
        let media_type = header(req, "content-type").unwrap_or("").to_owned();
        let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(body) else {
            return error_reply(400, "MANIFEST_INVALID", "bad json");
        };
        if !self.lose_blobs_before_manifests.is_empty() {
            let lost = self.lose_blobs_before_manifests.remove(0);
            self.blobs.remove(&lost);
        }
        if let Some(children) = manifest["manifests"].as_array() {
            for c in children {
                let key = format!("{repo}:{}", c["digest"].as_str().unwrap_or(""));
                if !self.manifests.contains_key(&key) {
                    return error_reply(400, "MANIFEST_UNKNOWN", &key);
                }
            }
        } else {
            let config = manifest["config"]["digest"].as_str().unwrap_or("");
            let mut wanted = vec![config.to_owned()];
            for l in manifest["layers"].as_array().into_iter().flatten() {
                wanted.push(l["digest"].as_str().unwrap_or("").to_owned());
            }
            if let Some(missing) = wanted.iter().find(|d| !self.blobs.contains_key(*d)) {
                return error_reply(400, "MANIFEST_BLOB_UNKNOWN", missing);
            }
        }
        let digest = self
            .wrong_manifest_digest
            .clone()
            .unwrap_or_else(|| Digest::sha256_of(body).to_string());
        let entry = (body.to_vec(), media_type);
        self.manifests
            .insert(format!("{repo}:{}", Digest::sha256_of(body)), entry.clone());
        self.manifests.insert(format!("{repo}:{reference}"), entry);
        let mut head = ResponseHead::new(201).with_header("Docker-Content-Digest", &digest);
        if let (true, Some(subject)) = (self.referrers_api, manifest["subject"]["digest"].as_str())
        {
            head = head.with_header("OCI-Subject", subject);
        }
        Reply::head(head)
    }
}

/// Segment `i` of a path split at `/`, or `""`.
fn part<'p>(parts: &[&'p str], i: usize) -> &'p str {
    parts.get(i).copied().unwrap_or("")
}
