//! The settings an embedding takes for a push, pull or copy (tug-wasm's options objects, the
//! component's options JSON): their names, and the decisions behind them (defaults, ranges,
//! what an empty username means, the class of a bad value) made once. A host reads the
//! values as its language gives them and hands them over; the configs come from here.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::auth::Credentials;
use crate::config::{RegistryConfig, TransferConfig};
use crate::error_class::ErrorClass;
use crate::limits;
use crate::reference::Reference;
use crate::retry::RetryPolicy;

/// The names the hosts give the settings (camelCase, as JavaScript and JSON write them).
pub mod names {
    /// Plain HTTP (`true`), HTTPS only (`false`), or the core's choice (absent).
    pub const PLAIN_HTTP: &str = "plainHttp";
    /// The registry user; an empty one is none.
    pub const USERNAME: &str = "username";
    /// The registry password.
    pub const PASSWORD: &str = "password";
    /// Attempts per request, counting the first.
    pub const RETRIES: &str = "retries";
    /// Seconds a request may move no byte before it fails and is retried (0: no limit).
    pub const STALL_TIMEOUT: &str = "stallTimeout";
    /// Seconds after the operation's first failure past which nothing is retried (absent:
    /// only [`RETRIES`] limits retries), as the CLI's `--retry-max-wait`.
    pub const RETRY_MAX_WAIT: &str = "retryMaxWait";
    /// Milliseconds before the first retry, doubled for each later one, as the CLI's
    /// `--retry-delay`.
    pub const RETRY_DELAY: &str = "retryDelay";
    /// Blobs moved at once.
    pub const JOBS: &str = "jobs";
    /// Whether the blobs in flight follow the measured throughput (up to [`JOBS`]); `false`
    /// keeps [`JOBS`] fixed, as the CLI's `--fixed-jobs`.
    pub const ADAPTIVE: &str = "adaptive";
    /// The seed of the retry jitter.
    pub const SEED: &str = "seed";
    /// The `User-Agent` requests carry.
    pub const USER_AGENT: &str = "userAgent";
    /// Every setting [`super::HostSettings::read`] reads.
    pub const EVERY: [&str; 11] = [
        PLAIN_HTTP,
        USERNAME,
        PASSWORD,
        RETRIES,
        STALL_TIMEOUT,
        RETRY_MAX_WAIT,
        RETRY_DELAY,
        JOBS,
        ADAPTIVE,
        SEED,
        USER_AGENT,
    ];
    /// A copy's source: an object of [`SOURCE_OWN`] settings.
    pub const SOURCE: &str = "source";
    /// Whether a copy brings what is attached to the image (signatures, SBOMs,
    /// attestations) along: a boolean, [`crate::referrers::COPY_BY_DEFAULT`] when absent.
    pub const REFERRERS: &str = "referrers";
    /// The settings a copy's source has of its own ([`super::HostSettings::for_source`]).
    pub const SOURCE_OWN: [&str; 5] = [PLAIN_HTTP, USERNAME, PASSWORD, RETRIES, STALL_TIMEOUT];
}

/// One operation's settings as a host read them; `None` where the host was told nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// [`names::PLAIN_HTTP`].
    pub plain_http: Option<bool>,
    /// [`names::USERNAME`].
    pub username: Option<String>,
    /// [`names::PASSWORD`].
    pub password: Option<String>,
    /// [`names::RETRIES`], as given (checked against [`limits::RETRIES`]).
    pub retries: Option<u64>,
    /// [`names::STALL_TIMEOUT`], in seconds.
    pub stall_timeout: Option<u64>,
    /// [`names::RETRY_MAX_WAIT`], in seconds.
    pub retry_max_wait: Option<u64>,
    /// [`names::RETRY_DELAY`], in milliseconds (checked against [`limits::RETRY_DELAY_MS`]).
    pub retry_delay: Option<u64>,
    /// [`names::JOBS`], as given (checked against [`limits::JOBS`]).
    pub jobs: Option<u64>,
    /// [`names::ADAPTIVE`].
    pub adaptive: Option<bool>,
    /// [`names::SEED`]: the host's entropy; a fixed seed when absent.
    pub seed: Option<u64>,
    /// [`names::USER_AGENT`].
    pub user_agent: Option<String>,
}

/// Typed reads of a host's options by name (a JS object's fields, a JSON object's members):
/// `None` where an option is absent, an error where it has another type.
pub trait SettingReader {
    /// Why a value could not be read.
    type Error;
    /// A true/false option.
    fn boolean(&self, name: &'static str) -> Result<Option<bool>, Self::Error>;
    /// A text option.
    fn string(&self, name: &'static str) -> Result<Option<String>, Self::Error>;
    /// A whole number ≥ 0.
    fn count(&self, name: &'static str) -> Result<Option<u64>, Self::Error>;
}

/// A setting out of its range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("option {name:?} must be from {min} to {max}")]
pub struct SettingError {
    /// The setting, by the name the host gave it ([`names`]).
    pub name: &'static str,
    /// The least value it takes.
    pub min: u64,
    /// The greatest.
    pub max: u64,
}

impl SettingError {
    /// A usage error, as a flag's bad value is for the CLI.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Usage
    }
}

impl HostSettings {
    /// The settings a host's options hold, read by their [`names`].
    ///
    /// # Errors
    ///
    /// What `options` says of a value of another type.
    pub fn read<R: SettingReader>(options: &R) -> Result<HostSettings, R::Error> {
        Ok(HostSettings {
            plain_http: options.boolean(names::PLAIN_HTTP)?,
            username: options.string(names::USERNAME)?,
            password: options.string(names::PASSWORD)?,
            retries: options.count(names::RETRIES)?,
            stall_timeout: options.count(names::STALL_TIMEOUT)?,
            retry_max_wait: options.count(names::RETRY_MAX_WAIT)?,
            retry_delay: options.count(names::RETRY_DELAY)?,
            jobs: options.count(names::JOBS)?,
            adaptive: options.boolean(names::ADAPTIVE)?,
            seed: options.count(names::SEED)?,
            user_agent: options.string(names::USER_AGENT)?,
        })
    }

    /// The settings of a copy's source, these being the target's: `own`, what the source's
    /// options say, gives its scheme and credentials, and its retries and stall timeout
    /// where it gives them; the rest is the target's. The target's credentials never go
    /// to the source: without its own, it has none.
    pub fn for_source(&self, own: HostSettings) -> HostSettings {
        HostSettings {
            plain_http: own.plain_http,
            username: own.username,
            password: own.password,
            retries: own.retries.or(self.retries),
            stall_timeout: own.stall_timeout.or(self.stall_timeout),
            ..self.clone()
        }
    }

    /// How to reach `reference`'s registry.
    ///
    /// # Errors
    ///
    /// [`names::RETRIES`] out of [`limits::RETRIES`], [`names::RETRY_DELAY`] out of
    /// [`limits::RETRY_DELAY_MS`].
    pub fn registry_config(&self, reference: &Reference) -> Result<RegistryConfig, SettingError> {
        let retries = within(names::RETRIES, self.retries, &limits::RETRIES)?;
        let retry_delay = within(
            names::RETRY_DELAY,
            self.retry_delay,
            &limits::RETRY_DELAY_MS,
        )?;
        let credentials = self
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .map(|username| Credentials {
                username,
                password: self.password.clone().unwrap_or_default(),
            });
        let defaults = RegistryConfig::default();
        Ok(RegistryConfig {
            scheme: reference.scheme(self.plain_http),
            credentials,
            retry: RetryPolicy {
                max_attempts: retries.unwrap_or(limits::DEFAULT_RETRIES),
                budget: self.retry_max_wait.map(Duration::from_secs),
                base_delay: retry_delay.map_or(limits::DEFAULT_RETRY_DELAY, Duration::from_millis),
                seed: self.seed.unwrap_or(defaults.retry.seed),
                ..RetryPolicy::default()
            },
            user_agent: self
                .user_agent
                .clone()
                .unwrap_or(defaults.user_agent.clone()),
            stall_timeout: self
                .stall_timeout
                .map_or(limits::DEFAULT_STALL_TIMEOUT, Duration::from_secs),
            ..defaults
        })
    }

    /// How many blobs at once, and whether that follows the throughput.
    ///
    /// # Errors
    ///
    /// [`names::JOBS`] out of [`limits::JOBS`].
    pub fn transfer_config(&self) -> Result<TransferConfig, SettingError> {
        let jobs = within(names::JOBS, self.jobs, &limits::JOBS)?;
        let defaults = TransferConfig::default();
        Ok(TransferConfig {
            jobs: usize::from(jobs.unwrap_or(limits::DEFAULT_JOBS)),
            adaptive: self.adaptive.unwrap_or(defaults.adaptive),
            ..defaults
        })
    }
}

/// Why an option named `key` is refused by an operation (a `kind`, such as `push`) that
/// takes [`names::EVERY`] and its `own` names; `None` when it takes it. `others` are the
/// names other operations of the host take: one of them is said to be another operation's;
/// any other name is unknown, with the nearest name it takes when one is a typo away
/// (`retires`: did you mean `retries`?).
pub fn option_refused(key: &str, kind: &str, own: &[&str], others: &[&str]) -> Option<String> {
    if names::EVERY.contains(&key) || own.contains(&key) {
        return None;
    }
    if others.contains(&key) {
        return Some(format!("{key:?} is not an option of a {kind}"));
    }
    let nearest = names::EVERY
        .iter()
        .chain(own)
        .map(|name| {
            (
                edit_distance(&key.to_lowercase(), &name.to_lowercase()),
                name,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min();
    Some(match nearest {
        Some((_, name)) => format!("unknown option {key:?} (did you mean {name:?}?)"),
        None => format!("unknown option {key:?}"),
    })
}

/// Single-character insertions, deletions, substitutions and swaps of neighbours that
/// turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![(0..=b.len()).collect::<Vec<usize>>()];
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (rows[i - 1][j] + 1)
                .min(row[j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(rows[i - 2][j - 2] + 1);
            }
        }
        rows.push(row);
    }
    rows[a.len()][b.len()]
}

/// `value` when it is in `range`.
fn within<T>(
    name: &'static str,
    value: Option<u64>,
    range: &RangeInclusive<T>,
) -> Result<Option<T>, SettingError>
where
    T: TryFrom<u64> + Into<u64> + PartialOrd + Copy,
{
    let Some(value) = value else {
        return Ok(None);
    };
    match T::try_from(value) {
        Ok(v) if range.contains(&v) => Ok(Some(v)),
        _ => Err(SettingError {
            name,
            min: (*range.start()).into(),
            max: (*range.end()).into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scheme;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn image() -> Reference {
        Reference::parse_registry("r.example/team/app:v1").unwrap()
    }

    #[test]
    fn nothing_said_is_the_core_s_defaults() {
        let config = HostSettings::default().registry_config(&image()).unwrap();
        let defaults = RegistryConfig::default();
        assert_eq!(config.retry.max_attempts, limits::DEFAULT_RETRIES);
        assert_eq!(config.stall_timeout, limits::DEFAULT_STALL_TIMEOUT);
        assert_eq!(config.credentials, None);
        assert_eq!(config.user_agent, defaults.user_agent);
        assert_eq!(config.scheme, image().scheme(None));
        let transfer = HostSettings::default().transfer_config().unwrap();
        assert_eq!(transfer.jobs, usize::from(limits::DEFAULT_JOBS));
        assert_eq!(transfer.adaptive, TransferConfig::default().adaptive);
        assert_eq!(config.retry.budget, None);
        assert_eq!(config.retry.base_delay, limits::DEFAULT_RETRY_DELAY);
    }

    #[test]
    fn what_is_said_is_kept() {
        let settings = HostSettings {
            plain_http: Some(true),
            username: Some("u".into()),
            password: Some("p".into()),
            retries: Some(2),
            stall_timeout: Some(0),
            retry_max_wait: Some(600),
            retry_delay: Some(250),
            jobs: Some(9),
            adaptive: Some(false),
            seed: Some(77),
            user_agent: Some("host/1".into()),
        };
        let config = settings.registry_config(&image()).unwrap();
        assert_eq!(config.retry.budget, Some(Duration::from_secs(600)));
        assert_eq!(config.retry.base_delay, Duration::from_millis(250));
        assert!(!settings.transfer_config().unwrap().adaptive);
        assert_eq!(config.scheme, Scheme::Http);
        assert_eq!(config.credentials.as_ref().unwrap().username, "u");
        assert_eq!(config.credentials.as_ref().unwrap().password, "p");
        assert_eq!(config.retry.max_attempts, 2);
        assert_eq!(config.retry.seed, 77);
        assert_eq!(config.stall_timeout, Duration::ZERO);
        assert_eq!(config.user_agent, "host/1");
        assert_eq!(settings.transfer_config().unwrap().jobs, 9);
    }

    /// Options as a list of `name=value` texts.
    struct Texts(&'static [(&'static str, &'static str)]);

    impl SettingReader for Texts {
        type Error = String;
        fn boolean(&self, name: &'static str) -> Result<Option<bool>, String> {
            self.text(name)
                .map(|t| t.parse().map_err(|_| name.to_owned()))
                .transpose()
        }
        fn string(&self, name: &'static str) -> Result<Option<String>, String> {
            Ok(self.text(name).map(str::to_owned))
        }
        fn count(&self, name: &'static str) -> Result<Option<u64>, String> {
            self.text(name)
                .map(|t| t.parse().map_err(|_| name.to_owned()))
                .transpose()
        }
    }

    impl Texts {
        fn text(&self, name: &str) -> Option<&'static str> {
            self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
    }

    #[test]
    fn settings_are_read_by_their_names() {
        let options = Texts(&[
            ("plainHttp", "true"),
            ("username", "u"),
            ("password", "p"),
            ("retries", "2"),
            ("stallTimeout", "9"),
            ("retryMaxWait", "30"),
            ("retryDelay", "100"),
            ("jobs", "3"),
            ("adaptive", "false"),
            ("seed", "5"),
            ("userAgent", "a/1"),
        ]);
        let expected = HostSettings {
            plain_http: Some(true),
            username: Some("u".into()),
            password: Some("p".into()),
            retries: Some(2),
            stall_timeout: Some(9),
            retry_max_wait: Some(30),
            retry_delay: Some(100),
            jobs: Some(3),
            adaptive: Some(false),
            seed: Some(5),
            user_agent: Some("a/1".into()),
        };
        assert_eq!(HostSettings::read(&options), Ok(expected));
        let every: Vec<_> = options.0.iter().map(|(name, _)| *name).collect();
        assert_eq!(every, names::EVERY, "EVERY lists what read reads");
        assert_eq!(HostSettings::read(&Texts(&[])), Ok(HostSettings::default()));
        let wrong = Texts(&[("jobs", "many")]);
        assert_eq!(HostSettings::read(&wrong), Err("jobs".to_owned()));
    }

    #[test]
    fn options_an_operation_does_not_take_are_refused_naming_the_nearest() {
        let push = ["image", "chunkSize"];
        assert_eq!(option_refused("retries", "push", &push, &[]), None);
        assert_eq!(option_refused("chunkSize", "push", &push, &[]), None);
        assert_eq!(
            option_refused("retires", "push", &push, &[]).as_deref(),
            Some("unknown option \"retires\" (did you mean \"retries\"?)")
        );
        assert_eq!(
            option_refused("chunksize", "push", &push, &[]).as_deref(),
            Some("unknown option \"chunksize\" (did you mean \"chunkSize\"?)")
        );
        assert_eq!(
            option_refused("plain_http", "push", &push, &[]).as_deref(),
            Some("unknown option \"plain_http\" (did you mean \"plainHttp\"?)")
        );
        assert_eq!(
            option_refused("insecure", "push", &push, &[]).as_deref(),
            Some("unknown option \"insecure\"")
        );
        assert_eq!(
            option_refused("output", "push", &push, &["output"]).as_deref(),
            Some("\"output\" is not an option of a push")
        );
    }

    #[test]
    fn a_copy_s_source_has_its_own_credentials_or_none() {
        let target = HostSettings {
            plain_http: Some(true),
            username: Some("u".into()),
            password: Some("secret".into()),
            retries: Some(7),
            stall_timeout: Some(9),
            retry_max_wait: Some(30),
            retry_delay: Some(100),
            jobs: Some(3),
            adaptive: Some(false),
            seed: Some(5),
            user_agent: Some("a/1".into()),
        };
        let source = target.for_source(HostSettings::default());
        let expected = HostSettings {
            plain_http: None,
            username: None,
            password: None,
            ..target.clone()
        };
        assert_eq!(source, expected, "no credentials of the target's");
        let own = HostSettings {
            username: Some("s".into()),
            password: Some("q".into()),
            retries: Some(2),
            jobs: Some(60),
            ..HostSettings::default()
        };
        let source = target.for_source(own);
        assert_eq!(source.username.as_deref(), Some("s"));
        assert_eq!(source.retries, Some(2));
        assert_eq!(
            source.stall_timeout,
            Some(9),
            "the target's where it gives none"
        );
        assert_eq!(
            source.jobs,
            Some(3),
            "jobs are the copy's, not the source's"
        );
    }

    #[test]
    fn an_empty_username_is_no_credentials() {
        let settings = HostSettings {
            username: Some(String::new()),
            password: Some("p".into()),
            ..HostSettings::default()
        };
        let config = settings.registry_config(&image()).unwrap();
        assert_eq!(config.credentials, None);
    }

    #[test]
    fn values_out_of_range_are_usage_errors_naming_the_setting_and_its_range() {
        for retries in [0, 1001, u64::MAX] {
            let settings = HostSettings {
                retries: Some(retries),
                ..HostSettings::default()
            };
            let err = settings.registry_config(&image()).unwrap_err();
            assert_eq!(err.to_string(), "option \"retries\" must be from 1 to 1000");
            assert_eq!(err.class(), ErrorClass::Usage);
        }
        for jobs in [0, 65, 70_000] {
            let settings = HostSettings {
                jobs: Some(jobs),
                ..HostSettings::default()
            };
            let err = settings.transfer_config().unwrap_err();
            assert_eq!(err.to_string(), "option \"jobs\" must be from 1 to 64");
        }
        let settings = HostSettings {
            retry_delay: Some(30_001),
            ..HostSettings::default()
        };
        let err = settings.registry_config(&image()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "option \"retryDelay\" must be from 0 to 30000"
        );
    }
}
