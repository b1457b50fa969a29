//! Bearer token auth against the model's token server, in virtual time.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::time::Duration;

use tug_core::http::{Method, Request, RequestId};
use tug_core::pull::{PullConfig, PullPlan};
use tug_core::push::PushConfig;
use tug_core::{Credentials, Error, Scheme};
use tug_sansio_kit::images::{image, Image, MANIFEST_TYPE};
use tug_sansio_kit::ops::pull::run_pull;
use tug_sansio_kit::ops::push::{run_push, PushPlug};
use tug_sansio_kit::{BearerAuth, Driver, Fault, Flight, Order, Pace, RegistryModel};

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
            ..Default::default()
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
        platform_required: false,
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
    model.fault(
        Fault::on(Method::HEAD, "/blobs/")
            .status(429)
            .header("Retry-After", "70"),
    );
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
    // The identity token is no password: the GET goes without it, as Docker's does.
    assert_eq!(
        model.token_requests[0].0, None,
        "{:?}",
        model.token_requests
    );
}

/// A registry asking for Basic authentication never gets an identity token (an OAuth2
/// refresh token, for a token server only) as a password: the push fails, saying why.
#[test]
fn an_identity_token_is_never_sent_as_basic_credentials() {
    let mut model = RegistryModel {
        required_auth: Some("user:pass".into()),
        ..RegistryModel::default()
    };
    let img = image(&[300]);
    let identity = Some(Credentials {
        username: "<token>".into(),
        password: "refresh-abc".into(),
    });
    let config = PushConfig {
        registry: tug_core::RegistryConfig {
            credentials: identity,
            ..push_config().registry
        },
        ..push_config()
    };
    let run = run_push(&mut model, img.plan.clone(), &img.data, config);
    let err = run.result.unwrap_err().to_string();
    assert!(err.contains("identity token"), "{err}");
    assert!(!run.requests.is_empty());
    assert!(
        !run.requests
            .iter()
            .any(|r| r.headers.contains_key("authorization")),
        "{:?}",
        run.requests
    );
}

// ---- tokens racing the requests in flight ---------------------------------------------

/// An image of eight blobs, pushed four at a time: several blob requests are in flight at
/// once, all along.
fn race_image() -> Image {
    image(&[300, 5000, 4000, 3000, 4500, 3500, 2500, 6000])
}

fn race_config() -> PushConfig {
    PushConfig {
        transfer: tug_core::TransferConfig {
            jobs: 4,
            adaptive: false,
            ..push_config().transfer
        },
        ..push_config()
    }
}

/// The flights that are requests to the registry carrying token `token`, oldest first.
fn carrying(flights: &[Flight], token: &str) -> Vec<usize> {
    (0..flights.len())
        .filter(|&i| token_of(&flights[i].req).as_deref() == Some(token))
        .collect()
}

/// The flight that is a token request, if one is in flight.
fn token_flight(flights: &[Flight]) -> Option<usize> {
    flights
        .iter()
        .position(|f| f.req.url.host_str() == Some("auth.example"))
}

/// The token a request carried.
fn token_of(req: &Request) -> Option<String> {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// Steps `driver` until `ready` says so (or fails if the push ends first).
fn until(driver: &mut Driver<'_, PushPlug<'_>>, what: &str, ready: impl Fn(&[Flight]) -> bool) {
    for _ in 0..10_000 {
        if ready(&driver.flights) {
            return;
        }
        assert!(!driver.finished(), "the push ended before {what}");
        driver.step();
    }
    panic!("never {what}");
}

/// How many answers after the version check's were `401`s.
fn unauthorized_after_ping(statuses: &[(RequestId, Option<u16>)]) -> usize {
    statuses
        .iter()
        .skip(2)
        .filter(|(_, s)| *s == Some(401))
        .count()
}

/// The registry revokes the token while four blob requests carrying it are in flight; their
/// four `401`s arrive together, the token request they cause is answered after them: one new
/// token for all four, and each of them is sent again with it.
#[test]
fn four_401s_in_flight_together_share_one_new_token() {
    let mut model = bearer(Some(USER_PASS));
    let img = race_image();
    let plug = PushPlug::new(img.plan.clone(), &img.data, race_config());
    let mut driver = Driver::new(plug, vec![&mut model]);
    until(&mut driver, "four requests carry the token", |f| {
        carrying(f, "tok-1").len() == 4
    });
    let old: Vec<RequestId> = carrying(&driver.flights, "tok-1")
        .into_iter()
        .map(|i| driver.flights[i].req.id)
        .collect();
    driver.models[0].valid_tokens.clear();
    // All four answered at once, newest first: four 401s.
    let mut all = carrying(&driver.flights, "tok-1");
    all.reverse();
    driver.answer_together(&all);
    let fetches = driver
        .flights
        .iter()
        .filter(|f| f.req.url.host_str() == Some("auth.example"))
        .count();
    assert_eq!(fetches, 1, "one token request for four 401s");
    assert!(
        old.iter()
            .all(|id| driver.flights.iter().all(|f| f.req.id != *id)),
        "the four were answered"
    );
    driver.run();
    let statuses = driver.statuses.clone();
    let again: Vec<Option<String>> = driver
        .requests
        .iter()
        .filter(|(_, r)| r.url.path().contains("/blobs/"))
        .map(|(_, r)| token_of(r))
        .collect();
    let result = driver.result.take().unwrap();
    drop(driver);
    result.expect("the push succeeds");
    assert_eq!(
        model.token_requests.len(),
        2,
        "the first token and one more"
    );
    assert_eq!(unauthorized_after_ping(&statuses), 4);
    assert!(
        again
            .iter()
            .filter(|t| t.as_deref() == Some("tok-2"))
            .count()
            >= 4,
        "the four went again with the new token: {again:?}"
    );
    assert_eq!(model.count("PUT /v2/team/app/manifests/v1"), 1);
}

/// Settings for a push that outlives its first token: 60 s tokens (refreshed 15 s early), and
/// a second for every answer.
fn slow_push(model: &mut RegistryModel) -> Pace {
    model.bearer.as_mut().unwrap().expires_in = 60;
    Pace {
        latency: Duration::from_secs(1),
        ..Pace::default()
    }
}

/// A token nearing its end is refreshed while blob requests carrying it are in flight: the
/// new token is answered first, the old token's requests after it, newest first. They still
/// count (the old token was still good), requests issued meanwhile waited for the new token,
/// and one refresh served them all.
#[test]
fn a_refresh_racing_the_old_tokens_requests_needs_no_401_and_one_fetch() {
    let mut model = bearer(Some(USER_PASS));
    let pace = slow_push(&mut model);
    let img = race_image();
    let plug = PushPlug::new(img.plan.clone(), &img.data, race_config());
    let mut driver = Driver::new(plug, vec![&mut model]).pace(pace);
    until(&mut driver, "a refresh with old requests in flight", |f| {
        token_flight(f).is_some() && carrying(f, "tok-1").len() >= 2
    });
    let refresh_at = driver.now;
    let token = token_flight(&driver.flights).unwrap();
    driver.answer_together(&[token]);
    let mut old = carrying(&driver.flights, "tok-1");
    assert!(
        old.len() >= 2,
        "old requests still in flight after the new token"
    );
    old.reverse();
    driver.answer_together(&old);
    driver.run();
    let statuses = driver.statuses.clone();
    let requests = std::mem::take(&mut driver.requests);
    let result = driver.result.take().unwrap();
    let end = driver.now;
    drop(driver);
    result.expect("the push succeeds");
    assert!(
        refresh_at.since_origin() >= Duration::from_secs(45),
        "{refresh_at:?}"
    );
    assert!(
        end.since_origin() < Duration::from_secs(105),
        "no second refresh: {end:?}"
    );
    assert_eq!(model.token_requests.len(), 2, "one refresh");
    assert!(answered_after_the_new_token(&model) >= 2);
    assert_eq!(unauthorized_after_ping(&statuses), 0, "{statuses:?}");
    let tokens: Vec<Option<String>> = requests
        .iter()
        .filter(|(_, r)| r.url.host_str() != Some("auth.example"))
        .map(|(_, r)| token_of(r))
        .collect();
    let first_new = tokens.iter().position(|t| t.as_deref() == Some("tok-2"));
    let first_new = first_new.expect("requests with the new token");
    assert!(
        tokens[first_new..]
            .iter()
            .all(|t| t.as_deref() == Some("tok-2")),
        "after the refresh, every request carries the new token: {tokens:?}"
    );
}

/// The same refresh with every request answered out of order, one to three at once (one
/// order per seed): the registry, which holds tokens to their lifetime, never answers `401`,
/// and the push needs exactly one refresh.
#[test]
fn refreshes_with_requests_answered_out_of_order_never_meet_a_401() {
    let img = race_image();
    let mut raced = 0;
    for seed in 0..24 {
        let mut model = bearer(Some(USER_PASS));
        let pace = Pace {
            // Answers come one to three at a time: twice as slow, to last as long.
            latency: slow_push(&mut model).latency * 2,
            ..Pace::default()
        };
        let plug = PushPlug::new(img.plan.clone(), &img.data, race_config());
        let mut driver = Driver::new(plug, vec![&mut model])
            .pace(pace)
            .order(Order::Seeded(seed));
        // Until the refresh is in flight with requests carrying the old token.
        until(&mut driver, "a refresh with old requests in flight", |f| {
            token_flight(f).is_some() && !carrying(f, "tok-1").is_empty()
        });
        driver.run();
        let statuses = driver.statuses.clone();
        let result = driver.result.take().unwrap();
        let end = driver.now;
        drop(driver);
        if let Err(e) = result {
            panic!("seed {seed}: {e}");
        }
        assert!(
            end.since_origin() < Duration::from_secs(105),
            "seed {seed}: {end:?}"
        );
        assert_eq!(model.token_requests.len(), 2, "seed {seed}");
        assert_eq!(unauthorized_after_ping(&statuses), 0, "seed {seed}");
        assert_eq!(
            model.count("PUT /v2/team/app/manifests/v1"),
            1,
            "seed {seed}"
        );
        raced += usize::from(answered_after_the_new_token(&model) > 0);
    }
    // The orders did race: in most, a request carrying the old token was answered after the
    // new token was issued.
    assert!(raced >= 16, "only {raced} of 24 orders raced");
}

/// How many registry requests carrying the first token were answered after the second
/// token was issued.
fn answered_after_the_new_token(model: &RegistryModel) -> usize {
    let second = model
        .seen
        .iter()
        .enumerate()
        .filter(|(_, (origin, _))| origin == "http://auth.example")
        .map(|(i, _)| i)
        .nth(1);
    let Some(second) = second else { return 0 };
    model.seen[second..]
        .iter()
        .filter(|(_, auth)| auth.as_deref() == Some("Bearer tok-1"))
        .count()
}

/// The registry revokes the token while four blob requests carrying it are in flight. The
/// first `401` sends tug for a new token, which arrives before the other three `401`s: those
/// answer requests that carried the old token, not the new one, so they are sent again with
/// the new token — no third token, and no "rejected the token" error.
#[test]
fn stale_401s_answered_after_the_new_token_are_retried_with_it() {
    let mut model = bearer(Some(USER_PASS));
    let img = race_image();
    let plug = PushPlug::new(img.plan.clone(), &img.data, race_config());
    let mut driver = Driver::new(plug, vec![&mut model]);
    until(&mut driver, "four requests carry the token", |f| {
        carrying(f, "tok-1").len() == 4
    });
    let old: Vec<RequestId> = carrying(&driver.flights, "tok-1")
        .into_iter()
        .map(|i| driver.flights[i].req.id)
        .collect();
    driver.models[0].valid_tokens.clear();
    // One of them is answered: 401, and tug asks for a new token.
    let first = driver.position(old[0]).unwrap();
    driver.answer_together(&[first]);
    let token = token_flight(&driver.flights).expect("a token request in flight");
    // The token comes first, then the three stale 401s, together and newest first.
    driver.answer_together(&[token]);
    let stale: Vec<usize> = old[1..]
        .iter()
        .rev()
        .map(|id| driver.position(*id).expect("still in flight"))
        .collect();
    driver.answer_together(&stale);
    driver.run();
    let result = driver.result.take().unwrap();
    drop(driver);
    result.expect("the push succeeds");
    assert_eq!(
        model.token_requests.len(),
        2,
        "the first token, and one new one for all four 401s"
    );
    assert_eq!(answered_after_the_new_token(&model), 3, "three stale 401s");
    assert_eq!(model.count("PUT /v2/team/app/manifests/v1"), 1);
}

/// Tokens revoked at different points while blob requests are in flight, every request
/// answered out of order and several at once (one order per seed): each revocation costs
/// one new token, whatever order the `401`s and the token arrive in.
#[test]
fn revoked_tokens_with_requests_answered_out_of_order_cost_one_token_each() {
    let img = race_image();
    let mut raced = 0;
    for seed in 0..40 {
        let mut model = bearer(Some(USER_PASS));
        model.revoke_tokens_after = Some(4 + (seed as usize % 9));
        let plug = PushPlug::new(img.plan.clone(), &img.data, race_config());
        let mut driver = Driver::new(plug, vec![&mut model]).order(Order::Seeded(seed));
        driver.run();
        let result = driver.result.take().unwrap();
        drop(driver);
        if let Err(e) = result {
            panic!("seed {seed}: {e}");
        }
        assert_eq!(model.token_requests.len(), 2, "seed {seed}");
        assert_eq!(
            model.count("PUT /v2/team/app/manifests/v1"),
            1,
            "seed {seed}"
        );
        raced += usize::from(answered_after_the_new_token(&model) > 0);
    }
    // The orders did race: in many, a 401 for the old token came after the new token.
    assert!(raced >= 15, "only {raced} of 40 orders raced");
}

#[test]
fn a_token_server_failing_for_a_moment_is_retried() {
    let mut model = bearer(Some(USER_PASS));
    model.fault(Fault::on(Method::GET, "/token").status(503));
    model.fault(Fault::on(Method::GET, "/token").status(500));
    let img = image(&[300, 5000]);
    let run = run_push(&mut model, img.plan.clone(), &img.data, push_config());
    let report = run
        .result
        .expect("the push goes on once the token server answers");
    assert_eq!(model.token_requests.len(), 1, "one token served the push");
    assert_eq!(report.retries, 2);
}

#[test]
fn a_token_server_that_stays_down_is_the_server_s_failure_not_an_auth_one() {
    let mut model = bearer(Some(USER_PASS));
    for _ in 0..10 {
        model.fault(Fault::on(Method::GET, "/token").status(503));
    }
    let img = image(&[300]);
    let err = run_push(&mut model, img.plan.clone(), &img.data, push_config())
        .result
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Registry { status: 503, .. }), "{text}");
    assert_eq!(err.class(), tug_core::ErrorClass::Registry);
    assert!(
        text.contains("fetching a token from http://auth.example/token"),
        "{text}"
    );
}
