//! The token-auth registry preset: distribution 2.8 with `auth.token` and the harness's token
//! server, checked by hand-made requests and by skopeo.

use std::io::Write;
use std::net::TcpStream;

use base64::Engine as _;
use serde_json::Value;
use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::token_server::{decode_jwt, verify_jwt, ClientAuth};
use tug_testkit::{skopeo, ImageSpec, Registry, TokenMode, TokenServer, TokenServerConfig};

const USER: &str = "tokenuser";
const PASSWORD: &str = "t0ken-Pa55word";

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `GET <token_url>?service=…&scope=…` as `auth` (an `Authorization` value, if any).
fn get_token(registry: &Registry, scopes: &[&str], auth: Option<&str>) -> (u16, Value) {
    let server = registry.token_server().unwrap();
    let mut url = format!("{}?service={}", server.token_url(), server.service());
    for scope in scopes {
        url.push_str("&scope=");
        url.push_str(
            &scope
                .replace(':', "%3A")
                .replace(',', "%2C")
                .replace('/', "%2F"),
        );
    }
    let mut request = registry.agent().get(&url);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let mut response = request.call().expect("token request");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn www_authenticate(response: &ureq::http::Response<ureq::Body>) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn the_registry_challenges_with_bearer_and_accepts_the_servers_tokens() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = registry.token_server().expect("a token server");
    assert_eq!(registry.credentials(), Some((USER, PASSWORD)));
    assert!(server.token_url().starts_with("https://127.0.0.1:"));
    let agent = registry.agent();
    let v2 = format!("{}/v2/", registry.url());

    let response = agent.get(&v2).call().unwrap();
    assert_eq!(response.status(), 401);
    let challenge = www_authenticate(&response);
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            server.token_url(),
            server.service()
        )
    );
    let tags = format!("{}/v2/team/app/tags/list", registry.url());
    let response = agent.get(&tags).call().unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        www_authenticate(&response).contains("scope=\"repository:team/app:pull\""),
        "{}",
        www_authenticate(&response)
    );

    let (status, body) = get_token(
        &registry,
        &["repository:team/app:pull,push"],
        Some(&basic(USER, PASSWORD)),
    );
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["access_token"], body["token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    assert!(verify_jwt(&token));
    let jwt = decode_jwt(&token);
    assert_eq!(jwt.claims["sub"], USER);
    assert_eq!(
        jwt.claims["access"],
        serde_json::json!([{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}])
    );

    let bearer = format!("Bearer {token}");
    let response = agent
        .get(&v2)
        .header("Authorization", &bearer)
        .call()
        .unwrap();
    assert_eq!(response.status(), 200, "{}", registry.log());
    // Pull access to team/app: the repository is unknown, not forbidden.
    let response = agent
        .get(&tags)
        .header("Authorization", &bearer)
        .call()
        .unwrap();
    assert_eq!(response.status(), 404);
    // No access to another repository.
    let response = agent
        .get(format!("{}/v2/other/tags/list", registry.url()))
        .header("Authorization", &bearer)
        .call()
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        www_authenticate(&response).contains("error=\"insufficient_scope\""),
        "{}",
        www_authenticate(&response)
    );

    let log = server.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, "/token");
    assert_eq!(log[0].service.as_deref(), Some(server.service()));
    assert_eq!(log[0].scopes, ["repository:team/app:pull,push"]);
    assert!(log[0].authenticated_as(USER));
    assert_eq!(log[0].token.as_deref(), Some(token.as_str()));
    assert!(
        !format!("{log:?}").contains(PASSWORD),
        "the log never holds the password"
    );
}

#[test]
fn wrong_or_missing_credentials_get_no_push() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = registry.token_server().unwrap();
    let (status, body) = get_token(
        &registry,
        &["repository:a:pull,push"],
        Some(&basic(USER, "wrong")),
    );
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    // Anonymous: a token, but without access (anonymous pull is off).
    let (status, body) = get_token(&registry, &["repository:a:pull"], None);
    assert_eq!(status, 200);
    let jwt = decode_jwt(body["token"].as_str().unwrap());
    assert_eq!(jwt.claims["access"], serde_json::json!([]));
    assert_eq!(jwt.claims["sub"], "");

    let log = server.requests();
    assert_eq!(
        log[0].auth,
        ClientAuth::Basic {
            user: USER.into(),
            accepted: false
        }
    );
    assert!(!log[0].issued());
    assert_eq!(log[1].auth, ClientAuth::Anonymous);
    assert!(!log[1].auth.sent_credentials());
    assert_eq!(server.request_count(), 2);
    assert_eq!(server.tokens_issued(), 1);
}

#[test]
fn anonymous_pull_grants_pull_only() {
    let registry = Registry::tls_token_server(
        TokenServerConfig::for_user(USER, PASSWORD)
            .with_anonymous_pull()
            .with_expires_in(42),
    );
    let (status, body) = get_token(&registry, &["repository:pub/app:pull,push"], None);
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 42);
    let jwt = decode_jwt(body["token"].as_str().unwrap());
    assert_eq!(
        jwt.claims["access"],
        serde_json::json!([{"type": "repository", "name": "pub/app", "actions": ["pull"]}])
    );
}

#[test]
fn switches_refuse_or_empty_tokens_and_change_lifetimes() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = registry.token_server().unwrap();
    let creds = basic(USER, PASSWORD);

    server.set_mode(TokenMode::Refuse);
    let (status, _) = get_token(&registry, &["repository:a:pull"], Some(&creds));
    assert_eq!(status, 401);

    server.set_mode(TokenMode::NoAccess);
    let (status, body) = get_token(&registry, &["repository:a:pull"], Some(&creds));
    assert_eq!(status, 200);
    let response = registry
        .agent()
        .get(format!("{}/v2/a/tags/list", registry.url()))
        .header(
            "Authorization",
            &format!("Bearer {}", body["token"].as_str().unwrap()),
        )
        .call()
        .unwrap();
    assert_eq!(response.status(), 401);

    server.set_mode(TokenMode::Grant);
    server.set_expires_in(1);
    let (status, body) = get_token(&registry, &["repository:a:pull"], Some(&creds));
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 1);
    assert_eq!(server.request_count(), 3);
    server.clear_requests();
    assert_eq!(server.request_count(), 0);
}

#[test]
fn skopeo_pushes_and_pulls_through_the_token_server() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(91).layer(30_000).gzip_layer(20_000),
        "v1",
    );
    let src = format!("oci:{}:v1", layout.display());
    skopeo::copy_to_registry(&src, &registry, "team/app:v1", &["--preserve-digests"])
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", registry.log()));
    pull_with_skopeo_and_compare(&registry, "team/app:v1", &fixture);

    let log = registry.token_server().unwrap().requests();
    assert!(
        log.iter().any(|r| r.authenticated_as(USER)
            && r.scopes
                .iter()
                .any(|s| s == "repository:team/app:pull,push")),
        "{log:#?}"
    );
    assert!(log.iter().all(|r| r.status == 200), "{log:#?}");
}

#[test]
fn a_plain_http_token_server_stops_on_drop() {
    let server = TokenServer::start(TokenServerConfig::for_user("u", "p"));
    assert!(server.token_url().starts_with("http://127.0.0.1:"));
    let addr = server.host();
    // Keep-alive: two requests on one connection, then close.
    let mut stream = TcpStream::connect(&addr).unwrap();
    let request = format!(
        "GET /token?service={}&scope=repository%3Ax%3Apull HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\n\r\n",
        server.service(),
        basic("u", "p")
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream
        .write_all(
            format!("GET /nope HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.contains("HTTP/1.1 404 Not Found\r\n"),
        "{response}"
    );
    assert_eq!(server.request_count(), 2);
    assert!(server.requests()[0].authenticated_as("u"));

    drop(server);
    assert!(
        TcpStream::connect(&addr).is_err(),
        "the port is closed after drop"
    );
}
