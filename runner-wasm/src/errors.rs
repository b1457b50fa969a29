//! Failures as JS `Error`s with a stable `.code`: the name of the core's [`ErrorClass`]
//! (`input`, `auth`, `not_found`, `registry`, `network`, `cors` or `cancelled`), so a failure has the same
//! class here as in the CLI's exit code. Messages come from the core and the runner, which
//! never put a password or token in them.

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

/// The core's error as a JS `Error`.
pub fn from_core(e: &Error) -> JsValue {
    with_code(code_of(e), &e.to_string())
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
