//! Where a registry lives: scheme choice (with the loopback plain-HTTP fallback) and the
//! URLs of the Registry V2 API, including `Location` headers resolved against them.

use url::Url;

use crate::digest::Digest;

/// How to reach the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// HTTPS only.
    Https,
    /// Plain HTTP only (`--plain-http`).
    Http,
    /// HTTPS first; if the server turns out to speak plain HTTP, use HTTP. The default for
    /// `localhost` and `127.0.0.0/8`, as Docker and crane do.
    HttpsThenHttp,
}

/// Base URL of a registry's API and the builders of its paths.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    host: String,
    scheme: Scheme,
    plain: bool,
}

impl Endpoint {
    pub(crate) fn new(host: &str, scheme: Scheme) -> Endpoint {
        Endpoint {
            host: host.to_owned(),
            scheme,
            plain: scheme == Scheme::Http,
        }
    }

    /// Switches to plain HTTP if allowed; returns whether it did.
    pub(crate) fn fall_back_to_http(&mut self) -> bool {
        if self.scheme == Scheme::HttpsThenHttp && !self.plain {
            self.plain = true;
            true
        } else {
            false
        }
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The host (and port) `url` goes to when it is not the registry's own: blob storage a
    /// download was redirected to, an upload location on another host. For messages that
    /// must not blame the registry for another server's answer.
    pub(crate) fn other_host(&self, url: &Url) -> Option<String> {
        let base = self.base().ok()?;
        let same = base.host_str() == url.host_str()
            && base.port_or_known_default() == url.port_or_known_default();
        if same {
            return None;
        }
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }

    pub(crate) fn is_plain(&self) -> bool {
        self.plain
    }

    fn base(&self) -> Result<Url, url::ParseError> {
        let scheme = if self.plain { "http" } else { "https" };
        Url::parse(&format!("{scheme}://{}/", self.host))
    }

    /// `/v2/` — the version check that also reveals the auth challenge.
    pub(crate) fn ping(&self) -> Result<Url, url::ParseError> {
        self.base()?.join("v2/")
    }

    /// `/v2/<name>/<rest>`, each part a path segment of its own (a name's `/`s split it,
    /// and the segments are percent-encoded): no byte of a name, tag or digest can end the
    /// path (`?`, `#`) and so ask for another resource than the one meant.
    fn api(&self, repo: &str, rest: &[&str]) -> Result<Url, url::ParseError> {
        let mut url = self.base()?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .push("v2")
                .extend(repo.split('/'))
                .extend(rest);
        }
        Ok(url)
    }

    /// `/v2/<name>/blobs/<digest>`
    pub(crate) fn blob(&self, repo: &str, digest: &Digest) -> Result<Url, url::ParseError> {
        self.api(repo, &["blobs", &digest.to_string()])
    }

    /// `/v2/<name>/blobs/uploads/`
    pub(crate) fn uploads(&self, repo: &str) -> Result<Url, url::ParseError> {
        self.api(repo, &["blobs", "uploads", ""])
    }

    /// `/v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`: a cross-repository mount.
    pub(crate) fn mount(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<Url, url::ParseError> {
        let mut url = self.uploads(repo)?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        Ok(url)
    }

    /// `/v2/<name>/manifests/<reference>`
    pub(crate) fn manifest(&self, repo: &str, reference: &str) -> Result<Url, url::ParseError> {
        self.api(repo, &["manifests", reference])
    }

    /// `/v2/<name>/referrers/<digest>`: what names `digest` as its subject (OCI 1.1).
    pub(crate) fn referrers(&self, repo: &str, digest: &Digest) -> Result<Url, url::ParseError> {
        self.api(repo, &["referrers", &digest.to_string()])
    }

    /// `/v2/<name>/tags/list`: a repository's tags.
    pub(crate) fn tags_list(&self, repo: &str) -> Result<Url, url::ParseError> {
        self.api(repo, &["tags", "list"])
    }

    /// `/v2/_catalog`: the registry's repositories.
    pub(crate) fn catalog(&self) -> Result<Url, url::ParseError> {
        self.base()?.join("v2/_catalog")
    }

    /// Resolves a `Location` header: absolute, or relative to the API base.
    pub(crate) fn resolve_location(&self, location: &str) -> Result<Url, url::ParseError> {
        self.base()?.join(location)
    }
}

/// Whether a URL a registry named (a `Location`, a token realm) is one to send a request to:
/// `http` or `https`. Anything else (`file:`, `data:`, ...) is a broken or hostile answer.
pub(crate) fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

/// Why a URL a registry sent us to from `from` is refused for leaving HTTPS for plain HTTP:
/// what was asked over TLS (a private image's layers, a tag's manifest no digest vouches
/// for, an upload) would travel readable and alterable by anyone on the way.
pub(crate) fn downgrade(from: &Url, to: &Url) -> Option<String> {
    (from.scheme() == "https" && to.scheme() == "http").then(|| {
        format!(
            "{} leaves HTTPS for plain HTTP, which tug does not follow (a proxy in front of \
             the registry that does not pass X-Forwarded-Proto makes such URLs)",
            crate::redact::url_shown(to)
        )
    })
}

/// `location` with `digest=<digest>` in its query, keeping the other parameters such as
/// distribution's `_state`; a `digest` the location already carries is replaced, not sent
/// twice.
pub(crate) fn with_digest(location: &Url, digest: &Digest) -> Url {
    let mut url = location.clone();
    let kept: Vec<(String, String)> = location
        .query_pairs()
        .filter(|(k, _)| k != "digest")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.len() == location.query_pairs().count() {
        // No digest there: the query stays byte for byte, the digest appended.
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        return url;
    }
    url.set_query(None);
    url.query_pairs_mut()
        .extend_pairs(kept)
        .append_pair("digest", &digest.to_string());
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn d() -> Digest {
        Digest::sha256_of(b"x")
    }

    #[test]
    fn relative_and_absolute_locations() {
        let e = Endpoint::new("127.0.0.1:5000", Scheme::HttpsThenHttp);
        let rel = e
            .resolve_location("/v2/a/blobs/uploads/u1?_state=abc")
            .unwrap();
        assert_eq!(
            rel.as_str(),
            "https://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=abc"
        );
        let abs = e.resolve_location("http://other:1/up/u1").unwrap();
        assert_eq!(abs.as_str(), "http://other:1/up/u1");
    }

    #[test]
    fn digest_is_merged_into_existing_query() {
        let e = Endpoint::new("r.example", Scheme::Https);
        let loc = e
            .resolve_location("/v2/a/blobs/uploads/u1?_state=a%2Bb&x=1")
            .unwrap();
        let put = with_digest(&loc, &d());
        let q: Vec<_> = put.query_pairs().collect();
        assert_eq!(q[0].1, "a+b");
        assert_eq!(q[1].0, "x");
        assert_eq!(q[2].1, d().to_string());
        // A location that names a digest already: it is replaced, never sent twice.
        let loc = e
            .resolve_location("/v2/a/blobs/uploads/u1?digest=sha256:old&_state=s")
            .unwrap();
        let q: Vec<_> = with_digest(&loc, &d())
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            q,
            [
                ("_state".into(), "s".into()),
                ("digest".into(), d().to_string())
            ]
        );
    }

    #[test]
    fn fallback_only_when_allowed() {
        let mut e = Endpoint::new("localhost:5000", Scheme::HttpsThenHttp);
        assert!(e.fall_back_to_http());
        assert_eq!(e.ping().unwrap().as_str(), "http://localhost:5000/v2/");
        assert!(!e.fall_back_to_http());
        let mut s = Endpoint::new("r.example", Scheme::Https);
        assert!(!s.fall_back_to_http());
    }

    #[test]
    fn api_paths_keep_every_byte_of_a_name_in_the_path() {
        let e = Endpoint::new("r.example", Scheme::Https);
        let digest = d().to_string();
        assert_eq!(
            e.blob("team/app", &d()).unwrap().as_str(),
            format!("https://r.example/v2/team/app/blobs/{digest}")
        );
        assert_eq!(
            e.uploads("team/app").unwrap().as_str(),
            "https://r.example/v2/team/app/blobs/uploads/"
        );
        assert_eq!(
            e.manifest("a", "v1").unwrap().as_str(),
            "https://r.example/v2/a/manifests/v1"
        );
        // A name no parser would let through (the fuzzer's): it cannot end the path.
        let odd = e.blob("a#b?c", &d()).unwrap();
        assert_eq!((odd.query(), odd.fragment()), (None, None), "{odd}");
        assert_eq!(odd.path(), format!("/v2/a%23b%3Fc/blobs/{digest}"));
    }
}
