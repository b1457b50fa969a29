//! Failures as JS `Error`s with a stable `.code`: the name of the core's [`ErrorClass`]
//! (`usage` for an option tug-wasm cannot take, and for the operations' outcomes `input`,
//! `auth`, `not_found`, `registry`, `network`, `cors` or `cancelled`), so a failure has the
//! same class here as in the CLI's exit code. Messages come from the core and the runner, which
//! never put a password or token in them.

use tug_core::http::TransportErrorKind;
use tug_core::{Error, ErrorClass};
use wasm_bindgen::JsValue;

/// The `.code` of an operation's outcome error: the name of its core class.
pub fn code_of(e: &Error) -> &'static str {
    e.class().name()
}

/// A JS `Error` with `message` and `.code` (the class's name).
pub fn js_error(class: ErrorClass, message: &str) -> JsValue {
    with_code(class.name(), message)
}

/// The core's error as a JS `Error`, with what a page needs to say more than the class:
/// `.status` (the registry's HTTP status), `.registryCodes` (its error codes, e.g.
/// `DENIED`), `.excerpt` (a short excerpt of a body that was not the registry's JSON, e.g. a
/// proxy's HTML page) and `.transport` (what failed below HTTP: [`transport_name`]).
pub fn from_core(e: &Error) -> JsValue {
    let error = with_code(code_of(e), &e.to_string());
    let set = |key: &str, value: JsValue| {
        let _ = js_sys::Reflect::set(&error, &key.into(), &value);
    };
    match e {
        Error::Registry { status, errors, .. } => {
            set("status", JsValue::from(*status));
            let codes: js_sys::Array = errors
                .entries
                .iter()
                .map(|entry| JsValue::from_str(&entry.code))
                .collect();
            set("registryCodes", codes.into());
            if let Some(text) = &errors.text {
                set("excerpt", JsValue::from_str(text));
            }
        }
        Error::Transport { error: t, .. } => set("transport", transport_name(t.kind).into()),
        _ => {}
    }
    error
}

/// The stable name of what failed below HTTP, for `.transport`.
pub fn transport_name(kind: TransportErrorKind) -> &'static str {
    match kind {
        TransportErrorKind::Connect => "connect",
        TransportErrorKind::NoSuchHost => "no-such-host",
        TransportErrorKind::Tls => "tls",
        TransportErrorKind::NotTls => "not-tls",
        TransportErrorKind::Io => "io",
        TransportErrorKind::Timeout => "timeout",
        TransportErrorKind::Source => "source",
        TransportErrorKind::Blocked => "blocked",
        TransportErrorKind::MixedContent => "mixed-content",
        TransportErrorKind::TooLarge => "too-large",
        _ => "other",
    }
}

fn with_code(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error the core returns gets the `.code` of the class the core gives it (the
    /// table the CLI's exit-code test walks too).
    #[test]
    fn codes_are_the_names_of_the_core_classes() {
        for (error, class) in tug_core::error_class::class_table() {
            assert_eq!(code_of(&error), class.name(), "{error}");
        }
    }

    #[test]
    fn codes_are_the_documented_ones() {
        let table = tug_core::error_class::class_table();
        let mut codes: Vec<&str> = table.iter().map(|(e, _)| code_of(e)).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(
            codes,
            [
                "auth",
                "cancelled",
                "cors",
                "input",
                "network",
                "not_found",
                "registry"
            ]
        );
    }
}
