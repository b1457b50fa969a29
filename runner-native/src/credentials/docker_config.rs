//! Docker's `config.json` (`$DOCKER_CONFIG` or `~/.docker`) and the containers `auth.json`
//! (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`): reading credentials for a
//! registry, and keeping or forgetting them for `tug login` / `tug logout`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Map, Value};
use tug_core::Credentials;

use super::{config_key, helper, registry_matches};
use crate::exit_code::CliError;

/// Path of Docker's config file.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    crate::places::home(&crate::places::process_env).map(|h| h.join(".docker").join("config.json"))
}

/// Paths of the containers auth file, in the order podman and skopeo read them.
fn auth_json_paths() -> Vec<PathBuf> {
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        return vec![PathBuf::from(f)];
    }
    let mut paths = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        paths.push(PathBuf::from(dir).join("containers").join("auth.json"));
    }
    if let Some(home) = crate::places::home(&crate::places::process_env) {
        paths.push(home.join(".config").join("containers").join("auth.json"));
    }
    paths
}

fn read_json(path: &Path) -> Result<Option<Value>, CliError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CliError::Input(format!("{} is not valid JSON: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Input(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The entry of `map` for `scope` (`host/namespace/…/repository`, or a host), as
/// containers-auth.json(5) says: the key equal to the scope or to the longest namespace
/// above it, else a key naming the whole host (`host`, or a URL such as Docker Hub's
/// `https://index.docker.io/v1/`, whose path is not a namespace).
fn entry<'a>(map: Option<&'a Map<String, Value>>, scope: &str) -> Option<(&'a String, &'a Value)> {
    let map = map?;
    let mut key = scope;
    while let Some((above, _)) = key.rsplit_once('/') {
        if let Some(found) = map.get_key_value(key) {
            return Some(found);
        }
        key = above;
    }
    map.iter().find(|(k, _)| names_host(k, scope))
}

/// Whether the stored `key` names all of the host of `scope`: a host (a key with a path
/// names a namespace only), or a URL of it.
fn names_host(key: &str, scope: &str) -> bool {
    let is_url = key.starts_with("https://") || key.starts_with("http://");
    (is_url || !key.contains('/')) && registry_matches(key, scope)
}

/// Credentials from an `auths` entry: `identitytoken` (an OAuth2 refresh token), `auth`
/// (base64 `user:password`) or `username` + `password`.
fn from_auths_entry(v: &Value, file: &Path, key: &str) -> Result<Option<Credentials>, CliError> {
    if let Some(token) = v
        .get("identitytoken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        // An OAuth2 refresh token: the core trades it for access tokens.
        return Ok(Some(Credentials {
            username: tug_core::auth::IDENTITY_TOKEN_USER.to_owned(),
            password: token.to_owned(),
        }));
    }
    if let Some(auth) = v
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                CliError::Input(format!(
                    "{}: auths.{key}.auth is not base64 of user:password",
                    file.display()
                ))
            })?;
        let (user, pass) = decoded.split_once(':').ok_or_else(|| {
            CliError::Input(format!(
                "{}: auths.{key}.auth has no ':' between user and password",
                file.display()
            ))
        })?;
        return Ok(Some(Credentials {
            username: user.to_owned(),
            password: pass.to_owned(),
        }));
    }
    let user = v.get("username").and_then(Value::as_str);
    let pass = v.get("password").and_then(Value::as_str);
    Ok(match (user, pass) {
        (Some(u), Some(p)) if !p.is_empty() => Some(Credentials {
            username: u.to_owned(),
            password: p.to_owned(),
        }),
        _ => None,
    })
}

/// Credentials for `scope` (a host, or `host/repository`) from the files and helpers:
/// Docker's `config.json` first (its `credHelpers`, `credsStore`, `auths`), then the
/// containers `auth.json` files; the first file with an entry for it wins, and within a
/// file the longest matching key ([`entry`]). Helpers are asked by host, as Docker does.
pub fn lookup(scope: &str) -> Result<Option<Credentials>, CliError> {
    let registry = scope.split('/').next().unwrap_or(scope);
    if let Some(path) = docker_config_path() {
        if let Some(config) = read_json(&path)? {
            if let Some((key, name)) = entry(
                config.get("credHelpers").and_then(Value::as_object),
                registry,
            ) {
                if let Some(name) = name.as_str() {
                    return helper::get(name, key);
                }
            }
            if let Some(store) = config
                .get("credsStore")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                if let Some(creds) = helper::get(store, &config_key(registry))? {
                    return Ok(Some(creds));
                }
            }
            if let Some((key, v)) = entry(config.get("auths").and_then(Value::as_object), scope) {
                if let Some(creds) = from_auths_entry(v, &path, key)? {
                    return Ok(Some(creds));
                }
            }
        }
    }
    for path in auth_json_paths() {
        if let Some(file) = read_json(&path)? {
            if let Some((key, v)) = entry(file.get("auths").and_then(Value::as_object), scope) {
                if let Some(creds) = from_auths_entry(v, &path, key)? {
                    return Ok(Some(creds));
                }
            }
        }
    }
    Ok(None)
}

/// Which helper keeps `registry`'s credentials, if any.
fn helper_for(config: &Value, registry: &str) -> Option<String> {
    if let Some((_, name)) = entry(
        config.get("credHelpers").and_then(Value::as_object),
        registry,
    ) {
        return name.as_str().map(str::to_owned);
    }
    config
        .get("credsStore")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Keeps credentials for `registry`: in the configured helper, else in `config.json`
/// (mode 0600). Returns where they went.
pub fn remember(registry: &str, creds: &Credentials) -> Result<String, CliError> {
    let path = docker_config_path()
        .ok_or_else(|| CliError::Input("neither DOCKER_CONFIG nor HOME is set".into()))?;
    let mut config = read_json(&path)?.unwrap_or_else(|| json!({}));
    let key = config_key(registry);
    let auths = config
        .as_object_mut()
        .ok_or_else(|| CliError::Input(format!("{} is not a JSON object", path.display())))?
        .entry("auths")
        .or_insert_with(|| json!({}));
    let auths = auths
        .as_object_mut()
        .ok_or_else(|| CliError::Input(format!("{}: auths is not an object", path.display())))?;
    auths.retain(|k, _| !names_host(k, registry));
    let helper = helper_for(&config, registry);
    let place = match &helper {
        Some(name) => {
            helper::store(name, &key, creds)?;
            format!("credential helper docker-credential-{name}")
        }
        None => path.display().to_string(),
    };
    let entry = match helper {
        Some(_) => json!({}),
        None => {
            let raw = format!("{}:{}", creds.username, creds.password);
            json!({ "auth": base64::engine::general_purpose::STANDARD.encode(raw) })
        }
    };
    if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
        auths.insert(key, entry);
    }
    write_private(&path, &config)?;
    Ok(place)
}

/// Forgets `registry`'s credentials: in the helper and in `config.json`. Returns whether
/// there were any.
pub fn forget(registry: &str) -> Result<bool, CliError> {
    let Some(path) = docker_config_path() else {
        return Ok(false);
    };
    let Some(mut config) = read_json(&path)? else {
        return Ok(false);
    };
    if let Some(name) = helper_for(&config, registry) {
        helper::erase(&name, &config_key(registry))?;
    }
    let mut removed = false;
    if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
        let before = auths.len();
        auths.retain(|k, _| !names_host(k, registry));
        removed = auths.len() != before;
    }
    if removed {
        write_private(&path, &config)?;
    }
    Ok(removed)
}

/// Writes `value` to `path` atomically, readable by the owner only. A `path` that is a
/// link (a dotfile manager's) is written where it leads, as Docker does, so the link stays.
fn write_private(path: &Path, value: &Value) -> Result<(), CliError> {
    let path = &link_target(path);
    let err = |e: std::io::Error| CliError::Input(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    // A directory made here is the user's alone, as Docker makes ~/.docker.
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(err)?;
    // A new file of its own (0600, never one already there or a link), renamed into place.
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.json.tug-")
        .tempfile_in(dir)
        .map_err(err)?;
    let text = serde_json::to_vec_pretty(value).map_err(|e| CliError::Input(e.to_string()))?;
    tmp.write_all(&text).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Where `path` leads: itself, or the file its links end at (that file need not exist yet).
fn link_target(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    // A loop of links ends somewhere: at the last one followed.
    for _ in 0..MAX_LINKS {
        let Ok(next) = fs::read_link(&at) else {
            break;
        };
        at = match at.parent() {
            Some(dir) => dir.join(next),
            None => next,
        };
    }
    at
}

/// The most links [`link_target`] follows (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_linked_config_is_written_where_it_leads() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/docker.json");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::write(&real, b"{}").unwrap();
        let link = dir.path().join("config.json");
        std::os::unix::fs::symlink("dotfiles/docker.json", &link).unwrap();
        write_private(&link, &json!({"auths": {"r.example": {}}})).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let written: Value = serde_json::from_slice(&fs::read(&real).unwrap()).unwrap();
        assert!(written["auths"]["r.example"].is_object(), "{written}");
        // Still the owner's alone.
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }

    fn auths(keys: &[&str]) -> Map<String, Value> {
        keys.iter()
            .map(|k| ((*k).to_owned(), json!({ "key": k })))
            .collect()
    }

    fn key_for(map: &Map<String, Value>, scope: &str) -> Option<String> {
        entry(Some(map), scope).map(|(k, _)| k.clone())
    }

    /// containers-auth.json(5): the most specific key wins, a namespace key applies only
    /// under it, a host key to every repository of the host.
    #[test]
    fn the_longest_key_naming_the_repository_wins() {
        let map = auths(&[
            "quay.io",
            "quay.io/org",
            "quay.io/org/team",
            "quay.io/org/app",
        ]);
        let key = |scope| key_for(&map, scope);
        assert_eq!(key("quay.io/org/app").as_deref(), Some("quay.io/org/app"));
        assert_eq!(
            key("quay.io/org/team/app").as_deref(),
            Some("quay.io/org/team")
        );
        assert_eq!(key("quay.io/org/other").as_deref(), Some("quay.io/org"));
        assert_eq!(key("quay.io/elsewhere/app").as_deref(), Some("quay.io"));
        assert_eq!(key("quay.io").as_deref(), Some("quay.io"));
        // `quay.io/organisation` is not under `quay.io/org`.
        assert_eq!(key("quay.io/organisation/app").as_deref(), Some("quay.io"));
    }

    #[test]
    fn a_namespace_key_does_not_match_the_rest_of_its_host() {
        let map = auths(&["quay.io/org"]);
        assert_eq!(key_for(&map, "quay.io/other/app"), None);
        assert_eq!(key_for(&map, "quay.io"), None);
        assert_eq!(
            key_for(&map, "quay.io/org/app").as_deref(),
            Some("quay.io/org")
        );
    }

    /// URL keys (`docker login` wrote them for Docker Hub) name the whole host; their path is
    /// the API's, not a namespace.
    #[test]
    fn url_keys_name_their_host() {
        let map = auths(&["https://index.docker.io/v1/", "https://127.0.0.1:5000"]);
        assert_eq!(
            key_for(&map, "docker.io/library/busybox").as_deref(),
            Some("https://index.docker.io/v1/")
        );
        assert_eq!(
            key_for(&map, "127.0.0.1:5000/a/b").as_deref(),
            Some("https://127.0.0.1:5000")
        );
        assert_eq!(key_for(&map, "127.0.0.1:5001/a"), None);
    }

    #[test]
    fn login_replaces_the_host_key_and_keeps_namespace_keys() {
        assert!(names_host("quay.io", "quay.io"));
        assert!(names_host("https://quay.io/v2/", "quay.io"));
        assert!(!names_host("quay.io/org", "quay.io"));
    }
}
