//! nginx with the documented CORS configuration in front of a real registry: preflights,
//! CORS headers on every answer (errors included), origins it refuses, and a real push
//! through it by skopeo.

use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{skopeo, ImageSpec, Nginx, Registry, RegistryConfig};

const PAGE: &str = "http://127.0.0.1:8080";

fn basic_auth_registry() -> Registry {
    Registry::start(RegistryConfig::plain().with_basic_auth("web", "web-pass"))
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
}

#[test]
fn preflight_is_answered_by_nginx_with_cors_headers() {
    let registry = basic_auth_registry();
    let nginx = Nginx::cors_front(&registry);
    let response = nginx
        .agent()
        .options(&format!("{}/v2/app/blobs/uploads/", nginx.url()))
        .header("Origin", PAGE)
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-range,content-type",
        )
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204, "{}", nginx.error_log());
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(PAGE)
    );
    let methods = header(&response, "access-control-allow-methods").unwrap();
    for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = header(&response, "access-control-allow-headers").unwrap();
    for h in ["Authorization", "Content-Type", "Content-Range", "Range"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    assert!(header(&response, "access-control-max-age").is_some());
    // The registry never saw the preflight (it would have answered 401).
    assert!(
        !registry.log().contains("OPTIONS"),
        "registry log: {}",
        registry.log()
    );
}

#[test]
fn registry_errors_carry_cors_headers_and_the_challenge_is_readable() {
    let registry = basic_auth_registry();
    let nginx = Nginx::cors_front(&registry);
    let response = nginx
        .agent()
        .get(&format!("{}/v2/", nginx.url()))
        .header("Origin", PAGE)
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(PAGE)
    );
    let exposed = header(&response, "access-control-expose-headers").unwrap();
    for h in [
        "Location",
        "Range",
        "Docker-Content-Digest",
        "WWW-Authenticate",
        "Docker-Upload-UUID",
    ] {
        assert!(exposed.contains(h), "{exposed}");
    }
    assert!(header(&response, "www-authenticate")
        .unwrap()
        .starts_with("Basic"));
}

#[test]
fn other_origins_get_no_cors_headers() {
    let registry = basic_auth_registry();
    let nginx = Nginx::cors_front(&registry);
    let agent = nginx.agent();
    let preflight = agent
        .options(&format!("{}/v2/", nginx.url()))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "PUT")
        .call()
        .unwrap();
    assert!(header(&preflight, "access-control-allow-origin").is_none());
    let get = agent
        .get(&format!("{}/v2/", nginx.url()))
        .header("Origin", "http://127.0.0.1.evil.example")
        .call()
        .unwrap();
    assert!(header(&get, "access-control-allow-origin").is_none());
}

#[test]
fn skopeo_pushes_through_nginx() {
    let registry = basic_auth_registry();
    let nginx = Nginx::cors_front(&registry);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    // A layer large enough for a chunked upload with several PATCH requests.
    let spec = ImageSpec::new(61).layer(40_000).layer(3_000_000);
    let fixture = write_oci_layout(&layout, &spec, "v1");
    let cert_dir = nginx.ca_dir();
    skopeo::copy(
        &format!("oci:{}:v1", layout.display()),
        &nginx.docker_ref("through/nginx:v1"),
        &[
            "--dest-cert-dir".as_ref(),
            cert_dir.as_os_str(),
            "--dest-creds".as_ref(),
            "web:web-pass".as_ref(),
            "--preserve-digests".as_ref(),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}\nnginx: {}\n{}", nginx.error_log(), nginx.access_log()));
    pull_with_skopeo_and_compare(&registry, "through/nginx:v1", &fixture);
    assert!(nginx
        .access_log()
        .contains("PUT /v2/through/nginx/manifests/v1"));
}
