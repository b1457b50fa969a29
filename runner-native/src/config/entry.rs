//! What is done with one setting, whatever its type: read from the config file, an
//! environment variable or its flags, and shown as a row of `tug config` and `-v`.

use std::ops::Range;
use std::path::Path;

use clap::{Arg, ArgAction, ArgMatches};
use toml::Spanned;

use super::origin::{Origin, Setting};
use super::spec::Spec;
use super::value::Value;
use crate::exit_code::CliError;

/// The config file being read: where it is and what it says, to name lines in origins and
/// errors.
pub struct FilePlace<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl FilePlace<'_> {
    /// The line holding byte `offset`, from 1.
    pub fn line(&self, offset: usize) -> usize {
        self.text.as_bytes()[..offset.min(self.text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// Where a value spanning `span` came from.
    pub fn origin(&self, span: Range<usize>) -> Origin {
        Origin::File {
            path: self.path.to_owned(),
            line: self.line(span.start),
        }
    }

    /// The error for `key` at `line`: `config file PATH:LINE: KEY: PROBLEM`.
    pub fn bad(&self, line: usize, key: &str, problem: &str) -> CliError {
        CliError::Input(format!(
            "config file {}:{line}: {key}: {problem}",
            self.path.display()
        ))
    }
}

/// Setting `key` as the file gives it.
pub fn from_file<T: Value>(
    v: &Spanned<T::File>,
    key: &str,
    spec: &Spec<T>,
    place: &FilePlace<'_>,
) -> Result<Setting<T>, CliError> {
    let value = T::from_file(v.get_ref(), &spec.limits)
        .map_err(|problem| place.bad(place.line(v.span().start), key, &problem))?;
    Ok(Setting {
        value,
        origin: place.origin(v.span()),
    })
}

/// The setting as its environment variable gives it, if set (blank is unset).
pub fn from_env<T: Value>(
    env: &dyn Fn(&str) -> Option<String>,
    spec: &Spec<T>,
) -> Result<Option<Setting<T>>, CliError> {
    let var = spec.env;
    let Some(text) = env(var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match T::from_env(text.trim(), &spec.limits) {
        Ok(value) => Ok(Some(Setting {
            value,
            origin: Origin::Env(var),
        })),
        Err(problem) => Err(CliError::Input(format!(
            "environment variable {var}={text:?}: {problem}"
        ))),
    }
}

/// The name of a flag without its dashes: its long form, and its id in clap's matches.
fn bare(flag: &'static str) -> &'static str {
    flag.trim_start_matches('-')
}

/// The flag's help: the declaration's doc comment as one line without its final full stop
/// (as clap's derive has it), with the default.
fn help<T: Value>(spec: &Spec<T>) -> String {
    let text = spec
        .help
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let text = text.strip_suffix(".").unwrap_or(&text).to_owned();
    match spec.default.help_default(&spec.limits) {
        Some(default) => format!("{text} [default: {default}]"),
        None => text,
    }
}

/// The clap arguments of a setting's flag (two for a switch: on, and off first).
pub fn flag_args<T: Value>(spec: &Spec<T>) -> Vec<Arg> {
    let mut arg = Arg::new(bare(spec.flag))
        .long(bare(spec.flag))
        .help(help(spec));
    if let Some(letter) = spec.short {
        arg = arg.short(letter);
    }
    match T::parser(&spec.limits) {
        Some(parser) => vec![arg
            .value_name(spec.value_name)
            .value_parser(parser)
            .action(ArgAction::Set)],
        None => {
            let on = arg.action(ArgAction::SetTrue);
            match spec.off {
                Some((flag, off_help)) => vec![
                    Arg::new(bare(flag))
                        .long(bare(flag))
                        .help(off_help)
                        .action(ArgAction::SetTrue)
                        .overrides_with(bare(spec.flag)),
                    on.overrides_with(bare(flag)),
                ],
                None => vec![on],
            }
        }
    }
}

/// The value a setting's flags gave, and the flag that gave it.
pub fn from_flags<T: Value>(m: &ArgMatches, spec: &Spec<T>) -> Option<(T, &'static str)> {
    if T::parser(&spec.limits).is_some() {
        let v = m.get_one::<T::Flag>(bare(spec.flag))?;
        return Some((T::from_flag(v.clone()), spec.flag));
    }
    if m.get_flag(bare(spec.flag)) {
        return T::switched(true).map(|v| (v, spec.flag));
    }
    let (off, _) = spec.off?;
    m.get_flag(bare(off))
        .then(|| T::switched(false).map(|v| (v, off)))
        .flatten()
}

/// One setting as `tug config` and `-v` show it.
pub struct Row<'a> {
    pub key: &'static str,
    /// The value in words (`none` when unset).
    pub shown: String,
    /// Whether the config file would quote it.
    pub quoted: bool,
    pub json: serde_json::Value,
    pub origin: &'a Origin,
}

impl<'a> Row<'a> {
    pub fn of<T: Value>(key: &'static str, setting: &'a Setting<T>, spec: &Spec<T>) -> Row<'a> {
        Row {
            key,
            shown: setting.value.show(&spec.limits),
            quoted: T::QUOTED,
            json: setting.value.json(),
            origin: &setting.origin,
        }
    }
}
