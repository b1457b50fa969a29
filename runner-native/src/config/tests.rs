use std::collections::HashMap;
use std::path::Path;

use clap::Parser;
use tug_core::Reference;

use super::origin::Setting;
use super::registry::RegistrySettings;
use super::*;
use crate::compress::codec::CompressChoice;
use crate::exit_code::CliError;
use crate::progress::ProgressMode;

/// Loads settings with a config file holding `toml` and the environment `vars`.
fn load(toml: &str, vars: &[(&str, &str)]) -> (Result<Settings, CliError>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    std::fs::write(dir.path().join("ca.pem"), "pem").unwrap();
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("TUG_CONFIG".into(), path.display().to_string());
    let s = Settings::load_with(&|k| env.get(k).cloned());
    (s, dir)
}

fn err(toml: &str, vars: &[(&str, &str)]) -> String {
    match load(toml, vars).0 {
        Err(e) => {
            assert_eq!(
                e.code(),
                crate::exit_code::of_class(tug_core::ErrorClass::Input),
                "{e}"
            );
            e.to_string()
        }
        Ok(_) => panic!("no error"),
    }
}

fn registry_args() -> RegistryArgs {
    RegistryArgs::default()
}

/// Every flag that sets a setting, as push has them.
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
struct AllFlags {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    transfer: TransferArgs,
    #[command(flatten)]
    upload: UploadArgs,
}

/// The command line `args` parsed.
fn flags(args: &[&str]) -> Result<AllFlags, clap::Error> {
    AllFlags::try_parse_from(std::iter::once("tug").chain(args.iter().copied()))
}

/// `s` with the flags of `args` applied.
fn with_flags(s: &mut Settings, args: &[&str]) {
    let f = flags(args).unwrap();
    s.apply_flags(&f.registry.connect);
    s.apply_flags(&f.transfer);
    s.apply_flags(&f.upload);
}

#[test]
fn defaults_without_a_file() {
    let s =
        Settings::load_with(&|k| (k == "HOME").then(|| "/nonexistent-home".to_owned())).unwrap();
    assert!(!s.file_found);
    assert_eq!(
        s.file.as_deref(),
        Some(Path::new("/nonexistent-home/.config/tug/config.toml"))
    );
    assert_eq!(s.jobs, Setting::default(4));
    assert_eq!(s.progress.value, ProgressMode::Auto);
    let xdg = Settings::load_with(&|k| match k {
        "HOME" => Some("/h".into()),
        "XDG_CONFIG_HOME" => Some("/x".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(xdg.file.as_deref(), Some(Path::new("/x/tug/config.toml")));
}

#[test]
fn default_then_file_then_env_then_flag() {
    let (s, dir) = load(
        "# tuning\njobs = 8\nretries = 7\nprogress = \"plain\"\n\n[registries.\"reg:5000\"]\nca_file = \"ca.pem\"\nplain_http = true\n",
        &[("TUG_RETRIES", "9")],
    );
    let mut s = s.unwrap();
    let file = dir.path().join("config.toml");
    assert_eq!(s.jobs.value, 8);
    assert_eq!(
        s.jobs.origin,
        Origin::File {
            path: file.clone(),
            line: 2
        }
    );
    assert_eq!(s.retries.value, 9);
    assert_eq!(s.retries.origin, Origin::Env("TUG_RETRIES"));
    assert_eq!(s.progress.value, ProgressMode::Plain);
    assert_eq!(s.chunk_size.origin, Origin::Default);
    with_flags(&mut s, &["--jobs", "2"]);
    assert_eq!(
        s.jobs,
        Setting {
            value: 2,
            origin: Origin::Flag("--jobs")
        }
    );
    assert_eq!(s.retries.value, 9);

    assert_eq!(
        s.mirror_for(&"reg:5000/app:1".parse().unwrap(), &registry_args()),
        None
    );
    let r = s.registry("reg:5000", &registry_args());
    assert_eq!(
        r.ca_file.value.as_deref(),
        Some(dir.path().join("ca.pem").as_path())
    );
    assert_eq!(
        r.ca_file.origin,
        Origin::File {
            path: file.clone(),
            line: 7
        }
    );
    assert!(r.plain_http.value);
    assert!(!r.insecure.value);
    // Other registries get nothing from that table; flags apply to all.
    let other = s.registry("other:5000", &registry_args());
    assert_eq!(other, RegistrySettings::default());
    let given = flags(&["--insecure", "--ca-file", "/flag/ca.pem"]).unwrap();
    let r = s.registry("reg:5000", &given.registry);
    assert_eq!(
        r.insecure,
        Setting {
            value: true,
            origin: Origin::Flag("--insecure")
        }
    );
    assert_eq!(r.ca_file.value.as_deref(), Some(Path::new("/flag/ca.pem")));
    assert!(
        r.plain_http.value,
        "a flag not given leaves the file's value"
    );

    with_flags(&mut s, &["--connect-timeout", "3"]);
    assert_eq!(
        s.connect_timeout,
        Setting {
            value: 3,
            origin: Origin::Flag("--connect-timeout")
        }
    );
    assert_eq!(s.stall_timeout, Setting::default(60));

    let text = s.text();
    assert!(
        text.contains(&format!("# file {}:4", file.display())),
        "{text}"
    );
    assert!(text.contains("retries = 9"), "{text}");
    assert!(text.contains("# env TUG_RETRIES"), "{text}");
    assert!(text.contains("# flag --jobs"), "{text}");
    assert!(text.contains("[registries.\"reg:5000\"]"), "{text}");
    let json = s.json();
    assert_eq!(json["settings"]["retries"]["var"], "TUG_RETRIES");
    assert_eq!(json["settings"]["jobs"]["value"], 2);
    assert_eq!(json["registries"]["reg:5000"]["plain_http"]["line"], 8);
}

#[test]
fn concurrency_and_compression_come_from_the_file_env_and_flags() {
    let (s, _dir) = load(
        "adaptive = false\ncompress = \"zstd\"\ncompress_level = 7\n",
        &[("TUG_COMPRESS_LEVEL", "9")],
    );
    let mut s = s.unwrap();
    assert!(!s.adaptive.value);
    assert!(matches!(s.adaptive.origin, Origin::File { line: 1, .. }));
    assert_eq!(s.compress.value, CompressChoice::Zstd);
    assert_eq!(s.compress_level.value, Some(9));
    assert_eq!(s.compress_level.origin, Origin::Env("TUG_COMPRESS_LEVEL"));
    assert!(s.summary().contains("adaptive=false"), "{}", s.summary());
    assert!(s.text().contains("compress = \"zstd\""), "{}", s.text());
    assert_eq!(s.json()["settings"]["compress_level"]["value"], 9);
    with_flags(&mut s, &["--adaptive"]);
    assert_eq!(s.adaptive.origin, Origin::Flag("--adaptive"));
    assert!(s.adaptive.value);
    with_flags(&mut s, &["--fixed-jobs"]);
    assert!(!s.adaptive.value);
    assert_eq!(s.adaptive.origin, Origin::Flag("--fixed-jobs"));
    // The last of the two wins.
    with_flags(&mut s, &["--fixed-jobs", "--adaptive"]);
    assert_eq!(s.adaptive.origin, Origin::Flag("--adaptive"));
    with_flags(&mut s, &["--adaptive", "--fixed-jobs"]);
    assert_eq!(s.adaptive.origin, Origin::Flag("--fixed-jobs"));

    let (s, _dir) = load("compress = \"gzip\"\n", &[("TUG_COMPRESS", "none")]);
    assert_eq!(s.unwrap().compress.value, CompressChoice::None);
    let (s, _dir) = load("", &[("TUG_ADAPTIVE", "false")]);
    assert!(!s.unwrap().adaptive.value);
    let defaults = load("", &[]).0.unwrap();
    assert!(defaults.adaptive.value);
    assert_eq!(defaults.compress.value, CompressChoice::None);
}

#[test]
fn bad_compression_settings_name_the_line_or_variable() {
    let e = err("jobs = 2\ncompress = \"lz4\"\n", &[]);
    assert!(
        e.contains(":2: compress: \"lz4\" is not one of none, gzip, zstd"),
        "{e}"
    );
    let e = err("compress_level = 30\n", &[]);
    assert!(
        e.contains(":1: compress_level: 30 is out of range (1 to 19)"),
        "{e}"
    );
    let e = err("", &[("TUG_COMPRESS", "brotli")]);
    assert!(e.contains("TUG_COMPRESS=\"brotli\""), "{e}");
    let e = err("", &[("TUG_ADAPTIVE", "maybe")]);
    assert!(e.contains("TUG_ADAPTIVE"), "{e}");
    let e = err("adaptive = 3\n", &[]);
    assert!(e.contains(":1: adaptive"), "{e}");
}

#[test]
fn a_mirror_takes_the_same_repository_and_reference() {
    let (s, _dir) = load(
        "[registries.\"docker.io\"]\nmirror = \"mirror.local:5000\"\n",
        &[],
    );
    let s = s.unwrap();
    let image: Reference = "busybox:1.36".parse().unwrap();
    let m = s.mirror_for(&image, &registry_args()).unwrap();
    assert_eq!(m.to_string(), "mirror.local:5000/library/busybox:1.36");
    assert_eq!(m.api_host(), "mirror.local:5000");
    let other: Reference = "quay.io/x/y:1".parse().unwrap();
    assert_eq!(s.mirror_for(&other, &registry_args()), None);
    assert!(s.text().contains("mirror = \"mirror.local:5000\""));
}

#[test]
fn bad_files_name_the_file_the_line_and_the_key() {
    let e = err("jobs = 0\n", &[]);
    assert!(
        e.contains("config.toml:1: jobs: 0 is out of range (1 to 64)"),
        "{e}"
    );
    let e = err("retries = 3\njobs = \"four\"\n", &[]);
    assert!(e.contains("config.toml:2: jobs: "), "{e}");
    assert!(e.contains("string"), "{e}");
    let e = err("\n\njbos = 3\n", &[]);
    assert!(
        e.ends_with(
            "config.toml:3: jbos: unknown field `jbos`, expected one of `jobs`, `retries`, \
             `retry_max_wait`, `retry_delay`, `chunk_size`, `monolithic_max`, `progress`, `connect_timeout`, \
             `stall_timeout`, `adaptive`, `compress`, `compress_level`, `registries`"
        ),
        "{e}"
    );
    let e = err("progress = \"fancy\"\n", &[]);
    assert!(e.contains(":1: progress: \"fancy\" is not one of"), "{e}");
    let e = err("[registries.\"r:1\"]\nca_file = \"missing.pem\"\n", &[]);
    assert!(
        e.contains(":2: registries.\"r:1\".ca_file:") && e.contains("missing.pem is not a file"),
        "{e}"
    );
    let e = err("[registries.\"r:1\"]\ninsecure = \"yes\"\n", &[]);
    assert!(e.contains(":2: registries.\"r:1\".insecure: "), "{e}");
    let e = err("[registries.\"r:1\"]\nmirror = \"http://m:5000\"\n", &[]);
    assert!(
        e.contains(
            ":2: registries.\"r:1\".mirror: \"http://m:5000\" is not a registry host[:port]"
        ),
        "{e}"
    );
    let e = err("jobs = [\n", &[]);
    assert!(e.contains("config.toml:"), "{e}");
}

#[test]
fn bad_environment_values_name_the_variable() {
    let e = err("", &[("TUG_JOBS", "lots")]);
    assert!(
        e.contains("TUG_JOBS=\"lots\": expected a number from 1 to 64"),
        "{e}"
    );
    let e = err("", &[("TUG_PROGRESS", "loud")]);
    assert!(e.contains("TUG_PROGRESS"), "{e}");
}

#[test]
fn a_config_named_by_tug_config_must_exist() {
    let s =
        Settings::load_with(&|k| (k == "TUG_CONFIG").then(|| "/nonexistent/tug.toml".to_owned()));
    let e = s.unwrap_err().to_string();
    assert!(
        e.contains("/nonexistent/tug.toml") && e.contains("TUG_CONFIG"),
        "{e}"
    );
}

/// One setting's samples: a good value as the file, the environment and the flag write it,
/// how `tug config` shows it, and bad ones with the messages they get (the same as before
/// the table: the file's and the environment's as tug 0.1 printed them).
struct Sample {
    key: &'static str,
    file: &'static str,
    env: &'static str,
    flag: &'static [&'static str],
    shown: &'static str,
    /// `key = value` lines and the message after `config file PATH:1: `.
    bad_file: &'static [(&'static str, &'static str)],
    /// A variable's value and the message after `environment variable VAR="value": `.
    bad_env: (&'static str, &'static str),
    /// Flags and clap's message after `error: `.
    bad_flag: Option<(&'static [&'static str], &'static str)>,
}

const SAMPLES: &[Sample] = &[
    Sample {
        key: "jobs",
        file: "7",
        env: "7",
        flag: &["--jobs", "7"],
        shown: "7",
        bad_file: &[
            ("jobs = 0", "jobs: 0 is out of range (1 to 64)"),
            (
                "jobs = \"four\"",
                "jobs: invalid type: string \"four\", expected i64",
            ),
            (
                "jobs = 1.5",
                "jobs: invalid type: floating point `1.5`, expected i64",
            ),
        ],
        bad_env: ("lots", "expected a number from 1 to 64"),
        bad_flag: Some((
            &["--jobs", "0"],
            "invalid value '0' for '--jobs <JOBS>': 0 is not in 1..=64",
        )),
    },
    Sample {
        key: "retries",
        file: "9",
        env: "9",
        flag: &["--retries", "9"],
        shown: "9",
        bad_file: &[(
            "retries = 1001",
            "retries: 1001 is out of range (1 to 1000)",
        )],
        bad_env: ("0", "expected a number from 1 to 1000"),
        bad_flag: Some((
            &["--retries", "0"],
            "invalid value '0' for '--retries <RETRIES>': 0 is not in 1..=1000",
        )),
    },
    Sample {
        key: "retry_max_wait",
        file: "600",
        env: "600",
        flag: &["--retry-max-wait", "600"],
        shown: "600",
        bad_file: &[(
            "retry_max_wait = -1",
            "retry_max_wait: -1 is out of range (0 to 9223372036854775807)",
        )],
        bad_env: ("x", "expected a number of seconds"),
        bad_flag: Some((
            &["--retry-max-wait", "x"],
            "invalid value 'x' for '--retry-max-wait <SECS>': invalid digit found in string",
        )),
    },
    Sample {
        key: "retry_delay",
        file: "2000",
        env: "2s",
        flag: &["--retry-delay", "2000ms"],
        shown: "2000",
        bad_file: &[(
            "retry_delay = 30001",
            "retry_delay: 30001 is out of range (0 to 30000)",
        )],
        bad_env: (
            "soon",
            "expected a number of milliseconds from 0 to 30000, or one with a unit (500ms, 1.5s)",
        ),
        bad_flag: Some((
            &["--retry-delay", "1h"],
            "invalid value '1h' for '--retry-delay <DELAY>': \"1h\" is no duration: a number \
             of milliseconds, or one with a unit (500ms, 2s)",
        )),
    },
    Sample {
        key: "chunk_size",
        file: "1000",
        env: "1000",
        flag: &["--chunk-size", "1000"],
        shown: "1000",
        bad_file: &[(
            "chunk_size = 0",
            "chunk_size: 0 is out of range (1 to 9223372036854775807)",
        )],
        bad_env: (
            "0",
            "expected a number of bytes above 0, or one with a unit (64MiB, 8m)",
        ),
        bad_flag: Some((
            &["--chunk-size", "0"],
            "invalid value '0' for '--chunk-size <BYTES>': 0 is not in 1..18446744073709551615",
        )),
    },
    Sample {
        key: "monolithic_max",
        file: "0",
        env: "0",
        flag: &["--monolithic-max", "0"],
        shown: "0",
        bad_file: &[(
            "monolithic_max = -5",
            "monolithic_max: -5 is out of range (0 to 9223372036854775807)",
        )],
        bad_env: (
            "-1",
            "expected a number of bytes, or one with a unit (64MiB, 8m)",
        ),
        bad_flag: Some((
            &["--monolithic-max", "x"],
            "invalid value 'x' for '--monolithic-max <BYTES>': \"x\" is no size",
        )),
    },
    Sample {
        key: "progress",
        file: "\"json\"",
        env: "JSON",
        flag: &["--progress", "json"],
        shown: "json",
        bad_file: &[
            (
                "progress = \"fancy\"",
                "progress: \"fancy\" is not one of auto, tty, plain, json, none",
            ),
            (
                "progress = 3",
                "progress: invalid type: integer `3`, expected a string",
            ),
        ],
        bad_env: (
            "loud",
            "\"loud\" is not one of auto, tty, plain, json, none",
        ),
        bad_flag: Some((
            &["--progress", "loud"],
            "invalid value 'loud' for '--progress <PROGRESS>'",
        )),
    },
    Sample {
        key: "connect_timeout",
        file: "3",
        env: "3",
        flag: &["--connect-timeout", "3"],
        shown: "3",
        bad_file: &[(
            "connect_timeout = -1",
            "connect_timeout: -1 is out of range (0 to 9223372036854775807)",
        )],
        bad_env: ("soon", "expected a number of seconds"),
        bad_flag: Some((
            &["--connect-timeout", "x"],
            "invalid value 'x' for '--connect-timeout <SECS>': invalid digit found in string",
        )),
    },
    Sample {
        key: "stall_timeout",
        file: "0",
        env: "0",
        flag: &["--stall-timeout", "0"],
        shown: "0",
        bad_file: &[(
            "stall_timeout = 1.0",
            "stall_timeout: invalid type: floating point `1.0`, expected i64",
        )],
        bad_env: ("soon", "expected a number of seconds"),
        bad_flag: Some((
            &["--stall-timeout", "x"],
            "invalid value 'x' for '--stall-timeout <SECS>': invalid digit found in string",
        )),
    },
    Sample {
        key: "adaptive",
        file: "false",
        env: "false",
        flag: &["--fixed-jobs"],
        shown: "false",
        bad_file: &[
            (
                "adaptive = 3",
                "adaptive: invalid type: integer `3`, expected a boolean",
            ),
            (
                "adaptive = \"yes\"",
                "adaptive: invalid type: string \"yes\", expected a boolean",
            ),
        ],
        bad_env: ("maybe", "expected true or false"),
        bad_flag: None,
    },
    Sample {
        key: "compress",
        file: "\"gzip\"",
        env: " gzip ",
        flag: &["--compress", "gzip"],
        shown: "gzip",
        bad_file: &[
            (
                "compress = \"lz4\"",
                "compress: \"lz4\" is not one of none, gzip, zstd",
            ),
            (
                "compress = 1",
                "compress: invalid type: integer `1`, expected a string",
            ),
        ],
        bad_env: ("brotli", "\"brotli\" is not one of none, gzip, zstd"),
        bad_flag: Some((
            &["--compress", "lz4"],
            "invalid value 'lz4' for '--compress <CODEC>'",
        )),
    },
    Sample {
        key: "compress_level",
        file: "12",
        env: "12",
        flag: &["--compress-level", "12"],
        shown: "12",
        bad_file: &[(
            "compress_level = 20",
            "compress_level: 20 is out of range (1 to 19)",
        )],
        bad_env: ("0", "expected a number from 1 to 19"),
        bad_flag: Some((
            &["--compress-level", "30"],
            "invalid value '30' for '--compress-level <N>': 30 is not in 1..=19",
        )),
    },
];

/// The env variable of setting `key`, as documented: `TUG_` and the key in capitals.
fn var_of(key: &str) -> String {
    format!("TUG_{}", key.to_uppercase())
}

/// The row of setting `key`: its value as shown, and its origin.
fn row(s: &Settings, key: &str) -> (String, Origin) {
    let rows = s.rows();
    let r = rows.iter().find(|r| r.key == key).unwrap();
    (r.shown.clone(), r.origin.clone())
}

#[test]
fn every_setting_has_samples() {
    let sampled: Vec<&str> = SAMPLES.iter().map(|s| s.key).collect();
    assert_eq!(sampled, Settings::NAMES);
}

#[test]
fn every_setting_is_read_from_the_file_the_environment_and_its_flag() {
    for sample in SAMPLES {
        let key = sample.key;
        let (s, dir) = load(&format!("\n{key} = {}\n", sample.file), &[]);
        let s = s.unwrap_or_else(|e| panic!("{key}: {e}"));
        let file = dir.path().join("config.toml");
        assert_eq!(
            row(&s, key),
            (
                sample.shown.to_owned(),
                Origin::File {
                    path: file,
                    line: 2
                }
            ),
            "{key} from the file"
        );
        let defaults = Settings::default();
        assert_ne!(
            row(&defaults, key).0,
            sample.shown,
            "{key}: sample the default"
        );

        let var = var_of(key);
        let (s, _dir) = load("", &[(var.as_str(), sample.env)]);
        let s = s.unwrap_or_else(|e| panic!("{key}: {e}"));
        let (shown, origin) = row(&s, key);
        assert_eq!(shown, sample.shown, "{key} from {var}");
        assert!(
            matches!(origin, Origin::Env(v) if v == var),
            "{key}: {origin}"
        );

        let mut s = Settings::default();
        with_flags(&mut s, sample.flag);
        let (shown, origin) = row(&s, key);
        assert_eq!(shown, sample.shown, "{key} from {:?}", sample.flag);
        assert_eq!(origin, Origin::Flag(sample.flag[0]), "{key}");
    }
    // The one-letter form names the flag.
    let mut s = Settings::default();
    with_flags(&mut s, &["-j", "3"]);
    assert_eq!(s.jobs.origin, Origin::Flag("--jobs"));
}

#[test]
fn bad_values_are_refused_with_the_file_line_and_key_or_the_variable_or_the_flag() {
    for sample in SAMPLES {
        let key = sample.key;
        for (line, message) in sample.bad_file {
            let (s, dir) = load(&format!("{line}\n"), &[]);
            let e = s.expect_err(line);
            assert_eq!(
                e.code(),
                crate::exit_code::of_class(tug_core::ErrorClass::Input),
                "{e}"
            );
            let file = dir.path().join("config.toml");
            assert_eq!(
                e.to_string(),
                format!("config file {}:1: {message}", file.display())
            );
        }
        let var = var_of(key);
        let (value, message) = sample.bad_env;
        let e = err("", &[(var.as_str(), value)]);
        assert_eq!(
            e,
            format!("environment variable {var}={value:?}: {message}")
        );
        if let Some((args, message)) = sample.bad_flag {
            let e = flags(args).expect_err(key);
            use clap::error::ErrorKind;
            let kind = e.kind();
            assert!(
                matches!(kind, ErrorKind::ValueValidation | ErrorKind::InvalidValue),
                "{key}: {kind:?}"
            );
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("error: {message}")),
                "{key}: {text}"
            );
        }
    }
}

#[test]
fn defaults_come_from_the_core_where_it_declares_them() {
    let push = tug_core::push::PushConfig::default();
    let retry = tug_core::retry::RetryPolicy::default();
    let s = Settings::default();
    assert_eq!(usize::from(s.jobs.value), push.transfer.jobs);
    assert_eq!(s.adaptive.value, push.transfer.adaptive);
    assert_eq!(s.chunk_size.value, push.chunk_size);
    assert_eq!(s.retries.value, retry.max_attempts);
    assert_eq!(s.retry_max_wait.value, retry.budget.map(|d| d.as_secs()));
    assert_eq!(
        s.stall_timeout.value,
        tug_core::limits::DEFAULT_STALL_TIMEOUT.as_secs()
    );
    // The CLI keeps its own larger single-request limit for now (the core's is 16 MiB).
    assert_eq!(s.monolithic_max.value, 64 << 20);
    assert_eq!(s.connect_timeout.value, 30);
    assert_eq!(s.progress.value, ProgressMode::Auto);
    assert_eq!(s.compress.value, CompressChoice::None);
    assert_eq!(s.compress_level.value, None);
}

#[test]
fn the_flags_help_shows_the_declared_defaults() {
    use clap::CommandFactory;
    let help = AllFlags::command().render_long_help().to_string();
    for expected in [
        "-j, --jobs <JOBS>",
        "Most blobs in flight at once (exactly this many with --fixed-jobs) [default: 4]",
        "--chunk-size <BYTES>",
        "Size of each chunk of a chunked upload [default: 64 MiB]",
        "--retries <RETRIES>",
        "Attempts per request before giving up [default: 5]",
        "Stop retrying once this many seconds have passed since the first failure\n",
        "How to show progress [default: auto]",
        "--fixed-jobs",
        "Compression level (gzip 1-9, default 3; zstd 1-19, default 3)\n",
        "(0: no limit) [default: 60]",
    ] {
        assert!(help.contains(expected), "{expected:?} in\n{help}");
    }
}

/// A count of bytes may say its unit, as the flag's help shows its default (`64 MiB`).
#[test]
fn sizes_take_a_unit() {
    use super::value::bytes_with_unit;
    assert_eq!(bytes_with_unit("64 MiB"), Some(64 << 20));
    assert_eq!(bytes_with_unit("64MiB"), Some(64 << 20));
    assert_eq!(bytes_with_unit("8m"), Some(8 << 20));
    assert_eq!(bytes_with_unit("1G"), Some(1 << 30));
    assert_eq!(bytes_with_unit("512k"), Some(512 << 10));
    assert_eq!(bytes_with_unit("2MB"), Some(2_000_000));
    assert_eq!(bytes_with_unit("1048576"), Some(1 << 20));
    assert_eq!(bytes_with_unit("8x"), None);
    assert_eq!(bytes_with_unit("MiB"), None);
}

/// A count with a unit reads the same from the file, its variable and its flag (the README
/// says a setting takes the same values from each): `"2s"` and `"64MiB"` in the file too, a
/// fraction of a second as Go tools write it, and a value read but out of range said in its
/// unit.
#[test]
fn counts_with_units_read_alike_from_the_file_the_variable_and_the_flag() {
    let (s, _dir) = load("retry_delay = \"1.5s\"\nchunk_size = \"8MiB\"\n", &[]);
    let s = s.unwrap();
    assert_eq!(s.retry_delay.value, 1500);
    assert_eq!(s.chunk_size.value, 8 << 20);
    let (s, _dir) = load("", &[("TUG_RETRY_DELAY", "0.25s")]);
    assert_eq!(s.unwrap().retry_delay.value, 250);
    let mut s = Settings::default();
    with_flags(&mut s, &["--retry-delay", "2.5s"]);
    assert_eq!(s.retry_delay.value, 2500);
    let e = err("", &[("TUG_RETRY_DELAY", "1m")]);
    assert!(
        e.ends_with("60000 milliseconds is out of range (0 to 30000)"),
        "{e}"
    );
    let e = flags(&["--retry-delay", "1m"]).unwrap_err().to_string();
    assert!(e.contains("60000 milliseconds is not in 0..=30000"), "{e}");
    // A count without a unit still takes no string.
    let e = err("jobs = \"4\"\n", &[]);
    assert!(
        e.ends_with("jobs: invalid type: string \"4\", expected i64"),
        "{e}"
    );
}

#[test]
fn durations_read_to_the_millisecond() {
    use super::value::millis_with_unit as ms;
    assert_eq!(ms("500ms"), Some(500));
    assert_eq!(ms("2s"), Some(2000));
    assert_eq!(ms("1.5s"), Some(1500));
    assert_eq!(ms(".5s"), Some(500));
    assert_eq!(ms("1.2349s"), Some(1234));
    assert_eq!(ms("0.5m"), Some(30_000));
    assert_eq!(ms("750"), Some(750));
    for bad in ["1.5", "1.5ms", "2h", "s", "1..5s", "-1s", ""] {
        assert_eq!(ms(bad), None, "{bad}");
    }
}
