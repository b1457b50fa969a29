//! The conformance scenarios: the component's operations, built natively, driven against
//! the core's registry model (tug-sansio-kit) in virtual time; every input and output is
//! written down as JSON (`component/conformance/*.json`). The test fails when a run differs
//! from its file; `TUG_UPDATE_CONFORMANCE=1` rewrites the files. The Python host replays the
//! same files through the WebAssembly component (`embed/python/conformance.py`, run by the
//! e2e test `python_host::the_component_replays_the_conformance_scenarios`), so every host
//! sees the same contract.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;

use serde_json::{json, Value};
use tug_component::bindings::exports::tug::core::sansio::{
    Body, GuestOperation as _, Input, Output, Request, ResponseHead, Side, TransportError,
    TransportErrorKind,
};
use tug_component::{latin1, Operation};
use tug_core::http::{self, HeaderMap, HeaderName, HeaderValue, RequestId};
use tug_core::{Digest, Instant};
use tug_sansio_kit::model::basic;
use tug_sansio_kit::{BearerAuth, Fault, RegistryModel};

/// The model answers uploads with `Location`s on 127.0.0.1:5000.
const TARGET: &str = "127.0.0.1:5000/team/app:v1";
/// A copy's source: another registry (on one registry a copy mounts instead of copying).
const SOURCE: &str = "127.0.0.1:5001/library/app:v1";

/// An OCI layout in memory: a config and one 3000-byte layer, named `v1`.
fn layout() -> BTreeMap<String, Vec<u8>> {
    let layer: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        Digest::sha256_of(&layer)
    )
    .into_bytes();
    let descriptor = |media: &str, data: &[u8]| json!({"mediaType": media, "digest": Digest::sha256_of(data).to_string(), "size": data.len()});
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
    })
    .to_string()
    .into_bytes();
    let mut index_entry = descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
    index_entry["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
    let index = json!({"schemaVersion": 2, "manifests": [index_entry]});
    let blob = |data: &[u8]| format!("blobs/sha256/{}", Digest::sha256_of(data).hex());
    BTreeMap::from([
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".into(), index.to_string().into_bytes()),
        (blob(&manifest), manifest.clone()),
        (blob(&config), config.clone()),
        (blob(&layer), layer),
    ])
}

/// A WIT `latin1` string's bytes (the component gives only chars up to U+00FF).
fn bytes(text: &str) -> Vec<u8> {
    tug_component::latin1_bytes(text).unwrap()
}

fn headers_json(headers: &[(String, String)]) -> Value {
    headers.iter().map(|(n, v)| json!([n, v])).collect()
}

/// A request as the transcript writes it.
fn request_json(r: &Request) -> Value {
    let body = match &r.body {
        Body::Empty => json!("empty"),
        Body::Bytes(b) => json!({"bytes": hex::encode(bytes(b))}),
        Body::Range(r) => {
            json!({"range": {"source": r.source, "start": r.start, "end": r.end}})
        }
        Body::Stream(len) => json!({ "stream": len }),
    };
    json!({"id": r.id, "method": r.method, "url": r.url,
           "headers": headers_json(&r.headers), "body": body})
}

/// An output as the transcript writes it (the Python replay writes the same).
fn output_json(o: &Output) -> Value {
    match o {
        Output::Send(r) => json!({ "send": request_json(r) }),
        Output::SendTo((side, r)) => {
            let side = match side {
                Side::Source(n) => json!({ "source": n }),
                Side::Target => json!("target"),
            };
            json!({"send-to": [side, request_json(r)]})
        }
        Output::Abort(id) => json!({ "abort": id }),
        Output::BodyData((id, d)) => json!({"body-data": [id, hex::encode(bytes(d))]}),
        Output::BodyEnd(id) => json!({ "body-end": id }),
        Output::BodyFailed((id, m)) => json!({"body-failed": [id, m]}),
        Output::Event(e) => json!({"event": serde_json::from_str::<Value>(e).unwrap()}),
        Output::WaitUntil(t) => json!({ "wait-until": t }),
        Output::ReadFile(f) => json!({"read-file": {"path": f.path, "max-len": f.max_len}}),
        Output::Stat(p) => json!({ "stat": p }),
        Output::Write(w) => {
            json!({"write": {"path": w.path, "offset": w.offset, "data": hex::encode(bytes(&w.data))}})
        }
        Output::Rename(r) => json!({"rename": {"source": r.source, "target": r.target}}),
        Output::Remove(p) => json!({ "remove": p }),
        Output::Finished(Ok(report)) => {
            json!({"finished": {"ok": serde_json::from_str::<Value>(report).unwrap()}})
        }
        Output::Finished(Err(f)) => {
            json!({"finished": {"err": {"class": f.class, "message": f.message}}})
        }
    }
}

/// An input as the transcript writes it.
fn input_json(i: &Input) -> Value {
    match i {
        Input::Response((id, h)) => {
            json!({"response": [id, {"status": h.status, "headers": headers_json(&h.headers)}]})
        }
        Input::BodyChunk((id, d)) => json!({"body-chunk": [id, hex::encode(bytes(d))]}),
        Input::BodyEnd(id) => json!({ "body-end": id }),
        Input::BodySent((id, d)) => json!({"body-sent": [id, hex::encode(bytes(d))]}),
        Input::BodyProgress((id, n)) => json!({"body-progress": [id, n]}),
        Input::TransportFailed((id, e)) => {
            let kind = match e.kind {
                TransportErrorKind::Connect => "connect",
                TransportErrorKind::Tls => "tls",
                TransportErrorKind::NotTls => "not-tls",
                TransportErrorKind::Io => "io",
                TransportErrorKind::Timeout => "timeout",
                TransportErrorKind::Source => "source",
                TransportErrorKind::Other => "other",
            };
            json!({"transport-failed": [id, {"kind": kind, "message": e.message}]})
        }
        Input::Timeout => json!("timeout"),
        Input::File((p, d)) => json!({"file": [p, d.as_deref().map(|d| hex::encode(bytes(d)))]}),
        Input::Size((p, s)) => json!({ "size": [p, s] }),
    }
}

/// Runs `op` with the layout `files`, answering one request at a time, 1 ms apart, in the
/// order they were sent (an upload whose `stream` body has not ended waits); returns the
/// transcript. `send` goes to `models[0]`; a copy's `send-to` to `models[n]` for source
/// `n`, to the last model for the target.
fn record(
    op: Operation,
    models: &mut [RegistryModel],
    files: &BTreeMap<String, Vec<u8>>,
) -> Vec<Value> {
    record_holding(op, models, files, None)
}

/// [`record`], leaving the first request whose path contains `held` unanswered: nothing
/// comes for it until the core gives up on it at its deadline.
fn record_holding(
    op: Operation,
    models: &mut [RegistryModel],
    files: &BTreeMap<String, Vec<u8>>,
    mut held: Option<&str>,
) -> Vec<Value> {
    let mut steps = Vec::new();
    let mut now: u64 = 0;
    let feed = |steps: &mut Vec<Value>, now: u64, input: Input| {
        steps.push(json!({"in": input_json(&input), "now": now}));
        op.handle(now, input).expect("the contract is kept");
    };
    let mut pending: VecDeque<(usize, Request)> = VecDeque::new();
    // The `stream` bodies fed so far, and the ones that ended.
    let mut streams: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut ended = Vec::new();
    let target = models.len() - 1;
    loop {
        let mut outputs = Vec::new();
        while let Some(o) = op.poll() {
            steps.push(json!({ "out": output_json(&o) }));
            outputs.push(o);
        }
        let mut timer = None;
        let mut answered = false;
        for o in outputs {
            match o {
                Output::Send(req) => pending.push_back((0, req)),
                Output::SendTo((side, req)) => {
                    let to = match side {
                        Side::Source(n) => n as usize,
                        Side::Target => target,
                    };
                    pending.push_back((to, req));
                }
                Output::Abort(id) => pending.retain(|(_, r)| r.id != id),
                Output::BodyData((id, d)) => streams.entry(id).or_default().extend(bytes(&d)),
                Output::BodyEnd(id) => ended.push(id),
                Output::BodyFailed((id, message)) => {
                    pending.retain(|(_, r)| r.id != id);
                    let e = TransportError {
                        kind: TransportErrorKind::Source,
                        message,
                    };
                    feed(&mut steps, now, Input::TransportFailed((id, e)));
                    answered = true;
                }
                Output::WaitUntil(t) => timer = Some(t),
                Output::ReadFile(f) => {
                    let data = files
                        .get(&f.path)
                        .map(|d| latin1(&d[..d.len().min(f.max_len as usize)]));
                    feed(&mut steps, now, Input::File((f.path, data)));
                    answered = true;
                }
                Output::Stat(p) => {
                    let size = files.get(&p).map(|d| d.len() as u64);
                    feed(&mut steps, now, Input::Size((p, size)));
                    answered = true;
                }
                Output::Finished(_) => return steps,
                _ => {}
            }
        }
        if answered {
            continue;
        }
        let ready = pending
            .iter()
            .position(|(_, r)| !matches!(r.body, Body::Stream(_)) || ended.contains(&r.id));
        if let Some((to, req)) = ready.and_then(|i| pending.remove(i)) {
            if held.is_some_and(|h| req.url.contains(h)) {
                held = None;
                continue;
            }
            now += 1_000_000;
            let model = &mut models[to];
            model.now = Instant::from_duration(std::time::Duration::from_nanos(now));
            let body = match &req.body {
                Body::Empty => Vec::new(),
                Body::Bytes(b) => bytes(b),
                Body::Range(r) => files[&r.source][r.start as usize..r.end as usize].to_vec(),
                Body::Stream(_) => streams.remove(&req.id).unwrap_or_default(),
            };
            match req.body {
                Body::Range(_) => feed(&mut steps, now, Input::BodySent((req.id, latin1(&body)))),
                Body::Stream(_) => feed(
                    &mut steps,
                    now,
                    Input::BodyProgress((req.id, body.len() as u64)),
                ),
                _ => {}
            }
            let mut headers = HeaderMap::new();
            for (n, v) in &req.headers {
                headers.append(
                    HeaderName::try_from(n.as_str()).unwrap(),
                    HeaderValue::try_from(v.as_str()).unwrap(),
                );
            }
            let core_req = http::Request {
                id: RequestId(req.id),
                method: req.method.parse().unwrap(),
                url: req.url.parse().unwrap(),
                shown: String::new(),
                headers,
                body: http::Body::Bytes(body.clone()),
                deadlines: Default::default(),
                to_registry: true,
            };
            match model.handle(&core_req, &body) {
                Ok(reply) => {
                    let head = ResponseHead {
                        status: reply.head.status.as_u16(),
                        headers: reply
                            .head
                            .headers
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                            .collect(),
                    };
                    feed(&mut steps, now, Input::Response((req.id, head)));
                    let cut = reply.cut.unwrap_or(reply.body.len()).min(reply.body.len());
                    if cut > 0 {
                        feed(
                            &mut steps,
                            now,
                            Input::BodyChunk((req.id, latin1(&reply.body[..cut]))),
                        );
                    }
                    match reply.cut {
                        Some(_) => {
                            let e = TransportError {
                                kind: TransportErrorKind::Io,
                                message: "connection reset".into(),
                            };
                            feed(&mut steps, now, Input::TransportFailed((req.id, e)));
                        }
                        None => feed(&mut steps, now, Input::BodyEnd(req.id)),
                    }
                }
                Err(e) => {
                    let e = TransportError {
                        kind: TransportErrorKind::Other,
                        message: e.message,
                    };
                    feed(&mut steps, now, Input::TransportFailed((req.id, e)));
                }
            }
        } else if let Some(t) = timer {
            now = now.max(t);
            feed(&mut steps, now, Input::Timeout);
        } else {
            panic!("the operation waits for nothing: {}", Value::from(steps));
        }
    }
}

/// Compares `steps` with the scenario's file (or writes it, with `TUG_UPDATE_CONFORMANCE=1`).
fn check(name: &str, kind: &str, options: &str, steps: Vec<Value>) -> Vec<Value> {
    let mut scenario = json!({
        "scenario": name,
        "operation": kind,
        "image": TARGET,
        "options": serde_json::from_str::<Value>(options).unwrap(),
        "steps": steps,
    });
    if kind == "copy" {
        // A copy's `image` is its target; `source` is where it reads.
        scenario["source"] = json!(SOURCE);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("conformance/{name}.json"));
    let transcript = serde_json::to_string_pretty(&scenario).unwrap();
    if std::env::var_os("TUG_UPDATE_CONFORMANCE").is_some() {
        std::fs::write(&path, transcript + "\n").unwrap();
    } else {
        let written = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (TUG_UPDATE_CONFORMANCE=1 writes it)",
                path.display()
            )
        });
        assert!(
            written.trim_end() == transcript,
            "{name}: the run differs from {}",
            path.display()
        );
    }
    scenario["steps"].as_array().unwrap().clone()
}

fn outputs<'a>(steps: &'a [Value], key: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    steps.iter().filter_map(move |s| s.get("out")?.get(key))
}

#[test]
fn a_push_whose_upload_fails_once_is_retried() {
    let mut model = RegistryModel::default();
    model.fault(Fault::on(http::Method::PUT, "/blobs/uploads/").status(503));
    let options = r#"{"plainHttp": true}"#;
    let op = Operation::push(TARGET, options).unwrap();
    let steps = check(
        "push-retry",
        "push",
        options,
        record(op, std::slice::from_mut(&mut model), &layout()),
    );
    let retrying = outputs(&steps, "event")
        .filter(|e| e["event"] == "retrying")
        .count();
    assert_eq!(retrying, 1);
    let finished = outputs(&steps, "finished").next().unwrap();
    assert_eq!(finished["ok"]["blobs_uploaded"], 2, "{finished}");
    assert_eq!(finished["ok"]["retries"], 1, "{finished}");
}

#[test]
fn a_push_answered_401_gets_a_token_and_retries() {
    let mut model = RegistryModel {
        bearer: Some(BearerAuth {
            basic: Some(basic("user", "pass")),
            ..BearerAuth::default()
        }),
        ..RegistryModel::default()
    };
    let options = r#"{"plainHttp": true, "username": "user", "password": "pass"}"#;
    let op = Operation::push(TARGET, options).unwrap();
    let steps = check(
        "push-token",
        "push",
        options,
        record(op, std::slice::from_mut(&mut model), &layout()),
    );
    assert!(!model.token_requests.is_empty(), "a token was asked for");
    let sends: Vec<_> = outputs(&steps, "send").collect();
    assert!(sends.iter().any(|s| s["url"]
        .as_str()
        .unwrap()
        .starts_with("http://auth.example/")));
    let finished = outputs(&steps, "finished").next().unwrap();
    assert!(finished.get("ok").is_some(), "{finished}");
}

/// The layout's manifest digest.
fn manifest_digest(files: &BTreeMap<String, Vec<u8>>) -> Digest {
    let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A registry holding the layout `files`' image as `repository:v1`.
fn registry_with(files: &BTreeMap<String, Vec<u8>>, repository: &str) -> RegistryModel {
    let mut model = RegistryModel::default();
    for (path, data) in files {
        if path.starts_with("blobs/") {
            model.put_blob(data);
        }
    }
    let manifest = &files[&format!("blobs/sha256/{}", manifest_digest(files).hex())];
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    model.put_manifest(repository, "v1", manifest, media_type);
    model
}

#[test]
fn a_pull_whose_download_is_cut_off_is_retried() {
    let files = layout();
    let digest = manifest_digest(&files);
    let mut model = registry_with(&files, "team/app");
    model.cut_next_blob_after = Some(100);
    let options = r#"{"plainHttp": true}"#;
    let op = Operation::pull(TARGET, options).unwrap();
    let steps = check(
        "pull-retry",
        "pull",
        options,
        record(op, std::slice::from_mut(&mut model), &BTreeMap::new()),
    );
    let retrying = outputs(&steps, "event")
        .filter(|e| e["event"] == "retrying")
        .count();
    assert_eq!(retrying, 1);
    let finished = outputs(&steps, "finished").next().unwrap();
    assert_eq!(
        finished["ok"]["manifest_digest"],
        digest.to_string(),
        "{finished}"
    );
    // Every blob of the layout was moved into place, and the layout's index written.
    let renamed: Vec<_> = outputs(&steps, "rename")
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    for path in files
        .keys()
        .filter(|p| p.starts_with("blobs/") && !p.ends_with(&digest.hex()))
    {
        assert!(
            renamed.contains(&path.as_str()),
            "{path} not in {renamed:?}"
        );
    }
    assert!(outputs(&steps, "write").any(|w| w["path"] == "index.json"));
}

#[test]
fn a_copy_whose_upload_fails_once_is_retried_from_the_source() {
    let files = layout();
    let digest = manifest_digest(&files);
    let mut target = RegistryModel::default();
    target.fault(Fault::on(http::Method::PATCH, "/blobs/uploads/").status(503));
    let mut models = [registry_with(&files, "library/app"), target];
    let options = r#"{"plainHttp": true, "source": {"plainHttp": true}}"#;
    let op = Operation::copy(SOURCE, TARGET, options).unwrap();
    let steps = check(
        "copy-retry",
        "copy",
        options,
        record(op, &mut models, &BTreeMap::new()),
    );
    let retrying = outputs(&steps, "event")
        .filter(|e| e["event"] == "retrying")
        .count();
    assert_eq!(retrying, 1);
    let finished = outputs(&steps, "finished").next().unwrap();
    assert_eq!(finished["ok"]["manifest_digest"], digest.to_string());
    assert_eq!(finished["ok"]["blobs_uploaded"], 2, "{finished}");
    assert_eq!(finished["ok"]["retries"], 1, "{finished}");
    // Every upload streamed what the source answered (the failed one's blob read twice),
    // and no file was asked for.
    let sends: Vec<_> = outputs(&steps, "send-to").collect();
    let uploads = sends
        .iter()
        .filter(|s| s[1]["body"].get("stream").is_some());
    assert_eq!(uploads.count(), 3, "{sends:?}");
    let source_reads = sends.iter().filter(|s| {
        s[0] == json!({"source": 0}) && s[1]["url"].as_str().unwrap().contains("/blobs/")
    });
    assert_eq!(source_reads.count(), 3, "{sends:?}");
    assert_eq!(outputs(&steps, "body-end").count(), 3);
    for file_output in ["send", "read-file", "stat", "write", "rename", "remove"] {
        assert_eq!(outputs(&steps, file_output).count(), 0, "{file_output}");
    }
    // The target holds the image, byte for byte.
    let [_, target] = &models;
    let manifest = &files[&format!("blobs/sha256/{}", digest.hex())];
    assert_eq!(&target.manifests["team/app:v1"].0, manifest);
    for (path, data) in files.iter().filter(|(p, _)| p.starts_with("blobs/")) {
        let key = format!("sha256:{}", path.rsplit('/').next().unwrap());
        if key != digest.to_string() {
            assert_eq!(target.blobs.get(&key), Some(data), "{key}");
        }
    }
}

#[test]
fn each_side_of_a_copy_gets_its_own_credentials() {
    let files = layout();
    let mut source = registry_with(&files, "library/app");
    source.required_auth = Some(basic("reader", "source-secret"));
    let target = RegistryModel {
        required_auth: Some(basic("writer", "target-secret")),
        ..RegistryModel::default()
    };
    let mut models = [source, target];
    let options = r#"{"plainHttp": true, "username": "writer", "password": "target-secret",
        "source": {"plainHttp": true, "username": "reader", "password": "source-secret"}}"#;
    let op = Operation::copy(SOURCE, TARGET, options).unwrap();
    let steps = record(op, &mut models, &BTreeMap::new());
    let finished = outputs(&steps, "finished").next().unwrap();
    assert_eq!(finished["ok"]["blobs_uploaded"], 2, "{finished}");
    // Each side's requests carried only that side's credentials.
    let mut authorized = [0, 0];
    for send in outputs(&steps, "send-to") {
        let auth = send[1]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == "authorization")
            .map(|h| h[1].as_str().unwrap().to_owned());
        let user = if send[0] == "target" {
            ("writer", "target-secret")
        } else {
            ("reader", "source-secret")
        };
        if let Some(auth) = auth {
            assert_eq!(auth, basic(user.0, user.1), "{send}");
            authorized[usize::from(send[0] == "target")] += 1;
        }
    }
    assert!(authorized[0] > 0 && authorized[1] > 0, "{authorized:?}");
    assert_eq!(
        models[1].manifests["team/app:v1"].0,
        files[&format!("blobs/sha256/{}", manifest_digest(&files).hex())]
    );
}

#[test]
fn a_copy_takes_only_its_own_options() {
    let usage = |options: &str| {
        let failure = Operation::copy(SOURCE, TARGET, options)
            .err()
            .expect(options);
        assert_eq!(failure.class, "usage", "{options}: {}", failure.message);
        failure.message
    };
    assert!(usage(r#"{"name": "v1"}"#).contains("\"name\" is not an option of a copy"));
    // Blobs at once are the copy's, not its source's.
    assert!(usage(r#"{"source": {"jobs": 2}}"#).contains("\"jobs\" is not an option of a source"));
    assert!(Operation::copy(SOURCE, TARGET, r#"{"source": {"retries": 2}}"#).is_ok());
    assert!(usage(r#"{"platform": "linux"}"#).contains("platform"));
    // The core's ranges and types, as for the CLI's flags and tug-wasm's options.
    assert!(usage(r#"{"jobs": 0}"#).contains("\"jobs\" must be from 1 to 64"));
    assert!(usage(r#"{"retries": "3"}"#).contains("\"retries\" must be a whole number"));
    assert!(usage(r#"{"jobz": 3}"#).contains("unknown option \"jobz\""));
    // A host may pass every field it has: `null` is no option.
    assert!(Operation::copy(SOURCE, TARGET, r#"{"name": null, "source": null}"#).is_ok());
    let push = Operation::push(TARGET, r#"{"source": {}}"#).err().unwrap();
    assert!(
        push.message
            .contains("\"source\" is not an option of a push"),
        "{}",
        push.message
    );
    let bad_source = Operation::copy("no image", TARGET, "").err().unwrap();
    assert!(
        bad_source.message.contains("no image"),
        "{}",
        bad_source.message
    );
}

/// `stallTimeout` sets the core's request deadline: the first request's `wait-until` is
/// that many seconds (in nanoseconds, as the WIT counts time) after it is sent (the core's
/// 60 s without it); 0 leaves none.
#[test]
fn stall_timeout_sets_the_deadline_the_core_keeps() {
    let first_wait = |options: &str| {
        let op = Operation::pull(TARGET, options).unwrap();
        std::iter::from_fn(|| op.poll()).find_map(|o| match o {
            Output::WaitUntil(t) => Some(t),
            _ => None,
        })
    };
    assert_eq!(first_wait(r#"{"stallTimeout": 7}"#), Some(7_000_000_000));
    assert_eq!(first_wait("{}"), Some(60_000_000_000));
    assert_eq!(first_wait(r#"{"stallTimeout": 0}"#), None);
}

#[test]
fn a_pull_whose_blob_read_gets_no_answer_is_retried_at_its_deadline() {
    let files = layout();
    let mut model = registry_with(&files, "team/app");
    let options = r#"{"plainHttp": true, "stallTimeout": 2}"#;
    let op = Operation::pull(TARGET, options).unwrap();
    let models = std::slice::from_mut(&mut model);
    let steps = check(
        "pull-held",
        "pull",
        options,
        record_holding(op, models, &BTreeMap::new(), Some("/blobs/")),
    );
    // The held read was given up on 2 s after it was sent (the first timeout; the second
    // ends the retry's backoff), aborted and asked again.
    let timeouts: Vec<u64> = steps
        .iter()
        .filter(|s| s.get("in") == Some(&json!("timeout")))
        .map(|s| s["now"].as_u64().unwrap())
        .collect();
    assert_eq!(timeouts.len(), 2, "{timeouts:?}");
    assert_eq!(timeouts[0], 2_002_000_000, "sent at 2 ms: {timeouts:?}");
    assert_eq!(outputs(&steps, "abort").count(), 1);
    let reasons: Vec<_> = outputs(&steps, "event")
        .filter(|e| e["event"] == "retrying")
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("no byte moved for 2 s"), "{reasons:?}");
    let finished = outputs(&steps, "finished").next().unwrap();
    assert_eq!(
        finished["ok"]["manifest_digest"],
        manifest_digest(&files).to_string(),
        "{finished}"
    );
}
