//! tug-core as a WebAssembly component: `wit/tug.wit` states the sans-IO contract (create a
//! push, pull or copy, feed inputs, take outputs); this crate maps it onto the core's
//! operations. It does no I/O — the host reads and writes the layout's files and carries HTTP.

mod convert;
mod copy;
mod options;
mod pull;
mod push;

/// The WIT types (generated), public for the conformance test that drives the component's
/// Rust natively. Not a stable API.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "tug" });

    // Exported only from the WebAssembly build: natively (the conformance test) the
    // export names, `tug:core/sansio@0.1.0#...`, are not valid symbols for the linker.
    #[cfg(target_arch = "wasm32")]
    use crate::Component;
    #[cfg(target_arch = "wasm32")]
    export!(Component with_types_in self);
}

use std::cell::RefCell;

/// The WIT `latin1` strings and bytes both ways (for the conformance test).
#[doc(hidden)]
pub use convert::{bytes as latin1_bytes, latin1};

use bindings::exports::tug::core::sansio::{self, Failure, Input, Output};

/// An operation behind the WIT resource: a push (reading its layout first), a pull, or a
/// copy between two registries.
enum Running {
    Push(Box<push::LayoutPush>),
    Pull(Box<pull::LayoutPull>),
    Copy(Box<copy::RegistryCopy>),
}

/// The `operation` resource (WIT methods take `&self`; the state lives in a `RefCell`).
pub struct Operation(RefCell<Running>);

impl sansio::GuestOperation for Operation {
    fn poll(&self) -> Option<Output> {
        match &mut *self.0.borrow_mut() {
            Running::Push(p) => p.poll(),
            Running::Pull(p) => p.poll(),
            Running::Copy(c) => c.poll(),
        }
    }

    fn handle(&self, now: u64, input: Input) -> Result<(), String> {
        let now = convert::instant(now);
        match &mut *self.0.borrow_mut() {
            Running::Push(p) => p.handle(now, input),
            Running::Pull(p) => p.handle(now, input),
            Running::Copy(c) => c.handle(now, input),
        }
    }

    fn cancel(&self) {
        match &mut *self.0.borrow_mut() {
            Running::Push(p) => p.cancel(),
            Running::Pull(p) => p.cancel(),
            Running::Copy(c) => c.cancel(),
        }
    }
}

impl Operation {
    /// A push, as the WIT `push` starts it (for native use: the conformance test).
    pub fn push(target: &str, options: &str) -> Result<Operation, Failure> {
        let op = push::LayoutPush::new(target, options)?;
        Ok(Operation(RefCell::new(Running::Push(Box::new(op)))))
    }

    /// A pull, as the WIT `pull` starts it.
    pub fn pull(source: &str, options: &str) -> Result<Operation, Failure> {
        let op = pull::LayoutPull::new(source, options)?;
        Ok(Operation(RefCell::new(Running::Pull(Box::new(op)))))
    }

    /// A copy, as the WIT `copy` starts it.
    pub fn copy(source: &str, target: &str, options: &str) -> Result<Operation, Failure> {
        let op = copy::RegistryCopy::new(source, target, options)?;
        Ok(Operation(RefCell::new(Running::Copy(Box::new(op)))))
    }
}

/// The component's exports.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl sansio::Guest for Component {
    type Operation = Operation;

    fn push(target: String, options: String) -> Result<sansio::Operation, Failure> {
        Operation::push(&target, &options).map(sansio::Operation::new)
    }

    fn pull(source: String, options: String) -> Result<sansio::Operation, Failure> {
        Operation::pull(&source, &options).map(sansio::Operation::new)
    }

    fn copy(source: String, target: String, options: String) -> Result<sansio::Operation, Failure> {
        Operation::copy(&source, &target, &options).map(sansio::Operation::new)
    }

    fn version() -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }
}
