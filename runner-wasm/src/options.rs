//! The options objects of `push`, `pull` and `copy`, read field by field from plain JS
//! objects (an unknown field, or a field of the wrong type, is a `usage` error, as a bad
//! flag is for the CLI: a typo is caught, not ignored). The settings every embedding takes
//! go to the core's [`HostSettings`], by its names.

use std::fmt::Display;
use std::ops::RangeInclusive;

use tug_core::host_settings::names::SOURCE_OWN;
use tug_core::host_settings::{option_refused, HostSettings, SettingReader};
use tug_core::push::ResumableUpload;
use tug_core::{Digest, ErrorClass, Reference, RegistryConfig, TransferConfig};
use wasm_bindgen::{JsCast as _, JsValue};

use crate::errors::js_error;
use crate::fetch_transport::UploadBody;
use crate::js;

/// Names of the operations' own options, besides the core's host settings.
pub mod names {
    pub use tug_core::host_settings::names::{REFERRERS, SOURCE};
    /// A push's image of a file holding several (index or tag).
    pub const IMAGE: &str = "image";
    /// One platform (`os/arch[/variant]`).
    pub const PLATFORM: &str = "platform";
    /// Bytes per `PATCH` chunk.
    pub const CHUNK_SIZE: &str = "chunkSize";
    /// Blobs up to this size go in one `PUT`.
    pub const MONOLITHIC_MAX: &str = "monolithicMax";
    /// How a browser hands each chunk to `XMLHttpRequest`.
    pub const UPLOAD_BODY: &str = "uploadBody";
    /// Upload sessions an earlier run left open.
    pub const RESUME: &str = "resume";
    /// Where a pull writes its archive as it arrives.
    pub const OUTPUT: &str = "output";
    /// The archive format of a pull's `output`.
    pub const FORMAT: &str = "format";
    /// A copy of every platform and the index (the default).
    pub const ALL_PLATFORMS: &str = "allPlatforms";

    /// Every operation's own names (one options object often serves a push and a pull, so
    /// each operation takes them all and reads its own).
    pub const ALL: &[&str] = &[
        IMAGE,
        PLATFORM,
        CHUNK_SIZE,
        MONOLITHIC_MAX,
        UPLOAD_BODY,
        RESUME,
        OUTPUT,
        FORMAT,
        SOURCE,
        ALL_PLATFORMS,
        REFERRERS,
    ];
}

/// Reads the optional fields of one options object.
pub struct Options<'a>(&'a JsValue);

impl<'a> Options<'a> {
    /// `value` may be `undefined` or `null`: every field is then absent.
    pub fn new(value: &'a JsValue) -> Options<'a> {
        Options(value)
    }

    /// The options of operation `kind`: the core's host settings and [`names::ALL`]. A
    /// field no operation takes (set, not `undefined` or `null`: a typo) is a `usage` error
    /// naming it and the nearest name; another operation's is let be.
    pub fn of(value: &'a JsValue, kind: &str) -> Result<Options<'a>, JsValue> {
        refuse_unknown(value, |key| option_refused(key, kind, names::ALL, &[]))?;
        Ok(Options(value))
    }

    /// A copy's `source` object, which takes the core's [`SOURCE_OWN`] settings only.
    pub fn source(value: &'a JsValue) -> Result<Options<'a>, JsValue> {
        refuse_unknown(value, |key| {
            (!SOURCE_OWN.contains(&key)).then(|| format!("{key:?} is not an option of a source"))
        })?;
        Ok(Options(value))
    }

    /// A string field.
    pub fn string(&self, name: &str) -> Result<Option<String>, JsValue> {
        match js::get(self.0, name) {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(Some)
                .ok_or_else(|| wrong(name, "a string")),
        }
    }

    /// A boolean field.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, JsValue> {
        match js::get(self.0, name) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| wrong(name, "a boolean")),
        }
    }

    /// A non-negative whole-number field.
    pub fn count(&self, name: &str) -> Result<Option<u64>, JsValue> {
        self.whole(name, "a whole number ≥ 0")
    }

    /// A whole-number field ≥ 0; anything else is an error saying it must be `expected`
    /// (and, for a string, that it is one: `"4"` is not `4`).
    fn whole(&self, name: &str, expected: &str) -> Result<Option<u64>, JsValue> {
        match js::get(self.0, name) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => {
                    Ok(Some(n as u64))
                }
                _ if v.is_string() => {
                    Err(wrong(name, &format!("{expected} (a number, not a string)")))
                }
                _ => Err(wrong(name, expected)),
            },
        }
    }

    /// A whole-number field within `range`; out of it, an `input` error naming the range.
    pub fn count_in<T>(&self, name: &str, range: RangeInclusive<T>) -> Result<Option<T>, JsValue>
    where
        T: TryFrom<u64> + PartialOrd + Display,
    {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let Some(n) = self.whole(name, &expected)? else {
            return Ok(None);
        };
        match T::try_from(n) {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(wrong(name, &expected)),
        }
    }

    /// A field that is a number or a string, as text (`image: 1` or `image: "app:v1"`).
    pub fn name_or_index(&self, name: &str) -> Result<Option<String>, JsValue> {
        match js::get(self.0, name) {
            None => Ok(None),
            Some(v) => match (v.as_string(), v.as_f64()) {
                (Some(s), _) => Ok(Some(s)),
                (None, Some(n)) if n >= 0.0 && n.fract() == 0.0 => Ok(Some(format!("{n}"))),
                _ => Err(wrong(name, "an image index or tag")),
            },
        }
    }
}

impl SettingReader for Options<'_> {
    type Error = JsValue;

    fn boolean(&self, name: &'static str) -> Result<Option<bool>, JsValue> {
        Options::boolean(self, name)
    }

    fn string(&self, name: &'static str) -> Result<Option<String>, JsValue> {
        Options::string(self, name)
    }

    fn count(&self, name: &'static str) -> Result<Option<u64>, JsValue> {
        Options::count(self, name)
    }
}

impl Options<'_> {
    /// The core's host settings among the fields; the retry jitter seeded from `crypto`
    /// unless a `seed` is given.
    fn settings(&self) -> Result<HostSettings, JsValue> {
        let settings = HostSettings::read(self)?;
        let seed = settings.seed.or_else(|| Some(js::random_seed()));
        Ok(HostSettings { seed, ..settings })
    }

    /// How to reach `reference`'s registry (the core's [`HostSettings::registry_config`]),
    /// with this runtime's body progress.
    pub fn registry_config(&self, reference: &Reference) -> Result<RegistryConfig, JsValue> {
        runtime_config(self.settings()?, reference)
    }

    /// How to reach a copy's source `reference`, whose own options are `source` (the
    /// core's [`HostSettings::for_source`]; these are the target's).
    pub fn source_registry_config(
        &self,
        source: &Options<'_>,
        reference: &Reference,
    ) -> Result<RegistryConfig, JsValue> {
        let own = HostSettings::read(source)?;
        runtime_config(self.settings()?.for_source(own), reference)
    }

    /// `jobs` (the core's [`HostSettings::transfer_config`]), with this runtime's progress
    /// interval.
    pub fn transfer_config(&self) -> Result<TransferConfig, JsValue> {
        let config = self.settings()?.transfer_config();
        let config = config.map_err(|e| js_error(e.class(), &e.to_string()))?;
        Ok(TransferConfig {
            progress_interval: crate::limits::PROGRESS_INTERVAL,
            ..config
        })
    }

    /// `resume`: the upload sessions a previous run left open, as its `upload_session` events
    /// said them (`{ digest, location, committed }` each); the core asks each how far it got.
    pub fn resumable_uploads(&self) -> Result<Vec<ResumableUpload>, JsValue> {
        let Some(list) = js::get(self.0, names::RESUME) else {
            return Ok(Vec::new());
        };
        if !js_sys::Array::is_array(&list) {
            return Err(wrong(
                names::RESUME,
                "an array of { digest, location, committed }",
            ));
        }
        js_sys::Array::from(&list)
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let field = |name: &str| format!("resume[{i}].{name}");
                let session = Options::new(&item);
                let text = |name: &str| {
                    session
                        .string(name)
                        .ok()
                        .flatten()
                        .ok_or_else(|| wrong(&field(name), "a string"))
                };
                let digest = text("digest")?
                    .parse::<Digest>()
                    .map_err(|e| wrong(&field("digest"), &format!("a digest ({e})")))?;
                let committed = session
                    .count("committed")
                    .ok()
                    .flatten()
                    .ok_or_else(|| wrong(&field("committed"), "a whole number ≥ 0"))?;
                Ok(ResumableUpload {
                    digest,
                    location: text("location")?,
                    committed,
                })
            })
            .collect()
    }

    /// `uploadBody`: `"blob"` or `"buffer"` ([`UploadBody`]; absent: the default).
    pub fn upload_body(&self) -> Result<UploadBody, JsValue> {
        match self.string(names::UPLOAD_BODY)? {
            None => Ok(crate::limits::UPLOAD_BODY),
            Some(name) => UploadBody::parse(&name).ok_or_else(|| {
                wrong(
                    names::UPLOAD_BODY,
                    &format!("one of {:?}", UploadBody::NAMES),
                )
            }),
        }
    }

    /// The object in field `name` (absent: `undefined`, whose fields are all absent).
    pub fn object(&self, name: &str) -> JsValue {
        js::get(self.0, name).unwrap_or(JsValue::UNDEFINED)
    }
}

/// The core's config of `settings` for `reference`, with this runtime's body progress.
fn runtime_config(
    settings: HostSettings,
    reference: &Reference,
) -> Result<RegistryConfig, JsValue> {
    let config = settings.registry_config(reference);
    let config = config.map_err(|e| js_error(e.class(), &e.to_string()))?;
    Ok(RegistryConfig {
        body_progress: crate::limits::BODY_PROGRESS,
        ..config
    })
}

/// Checks each field set in `value` (an object, or `undefined`/`null`: none) with `refused`.
fn refuse_unknown(
    value: &JsValue,
    refused: impl Fn(&str) -> Option<String>,
) -> Result<(), JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(());
    }
    if !value.is_object() {
        return Err(js_error(ErrorClass::Usage, "options must be an object"));
    }
    let keys = js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>());
    for key in keys.iter().filter_map(|k| k.as_string()) {
        if js::get(value, &key).is_none() {
            continue;
        }
        if let Some(why) = refused(&key) {
            return Err(js_error(ErrorClass::Usage, &format!("options: {why}")));
        }
    }
    Ok(())
}

fn wrong(name: &str, what: &str) -> JsValue {
    js_error(
        ErrorClass::Usage,
        &format!("option {name:?} must be {what}"),
    )
}
