//! The settings of one registry: its `[registries."host"]` table in the config file, which
//! the flags then override for every registry.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use tug_core::Reference;

use super::entry::FilePlace;
use super::origin::Setting;
use crate::exit_code::CliError;

/// The settings of one registry (from its `[registries."host"]` table and the flags).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrySettings {
    pub ca_file: Setting<Option<PathBuf>>,
    pub insecure: Setting<bool>,
    pub plain_http: Setting<bool>,
    /// A registry (`host[:port]`) to pull this one's images from first.
    pub mirror: Setting<Option<String>>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            ca_file: Setting::default(None),
            insecure: Setting::default(false),
            plain_http: Setting::default(false),
            mirror: Setting::default(None),
        }
    }
}

/// A registry's table as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileRegistry {
    ca_file: Option<Spanned<String>>,
    insecure: Option<Spanned<bool>>,
    plain_http: Option<Spanned<bool>>,
    mirror: Option<Spanned<String>>,
}

impl FileRegistry {
    /// The settings table `name` gives; `ca_file` is relative to the config file.
    pub fn read(&self, name: &str, place: &FilePlace<'_>) -> Result<RegistrySettings, CliError> {
        let mut reg = RegistrySettings::default();
        let base = place.path.parent().unwrap_or(Path::new("."));
        let key = |k: &str| format!("registries.\"{name}\".{k}");
        if let Some(ca) = &self.ca_file {
            let p = base.join(ca.get_ref());
            if !p.is_file() {
                let problem = format!("{} is not a file", p.display());
                return Err(place.bad(place.line(ca.span().start), &key("ca_file"), &problem));
            }
            reg.ca_file = Setting {
                value: Some(p),
                origin: place.origin(ca.span()),
            };
        }
        if let Some(v) = &self.insecure {
            reg.insecure = Setting {
                value: *v.get_ref(),
                origin: place.origin(v.span()),
            };
        }
        if let Some(m) = &self.mirror {
            let host = m.get_ref();
            let valid = format!("{host}/x")
                .parse::<Reference>()
                .is_ok_and(|r| &r.registry == host);
            if !valid {
                let problem = format!("{host:?} is not a registry host[:port]");
                return Err(place.bad(place.line(m.span().start), &key("mirror"), &problem));
            }
            reg.mirror = Setting {
                value: Some(host.clone()),
                origin: place.origin(m.span()),
            };
        }
        if let Some(v) = &self.plain_http {
            reg.plain_http = Setting {
                value: *v.get_ref(),
                origin: place.origin(v.span()),
            };
        }
        Ok(reg)
    }
}
