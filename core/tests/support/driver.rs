//! Drives a push against the registry model in virtual time: requests are answered one at a
//! time, in order, each taking 10 ms; timers jump the clock.

use std::collections::VecDeque;
use std::time::Duration;

use tug_core::http::{Body, Request};
use tug_core::push::{Event, Output, Push, PushConfig, PushPlan, PushReport};
use tug_core::{Error, Instant};

use super::registry_model::RegistryModel;

pub struct Run {
    pub result: Result<PushReport, Error>,
    pub events: Vec<Event>,
    pub requests: Vec<Request>,
    /// The most requests that were waiting for an answer at once.
    pub max_in_flight: usize,
    pub end: Instant,
}

pub fn run_push(
    model: &mut RegistryModel,
    plan: PushPlan,
    data: &[Vec<u8>],
    config: PushConfig,
) -> Run {
    let mut now = Instant::ZERO;
    let mut push = Push::new(plan, config, now);
    let mut pending: VecDeque<Request> = VecDeque::new();
    let mut events = Vec::new();
    let mut requests = Vec::new();
    let mut max_in_flight = 0;
    for _ in 0..100_000 {
        while let Some(out) = push.poll() {
            match out {
                Output::Send(req) => {
                    requests.push(req.clone());
                    pending.push_back(req);
                }
                Output::Event(e) => events.push(e),
                Output::Finished(result) => {
                    return Run {
                        result,
                        events,
                        requests,
                        max_in_flight,
                        end: now,
                    };
                }
            }
        }
        max_in_flight = max_in_flight.max(pending.len());
        if let Some(req) = pending.pop_front() {
            let body: Vec<u8> = match &req.body {
                Body::Empty => Vec::new(),
                Body::Bytes(b) => b.clone(),
                Body::BlobRange { blob, start, end } => {
                    data[*blob][*start as usize..*end as usize].to_vec()
                }
            };
            let half = body.len() / 2;
            push.handle_body_sent(req.id, &body[..half], now).unwrap();
            now = now + Duration::from_millis(5);
            push.handle_body_sent(req.id, &body[half..], now).unwrap();
            now = now + Duration::from_millis(5);
            match model.handle(&req, &body) {
                Ok((head, resp_body)) => {
                    push.handle_response(req.id, head, now).unwrap();
                    if !resp_body.is_empty() {
                        push.handle_body_chunk(req.id, &resp_body, now).unwrap();
                    }
                    push.handle_body_end(req.id, now).unwrap();
                }
                Err(e) => push.handle_transport_error(req.id, e, now).unwrap(),
            }
        } else if let Some(t) = push.poll_timeout() {
            assert!(t >= now, "timer in the past");
            now = t;
            push.handle_timeout(now);
        } else {
            panic!("the push stalled: nothing in flight, no timer, not finished");
        }
    }
    panic!("the push did not finish within 100000 steps");
}
