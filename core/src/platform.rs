//! Platforms (`os/architecture[/variant]`) and how an index entry is chosen for one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A platform as the OCI image index describes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in Go's spelling, e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// Architecture variant, e.g. `v7` for `arm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Why a text is not a platform.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/arm64")]
pub struct PlatformParseError(pub String);

impl Platform {
    /// The platform taken from an index when none is named, on a machine whose CPU Rust
    /// calls `arch` (`std::env::consts::ARCH`): always `linux` — images are built for Linux,
    /// and macOS and Windows run them in a Linux VM — with the machine's architecture.
    pub fn default_for_arch(arch: &str) -> Platform {
        Platform::from_rust("linux", arch)
    }

    /// The platform taken from an index when none is named, where the host cannot tell its
    /// machine (a browser, a WebAssembly component): `linux/amd64`, the most common.
    pub fn default_for_unknown_host() -> Platform {
        Platform::default_for_arch("x86_64")
    }

    /// The platform named by Rust's `std::env::consts::{OS, ARCH}` values, in OCI spelling.
    pub fn from_rust(os: &str, arch: &str) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: normalize_arch(arch).to_owned(),
            variant: None,
        }
    }

    /// The platform an image config declares (its top-level `os`, `architecture` and
    /// `variant`), if it names both of the first two.
    pub fn from_config(config: &[u8]) -> Option<Platform> {
        let platform: Platform = serde_json::from_slice(config).ok()?;
        (!platform.os.is_empty() && !platform.architecture.is_empty()).then_some(platform)
    }

    /// Which of `items` (each with the platform `of` says, if any) serves this platform:
    /// the first that is exactly it (a variant asked for wins over an item naming none:
    /// `arm64/v8` over `arm64`, as containerd and skopeo choose), else the first that
    /// [`Platform::matches`].
    pub fn choose<'a, T>(
        &self,
        items: impl IntoIterator<Item = &'a T> + Clone,
        of: impl Fn(&T) -> Option<&Platform>,
    ) -> Option<&'a T> {
        let exact = |p: &Platform| {
            p.os == self.os && p.architecture == self.architecture && p.variant == self.variant
        };
        let found = items.clone().into_iter().find(|i| of(i).is_some_and(exact));
        found.or_else(|| {
            items
                .into_iter()
                .find(|i| of(i).is_some_and(|p| self.matches(p)))
        })
    }

    /// Why the single image `name` (no index to choose from), whose config is `config`,
    /// does not serve this platform asked for, if it does not: its config names another
    /// (one naming none, an artifact's, serves any).
    pub fn refuses_single_image(&self, name: &str, config: &[u8]) -> Option<String> {
        let have = Platform::from_config(config)?;
        (!self.matches(&have)).then(|| {
            format!(
                "{name} is a single image for {have}, not {self} (it is no index of platforms \
                 to choose from)"
            )
        })
    }

    /// Whether an index entry for `other` serves this platform. A missing variant matches
    /// any variant; `arm64` without a variant equals `arm64/v8`.
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os
            || normalize_arch(&self.architecture) != normalize_arch(&other.architecture)
        {
            return false;
        }
        match (&self.variant, &other.variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => self.architecture == "arm64" && want == "v8",
        }
    }
}

fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" | "x86" => "386",
        other => other,
    }
}

impl FromStr for Platform {
    type Err = PlatformParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform::from_rust(os, arch)),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                variant: Some((*variant).to_owned()),
                ..Platform::from_rust(os, arch)
            }),
            _ => Err(PlatformParseError(s.chars().take(100).collect())),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_exact_platform_is_chosen_before_one_that_only_serves_it() {
        let items = [p("linux/amd64"), p("linux/arm64"), p("linux/arm64/v8")];
        let chosen = |want: &str| p(want).choose(&items, |x| Some(x)).map(ToString::to_string);
        assert_eq!(chosen("linux/arm64/v8").as_deref(), Some("linux/arm64/v8"));
        assert_eq!(chosen("linux/arm64").as_deref(), Some("linux/arm64"));
        assert_eq!(chosen("linux/arm/v7"), None);
        assert_eq!(
            p("linux/arm64/v8")
                .choose(&items[..2], |x| Some(x))
                .map(ToString::to_string),
            Some("linux/arm64".to_owned()),
            "arm64 with no variant serves v8 when nothing says v8"
        );
    }

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/x86_64").to_string(), "linux/amd64");
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/".parse::<Platform>().is_err());
        assert!("a/b/c/d".parse::<Platform>().is_err());
    }

    #[test]
    fn the_default_is_linux_with_the_machines_architecture() {
        assert_eq!(Platform::default_for_arch("x86_64"), p("linux/amd64"));
        assert_eq!(Platform::default_for_arch("aarch64"), p("linux/arm64"));
        assert_eq!(Platform::default_for_arch("x86"), p("linux/386"));
        assert_eq!(Platform::default_for_arch("riscv64"), p("linux/riscv64"));
    }

    #[test]
    fn matching_rules() {
        assert!(p("linux/amd64").matches(&p("linux/amd64")));
        assert!(!p("linux/amd64").matches(&p("linux/arm64")));
        assert!(p("linux/arm").matches(&p("linux/arm/v7")));
        assert!(!p("linux/arm/v6").matches(&p("linux/arm/v7")));
        assert!(p("linux/arm64/v8").matches(&p("linux/arm64")));
        assert!(Platform::from_rust("linux", "aarch64").matches(&p("linux/arm64")));
    }

    #[test]
    fn from_an_image_config() {
        let config = br#"{"architecture":"arm","os":"linux","variant":"v7","rootfs":{}}"#;
        assert_eq!(Platform::from_config(config), Some(p("linux/arm/v7")));
        assert_eq!(Platform::from_config(br#"{"os":"linux"}"#), None);
        assert_eq!(
            Platform::from_config(br#"{"os":"","architecture":"x"}"#),
            None
        );
        assert_eq!(Platform::from_config(b"not json"), None);
    }
}
