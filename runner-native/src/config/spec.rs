//! What one setting declares besides its name and type: its default, the values it accepts,
//! its environment variable and its flag. The table ([`super::table`]) holds one per setting.

/// Which commands have a setting's flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// push, pull and copy ([`super::flags::TransferArgs`]).
    Transfer,
    /// push, pull, copy and the registry verbs ([`super::flags::TransferArgs`],
    /// [`super::flags::RetryArgs`]).
    Retry,
    /// push only ([`super::flags::UploadArgs`]).
    Upload,
    /// push, copy and sync: the size of upload chunks ([`super::flags::UploadArgs`],
    /// [`super::flags::ChunkArgs`]).
    Chunks,
    /// every command that reaches a registry ([`super::flags::ConnectArgs`]).
    Connect,
}

/// The numbers a setting accepts, and how its value reads when unset.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub min: i64,
    /// `None`: no upper bound.
    pub max: Option<i64>,
    /// What the number counts (`seconds`, `bytes`), for messages.
    pub unit: &'static str,
    /// How an unset optional value is shown (`none`, `default`).
    pub unset: &'static str,
}

impl Limits {
    /// The config file's bounds: a file holds 64-bit signed integers.
    pub fn bounds(&self) -> (i64, i64) {
        (self.min, self.max.unwrap_or(i64::MAX))
    }

    /// What a good value is, for an environment variable's error.
    pub fn expected(&self) -> String {
        let number = match self.unit {
            "" => "a number".to_owned(),
            unit => format!("a number of {unit}"),
        };
        let range = match self.max {
            Some(max) => format!("{number} from {} to {max}", self.min),
            None if self.min == 0 => number,
            None => format!("{number} above {}", self.min - 1),
        };
        // Counts whose values may say their unit (`with_unit`) show how.
        match self.unit {
            "milliseconds" => format!("{range}, or one with a unit (500ms, 1.5s)"),
            "bytes" => format!("{range}, or one with a unit (64MiB, 8m)"),
            _ => range,
        }
    }
}

/// One setting's declaration.
#[derive(Clone, Debug)]
pub struct Spec<T> {
    pub group: Group,
    /// The flag, `--name`.
    pub flag: &'static str,
    pub short: Option<char>,
    /// The flag's value in usage lines (`<BYTES>`).
    pub value_name: &'static str,
    /// The flag's help (the declaration's doc comment).
    pub help: &'static str,
    /// For a switch: the flag that turns it off, and its help.
    pub off: Option<(&'static str, &'static str)>,
    /// The environment variable.
    pub env: &'static str,
    pub default: T,
    pub limits: Limits,
}

impl<T> Spec<T> {
    /// A setting whose flag `flag` is among the `group` flags, read from `env`, `default`
    /// unless set: any number from 0.
    pub fn new(group: Group, flag: &'static str, env: &'static str, default: T) -> Spec<T> {
        Spec {
            group,
            flag,
            short: None,
            value_name: "",
            help: "",
            off: None,
            env,
            default,
            limits: Limits {
                min: 0,
                max: None,
                unit: "",
                unset: "none",
            },
        }
    }

    /// The flag's one-letter form.
    pub fn short(mut self, letter: char) -> Self {
        self.short = Some(letter);
        self
    }

    /// How the flag's value is named in usage lines.
    pub fn value(mut self, name: &'static str) -> Self {
        self.value_name = name;
        self
    }

    /// Numbers from `min` to `max`.
    pub fn between(mut self, min: i64, max: i64) -> Self {
        self.limits.min = min;
        self.limits.max = Some(max);
        self
    }

    /// A number of `unit` (`seconds`, `bytes`), from 0 unless [`Spec::at_least`] says.
    pub fn counting(mut self, unit: &'static str) -> Self {
        self.limits.unit = unit;
        self
    }

    /// Numbers from `min`.
    pub fn at_least(mut self, min: i64) -> Self {
        self.limits.min = min;
        self
    }

    /// How the value reads when unset (an optional setting).
    pub fn unset(mut self, shown: &'static str) -> Self {
        self.limits.unset = shown;
        self
    }

    /// A switch: `flag` turns it on, and this one (with this help) off.
    pub fn off(mut self, flag: &'static str, help: &'static str) -> Self {
        self.off = Some((flag, help));
        self
    }

    /// The flag's help.
    pub fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }
}
