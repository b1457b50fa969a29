//! The end-to-end tests, as one test binary: the `tug` binary against real registries
//! (the harness's `docker-registry`, fault proxy, token and hostile servers), checked with
//! skopeo. Each module is one area; `common` holds what several of them share.

mod common;

mod adaptive;
mod bad_input;
mod big_layer;
mod browser;
mod browser_form;
mod browser_resume;
mod closed_pipes;
mod compress;
mod compressed_archive;
mod config;
mod conventions;
mod copy;
mod copy_places;
mod copy_resume;
mod credential_routing;
mod credentials;
mod echoed_secrets;
mod every_host;
mod faults;
mod faults_pull;
mod foreign_layers;
mod history;
mod hostile_bodies;
mod hostile_credentials;
mod hostile_text;
mod interop;
mod interrupt;
mod leftovers;
mod mounts;
mod multi_platform;
mod network;
mod node_embedding;
mod outputs;
mod partial_saves;
mod planted_links;
mod pull;
mod pull_tar;
mod push_formats;
mod python_host;
mod quirks;
mod referrers;
mod resume;
mod resume_big;
mod secrets;
mod skopeo_spellings;
mod sync;
mod token_auth;
mod verbs;
