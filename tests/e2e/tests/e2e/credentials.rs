//! Credentials the way Docker users keep them: config.json `auths`, credential helpers,
//! containers auth.json, and `tug login` / `tug logout`. Secrets never appear in output.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{ImageSpec, Registry, Tug, TugOutput};

use crate::common::Env;

const PASSWORD: &str = "s3cret-Pa55";

/// tug in `env`, with `home/bin` (where a credential helper goes) first on PATH.
fn with_helpers(env: &Env) -> Tug {
    let path = format!(
        "{}:{}",
        env.home().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.tug().env("PATH", path)
}

fn push(env: &Env, registry: &Registry, layout: &Path) -> TugOutput {
    let out = with_helpers(env)
        .args(["push", "--progress", "plain", "--ca-file"])
        .arg(registry.ca_file().unwrap())
        .arg(layout)
        .arg(registry.image("creds/app:v1"))
        .run();
    assert_no_secret(&out);
    out
}

fn assert_no_secret(out: &TugOutput) {
    for text in [out.stdout_str(), out.stderr_str()] {
        assert!(!text.contains(PASSWORD), "a secret leaked:\n{text}");
        assert!(
            !text.contains("czNjcmV0LVBhNTU"),
            "an encoded secret leaked:\n{text}"
        );
    }
}

fn setup() -> (Registry, Env, std::path::PathBuf) {
    let registry = Registry::tls_basic_auth("alice", PASSWORD);
    let env = Env::new();
    fs::create_dir_all(env.home().join(".docker")).unwrap();
    fs::create_dir_all(env.home().join("bin")).unwrap();
    let layout = env.path("layout");
    write_oci_layout(&layout, &ImageSpec::new(41).layer(5000), "v1");
    (registry, env, layout)
}

/// A credential helper `docker-credential-tugtest` that answers from, and writes to, a file.
fn install_helper(home: &Path) {
    let script = format!(
        r#"#!/bin/sh
store="{store}"
case "$1" in
  get) read server; if [ -f "$store" ]; then cat "$store"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) cat > "$store" ;;
  erase) rm -f "$store" ;;
esac
"#,
        store = home.join("helper-store.json").display()
    );
    let path = home.join("bin/docker-credential-tugtest");
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn config_json_auths_are_used() {
    let (registry, env, layout) = setup();
    push(&env, &registry, &layout).assert_code(crate::common::AUTH);
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    let key = registry.host();
    fs::write(
        env.home().join(".docker/config.json"),
        format!(r#"{{"auths":{{"https://{key}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    push(&env, &registry, &layout).assert_success();
}

#[test]
fn containers_auth_json_is_used() {
    let (registry, env, layout) = setup();
    let file = env.home().join("auth.json");
    fs::write(
        &file,
        format!(
            r#"{{"auths":{{"{}":{{"username":"alice","password":"{PASSWORD}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let out = with_helpers(&env)
        .env("REGISTRY_AUTH_FILE", &file)
        .args(["push", "--ca-file"])
        .arg(registry.ca_file().unwrap())
        .arg(&layout)
        .arg(registry.image("creds/app:v1"))
        .run();
    assert_no_secret(&out);
    out.assert_success();
}

#[test]
fn a_credential_helper_is_asked() {
    let (registry, env, layout) = setup();
    install_helper(&env.home());
    fs::write(
        env.home().join("helper-store.json"),
        format!(
            r#"{{"ServerURL":"{}","Username":"alice","Secret":"{PASSWORD}"}}"#,
            registry.host()
        ),
    )
    .unwrap();
    fs::write(
        env.home().join(".docker/config.json"),
        format!(r#"{{"credHelpers":{{"{}":"tugtest"}}}}"#, registry.host()),
    )
    .unwrap();
    push(&env, &registry, &layout).assert_success();
}

/// A credential helper is another party's program: it is not handed the passwords tug
/// was given in its environment (found by probing with a helper that logged it).
#[test]
fn a_credential_helper_gets_no_password_of_tugs_own() {
    let (registry, env, layout) = setup();
    install_helper(&env.home());
    let seen = env.home().join("helper-env.txt");
    let helper = env.home().join("bin/docker-credential-tugtest");
    let script = fs::read_to_string(&helper).unwrap().replacen(
        "#!/bin/sh\n",
        &format!("#!/bin/sh\nenv >> \"{}\"\n", seen.display()),
        1,
    );
    fs::write(&helper, script).unwrap();
    fs::write(
        env.home().join("helper-store.json"),
        format!(
            r#"{{"ServerURL":"{}","Username":"alice","Secret":"{PASSWORD}"}}"#,
            registry.host()
        ),
    )
    .unwrap();
    fs::write(
        env.home().join(".docker/config.json"),
        format!(r#"{{"credHelpers":{{"{}":"tugtest"}}}}"#, registry.host()),
    )
    .unwrap();
    let out = with_helpers(&env)
        .env("TUG_PASSWORD", "own-Passw0rd-1")
        .env("TUG_SRC_PASSWORD", "own-Passw0rd-2")
        .env("TUG_DEST_PASSWORD", "own-Passw0rd-3")
        .args(["copy", "--ca-file"])
        .arg(registry.ca_file().unwrap())
        .arg(&layout)
        .arg(registry.image("creds/app:v1"))
        .run();
    assert_no_secret(&out);
    out.assert_success();
    let seen = fs::read_to_string(&seen).expect("the helper was asked");
    assert!(seen.contains("PATH="), "{seen}");
    assert!(!seen.contains("own-Passw0rd"), "{seen}");
}

#[test]
fn login_checks_keeps_and_logout_forgets() {
    let (registry, env, layout) = setup();
    let login = |password: &str| {
        let out = with_helpers(&env)
            .args(["login", "-u", "alice", "--password-stdin", "--ca-file"])
            .arg(registry.ca_file().unwrap())
            .arg(registry.host())
            .stdin(format!("{password}\n"))
            .run();
        assert_no_secret(&out);
        out
    };
    let out = login("wrong").assert_code(crate::common::AUTH);
    assert!(
        out.stderr_str().contains("rejected"),
        "{}",
        out.stderr_str()
    );
    assert!(
        !env.home().join(".docker/config.json").exists(),
        "nothing kept after a failed login"
    );

    login(PASSWORD).assert_success();
    let config = env.home().join(".docker/config.json");
    let mode = fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(fs::read_to_string(&config)
        .unwrap()
        .contains(&registry.host()));
    push(&env, &registry, &layout).assert_success();

    with_helpers(&env)
        .arg("logout")
        .arg(registry.host())
        .run()
        .assert_success();
    push(&env, &registry, &layout).assert_code(crate::common::AUTH);
}

#[test]
fn login_with_a_creds_store_keeps_the_secret_in_the_helper() {
    let (registry, env, layout) = setup();
    install_helper(&env.home());
    fs::write(
        env.home().join(".docker/config.json"),
        r#"{"credsStore":"tugtest"}"#,
    )
    .unwrap();
    with_helpers(&env)
        .args(["login", "-u", "alice", "--password-stdin", "--ca-file"])
        .arg(registry.ca_file().unwrap())
        .arg(registry.host())
        .stdin(PASSWORD)
        .run()
        .assert_success();
    let config = fs::read_to_string(env.home().join(".docker/config.json")).unwrap();
    assert!(
        !config.contains("auth\""),
        "no secret in config.json: {config}"
    );
    assert!(fs::read_to_string(env.home().join("helper-store.json"))
        .unwrap()
        .contains(PASSWORD));
    push(&env, &registry, &layout).assert_success();
    with_helpers(&env)
        .arg("logout")
        .arg(registry.host())
        .run()
        .assert_success();
    assert!(!env.home().join("helper-store.json").exists());
}

/// A `credsStore` helper that is not installed (Docker Desktop's, left behind) keeps no
/// registry from being used without credentials, as skopeo goes on: said once, then a
/// registry that needs none answers, and one that needs them says so (exit 4).
#[test]
fn a_helper_that_is_not_installed_is_passed_over_with_a_warning() {
    let (registry, env, layout) = setup();
    fs::write(
        env.home().join(".docker/config.json"),
        r#"{"credsStore":"desktop.exe"}"#,
    )
    .unwrap();
    let open = Registry::plain();
    let out = with_helpers(&env)
        .args(["push", "--progress", "none"])
        .arg(&layout)
        .arg(open.image("open/app:v1"))
        .run()
        .assert_success();
    assert_eq!(
        out.stderr_str()
            .matches("docker-credential-desktop.exe")
            .count(),
        1,
        "{out}"
    );
    assert!(out.stderr_str().contains("not installed"), "{out}");
    let denied = push(&env, &registry, &layout).assert_code(4);
    assert!(
        denied.stderr_str().contains("requires authentication"),
        "{denied}"
    );
}

/// `TUG_PASSWORD` without a user name is not used, and said so (the registry's refusal
/// alone would not say why its password did not count); the secret is never shown.
#[test]
fn a_password_in_the_environment_without_a_user_is_said_unused() {
    let (registry, env, layout) = setup();
    let out = env
        .tug()
        .env("TUG_PASSWORD", PASSWORD)
        .env_remove("TUG_USERNAME")
        .args(["push", "--progress", "none", "--ca-file"])
        .arg(registry.ca_file().unwrap())
        .arg(&layout)
        .arg(registry.image("alone/app:v1"))
        .run()
        .assert_code(4);
    assert!(
        out.stderr_str()
            .contains("TUG_PASSWORD is set but no user name"),
        "{out}"
    );
    assert_no_secret(&out);
}

/// A helper that fails to store, echoing what it was given: the error says it failed and
/// shows its words, never the password it was handed.
#[test]
fn a_failing_helper_s_echo_of_the_password_is_not_shown() {
    let (registry, env, _) = setup();
    let helper = env.home().join("bin/docker-credential-echoing");
    fs::write(
        &helper,
        "#!/bin/sh\nin=$(cat); [ \"$1\" = store ] && { echo \"could not save $in\"; exit 1; }\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        env.home().join(".docker/config.json"),
        r#"{"credsStore":"echoing"}"#,
    )
    .unwrap();
    let out = with_helpers(&env)
        .args(["login", "-u", "alice", "--password-stdin", "--ca-file"])
        .arg(registry.ca_file().unwrap())
        .arg(registry.host())
        .stdin(PASSWORD)
        .run();
    assert!(out.stderr_str().contains("could not save"), "{out}");
    assert_no_secret(&out);
}

/// Two keys for one registry host with different passwords (containers-auth.json(5)): the
/// one naming a namespace applies to the repositories under it and wins over the host's;
/// the host's applies everywhere else.
#[test]
fn the_longest_stored_key_naming_the_repository_wins() {
    let (registry, env, layout) = setup();
    let host = registry.host();
    let file = env.home().join("auth.json");
    fs::write(
        &file,
        format!(
            r#"{{"auths":{{
                "{host}":{{"username":"alice","password":"wrong-for-the-host"}},
                "{host}/creds":{{"username":"alice","password":"{PASSWORD}"}}
            }}}}"#
        ),
    )
    .unwrap();
    let push_to = |name: &str| {
        let out = with_helpers(&env)
            .env("REGISTRY_AUTH_FILE", &file)
            .args(["push", "--ca-file"])
            .arg(registry.ca_file().unwrap())
            .arg(&layout)
            .arg(registry.image(name))
            .run();
        assert_no_secret(&out);
        out
    };
    push_to("creds/app:v1").assert_success();
    push_to("creds/team/app:v1").assert_success();
    push_to("other/app:v1").assert_code(crate::common::AUTH);
    push_to("credsother/app:v1").assert_code(crate::common::AUTH);
}

/// With both files, Docker's `config.json` is read first: its entry for the registry wins
/// over the containers `auth.json`'s (README, Credentials).
#[test]
fn docker_s_config_json_wins_over_auth_json() {
    let (registry, env, layout) = setup();
    let host = registry.host();
    fs::write(
        env.home().join(".docker/config.json"),
        format!(r#"{{"auths":{{"{host}":{{"username":"alice","password":"wrong-in-docker"}}}}}}"#),
    )
    .unwrap();
    let file = env.home().join("auth.json");
    fs::write(
        &file,
        format!(r#"{{"auths":{{"{host}":{{"username":"alice","password":"{PASSWORD}"}}}}}}"#),
    )
    .unwrap();
    let out = with_helpers(&env)
        .env("REGISTRY_AUTH_FILE", &file)
        .args(["push", "--ca-file"])
        .arg(registry.ca_file().unwrap())
        .arg(&layout)
        .arg(registry.image("creds/app:v1"))
        .run();
    assert_no_secret(&out);
    out.assert_code(crate::common::AUTH);
}

/// A credential helper that never answers (a keychain waiting to be unlocked, a stuck
/// one): Ctrl-C stops tug at once, with 130, and the helper with it.
#[test]
fn ctrl_c_stops_a_credential_helper_that_never_answers() {
    use std::io::BufRead;
    let (registry, env, layout) = setup();
    let fifo = env.path("helper-started");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let script = format!(
        "#!/bin/sh\nread server\necho $$ > \"{}\"\nexec sleep 600\n",
        fifo.display()
    );
    let helper = env.home().join("bin/docker-credential-stuck");
    fs::write(&helper, script).unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        env.home().join(".docker/config.json"),
        r#"{"credsStore":"stuck"}"#,
    )
    .unwrap();
    let mut child = with_helpers(&env)
        .args(["push", "--progress", "none", "--ca-file"])
        .arg(registry.ca_file().unwrap())
        .arg(&layout)
        .arg(registry.image("creds/app:v1"))
        .command()
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The helper says it runs (and its pid) once it is asked.
    let mut line = String::new();
    std::io::BufReader::new(fs::File::open(&fifo).unwrap())
        .read_line(&mut line)
        .unwrap();
    let helper_pid = line.trim().to_owned();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let watchdog_pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::park_timeout(std::time::Duration::from_secs(20));
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &watchdog_pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    });
    let status = child.wait().unwrap();
    watchdog.thread().unpark();
    watchdog.join().unwrap();
    assert_eq!(status.code(), Some(130), "tug stopped on the first Ctrl-C");
    let alive = std::process::Command::new("kill")
        .args(["-0", &helper_pid])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!alive.success(), "the helper {helper_pid} was stopped too");
}
