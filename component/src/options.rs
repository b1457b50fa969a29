//! The `options` JSON of `push`, `pull` and `copy`: the core's host settings
//! ([`tug_core::host_settings`], by the names tug-wasm's options objects use too), and the
//! few of one operation. An unknown option, or one of another operation, is a `usage`
//! failure, so typos are caught.

use serde_json::{Map, Value};
use tug_core::host_settings::names::{self, REFERRERS, SOURCE};
use tug_core::host_settings::{option_refused, HostSettings, SettingError, SettingReader};
use tug_core::{ErrorClass, Platform, Reference, RegistryConfig, TransferConfig};

use crate::bindings::exports::tug::core::sansio::Failure;
use crate::convert::failure;

/// A push's choice of the layout's images (its `org.opencontainers.image.ref.name`).
const NAME: &str = "name";
/// A pull's platform (`os/arch[/variant]`, default `linux/amd64`); a copy's one platform
/// to copy (default: every platform and the index).
const PLATFORM: &str = "platform";

/// One operation's options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    settings: HostSettings,
    /// [`NAME`].
    pub name: Option<String>,
    platform: Option<String>,
    /// The copy's source settings ([`HostSettings::for_source`]).
    source: HostSettings,
    /// [`REFERRERS`].
    referrers: Option<bool>,
}

impl Options {
    /// Parses `text` (empty means no options) for operation `kind` (`push`, `pull`,
    /// `copy`).
    pub fn parse(text: &str, kind: &str) -> Result<Options, Failure> {
        if text.trim().is_empty() {
            return Ok(Options::default());
        }
        let object: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| usage(&format!("options: {e}")))?;
        let own: &[&str] = match kind {
            "push" => &[NAME],
            "pull" => &[PLATFORM],
            _ => &[PLATFORM, SOURCE, REFERRERS],
        };
        // (A `null` is no option: hosts may pass every field they have.)
        let mut given = object
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.as_str());
        let others = [NAME, PLATFORM, SOURCE, REFERRERS];
        if let Some(why) = given.find_map(|k| option_refused(k, kind, own, &others)) {
            return Err(usage(&format!("options: {why}")));
        }
        let fields = Fields(&object);
        let settings = HostSettings::read(&fields)?;
        let empty = Map::new();
        let source = match object.get(SOURCE) {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(source)) => source,
            Some(_) => return Err(wrong(SOURCE, "an object")),
        };
        let mut given = source.iter().filter(|(_, v)| !v.is_null());
        if let Some((key, _)) = given.find(|(k, _)| !names::SOURCE_OWN.contains(&k.as_str())) {
            return Err(usage(&format!(
                "options: {key:?} is not an option of a source"
            )));
        }
        let source = settings.for_source(HostSettings::read(&Fields(source))?);
        Ok(Options {
            name: fields.string(NAME)?,
            platform: fields.string(PLATFORM)?,
            referrers: fields.boolean(REFERRERS)?,
            settings,
            source,
        })
    }

    /// How to reach `reference`'s registry.
    pub fn registry_config(&self, reference: &Reference) -> Result<RegistryConfig, Failure> {
        self.settings.registry_config(reference).map_err(setting)
    }

    /// How to reach a copy's source `reference`.
    pub fn source_registry_config(&self, reference: &Reference) -> Result<RegistryConfig, Failure> {
        self.source.registry_config(reference).map_err(setting)
    }

    /// How many blobs at once.
    pub fn transfer_config(&self) -> Result<TransferConfig, Failure> {
        self.settings.transfer_config().map_err(setting)
    }

    /// Whether a copy brings the image's referrers along (the core's default unless said).
    pub fn referrers(&self) -> Option<tug_core::referrers::Known> {
        let on = self
            .referrers
            .unwrap_or(tug_core::referrers::COPY_BY_DEFAULT);
        on.then(Default::default)
    }

    /// The `platform` option parsed, or a `usage` failure naming it.
    pub fn platform(&self) -> Result<Option<Platform>, Failure> {
        self.platform
            .as_deref()
            .map(|text| {
                text.parse::<Platform>()
                    .map_err(|e| usage(&format!("platform {text:?}: {e}")))
            })
            .transpose()
    }
}

/// Typed reads of an options object's fields; a field of another type is a `usage` failure.
struct Fields<'a>(&'a Map<String, Value>);

impl SettingReader for Fields<'_> {
    type Error = Failure;

    fn string(&self, name: &str) -> Result<Option<String>, Failure> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong(name, "a string")),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, Failure> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong(name, "a boolean")),
        }
    }

    fn count(&self, name: &str) -> Result<Option<u64>, Failure> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| wrong(name, "a whole number ≥ 0")),
        }
    }
}

fn usage(message: &str) -> Failure {
    failure(ErrorClass::Usage, message)
}

fn wrong(name: &str, what: &str) -> Failure {
    usage(&format!("option {name:?} must be {what}"))
}

fn setting(e: SettingError) -> Failure {
    failure(e.class(), &e.to_string())
}

/// Parses an image reference as the CLI does, or a `usage` failure naming it.
pub fn reference(text: &str) -> Result<Reference, Failure> {
    Reference::parse_registry(text).map_err(|e| usage(&format!("image {text:?}: {e}")))
}

/// [`reference`] of a push's or copy's target: a tag or a digest, not both.
pub fn target(text: &str) -> Result<Reference, Failure> {
    let target = reference(text)?;
    target
        .check_target()
        .map_err(|e| usage(&format!("target {text:?}: {e}")))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Reference {
        reference("r.example/team/app:v1").unwrap()
    }

    #[test]
    fn a_target_names_a_tag_or_a_digest_and_docker_prefixes_are_read() {
        assert!(target("docker://r.example/team/app:v1").is_ok());
        let both = format!("r.example/team/app:v1@sha256:{}", "a".repeat(64));
        assert!(target(&both).is_err());
        assert!(reference(&both).is_ok(), "a source may name both");
    }

    #[test]
    fn a_copy_s_source_has_only_its_own_credentials() {
        let target_only = r#"{"username": "u", "password": "secret", "plainHttp": true}"#;
        let options = Options::parse(target_only, "copy").unwrap();
        let target = options.registry_config(&image()).unwrap();
        let source = options.source_registry_config(&image()).unwrap();
        assert_eq!(target.credentials.unwrap().password, "secret");
        assert_eq!(
            source.credentials, None,
            "the target's password stays the target's"
        );
        assert_eq!(source.scheme, image().scheme(None));

        let both = r#"{"username": "u", "password": "p", "retries": 2,
                       "source": {"username": "s", "password": "q"}}"#;
        let options = Options::parse(both, "copy").unwrap();
        let source = options.source_registry_config(&image()).unwrap();
        assert_eq!(source.credentials.unwrap().username, "s");
        assert_eq!(source.retry.max_attempts, 2, "the rest is shared");
    }
}
