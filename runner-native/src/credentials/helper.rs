//! Docker credential helpers: `docker-credential-<name> get|store|erase`, speaking JSON on
//! standard input and output. Their secrets pass through memory only.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tug_core::Credentials;

use crate::exit_code::CliError;
use crate::output::noteln;

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

#[derive(Serialize)]
struct HelperStore<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// How long a helper may take before tug says it is waiting for it (a helper may be asking
/// for a passphrase, so there is no limit; Ctrl-C stops it).
const PATIENCE: Duration = Duration::from_secs(10);

fn run(name: &str, verb: &str, input: &[u8]) -> Result<(bool, Vec<u8>, String), CliError> {
    let program = format!("docker-credential-{name}");
    let mut command = Command::new(&program);
    // The helper gets no password of tug's own: it is another party's program.
    for var in super::flags::PASSWORD_VARS {
        command.env_remove(var);
    }
    let mut child = command
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CliError::Input(format!("cannot run credential helper {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let failed =
        |e: std::io::Error| CliError::Input(format!("credential helper {program} failed: {e}"));
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    // Waited for here, not blocked on: Ctrl-C stops the helper and tug at once.
    let started = Instant::now();
    let mut told = false;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(failed)? {
            break status;
        }
        if crate::interrupt::requested() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CliError::Core(tug_core::Error::Cancelled));
        }
        if !told && started.elapsed() > PATIENCE {
            told = true;
            noteln!("tug: waiting for credential helper {program} (Ctrl-C stops it)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    // Helpers print their error message on stdout; it is no secret (a "not found" text).
    let message = String::from_utf8_lossy(if out.stdout.len() < 300 {
        &out.stdout
    } else {
        b""
    })
    .trim()
    .to_owned();
    Ok((out.status.success(), out.stdout, message))
}

/// Whether helper `name`'s program is on `PATH`.
fn installed(name: &str) -> bool {
    let program = format!("docker-credential-{name}");
    let names = [program.clone(), format!("{program}.exe")];
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| names.iter().any(|n| dir.join(n).is_file()))
    })
}

/// Asks helper `name` for the credentials of `server`; `None` if it has none. A helper
/// config.json names that is not installed (Docker Desktop's `desktop.exe` left behind, as
/// skopeo takes it) has none: said once, and the registry is asked without credentials.
pub fn get(name: &str, server: &str) -> Result<Option<Credentials>, CliError> {
    if !installed(name) {
        // Said once per helper.
        static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
        if !said.iter().any(|n| n == name) {
            said.push(name.to_owned());
            noteln!(
                "tug: warning: credential helper docker-credential-{name} (named in the Docker \
                 config) is not installed; going on without its credentials"
            );
        }
        return Ok(None);
    }
    let (ok, stdout, message) = run(name, "get", server.as_bytes())?;
    if !ok {
        if message.to_lowercase().contains("not found") {
            return Ok(None);
        }
        let message = without_secrets(&message);
        return Err(CliError::Input(format!(
            "credential helper docker-credential-{name} failed for {server}: {message}"
        )));
    }
    let answer: HelperAnswer = serde_json::from_slice(&stdout).map_err(|_| {
        CliError::Input(format!(
            "credential helper docker-credential-{name} answered something that is not its JSON"
        ))
    })?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
    }))
}

/// A failed helper's message as it may be shown: the `Secret` of any answer it printed
/// anyway (a helper that prints its JSON and then fails) blanked out.
fn without_secrets(message: &str) -> String {
    let mut secrets = tug_core::redact::Secrets::default();
    for (at, _) in message.match_indices('{') {
        let mut values = serde_json::Deserializer::from_str(&message[at..]).into_iter();
        if let Some(Ok(HelperAnswer { secret, .. })) = values.next() {
            secrets.add(&secret);
        }
    }
    secrets.redact(message)
}

/// Gives helper `name` the credentials of `server` to keep.
pub fn store(name: &str, server: &str, creds: &Credentials) -> Result<(), CliError> {
    let body = serde_json::to_vec(&HelperStore {
        server_url: server,
        username: &creds.username,
        secret: &creds.password,
    })
    .map_err(|e| CliError::Input(e.to_string()))?;
    let (ok, _, message) = run(name, "store", &body)?;
    if !ok {
        // A helper may echo what it was given: the password is not shown.
        let mut secrets = tug_core::redact::Secrets::default();
        secrets.add(&creds.password);
        let message = secrets.redact(&message);
        return Err(CliError::Input(format!(
            "credential helper docker-credential-{name} could not store credentials for {server}: {message}"
        )));
    }
    Ok(())
}

/// Asks helper `name` to forget `server`.
pub fn erase(name: &str, server: &str) -> Result<(), CliError> {
    let (ok, _, message) = run(name, "erase", server.as_bytes())?;
    if !ok && !message.to_lowercase().contains("not found") {
        return Err(CliError::Input(format!(
            "credential helper docker-credential-{name} could not erase {server}: {message}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::without_secrets;

    #[test]
    fn a_failed_helper_s_answer_is_shown_without_its_secret() {
        let printed =
            r#"{"ServerURL":"r.example","Username":"alice","Secret":"S3cretPassw0rd"} error"#;
        let shown = without_secrets(printed);
        assert!(!shown.contains("S3cretPassw0rd"), "{shown}");
        assert!(
            shown.contains("alice") && shown.ends_with("error"),
            "{shown}"
        );
        // A plain message, braces and all, stays as it is.
        let plain = "keychain locked {code 5}";
        assert_eq!(without_secrets(plain), plain);
    }
}
