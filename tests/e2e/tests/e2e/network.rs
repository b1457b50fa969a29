//! The network environment as the Go tools read it, and client certificates as Docker and
//! the containers tools find them. Proxies: `HTTPS_PROXY` / `HTTP_PROXY` per request
//! scheme, `NO_PROXY` (its finer cases are unit tests of `transport/proxy.rs`), loopback never proxied, a proxy tug cannot use refused by name. The
//! registry is reached as `registry.tug.test:PORT` through a loopback `CONNECT` proxy that
//! tunnels every name to 127.0.0.1, so no name is ever resolved.

use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{ConnectProxy, ImageSpec, Registry, RegistryConfig, Tug};

const USER: &str = "net";
const PASSWORD: &str = "proxy-test-password";
const NAME: &str = "registry.tug.test";

/// tug with `vars` set and every proxy variable of the environment it runs in removed.
fn tug(vars: &[(&str, &str)]) -> Tug {
    let mut t = Tug::new();
    for v in ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"] {
        t = t.env_remove(v).env_remove(v.to_ascii_lowercase());
    }
    for (k, v) in vars {
        t = t.env(k, v);
    }
    t.env("TUG_USERNAME", USER).env("TUG_PASSWORD", PASSWORD)
}

fn push(t: Tug, registry: &Registry, layout: &std::path::Path, target: &str) -> Tug {
    let ca = registry.ca_file().map(|p| p.to_path_buf());
    let mut t = t.arg("push");
    if let Some(ca) = ca {
        t = t.arg("--ca-file").arg(ca);
    }
    t.arg(format!("oci:{}:v1", layout.display())).arg(target)
}

#[test]
fn https_goes_through_https_proxy_and_loopback_and_no_proxy_hosts_do_not() {
    let registry = Registry::start(
        RegistryConfig::tls()
            .with_basic_auth(USER, PASSWORD)
            .with_tls_name(NAME),
    );
    let proxy = ConnectProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("oci");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(301).layer(40_000), "v1");
    let port = registry.port();
    let by_name = format!("{NAME}:{port}");

    // Through the proxy: the registry is only reachable that way under this name.
    let env = [
        ("HTTPS_PROXY", proxy.url()),
        ("NO_PROXY", format!("{NAME}:1,.other.test, 10.0.0.0/8")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    push(
        tug(&env),
        &registry,
        &layout,
        &format!("{by_name}/net/app:1"),
    )
    .run()
    .assert_success();
    let tunnelled = proxy.targets();
    assert!(!tunnelled.is_empty(), "the push went through the proxy");
    assert!(
        tunnelled.iter().all(|t| t == &by_name),
        "every tunnel is to the registry: {tunnelled:?}"
    );
    pull_with_skopeo_and_compare(&registry, "net/app:1", &fixture);

    // Loopback is never proxied, whatever the variables say.
    let before = proxy.targets().len();
    push(
        tug(&env),
        &registry,
        &layout,
        &format!("127.0.0.1:{port}/net/direct:1"),
    )
    .run()
    .assert_success();
    assert_eq!(
        proxy.targets().len(),
        before,
        "nothing tunnelled for 127.0.0.1"
    );
    // (HTTP_PROXY alone never proxying HTTPS is a unit test: here the name would then be
    // resolved, which a test must not do.)
}

#[test]
fn a_socks5_proxy_carries_https() {
    let registry = Registry::start(
        RegistryConfig::tls()
            .with_basic_auth(USER, PASSWORD)
            .with_tls_name(NAME),
    );
    let proxy = ConnectProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("oci");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(305).layer(25_000), "v1");
    let by_name = format!("{NAME}:{}", registry.port());
    let socks = proxy.socks_url();
    push(
        tug(&[("HTTPS_PROXY", socks.as_str())]),
        &registry,
        &layout,
        &format!("{by_name}/net/socks:1"),
    )
    .run()
    .assert_success();
    assert!(
        proxy.targets().iter().any(|t| t == &by_name),
        "{:?}",
        proxy.targets()
    );
    pull_with_skopeo_and_compare(&registry, "net/socks:1", &fixture);
}

#[test]
fn insecure_against_a_plain_http_registry_points_to_plain_http() {
    // Reached by name (through the proxy), so the loopback HTTPS-then-HTTP fallback does not
    // apply: HTTPS meets a server that answers in plain HTTP.
    let registry = Registry::start(RegistryConfig::plain().with_basic_auth(USER, PASSWORD));
    let proxy = ConnectProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("oci");
    write_oci_layout(&layout, &ImageSpec::new(306).layer(1_000), "v1");
    let by_name = format!("{NAME}:{}", registry.port());
    let out = push(
        tug(&[("HTTPS_PROXY", proxy.url().as_str())]),
        &registry,
        &layout,
        &format!("{by_name}/net/insecure:1"),
    )
    .arg("--insecure")
    .run();
    assert!(!out.success());
    let err = out.stderr_str();
    assert!(err.contains("--plain-http"), "{err}");
    assert!(
        proxy.targets().iter().any(|t| t == &by_name),
        "{:?}",
        proxy.targets()
    );
}

#[test]
fn http_goes_through_http_proxy() {
    let registry = Registry::start(RegistryConfig::plain().with_basic_auth(USER, PASSWORD));
    let proxy = ConnectProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("oci");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(302).layer(30_000), "v1");
    let by_name = format!("{NAME}:{}", registry.port());
    push(
        tug(&[("http_proxy", proxy.url().as_str())]),
        &registry,
        &layout,
        &format!("{by_name}/net/plain:1"),
    )
    .arg("--plain-http")
    .run()
    .assert_success();
    assert!(
        proxy.targets().iter().any(|t| t == &by_name),
        "{:?}",
        proxy.targets()
    );
    pull_with_skopeo_and_compare(&registry, "net/plain:1", &fixture);
}

#[test]
fn a_proxy_tug_cannot_use_is_refused_by_name_and_all_proxy_is_said_unread() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("oci");
    write_oci_layout(&layout, &ImageSpec::new(303).layer(1_000), "v1");
    let out = tug(&[("HTTPS_PROXY", "socks4://127.0.0.1:1")])
        .arg("push")
        .arg(format!("oci:{}:v1", layout.display()))
        .arg("127.0.0.1:1/x:1")
        .run();
    assert!(!out.success());
    let err = out.stderr_str();
    assert!(
        err.contains("HTTPS_PROXY") && err.contains("socks4"),
        "{err}"
    );

    let registry = Registry::start(RegistryConfig::tls().with_basic_auth(USER, PASSWORD));
    let out = push(
        tug(&[("ALL_PROXY", "socks5://127.0.0.1:1")]),
        &registry,
        &layout,
        &registry.image("net/all:1"),
    )
    .run()
    .assert_success();
    assert!(
        out.stderr_str().contains("ALL_PROXY is set but not read"),
        "{}",
        out.stderr_str()
    );
}

#[test]
fn a_registry_asking_for_a_client_certificate_gets_one_from_flags_or_a_certs_d_directory() {
    let registry = Registry::start(
        RegistryConfig::tls()
            .with_client_auth()
            .with_basic_auth(USER, PASSWORD),
    );
    let certs = registry
        .ca_dir()
        .expect("a TLS registry has a CA directory");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("oci");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(304).layer(20_000), "v1");

    // Without a certificate the registry refuses the connection.
    let out = push(tug(&[]), &registry, &layout, &registry.image("mtls/none:1"))
        .arg("--retries")
        .arg("1")
        .run();
    assert!(!out.success(), "no client certificate, no push");
    assert!(
        out.stderr_str().contains("--cert-file"),
        "the hint names the way out: {}",
        out.stderr_str()
    );

    // --cert-file / --key-file.
    push(
        tug(&[]),
        &registry,
        &layout,
        &registry.image("mtls/flags:1"),
    )
    .arg("--cert-file")
    .arg(certs.join("client.cert"))
    .arg("--key-file")
    .arg(certs.join("client.key"))
    .run()
    .assert_success();
    pull_with_skopeo_and_compare(&registry, "mtls/flags:1", &fixture);

    // The user's containers certs.d directory for this registry: its CA and its client
    // certificate, no flag at all.
    let config = dir.path().join("config");
    let host_dir = config
        .join("containers/certs.d")
        .join(format!("127.0.0.1:{}", registry.port()));
    std::fs::create_dir_all(&host_dir).unwrap();
    for f in ["ca.crt", "client.cert", "client.key"] {
        std::fs::copy(certs.join(f), host_dir.join(f)).unwrap();
    }
    tug(&[("XDG_CONFIG_HOME", config.to_str().unwrap())])
        .arg("push")
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(registry.image("mtls/certs-d:1"))
        .run()
        .assert_success();
    pull_with_skopeo_and_compare(&registry, "mtls/certs-d:1", &fixture);

    // --cert-dir names such a directory directly.
    tug(&[])
        .arg("push")
        .arg("--cert-dir")
        .arg(&host_dir)
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(registry.image("mtls/cert-dir:1"))
        .run()
        .assert_success();
}

/// A proxy that wants credentials (`407`): an authentication failure (exit 4) said once,
/// naming the proxy and how to give them, not a network error retried; a proxy whose port
/// is no number is refused before anything is sent.
#[test]
fn a_proxy_wanting_credentials_or_with_a_bad_port_is_named() {
    let proxy = tug_testkit::HostileServer::start(|_| {
        tug_testkit::Reply::status(407).with_header("Proxy-Authenticate", r#"Basic realm="proxy""#)
    });
    let proxy_url = format!("http://{}", proxy.host());
    let out = tug(&[("HTTPS_PROXY", proxy_url.as_str())])
        .args(["ls", &format!("{NAME}:5000/net/app")])
        .run()
        .assert_code(crate::common::AUTH);
    let err = out.stderr_str();
    assert!(err.contains(&format!("through proxy {proxy_url}")), "{err}");
    assert!(
        err.contains("407") && err.contains("user name and password"),
        "{err}"
    );
    let asked = proxy.requests().len();
    assert_eq!(asked, 1, "asked once, not retried");

    let out = tug(&[("HTTPS_PROXY", "127.0.0.1:notaport")])
        .args(["ls", &format!("{NAME}:5000/net/app")])
        .run();
    assert!(!out.success());
    assert!(
        out.stderr_str()
            .contains("the port is not a number from 1 to 65535"),
        "{}",
        out.stderr_str()
    );
}

/// A registry whose certificate is self-signed and marked a CA (`CA:TRUE`), as `openssl req
/// -x509` makes one with OpenSSL's default config and Docker's "test an insecure registry"
/// recipe uses: trusted as the CA file it is given (or `certs.d`'s `ca.crt`), as Docker and
/// skopeo trust it. Without it the certificate is still refused, and a host it does not name
/// is refused even with it.
#[test]
fn a_self_signed_certificate_that_is_its_own_ca_is_trusted_when_given() {
    let registry = Registry::start(RegistryConfig::tls_self_signed_ca().with_tls_name(NAME));
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("oci");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(305).layer(20_000), "v1");
    let certs = registry
        .ca_dir()
        .expect("a TLS registry has a CA directory");

    // --ca-file.
    tug(&[])
        .arg("push")
        .arg("--ca-file")
        .arg(certs.join("ca.crt"))
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(registry.image("selfca/flag:1"))
        .run()
        .assert_success();
    pull_with_skopeo_and_compare(&registry, "selfca/flag:1", &fixture);

    // --cert-dir with the certificate as its ca.crt, as Docker's certs.d holds it.
    tug(&[])
        .args(["pull", "--cert-dir"])
        .arg(certs)
        .arg("-o")
        .arg(dir.path().join("pulled"))
        .arg(registry.image("selfca/flag:1"))
        .run()
        .assert_success();

    // Not given: refused, as any certificate nobody trusts.
    let out = tug(&[])
        .args(["digest", "--retries", "1"])
        .arg(registry.image("selfca/flag:1"))
        .run();
    assert_eq!(
        out.code,
        Some(crate::common::REGISTRY),
        "{}",
        out.stderr_str()
    );
    assert!(
        out.stderr_str()
            .contains("pass that certificate with --ca-file"),
        "the hint says what to give: {}",
        out.stderr_str()
    );

    // Given, but reached under a name the certificate does not carry: refused.
    let proxy = ConnectProxy::start();
    let out = tug(&[("HTTPS_PROXY", proxy.url().as_str())])
        .args(["digest", "--retries", "1", "--ca-file"])
        .arg(certs.join("ca.crt"))
        .arg(format!("other.tug.test:{}/selfca/flag:1", registry.port()))
        .run();
    assert!(!out.success(), "a name the certificate does not carry");
    assert!(
        out.stderr_str().contains("a name the certificate carries"),
        "{}",
        out.stderr_str()
    );
}
