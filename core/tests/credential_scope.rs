//! Credentials go only where they belong, in virtual time against the registry model: a `401`
//! from blob storage or an upload host never switches the token realm, a realm over plain
//! HTTP gets no password from a registry reached over HTTPS, `Authorization` never
//! crosses a change of port, and nothing follows a registry from HTTPS to plain HTTP.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use tug_core::pull::{PullConfig, PullPlan};
use tug_core::push::PushConfig;
use tug_core::{Credentials, Error, Scheme};
use tug_sansio_kit::images::{image, Image};
use tug_sansio_kit::ops::pull::{run_pull, PullRun};
use tug_sansio_kit::ops::push::run_push;
use tug_sansio_kit::{BearerAuth, RegistryModel};

const USER_PASS: &str = "Basic dXNlcjpwYXNz"; // user:pass
const EVIL_REALM: &str = r#"Bearer realm="http://evil.example/token",service="evil""#;

fn creds() -> Option<Credentials> {
    Some(Credentials {
        username: "user".into(),
        password: "pass".into(),
    })
}

/// Puts `img` into `model` as `team/app:v1`.
fn publish(model: &mut RegistryModel, img: &Image) {
    tug_sansio_kit::images::publish(model, img, "v1");
}

fn plan() -> PullPlan {
    PullPlan {
        registry: "127.0.0.1:5000".into(),
        repository: "team/app".into(),
        reference: "v1".into(),
        platform: "linux/amd64".parse().unwrap(),
        all_platforms: false,
        have: Vec::new(),
        manifests_only: false,
        platform_required: false,
    }
}

fn pull(model: &mut RegistryModel, scheme: Scheme, credentials: Option<Credentials>) -> PullRun {
    run_pull(
        model,
        plan(),
        PullConfig {
            registry: tug_core::RegistryConfig {
                scheme,
                credentials,
                ..PullConfig::default().registry
            },
            ..PullConfig::default()
        },
    )
}

fn bearer() -> Option<BearerAuth> {
    Some(BearerAuth {
        basic: Some(USER_PASS.into()),
        expires_in: 300,
        useless_tokens: false,
        refresh_token: None,
        ..Default::default()
    })
}

/// Origins that received an `Authorization` header.
fn authorized_origins(model: &RegistryModel) -> Vec<String> {
    model
        .seen
        .iter()
        .filter(|(_, auth)| auth.is_some())
        .map(|(origin, _)| origin.clone())
        .collect()
}

fn contacted(model: &RegistryModel, origin: &str) -> bool {
    model.seen.iter().any(|(o, _)| o == origin)
}

fn auth_error(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(e @ Error::Auth { .. }) => e.to_string(),
        other => panic!("expected an authentication error, got {other:?}"),
    }
}

#[test]
fn a_challenge_from_blob_storage_does_not_switch_the_realm() {
    let mut model = RegistryModel {
        required_auth: Some(USER_PASS.into()),
        redirect_blobs: true,
        foreign_challenge: Some(EVIL_REALM.into()),
        ..Default::default()
    };
    publish(&mut model, &image(&[300, 5000]));
    let run = pull(&mut model, Scheme::Http, creds());
    let message = auth_error(run.result);
    assert!(message.contains("http://storage.example"), "{message}");
    assert!(message.contains("not the registry"), "{message}");
    assert!(
        !contacted(&model, "http://evil.example"),
        "{:?}",
        model.seen
    );
    let authorized = authorized_origins(&model);
    assert!(!authorized.is_empty());
    assert!(
        authorized.iter().all(|o| o == "http://127.0.0.1:5000"),
        "{authorized:?}"
    );
}

/// Only requests to the registry's own origin are marked `to_registry` (a client
/// certificate goes with those alone): not blob storage, not the token server elsewhere.
#[test]
fn only_the_registry_s_own_requests_are_marked_to_registry() {
    let mut model = RegistryModel {
        bearer: bearer(),
        realm: Some("https://auth.example/token".into()),
        redirect_blobs: true,
        redirect_base: Some("https://storage.example".into()),
        ..Default::default()
    };
    publish(&mut model, &image(&[300, 5000]));
    pull(&mut model, Scheme::Https, creds()).result.unwrap();
    assert!(contacted(&model, "https://storage.example"));
    assert!(contacted(&model, "https://auth.example"));
    assert!(!model.identified.is_empty());
    assert!(
        model
            .identified
            .iter()
            .all(|o| o == "https://127.0.0.1:5000"),
        "{:?}",
        model.identified
    );
}

#[test]
fn a_challenge_from_an_upload_host_does_not_switch_the_realm() {
    let mut model = RegistryModel {
        bearer: bearer(),
        foreign_uploads: true,
        foreign_challenge: Some(EVIL_REALM.into()),
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    let run = run_push(
        &mut model,
        img.plan.clone(),
        &img.data,
        PushConfig {
            registry: tug_core::RegistryConfig {
                scheme: Scheme::Http,
                credentials: creds(),
                ..PushConfig::default().registry
            },
            ..PushConfig::default()
        },
    );
    let message = auth_error(run.result);
    assert!(message.contains("http://uploads.example"), "{message}");
    assert!(
        !contacted(&model, "http://evil.example"),
        "{:?}",
        model.seen
    );
    assert!(
        !authorized_origins(&model)
            .iter()
            .any(|o| o == "http://uploads.example"),
        "{:?}",
        model.seen
    );
    assert!(model.manifests.is_empty(), "nothing is tagged");
}

#[test]
fn an_https_registry_naming_a_plain_http_realm_gets_no_password() {
    let mut model = RegistryModel {
        bearer: bearer(),
        ..Default::default()
    };
    publish(&mut model, &image(&[300]));
    let run = pull(&mut model, Scheme::Https, creds());
    let message = auth_error(run.result);
    assert!(message.contains("plain HTTP"), "{message}");
    assert!(message.contains("http://auth.example"), "{message}");
    assert!(model.token_requests.is_empty(), "no token request was sent");
    assert!(authorized_origins(&model).is_empty(), "{:?}", model.seen);
}

#[test]
fn a_plain_http_realm_may_serve_anonymous_tokens_and_plain_registries() {
    // No credentials: nothing secret goes to the realm, so the pull proceeds.
    let mut model = RegistryModel {
        bearer: Some(BearerAuth {
            basic: None,
            ..bearer().unwrap()
        }),
        ..Default::default()
    };
    publish(&mut model, &image(&[300]));
    pull(&mut model, Scheme::Https, None).result.unwrap();
    assert_eq!(
        model.token_requests,
        [(None, vec!["repository:team/app:pull".to_owned()])]
    );

    // A registry the user reaches over plain HTTP may name a plain-HTTP realm.
    let mut model = RegistryModel {
        bearer: bearer(),
        ..Default::default()
    };
    publish(&mut model, &image(&[300]));
    pull(&mut model, Scheme::Http, creds()).result.unwrap();
    assert_eq!(model.token_requests[0].0.as_deref(), Some(USER_PASS));
}

#[test]
fn an_https_realm_on_another_host_gets_the_credentials() {
    // Docker Hub's shape: registry-1.docker.io names https://auth.docker.io/token.
    let mut model = RegistryModel {
        bearer: bearer(),
        realm: Some("https://auth.example/token".into()),
        ..Default::default()
    };
    publish(&mut model, &image(&[300]));
    pull(&mut model, Scheme::Https, creds()).result.unwrap();
    assert_eq!(model.token_requests[0].0.as_deref(), Some(USER_PASS));
}

fn protocol_error(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(e @ Error::Protocol { .. }) => e.to_string(),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

/// A registry reached over HTTPS that sends a download to plain HTTP (the same port) is
/// not followed: neither the credentials nor the request go there unencrypted.
#[test]
fn a_redirect_from_https_to_plain_http_is_not_followed() {
    let mut model = RegistryModel {
        required_auth: Some(USER_PASS.into()),
        redirect_blobs: true,
        redirect_base: Some("http://127.0.0.1:5000/storage".into()),
        ..Default::default()
    };
    publish(&mut model, &image(&[300]));
    let run = pull(&mut model, Scheme::Https, creds());
    let message = protocol_error(run.result);
    assert!(
        message.contains("http://127.0.0.1:5000/storage/"),
        "{message}"
    );
    assert!(message.contains("plain HTTP"), "{message}");
    assert!(
        !contacted(&model, "http://127.0.0.1:5000"),
        "{:?}",
        model.seen
    );
    assert!(
        authorized_origins(&model)
            .iter()
            .all(|o| o == "https://127.0.0.1:5000"),
        "{:?}",
        model.seen
    );
}

/// An upload session a registry reached over HTTPS places on plain HTTP (a proxy that
/// does not pass `X-Forwarded-Proto`) is refused before a byte of the layer goes there.
#[test]
fn an_upload_location_on_plain_http_from_https_is_refused() {
    let mut model = RegistryModel {
        required_auth: Some(USER_PASS.into()),
        foreign_uploads: true,
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    let run = run_push(
        &mut model,
        img.plan.clone(),
        &img.data,
        PushConfig {
            registry: tug_core::RegistryConfig {
                scheme: Scheme::Https,
                credentials: creds(),
                ..PushConfig::default().registry
            },
            ..PushConfig::default()
        },
    );
    let message = protocol_error(run.result);
    assert!(message.contains("http://uploads.example"), "{message}");
    assert!(message.contains("plain HTTP"), "{message}");
    assert!(
        !contacted(&model, "http://uploads.example"),
        "{:?}",
        model.seen
    );
    assert!(model.manifests.is_empty());
}

#[test]
fn authorization_does_not_follow_a_redirect_to_another_port() {
    let mut model = RegistryModel {
        required_auth: Some(USER_PASS.into()),
        redirect_blobs: true,
        redirect_base: Some("http://127.0.0.1:5001/storage".into()),
        ..Default::default()
    };
    publish(&mut model, &image(&[300]));
    let run = pull(&mut model, Scheme::Http, creds());
    auth_error(run.result);
    assert!(contacted(&model, "http://127.0.0.1:5001"));
    assert!(
        authorized_origins(&model)
            .iter()
            .all(|o| o == "http://127.0.0.1:5000"),
        "{:?}",
        model.seen
    );
}
