//! A setting's value and where it came from: built in, the config file (at a line), an
//! environment variable or a flag — for `tug config` and `-v`.

use std::fmt;
use std::path::PathBuf;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Built in.
    Default,
    /// The config file, at a line.
    File { path: PathBuf, line: usize },
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "file {}:{line}", path.display()),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

impl Origin {
    /// `{"source": …}` and the file and line, variable or flag.
    pub fn json(&self) -> serde_json::Value {
        match self {
            Origin::Default => serde_json::json!({"source": "default"}),
            Origin::File { path, line } => {
                serde_json::json!({"source": "file", "file": path, "line": line})
            }
            Origin::Env(var) => serde_json::json!({"source": "env", "var": var}),
            Origin::Flag(flag) => serde_json::json!({"source": "flag", "flag": flag}),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    /// A built-in value.
    pub fn default(value: T) -> Setting<T> {
        Setting {
            value,
            origin: Origin::Default,
        }
    }

    /// Takes `flag`'s value when it was given.
    pub fn flag(&mut self, value: Option<T>, flag: &'static str) {
        if let Some(value) = value {
            *self = Setting {
                value,
                origin: Origin::Flag(flag),
            };
        }
    }
}
