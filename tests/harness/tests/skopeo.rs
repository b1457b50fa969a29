//! skopeo wrappers: flags per registry kind, and errors that carry stderr.

use std::ffi::OsString;

use tug_testkit::skopeo::{self, Side};
use tug_testkit::Registry;

#[test]
fn registry_args_per_side_and_kind() {
    let plain = Registry::plain();
    assert_eq!(
        skopeo::registry_args(&plain, Side::Source),
        vec![OsString::from("--src-tls-verify=false")]
    );
    let auth = Registry::tls_basic_auth("u", "p");
    let ca_dir = auth.ca_dir().unwrap().as_os_str().to_owned();
    assert_eq!(
        skopeo::registry_args(&auth, Side::Destination),
        vec![
            OsString::from("--dest-cert-dir"),
            ca_dir.clone(),
            "--dest-creds".into(),
            "u:p".into()
        ]
    );
    assert_eq!(
        skopeo::registry_args(&auth, Side::Single),
        vec![
            OsString::from("--cert-dir"),
            ca_dir,
            "--creds".into(),
            "u:p".into()
        ]
    );
}

#[test]
fn failures_carry_command_and_stderr() {
    let registry = Registry::plain();
    let err = skopeo::inspect_raw_in(&registry, "does/not-exist:v1").expect_err("no such image");
    assert!(err.command.contains("inspect --raw"), "{err}");
    assert!(
        err.stderr.contains("manifest unknown") || err.stderr.contains("not found"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(&err.stderr.trim_end().to_string()), "{text}");
}
