//! The conventions scripts rely on, as skopeo, podman and crane taught them: push and copy
//! print exactly the pinned reference on standard output, `--digestfile` and `-q`, the
//! `docker://` prefix, and the exit code of an image that is not there.

use crate::common::{push, tug_for};
use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{ImageSpec, Registry, Tug, TugOutput};

/// The one line of standard output, which must be all of it.
fn only_line(out: &TugOutput) -> String {
    let stdout = out.stdout_str();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stdout:\n{out}");
    assert!(stdout.ends_with('\n'), "{out}");
    lines[0].to_owned()
}

#[test]
fn push_prints_only_the_pinned_reference_and_takes_docker_s_prefix() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(141).layer(30_000), "v1");
    let digestfile = dir.path().join("digest");
    let out = tug_for(&registry)
        .args(["--progress", "plain", "--digestfile"])
        .arg(&digestfile)
        .arg(&layout)
        .arg(format!("docker://{}", registry.image("conv/app:v1")))
        .run()
        .assert_success();
    let pushed = pull_with_skopeo_and_compare(&registry, "conv/app:v1", &fixture);
    let pinned = format!("{}@{}", registry.image("conv/app"), pushed.manifest_digest);
    assert_eq!(only_line(&out), pinned);
    // What people read is on standard error: the summary and the target.
    let stderr = out.stderr_str();
    assert!(stderr.contains("Pushed "), "{out}");
    assert!(stderr.contains(&registry.image("conv/app:v1")), "{out}");
    assert_eq!(
        std::fs::read_to_string(&digestfile).unwrap(),
        pushed.manifest_digest,
        "the digest file holds the digest alone, as skopeo writes it"
    );
}

#[test]
fn quiet_push_copy_and_pull_print_the_result_and_nothing_on_stderr() {
    let a = Registry::plain();
    let b = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(142).layer(20_000), "v1");
    let quiet_push = tug_for(&a)
        .args(["-q", "--plain-http"])
        .arg(&layout)
        .arg(a.image("conv/quiet:v1"))
        .run()
        .assert_success();
    let digest = pull_with_skopeo_and_compare(&a, "conv/quiet:v1", &fixture).manifest_digest;
    assert_eq!(
        only_line(&quiet_push),
        format!("{}@{digest}", a.image("conv/quiet"))
    );
    assert_eq!(quiet_push.stderr_str(), "", "{quiet_push}");

    let digestfile = dir.path().join("copied");
    let copied = Tug::new()
        .args(["copy", "--quiet", "--plain-http", "--digestfile"])
        .arg(&digestfile)
        .arg(a.image("conv/quiet:v1"))
        .arg(format!("docker://{}", b.image("conv/copied:v2")))
        .run()
        .assert_success();
    assert_eq!(
        only_line(&copied),
        format!("{}@{digest}", b.image("conv/copied"))
    );
    assert_eq!(copied.stderr_str(), "", "{copied}");
    assert_eq!(std::fs::read_to_string(&digestfile).unwrap(), digest);
    pull_with_skopeo_and_compare(&b, "conv/copied:v2", &fixture);

    let pulled_digest = dir.path().join("pulled");
    let pulled = Tug::new()
        .args(["pull", "-q", "--plain-http", "--digestfile"])
        .arg(&pulled_digest)
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg(b.image("conv/copied:v2"))
        .run()
        .assert_success();
    assert_eq!(pulled.stderr_str(), "", "{pulled}");
    assert_eq!(std::fs::read_to_string(&pulled_digest).unwrap(), digest);
}

#[test]
fn a_copy_without_quiet_keeps_its_summary_on_stderr() {
    let a = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(143).layer(10_000), "v1");
    push(&a, &layout, "conv/src:v1").assert_success();
    let out = Tug::new()
        .args(["copy", "--progress", "plain"])
        .arg(a.image("conv/src:v1"))
        .arg(a.image("conv/dst:v1"))
        .run()
        .assert_success();
    let line = only_line(&out);
    assert!(
        line.starts_with(&format!("{}@sha256:", a.image("conv/dst"))),
        "{out}"
    );
    assert!(out.stderr_str().contains("Copied "), "{out}");
}

/// A tag the repository lacks and a repository the registry lacks exit with the not-found
/// code, which the history records as its class; skopeo sees neither either. (distribution
/// answers both with `MANIFEST_UNKNOWN`; `NAME_UNKNOWN`, which other registries send for an
/// unknown repository, is in the core's class table.)
#[test]
fn an_image_that_is_not_there_exits_with_the_not_found_code() {
    let registry = Registry::plain();
    let env = crate::common::Env::new();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(144).layer(1_000), "v1");
    push(&registry, &layout, "conv/there:v1").assert_success();
    for missing in ["conv/there:v2", "conv/nowhere:v1"] {
        assert!(tug_testkit::skopeo::inspect_raw_in(&registry, missing).is_err());
        let out = env
            .tug()
            .args(["pull", "--plain-http", "-o"])
            .arg(dir.path().join("out"))
            .arg(registry.image(missing))
            .run()
            .assert_code(crate::common::NOT_FOUND);
        assert!(out.stderr_str().contains("MANIFEST_UNKNOWN"), "{out}");
    }
    let history = env.tug().args(["history", "--json"]).run().assert_success();
    let records: Vec<serde_json::Value> = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(records.len(), 2, "{history}");
    for record in &records {
        assert_eq!(record["error_class"], "not_found", "{record}");
        assert_eq!(record["exit_code"], crate::common::NOT_FOUND, "{record}");
    }
}

/// The commands `tug --help` lists (the `help` pseudo-command aside).
fn commands() -> Vec<String> {
    let help = Tug::new().arg("--help").run().assert_success().stdout_str();
    let listed: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    assert!(listed.len() > 10, "{help}");
    listed
}

/// The long options `tug push --help` lists.
fn push_options() -> Vec<String> {
    let help = Tug::new()
        .args(["push", "--help"])
        .run()
        .assert_success()
        .stdout_str();
    let options: Vec<String> = help
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .split("--")
                .nth(1)
                .filter(|_| l.trim_start().starts_with('-'))
        })
        .filter_map(|rest| {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .next()
        })
        .filter(|o| !o.is_empty())
        .map(|o| format!("--{o}"))
        .collect();
    for expected in [
        "--dry-run",
        "--digestfile",
        "--quiet",
        "--jobs",
        "--compress",
    ] {
        assert!(
            options.iter().any(|o| o == expected),
            "{expected} in {options:?}"
        );
    }
    options
}

/// What bash offers for the `words` typed so far (the last being completed), with tug's
/// completion script loaded.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source {script}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; \
         COMP_POINT={point}; _tug tug '{current}' '{previous}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        words = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
        cword = words.len() - 1,
        point = line.len(),
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn completion_scripts_name_every_command() {
    let commands = commands();
    let bash = Tug::new()
        .args(["completion", "bash"])
        .run()
        .assert_success()
        .stdout_str();
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), &bash).unwrap();
    let offered = bash_completes(script.path(), &["tug", ""]);
    for command in &commands {
        assert!(
            offered.contains(command),
            "bash does not offer {command}: {offered:?}"
        );
    }
    let options = bash_completes(script.path(), &["tug", "push", "--d"]);
    assert_eq!(options, ["--dry-run", "--digestfile"]);
    for shell in ["zsh", "fish", "powershell"] {
        let script = Tug::new()
            .args(["completion", shell])
            .run()
            .assert_success()
            .stdout_str();
        for command in &commands {
            assert!(script.contains(command.as_str()), "{shell} lacks {command}");
        }
    }
}

#[test]
fn man_pages_cover_every_command_and_every_push_option() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    Tug::new().arg("man").arg(&pages).run().assert_success();
    assert!(pages.join("tug.1").is_file());
    for command in commands() {
        let page = pages.join(format!("tug-{command}.1"));
        assert!(page.is_file(), "no page for {command}");
    }
    // roff escapes each `-` as `\-`.
    let roff = std::fs::read_to_string(pages.join("tug-push.1"))
        .unwrap()
        .replace("\\-", "-");
    for option in push_options() {
        assert!(roff.contains(&option), "tug-push.1 lacks {option}");
    }
    assert!(roff.contains(".TH tug-push 1"), "{roff}");
    // A real man renders it, where one is installed.
    if let Ok(out) = std::process::Command::new("man")
        .arg("-l")
        .arg(pages.join("tug-push.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    {
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("tug-push"), "{text}");
        assert!(text.contains("--digestfile"), "{text}");
    }
}

/// A copy from a file to a registry goes through push, and keeps its conventions; a copy
/// with no registry on either side has no digest to write and says so.
#[test]
fn a_copy_from_a_file_prints_the_pinned_reference_and_writes_the_digest() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(145).layer(12_000), "v1");
    let digestfile = dir.path().join("digest");
    let out = Tug::new()
        .args(["copy", "-q", "--plain-http", "--digestfile"])
        .arg(&digestfile)
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{}", registry.image("conv/from-file:v1")))
        .run()
        .assert_success();
    let digest =
        pull_with_skopeo_and_compare(&registry, "conv/from-file:v1", &fixture).manifest_digest;
    assert_eq!(
        only_line(&out),
        format!("{}@{digest}", registry.image("conv/from-file"))
    );
    assert_eq!(out.stderr_str(), "", "{out}");
    assert_eq!(std::fs::read_to_string(&digestfile).unwrap(), digest);

    let refused = Tug::new()
        .args(["copy", "--digestfile"])
        .arg(dir.path().join("never"))
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!(
            "oci-archive:{}",
            dir.path().join("out.tar").display()
        ))
        .run()
        .assert_code(2);
    assert!(refused.stderr_str().contains("--digestfile"), "{refused}");
    assert!(!dir.path().join("never").exists());
}

/// `-q` leaves standard error to errors: a copy between loopback registries that fall back
/// to plain HTTP (no `--plain-http`) says nothing about it.
#[test]
fn a_quiet_copy_says_nothing_but_its_result() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(146).layer(9_000), "v1");
    Tug::new()
        .args(["push", "-q", "--plain-http"])
        .arg(&layout)
        .arg(registry.image("conv/quiet:v1"))
        .run()
        .assert_success();
    let out = Tug::new()
        .args(["copy", "-q"])
        .arg(registry.image("conv/quiet:v1"))
        .arg(registry.image("conv/quiet-copy:v1"))
        .run()
        .assert_success();
    assert_eq!(out.stderr_str(), "", "{out}");
    assert!(only_line(&out).starts_with(&registry.image("conv/quiet-copy@sha256:")));
}
