//! What an image config says about the image, in brief: platform, creation time, entrypoint
//! and command, how many environment variables, labels. For `tug inspect` of a registry
//! image (the config blob itself is printed as it is).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::platform::Platform;

/// The summary of an image config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConfigSummary {
    /// `os/architecture[/variant]`, when the config names the first two.
    pub platform: Option<String>,
    /// When the image was made (RFC 3339, as written).
    pub created: Option<String>,
    /// The entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// The default command.
    pub cmd: Option<Vec<String>>,
    /// How many environment variables it sets.
    pub env: usize,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<RawRun>,
}

/// The `config` object: how to run the image (OCI and Docker spell it alike).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawRun {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

impl ConfigSummary {
    /// The summary of config blob `bytes`; the error says what is not an image config.
    pub fn of(bytes: &[u8]) -> Result<ConfigSummary, String> {
        let raw: Raw = serde_json::from_slice(bytes)
            .map_err(|e| format!("the config is not an image config: {e}"))?;
        let run = raw.config.unwrap_or_default();
        Ok(ConfigSummary {
            platform: Platform::from_config(bytes).map(|p| p.to_string()),
            created: raw.created,
            entrypoint: run.entrypoint,
            cmd: run.cmd,
            env: run.env.map_or(0, |e| e.len()),
            labels: run.labels.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_config_is_summed_up() {
        let config = br#"{"architecture":"arm","variant":"v7","os":"linux",
            "created":"2024-01-02T03:04:05Z",
            "config":{"Entrypoint":["/bin/app"],"Cmd":["--serve"],"Env":["A=1","B=2"],
                      "Labels":{"org.example":"yes"}},
            "rootfs":{"type":"layers","diff_ids":[]}}"#;
        let s = ConfigSummary::of(config).unwrap();
        assert_eq!(s.platform.as_deref(), Some("linux/arm/v7"));
        assert_eq!(s.created.as_deref(), Some("2024-01-02T03:04:05Z"));
        assert_eq!(s.entrypoint, Some(vec!["/bin/app".to_owned()]));
        assert_eq!(s.cmd, Some(vec!["--serve".to_owned()]));
        assert_eq!(s.env, 2);
        assert_eq!(s.labels["org.example"], "yes");
    }

    #[test]
    fn a_bare_config_has_an_empty_summary_and_junk_is_refused() {
        let s = ConfigSummary::of(
            br#"{"rootfs":{"type":"layers","diff_ids":[]},"config":{"Cmd":null}}"#,
        )
        .unwrap();
        assert_eq!(s, ConfigSummary::default());
        assert!(ConfigSummary::of(b"[1,2]")
            .unwrap_err()
            .contains("not an image config"));
    }
}
