//! Bearer token auth against the model's token server, in virtual time.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod support;

use std::time::Duration;

use support::driver::{run_pull, run_push};
use support::images::{image, MANIFEST_TYPE};
use support::registry_model::{BearerAuth, Fault, RegistryModel};
use tug_core::http::Method;
use tug_core::pull::{PullConfig, PullPlan};
use tug_core::push::PushConfig;
use tug_core::{Credentials, Error, Scheme};

const USER_PASS: &str = "Basic dXNlcjpwYXNz"; // user:pass

fn creds() -> Option<Credentials> {
    Some(Credentials {
        username: "user".into(),
        password: "pass".into(),
    })
}

fn bearer(basic: Option<&str>) -> RegistryModel {
    RegistryModel {
        bearer: Some(BearerAuth {
            basic: basic.map(str::to_owned),
            expires_in: 300,
            useless_tokens: false,
            refresh_token: None,
        }),
        ..Default::default()
    }
}

fn push_config() -> PushConfig {
    PushConfig {
        registry: tug_core::RegistryConfig {
            scheme: Scheme::Http,
            credentials: creds(),
            ..PushConfig::default().registry
        },
        monolithic_max: 1000,
        chunk_size: 700,
        ..PushConfig::default()
    }
}

#[test]
fn push_fetches_a_token_with_credentials_and_the_push_scope() {
    let mut model = bearer(Some(USER_PASS));
    let img = image(&[300, 5000]);
    let run = run_push(&mut model, img.plan.clone(), &img.data, push_config());
    run.result.unwrap();
    assert_eq!(
        model.token_requests.len(),
        1,
        "one token serves the whole push"
    );
    let (auth, scopes) = &model.token_requests[0];
    assert_eq!(auth.as_deref(), Some(USER_PASS));
    assert!(
        scopes.contains(&"repository:team/app:pull,push".to_owned()),
        "{scopes:?}"
    );
    let last = run.requests.last().unwrap();
    let header = &last.headers["authorization"];
    assert!(header.is_sensitive());
    assert!(header.to_str().unwrap().starts_with("Bearer tok-"));
}

#[test]
fn anonymous_pull_gets_a_token_without_credentials() {
    let mut model = bearer(None);
    let img = image(&[300, 2000]);
    for (b, data) in img.plan.blobs.iter().zip(&img.data) {
        model.blobs.insert(b.digest.to_string(), data.clone());
    }
    model.put_manifest("team/app", "v1", &img.plan.manifest.bytes, MANIFEST_TYPE);
    let plan = PullPlan {
        registry: "127.0.0.1:5000".into(),
        repository: "team/app".into(),
        reference: "v1".into(),
        platform: "linux/amd64".parse().unwrap(),
        all_platforms: false,
        have: Vec::new(),
        manifests_only: false,
    };
    let run = run_pull(
        &mut model,
        plan,
        PullConfig {
            registry: tug_core::RegistryConfig {
                scheme: Scheme::Http,
                ..PullConfig::default().registry
            },
            ..PullConfig::default()
        },
    );
    run.result.unwrap();
    let (auth, scopes) = &model.token_requests[0];
    assert_eq!(auth, &None);
    assert_eq!(scopes, &["repository:team/app:pull".to_owned()]);
}

#[test]
fn a_revoked_token_is_replaced_once() {
    let mut model = bearer(Some(USER_PASS));
    model.revoke_tokens_after = Some(6);
    let img = image(&[300, 5000, 1000]);
    let run = run_push(
        &mut model,
        img.plan.clone(),
        &img.data,
        PushConfig {
            transfer: tug_core::TransferConfig {
                jobs: 1,
                ..push_config().transfer
            },
            ..push_config()
        },
    );
    run.result.unwrap();
    assert_eq!(model.token_requests.len(), 2);
    assert!(model.manifests.contains_key("team/app:v1"));
}

#[test]
fn a_token_that_never_works_is_an_auth_error() {
    let mut model = bearer(Some(USER_PASS));
    model.bearer.as_mut().unwrap().useless_tokens = true;
    let img = image(&[300]);
    let err = run_push(&mut model, img.plan.clone(), &img.data, push_config())
        .result
        .unwrap_err();
    assert!(
        matches!(&err, Error::Auth { message } if message.contains("rejected the token")),
        "{err}"
    );
    assert_eq!(
        model.token_requests.len(),
        2,
        "one retry with a new token, then give up"
    );
}

#[test]
fn the_token_server_refusing_credentials_is_an_auth_error() {
    let mut model = bearer(Some("Basic something-else"));
    let img = image(&[300]);
    let err = run_push(&mut model, img.plan.clone(), &img.data, push_config())
        .result
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Auth { .. }), "{text}");
    assert!(
        text.contains("token server http://auth.example/token answered 401"),
        "{text}"
    );
    assert!(!text.contains("pass"), "no secret in messages: {text}");
}

#[test]
fn tokens_are_refreshed_before_they_expire_in_virtual_time() {
    let mut model = bearer(Some(USER_PASS));
    model.bearer.as_mut().unwrap().expires_in = 60;
    // A 429 asking to wait 70 s: when the push resumes, its token has (nearly) run out.
    model.faults.push_back(Fault {
        method: Method::HEAD,
        path_contains: "/blobs/".into(),
        response: Ok(429),
        extra_headers: vec![("Retry-After".into(), "70".into())],
        forget_uploads: false,
        after: 0,
    });
    let img = image(&[300]);
    let config = PushConfig {
        registry: tug_core::RegistryConfig {
            retry: tug_core::retry::RetryPolicy {
                max_delay: Duration::from_secs(120),
                ..Default::default()
            },
            ..push_config().registry
        },
        ..push_config()
    };
    let run = run_push(&mut model, img.plan.clone(), &img.data, config);
    run.result.unwrap();
    assert!(run.end.since_origin() >= Duration::from_secs(70));
    assert_eq!(
        model.token_requests.len(),
        2,
        "refreshed proactively, no 401 needed"
    );
    assert_eq!(model.count("HEAD"), 2);
}

#[test]
fn an_identity_token_uses_the_oauth2_refresh_grant() {
    let mut model = bearer(None);
    model.bearer.as_mut().unwrap().refresh_token = Some("refresh-abc".into());
    let img = image(&[300]);
    let identity = Some(Credentials {
        username: "<token>".into(),
        password: "refresh-abc".into(),
    });
    let run = run_push(
        &mut model,
        img.plan.clone(),
        &img.data,
        PushConfig {
            registry: tug_core::RegistryConfig {
                credentials: identity,
                ..push_config().registry
            },
            ..push_config()
        },
    );
    run.result.unwrap();
    let form = &model.oauth_requests[0];
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["service"], "registry.example");
    assert!(form["scope"].contains("repository:team/app:pull,push"));
    assert!(model.token_requests.is_empty(), "no GET was needed");
}

#[test]
fn a_token_server_without_oauth2_gets_a_get_instead() {
    let mut model = bearer(None);
    let img = image(&[300]);
    let identity = Some(Credentials {
        username: "<token>".into(),
        password: "refresh-abc".into(),
    });
    let run = run_push(
        &mut model,
        img.plan.clone(),
        &img.data,
        PushConfig {
            registry: tug_core::RegistryConfig {
                credentials: identity,
                ..push_config().registry
            },
            ..push_config()
        },
    );
    run.result.unwrap();
    assert_eq!(model.oauth_requests.len(), 1, "the POST got 404");
    assert_eq!(model.token_requests.len(), 1, "then a GET");
}
