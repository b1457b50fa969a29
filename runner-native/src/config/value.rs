//! How a setting's type is read — from the config file, an environment variable, a flag —
//! and shown, by `tug config` (text and JSON), `-v` and the flag's help. One implementation
//! per type serves every setting of that type; the numbers each accepts are its [`Limits`].

use std::fmt::Debug;

use clap::builder::{EnumValueParser, RangedI64ValueParser, RangedU64ValueParser, ValueParser};
use clap::ValueEnum;
use serde::de::DeserializeOwned;

use super::spec::Limits;
use crate::compress::codec::CompressChoice;
use crate::progress::ProgressMode;

/// A type a setting can have.
pub trait Value: Clone + Debug + PartialEq + Send + Sync + 'static {
    /// What the config file holds for it.
    type File: DeserializeOwned;
    /// What its flag's parser makes.
    type Flag: Clone + Send + Sync + 'static;
    /// Whether `tug config` quotes it (a string in the file).
    const QUOTED: bool = false;

    /// The value the file's `v` stands for; `Err` says what is wrong with it.
    fn from_file(v: &Self::File, limits: &Limits) -> Result<Self, String>;
    /// The value an environment variable's (trimmed, non-empty) text stands for; `Err` says
    /// what is wrong with it.
    fn from_env(text: &str, limits: &Limits) -> Result<Self, String>;
    /// The value of its flag.
    fn from_flag(v: Self::Flag) -> Self;
    /// Its flag's parser; `None`: the flag is a switch (on, and off with the other flag).
    fn parser(limits: &Limits) -> Option<ValueParser>;
    /// The value of a switch turned on or off.
    fn switched(_on: bool) -> Option<Self> {
        None
    }
    /// As `tug config` and `-v` show it.
    fn show(&self, limits: &Limits) -> String;
    /// As `tug config --json` shows it.
    fn json(&self) -> serde_json::Value;
    /// As the flag's help shows it as the default, if it does.
    fn help_default(&self, limits: &Limits) -> Option<String> {
        Some(self.show(limits))
    }
}

/// A number within `limits`, from the file's 64-bit integer.
fn number_from_file<T: TryFrom<i64>>(n: i64, limits: &Limits) -> Result<T, String> {
    let (min, max) = limits.bounds();
    if n < min || n > max {
        return Err(format!("{n} is out of range ({min} to {max})"));
    }
    T::try_from(n).map_err(|_| format!("{n} is out of range"))
}

/// A number within `limits`, from text.
fn number_from_env<T: std::str::FromStr + Copy + Into<i128>>(
    text: &str,
    limits: &Limits,
) -> Result<T, String> {
    let (min, max) = limits.bounds();
    // A count of bytes or milliseconds may say its unit, as its help shows the default
    // (`64 MiB`, `1s`); one read but out of range says so, in that unit.
    let plain = text.bytes().all(|b| b.is_ascii_digit());
    if let Some(n) = with_unit(text, limits).filter(|_| !plain) {
        let fits = (i128::from(min)..=i128::from(max)).contains(&i128::from(n));
        return match n.to_string().parse::<T>() {
            Ok(v) if fits => Ok(v),
            _ => Err(format!(
                "{n} {} is out of range ({min} to {max})",
                limits.unit
            )),
        };
    }
    match text.parse::<T>() {
        Ok(n) if (i128::from(min)..=i128::from(max)).contains(&n.into()) => Ok(n),
        _ => Err(format!("expected {}", limits.expected())),
    }
}

/// A number setting as a config file writes it: an integer, or, for a count whose values
/// may carry a unit, a string (`chunk_size = "64MiB"`, `retry_delay = "2s"`), as its flag
/// and variable take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileNumber {
    Int(i64),
    Text(String),
}

impl<'de> serde::Deserialize<'de> for FileNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Number;
        impl serde::de::Visitor<'_> for Number {
            type Value = FileNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("i64")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<FileNumber, E> {
                Ok(FileNumber::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FileNumber, E> {
                i64::try_from(v)
                    .map(FileNumber::Int)
                    .map_err(|_| E::custom(format!("{v} is out of range")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FileNumber, E> {
                Ok(FileNumber::Text(v.to_owned()))
            }
        }
        d.deserialize_any(Number)
    }
}

/// A number within `limits` from the file's [`FileNumber`]: a string only where the count
/// takes a unit.
fn number_from_file_value<T>(v: &FileNumber, limits: &Limits) -> Result<T, String>
where
    T: TryFrom<i64> + std::str::FromStr + Copy + Into<i128>,
{
    match v {
        FileNumber::Int(n) => number_from_file(*n, limits),
        FileNumber::Text(text) if matches!(limits.unit, "bytes" | "milliseconds") => {
            number_from_env(text.trim(), limits)
        }
        FileNumber::Text(text) => Err(format!("invalid type: string {text:?}, expected i64")),
    }
}

/// A size with its unit: `64 MiB`, `64MiB`, `8m`, `1G`, `512k` (k, m, g and KiB, MiB, GiB
/// count in 1024s; KB, MB, GB in 1000s), or a plain number of bytes.
pub(crate) fn bytes_with_unit(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// A duration in milliseconds with its unit: `500ms`, `2s`, `1.5s`, `1m`, or a plain number
/// of milliseconds (skopeo's `--retry-delay 2s` reads as it does there).
pub(crate) fn millis_with_unit(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => return None,
    };
    match number.split_once('.') {
        None => number.parse::<u64>().ok()?.checked_mul(scale),
        // A fraction of a second or a minute, to the millisecond (not of a millisecond).
        Some((whole, fraction)) if scale > 1 && !fraction.is_empty() => {
            let digits = fraction.len().min(3);
            let fraction: u64 = fraction[..digits].parse().ok()?;
            let whole: u64 = match whole {
                "" => 0,
                w => w.parse().ok()?,
            };
            let part = fraction * scale / 10u64.pow(digits as u32);
            whole.checked_mul(scale)?.checked_add(part)
        }
        Some(_) => None,
    }
}

/// `text` as a number of what `limits` counts, when that is a count whose values may carry
/// a unit (bytes, milliseconds).
fn with_unit(text: &str, limits: &Limits) -> Option<u64> {
    match limits.unit {
        "bytes" => bytes_with_unit(text),
        "milliseconds" => millis_with_unit(text),
        _ => None,
    }
}

/// A number as a flag's help shows it as the default: bytes in whole MiB as such,
/// milliseconds in whole seconds as such.
fn number_help(n: i128, limits: &Limits) -> String {
    const MIB: i128 = 1 << 20;
    match limits.unit {
        "bytes" if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        "milliseconds" if n >= 1000 && n % 1000 == 0 => format!("{}s", n / 1000),
        "milliseconds" => format!("{n}ms"),
        _ => n.to_string(),
    }
}

/// The parser of a number flag of a type clap reads as `i64`.
fn signed_parser<T>(limits: &Limits) -> ValueParser
where
    T: TryFrom<i64> + Clone + Send + Sync + 'static,
    <T as TryFrom<i64>>::Error: std::error::Error + Send + Sync + 'static,
{
    let parser = RangedI64ValueParser::<T>::new();
    ValueParser::new(match limits.max {
        Some(max) => parser.range(limits.min..=max),
        None => parser.range(limits.min..),
    })
}

/// Numbers: shown as they are; a flag's value checked against the same limits.
macro_rules! number {
    ($t:ty, $parser:expr) => {
        impl Value for $t {
            type File = FileNumber;
            type Flag = $t;

            fn from_file(v: &FileNumber, limits: &Limits) -> Result<Self, String> {
                number_from_file_value(v, limits)
            }

            fn from_env(text: &str, limits: &Limits) -> Result<Self, String> {
                number_from_env(text, limits)
            }

            fn from_flag(v: $t) -> Self {
                v
            }

            fn parser(limits: &Limits) -> Option<ValueParser> {
                let parser: fn(&Limits) -> ValueParser = $parser;
                Some(parser(limits))
            }

            fn show(&self, _: &Limits) -> String {
                self.to_string()
            }

            fn json(&self) -> serde_json::Value {
                serde_json::json!(self)
            }

            fn help_default(&self, limits: &Limits) -> Option<String> {
                Some(number_help(i128::from(*self), limits))
            }
        }
    };
}

number!(u16, signed_parser::<u16>);
number!(u32, signed_parser::<u32>);
number!(i32, signed_parser::<i32>);
number!(u64, |limits| {
    let min = u64::try_from(limits.min).unwrap_or(0);
    let max = limits
        .max
        .map_or(u64::MAX, |m| u64::try_from(m).unwrap_or(u64::MAX));
    if let Some(what) = match limits.unit {
        "bytes" => Some("size: a number of bytes, or one with a unit (64MiB, 8m, 1G)"),
        "milliseconds" => {
            Some("duration: a number of milliseconds, or one with a unit (500ms, 2s)")
        }
        _ => None,
    } {
        // `--chunk-size 64MiB` as well as `--chunk-size 67108864`, `--retry-delay 2s` as
        // well as `--retry-delay 2000` (out of range: said as clap says it of other numbers).
        let range = match limits.max {
            Some(_) => format!("{min}..={max}"),
            None => format!("{min}..{max}"),
        };
        let limits = *limits;
        return ValueParser::new(move |text: &str| match with_unit(text, &limits) {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            // Said in the unit it was read in (`1m` is 60000 milliseconds).
            Some(n) if text.bytes().all(|b| b.is_ascii_digit()) => {
                Err(format!("{n} is not in {range}"))
            }
            Some(n) => Err(format!("{n} {} is not in {range}", limits.unit)),
            None => Err(format!("{text:?} is no {what}")),
        });
    }
    let parser = RangedU64ValueParser::<u64>::new();
    ValueParser::new(match limits.max {
        Some(max) => parser.range(min..=u64::try_from(max).unwrap_or(u64::MAX)),
        None => parser.range(min..),
    })
});

/// An optional number: unset unless given, shown as [`Limits::unset`] says.
impl<T: Value<File = FileNumber, Flag = T>> Value for Option<T> {
    type File = FileNumber;
    type Flag = T;

    fn from_file(v: &FileNumber, limits: &Limits) -> Result<Self, String> {
        T::from_file(v, limits).map(Some)
    }

    fn from_env(text: &str, limits: &Limits) -> Result<Self, String> {
        T::from_env(text, limits).map(Some)
    }

    fn from_flag(v: T) -> Self {
        Some(v)
    }

    fn parser(limits: &Limits) -> Option<ValueParser> {
        T::parser(limits)
    }

    fn show(&self, limits: &Limits) -> String {
        match self {
            Some(v) => v.show(limits),
            None => limits.unset.to_owned(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Some(v) => v.json(),
            None => serde_json::Value::Null,
        }
    }

    fn help_default(&self, limits: &Limits) -> Option<String> {
        self.as_ref().and_then(|v| v.help_default(limits))
    }
}

/// A switch: `true` or `false` in the file and the environment, a pair of flags.
impl Value for bool {
    type File = bool;
    type Flag = bool;

    fn from_file(v: &bool, _: &Limits) -> Result<Self, String> {
        Ok(*v)
    }

    fn from_env(text: &str, _: &Limits) -> Result<Self, String> {
        text.parse()
            .map_err(|_| "expected true or false".to_owned())
    }

    fn from_flag(v: bool) -> Self {
        v
    }

    fn parser(_: &Limits) -> Option<ValueParser> {
        None
    }

    fn switched(on: bool) -> Option<Self> {
        Some(on)
    }

    fn show(&self, _: &Limits) -> String {
        self.to_string()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!(self)
    }

    fn help_default(&self, _: &Limits) -> Option<String> {
        None
    }
}

/// The names a choice accepts, in order.
fn names<T: ValueEnum>() -> Vec<String> {
    T::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|p| p.get_name().to_owned())
        .collect()
}

/// One of a choice's names, in any case.
fn choice<T: ValueEnum>(s: &str) -> Result<T, String> {
    T::from_str(s, true).map_err(|_| format!("{s:?} is not one of {}", names::<T>().join(", ")))
}

/// A choice's own name.
fn choice_name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_owned())
        .unwrap_or_default()
}

/// Choices: one of a [`ValueEnum`]'s names, a string in the file.
macro_rules! choice {
    ($t:ty) => {
        impl Value for $t {
            type File = String;
            type Flag = $t;
            const QUOTED: bool = true;

            fn from_file(v: &String, _: &Limits) -> Result<Self, String> {
                choice(v)
            }

            fn from_env(text: &str, _: &Limits) -> Result<Self, String> {
                choice(text)
            }

            fn from_flag(v: $t) -> Self {
                v
            }

            fn parser(_: &Limits) -> Option<ValueParser> {
                Some(ValueParser::new(EnumValueParser::<$t>::new()))
            }

            fn show(&self, _: &Limits) -> String {
                choice_name(self)
            }

            fn json(&self) -> serde_json::Value {
                serde_json::Value::String(choice_name(self))
            }
        }
    };
}

choice!(ProgressMode);
choice!(CompressChoice);
