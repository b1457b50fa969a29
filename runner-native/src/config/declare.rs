//! What the table's declarations make: from `name: Type = spec;` lines, [`Settings`] with
//! a field per setting and their defaults, the config file's keys, reading the file and
//! the environment, the flags of each group and taking them, and the rows `tug config` and
//! `-v` show. Everything done with a setting is written once, in [`super::entry`], for any
//! [`super::value::Value`] type; this macro only lists the settings for it.
//!
//! [`Settings`]: super::table::Settings

/// Declares the general settings; see the module's doc. Each line's doc comment is its
/// flag's help.
macro_rules! declare_settings {
    ($( $(#[doc = $doc:literal])* $name:ident: $ty:ty = $spec:expr; )*) => {
        /// Every setting, each with where its value came from.
        #[derive(Clone, Debug, PartialEq)]
        pub struct Settings {
            /// The config file looked for, and whether it exists.
            pub file: Option<PathBuf>,
            pub file_found: bool,
            $( $(#[doc = $doc])* pub $name: Setting<$ty>, )*
            /// Per-registry tables of the config file, by the name they were given.
            pub registries: BTreeMap<String, RegistrySettings>,
            /// The proxies the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`).
            pub proxies: crate::transport::ProxyEnv,
        }

        /// Each setting's declaration, by name.
        mod specs {
            use super::*;
            $(
                pub fn $name() -> Spec<$ty> {
                    ($spec).help(concat!($($doc, "\n"),*))
                }
            )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings {
                    file: None,
                    file_found: false,
                    $( $name: Setting::default(specs::$name().default), )*
                    registries: BTreeMap::new(),
                    proxies: Default::default(),
                }
            }
        }

        /// The config file as written: the settings by name, and the registries' tables.
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        pub struct FileConfig {
            $( $name: Option<Spanned<<$ty as Value>::File>>, )*
            #[serde(default)]
            pub registries: BTreeMap<String, FileRegistry>,
        }

        /// The flags a command was given, per setting: the value and the flag.
        #[derive(Clone, Debug, Default)]
        pub struct Flags {
            $( pub $name: Option<($ty, &'static str)>, )*
        }

        impl Flags {
            /// The clap arguments of the flags of `groups`, in the table's order.
            pub fn args(groups: &[Group]) -> Vec<Arg> {
                let mut args = Vec::new();
                $(
                    let spec = specs::$name();
                    if groups.contains(&spec.group) {
                        args.extend(flag_args(&spec));
                    }
                )*
                args
            }

            /// The flags of `groups` that `m` holds.
            pub fn given(m: &ArgMatches, groups: &[Group]) -> Flags {
                let mut flags = Flags::default();
                $(
                    let spec = specs::$name();
                    if groups.contains(&spec.group) {
                        flags.$name = from_flags(m, &spec);
                    }
                )*
                flags
            }
        }

        impl Settings {
            /// The settings' names (their config file keys), in order.
            #[cfg(test)]
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// Takes the settings `file` gives.
            pub fn apply_file_settings(
                &mut self,
                file: &FileConfig,
                place: &FilePlace<'_>,
            ) -> Result<(), CliError> {
                $(
                    if let Some(v) = &file.$name {
                        self.$name = from_file(v, stringify!($name), &specs::$name(), place)?;
                    }
                )*
                Ok(())
            }

            /// Takes the settings the environment `env` describes gives.
            pub fn apply_env(
                &mut self,
                env: &dyn Fn(&str) -> Option<String>,
            ) -> Result<(), CliError> {
                $(
                    if let Some(setting) = from_env(env, &specs::$name())? {
                        self.$name = setting;
                    }
                )*
                Ok(())
            }

            /// Takes the flags given.
            pub fn apply_flags(&mut self, flags: &Flags) {
                $(
                    if let Some((value, flag)) = &flags.$name {
                        self.$name = Setting {
                            value: value.clone(),
                            origin: Origin::Flag(flag),
                        };
                    }
                )*
            }

            /// Every setting as a row of `tug config` and `-v`, in order.
            pub fn rows(&self) -> Vec<Row<'_>> {
                vec![$( Row::of(stringify!($name), &self.$name, &specs::$name()), )*]
            }
        }
    };
}

pub(super) use declare_settings;
