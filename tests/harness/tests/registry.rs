//! The registry presets start, answer `/v2/` as configured, and stop on drop.

use std::io::{Read, Write};
use std::net::TcpStream;

use tug_testkit::{Registry, RegistryConfig};

/// A raw `GET /v2/` over plain TCP; returns the response head (whatever arrived before the
/// server closed the connection; a TLS server may reset it).
fn raw_get_v2(host: &str) -> String {
    let mut stream = TcpStream::connect(host).expect("connect");
    let request = format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(request.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn plain_registry_answers_v2_on_loopback() {
    let registry = Registry::plain();
    assert!(registry.host().starts_with("127.0.0.1:"));
    assert_eq!(registry.url(), format!("http://{}", registry.host()));
    assert!(registry.ca_file().is_none() && registry.ca_dir().is_none());
    assert!(registry.credentials().is_none());
    let response = raw_get_v2(&registry.host());
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("Docker-Distribution-Api-Version: registry/2.0"),
        "{response}"
    );
    assert!(registry.storage_dir().is_dir());
    assert!(
        registry.log().contains("listening on 127.0.0.1:"),
        "{}",
        registry.log()
    );
}

#[test]
fn tls_registry_is_trusted_only_through_its_ca() {
    let registry = Registry::tls();
    assert!(registry.url().starts_with("https://127.0.0.1:"));
    let ca = std::fs::read_to_string(registry.ca_file().unwrap()).unwrap();
    assert!(ca.contains("BEGIN CERTIFICATE"));
    assert_eq!(
        std::fs::read_to_string(registry.ca_dir().unwrap().join("ca.crt")).unwrap(),
        ca
    );

    let response = registry
        .agent()
        .get(format!("{}/v2/", registry.url()))
        .call()
        .expect("GET /v2/ with the private CA");
    assert_eq!(response.status(), 200);

    // A client with the default (webpki) roots must not trust it.
    let err = ureq::get(format!("{}/v2/", registry.url()))
        .call()
        .expect_err("untrusted certificate must be rejected");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    // Plain HTTP to the TLS port is not served.
    let response = raw_get_v2(&registry.host());
    assert!(!response.starts_with("HTTP/1.1 200"), "{response}");
}

#[test]
fn basic_auth_registry_challenges_and_accepts_credentials() {
    let registry = Registry::tls_basic_auth("alice", "wonder land");
    assert_eq!(registry.credentials(), Some(("alice", "wonder land")));
    let url = format!("{}/v2/", registry.url());
    let agent = registry.agent();

    let response = agent.get(&url).call().unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .expect("challenge")
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");

    let basic = |user: &str, pass: &str| {
        format!(
            "Basic {}",
            base64_encode(format!("{user}:{pass}").as_bytes())
        )
    };
    let response = agent
        .get(&url)
        .header("Authorization", basic("alice", "wonder land"))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = agent
        .get(&url)
        .header("Authorization", basic("alice", "wrong"))
        .call()
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[test]
fn plain_registry_with_basic_auth_and_relative_urls() {
    let registry = Registry::start(
        RegistryConfig::plain()
            .with_basic_auth("u", "p")
            .with_relative_urls(),
    );
    let response = raw_get_v2(&registry.host());
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
}

#[test]
fn registries_get_distinct_ports_and_stop_on_drop() {
    let a = Registry::plain();
    let b = Registry::plain();
    assert_ne!(a.port(), b.port());
    let host = a.host();
    let pid = a.pid();
    drop(a);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "registry process {pid} still exists after drop"
    );
    assert!(
        TcpStream::connect(&host).is_err(),
        "{host} still accepts connections"
    );
    assert!(raw_get_v2(&b.host()).starts_with("HTTP/1.1 200"));
}

fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
