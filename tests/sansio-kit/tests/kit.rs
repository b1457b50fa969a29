//! The kit's own parts behave as their docs say: faults strike once and in turn, the model
//! answers ranges and expires tokens, seeded orders are reproducible and do reorder.

use std::time::Duration;

use tug_core::http::{Body, Deadlines, HeaderMap, Method, Request, RequestId, TransportErrorKind};
use tug_core::{Instant, Scheme};
use tug_sansio_kit::images::image;
use tug_sansio_kit::ops::push::{run_push_ordered, small_chunks};
use tug_sansio_kit::{BearerAuth, Fault, Order, RegistryModel};

fn request(method: Method, url: &str) -> Request {
    Request {
        id: RequestId(1),
        method,
        url: url.parse().unwrap(),
        shown: url.to_owned(),
        headers: HeaderMap::new(),
        body: Body::Empty,
        deadlines: Deadlines::default(),
        to_registry: true,
    }
}

#[test]
fn a_fault_lets_n_through_then_strikes_once() {
    let mut model = RegistryModel::default();
    model.fault(
        Fault::on(Method::GET, "/v2/")
            .transport(TransportErrorKind::Io)
            .after(1),
    );
    let ping = request(Method::GET, "http://127.0.0.1:5000/v2/");
    assert!(model.handle(&ping, &[]).is_ok(), "the first goes through");
    let err = model.handle(&ping, &[]).unwrap_err();
    assert_eq!(err.kind, TransportErrorKind::Io);
    assert_eq!(model.handle(&ping, &[]).unwrap().head.status.as_u16(), 200);
}

#[test]
fn blobs_are_served_by_range_and_past_the_end_is_416() {
    let mut model = RegistryModel::default();
    let digest = model.put_blob(b"0123456789");
    let url = format!("http://127.0.0.1:5000/v2/team/app/blobs/{digest}");
    let mut get = request(Method::GET, &url);
    get.headers.insert("range", "bytes=3-5".parse().unwrap());
    let reply = model.handle(&get, &[]).unwrap();
    assert_eq!(reply.head.status.as_u16(), 206);
    assert_eq!(reply.body, b"345");
    assert_eq!(reply.head.header("content-range"), Some("bytes 3-5/10"));
    get.headers.insert("range", "bytes=10-".parse().unwrap());
    assert_eq!(model.handle(&get, &[]).unwrap().head.status.as_u16(), 416);
}

#[test]
fn tokens_expire_on_the_models_clock() {
    let mut model = RegistryModel {
        bearer: Some(BearerAuth {
            expires_in: 60,
            ..BearerAuth::default()
        }),
        ..RegistryModel::default()
    };
    let token = request(Method::GET, "http://auth.example/token?scope=x");
    let body = model.handle(&token, &[]).unwrap().body;
    assert!(String::from_utf8(body).unwrap().contains("tok-1"));
    assert!(model.token_valid("tok-1"));
    model.now = Instant::ZERO + Duration::from_secs(60);
    assert!(!model.token_valid("tok-1"), "expired after its 60 s");
}

/// The order the model saw the blob requests of a push of six blobs, three at a time.
fn blob_requests(order: Order) -> Vec<String> {
    let img = image(&[100, 200, 300, 400, 500, 600]);
    let mut model = RegistryModel::default();
    let mut config = small_chunks();
    config.transfer.jobs = 3;
    config.registry.scheme = Scheme::Http;
    let run = run_push_ordered(&mut model, img.plan, &img.data, config, order);
    run.result.expect("the push succeeds");
    model
        .log
        .into_iter()
        .filter(|l| l.contains("/blobs/"))
        .collect()
}

#[test]
fn a_seeded_order_is_reproducible_and_answers_out_of_order() {
    let fifo = blob_requests(Order::Fifo);
    let seeded = blob_requests(Order::Seeded(7));
    assert_eq!(
        seeded,
        blob_requests(Order::Seeded(7)),
        "same seed, same run"
    );
    assert_ne!(seeded, fifo, "the seed reordered the answers");
    let heads = |log: &[String]| {
        let mut h: Vec<String> = log
            .iter()
            .filter(|l| l.starts_with("HEAD"))
            .cloned()
            .collect();
        h.sort();
        h
    };
    assert_eq!(heads(&seeded), heads(&fifo), "the same blobs asked about");
}
